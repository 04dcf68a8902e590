"""Start-up time of the app from source and of the built app, beside a bare PySide6 window.

Run from the repository root, in the project's environment (build first for the frozen rows):

    .ci/build-app                      # or: pyinstaller --noconfirm build.spec
    python bench/bench_startup.py      # --runs 9 for tighter medians

Every variant is a fresh process, timed from just before spawn to its exit; runs go round-robin
(one of each, then again) so machine load hits all variants alike, after one untimed warm-up
each (file cache; the warm-up also creates and migrates each variant's library, so the timed
runs are ordinary starts, not first starts). Figures are medians; compare the ratios, which are
measured in the same run, rather than absolute times across machines.

Variants:
  baseline      a bare PySide6 QMainWindow: process start -> first paint -> exit
  source        python -m dlx_art --smoke --home TMP
  frozen        dist/dlx-art/dlx-art --smoke --home TMP (skipped when not built)
  source-cli    python -m dlx_art --version   (interpreter + CLI import, no Qt)
  frozen-cli    dist/dlx-art/dlx-art --version (bootloader + the same)

`--smoke` keeps the window up for the app's SMOKE_DELAY_MS before closing it; the table shows
the raw time and the time minus that delay. With DLX_ART_TIMING=1 the app may print
`timing: shown=<ms> usable=<ms>` to stderr; when it does, the medians of those appear too.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FROZEN = ROOT / "dist" / "dlx-art" / ("dlx-art.exe" if sys.platform == "win32" else "dlx-art")
if sys.platform == "win32":
    FROZEN = FROZEN.with_name("dlx-art-cli.exe")  # the windowed .exe has no stderr to read

BASELINE = r"""
import os, sys, time
t0 = int(os.environ["BENCH_T0_NS"])
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

app = QApplication(sys.argv[:1])

class Window(QMainWindow):
    painted = False

    def paintEvent(self, event):
        super().paintEvent(event)
        if not Window.painted:
            Window.painted = True
            print(f"timing: paint={(time.time_ns() - t0) / 1e6:.1f}", file=sys.stderr, flush=True)
            QTimer.singleShot(0, app.quit)

window = Window()
window.setWindowTitle("baseline")
window.setCentralWidget(QLabel("baseline"))
window.resize(1200, 800)
window.show()
sys.exit(app.exec())
"""

_MARKER = re.compile(r"timing:\s*(.*)")
_PAIR = re.compile(r"(\w+)=([0-9.]+)")


@dataclass
class Variant:
    name: str
    command: list[str]
    smoke: bool = False
    walls: list[float] = field(default_factory=list)
    markers: dict[str, list[float]] = field(default_factory=dict)
    failures: int = 0

    def run(self, env: dict[str, str], record: bool) -> None:
        env = dict(env, BENCH_T0_NS=str(time.time_ns()))
        started = time.perf_counter()
        result = subprocess.run(self.command, cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=300, check=False)
        wall = (time.perf_counter() - started) * 1000
        if result.returncode != 0:
            self.failures += 1
            tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
            print(f"  {self.name}: exit {result.returncode}: " + " | ".join(tail),
                  file=sys.stderr)
            return
        if not record:
            return
        self.walls.append(wall)
        for line in result.stderr.splitlines():
            match = _MARKER.search(line)
            if match:
                for key, value in _PAIR.findall(match.group(1)):
                    self.markers.setdefault(key, []).append(float(value))


def smoke_delay_ms() -> int:
    sys.path.insert(0, str(ROOT))
    try:
        from dlx_art import app

        return int(getattr(app, "SMOKE_DELAY_MS", 0))
    except Exception:  # noqa: BLE001 - the bench still runs without the figure
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per variant (>= 5)")
    parser.add_argument("--frozen", type=Path, default=FROZEN, help="the built binary")
    args = parser.parse_args()
    runs = max(5, args.runs)

    tmp = Path(tempfile.mkdtemp(prefix="dlx-bench-startup-"))
    env = {k: v for k, v in os.environ.items() if k != "DLX_ART_HOME"}
    env.update(QT_QPA_PLATFORM=env.get("QT_QPA_PLATFORM", "offscreen"), DLX_ART_TIMING="1")
    py = sys.executable
    variants = [
        Variant("baseline", [py, "-c", BASELINE]),
        Variant("source", [py, "-m", "dlx_art", "--smoke", "--home", str(tmp / "source")],
                smoke=True),
    ]
    frozen = args.frozen if args.frozen.is_file() else None
    if frozen:
        variants.append(Variant("frozen", [str(frozen), "--smoke", "--home", str(tmp / "frozen")],
                                smoke=True))
    variants.append(Variant("source-cli", [py, "-m", "dlx_art", "--version"]))
    if frozen:
        variants.append(Variant("frozen-cli", [str(frozen), "--version"]))

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, platform "
          f"{env['QT_QPA_PLATFORM']}, {runs} timed runs per variant (+1 warm-up), round-robin")
    if not frozen:
        print(f"(no built app at {args.frozen}: frozen rows skipped; run .ci/build-app first)")
    try:
        for variant in variants:
            variant.run(env, record=False)
        for i in range(runs):
            for variant in variants:
                variant.run(env, record=True)
            print(f"  round {i + 1}/{runs} done", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    delay = smoke_delay_ms()
    med = {v.name: statistics.median(v.walls) for v in variants if v.walls}
    print()
    print(f"{'variant':<11} {'median':>8} {'min':>7} {'max':>7} {'-smoke delay':>13} "
          f"{'x baseline':>10}  markers (median ms)")
    for v in variants:
        if not v.walls:
            print(f"{v.name:<11} all {v.failures} runs failed")
            continue
        m = med[v.name]
        net = f"{m - delay:.0f}" if v.smoke and delay else ""
        ratio = m / med["baseline"] if "baseline" in med else float("nan")
        marks = ", ".join(f"{k}={statistics.median(vals):.0f}" for k, vals in v.markers.items())
        print(f"{v.name:<11} {m:>8.0f} {min(v.walls):>7.0f} {max(v.walls):>7.0f} {net:>13} "
              f"{ratio:>10.2f}  {marks}")
    print()
    if "source" in med and "frozen" in med:
        print(f"frozen / source (smoke): {med['frozen'] / med['source']:.2f}"
              + (f"; without the {delay} ms smoke delay: "
                 f"{(med['frozen'] - delay) / (med['source'] - delay):.2f}" if delay else ""))
    if "source-cli" in med and "frozen-cli" in med:
        print(f"frozen / source (--version): {med['frozen-cli'] / med['source-cli']:.2f}")
    app_marked = any(v.markers for v in variants if v.smoke)
    if not app_marked:
        print("the app printed no `timing: shown=... usable=...` lines with DLX_ART_TIMING=1: "
              "window shown / usable not measured")
    failed = sum(v.failures for v in variants)
    if failed:
        print(f"{failed} runs failed (see above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
