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

  idle          python -m dlx_art --home TMP (no --smoke), driven over stdin: after it is
                usable and has idled `--settle` seconds (longer than the gallery's 2 s warm-up
                delay), the RSS of the window process plus all its descendants is read from
                /proc, then a `quit` line triggers the Quit action (Ctrl+Q) and the time from
                that moment to the process's exit is taken ("close -> exit").

Targets (issue 11), printed PASS/FAIL: shown <= 1.5x bare paint, usable <= 3x bare paint,
close -> exit <= 250 ms, RSS of the window + its worker processes <= 120 MB with an empty
library, and no worker process started with nothing to render. The load average is printed
before and after; results are also written to bench/results/startup.txt (`--out`).

`--smoke` keeps the window up for the app's SMOKE_DELAY_MS before closing it; the table shows
the raw time and the time minus that delay. With DLX_ART_TIMING=1 the app may print
`timing: shown=<ms> usable=<ms>` to stderr; when it does, the medians of those appear too.

"Painted" means a whole frame on both sides: the mark is taken when the paint pass that began
with the window's first paint event has returned to the event loop (a 0 ms timer started in
that event). Qt paints a window before its children, so a mark taken in the window's own paint
event (as this bench did until its start-up figures were tuned) leaves out the painting of
every widget in it: about 30 ms for the studio's window, nothing worth measuring for the bare
one. Both paint-event moments are still printed for information (`paint_event`,
`first_paint`).
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
import threading
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
def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

app = QApplication(sys.argv[:1])

class Window(QMainWindow):
    painted = False

    def paintEvent(self, event):
        super().paintEvent(event)
        if not Window.painted:
            Window.painted = True
            print(f"timing: paint_event={(time.time_ns() - t0) / 1e6:.1f}", file=sys.stderr,
                  flush=True)
            # the frame is done when the paint pass (the window, then its label) has returned
            # to the event loop: measured like the app's `shown`
            QTimer.singleShot(0, lambda: print(f"timing: paint={(time.time_ns() - t0) / 1e6:.1f}",
                                               file=sys.stderr, flush=True))
            QTimer.singleShot(200, lambda: print(f"timing: rss={rss_mb():.1f}", file=sys.stderr,
                                                 flush=True))
            QTimer.singleShot(210, app.quit)

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

    idle: bool = False
    settle: float = 3.0

    def run(self, env: dict[str, str], record: bool) -> None:
        env = dict(env, BENCH_T0_NS=str(time.time_ns()))
        if self.idle:
            env["DLX_ART_BENCH_STDIN"] = "1"
            returncode, stderr, extra = run_idle(self.command, env, self.settle)
            wall = 0.0
        else:
            started = time.perf_counter()
            result = subprocess.run(self.command, cwd=ROOT, env=env, capture_output=True,
                                    text=True, timeout=300, check=False)
            exited_ns = time.time_ns()
            wall = (time.perf_counter() - started) * 1000
            returncode, stderr, extra = result.returncode, result.stdout + result.stderr, {}
            close = re.search(r"close_ns=(\d+)", stderr)
            if close:
                extra["close_exit"] = (exited_ns - int(close.group(1))) / 1e6
        if returncode != 0:
            self.failures += 1
            tail = stderr.strip().splitlines()[-5:]
            print(f"  {self.name}: exit {returncode}: " + " | ".join(tail), file=sys.stderr)
            return
        if not record:
            return
        self.walls.append(wall)
        for line in stderr.splitlines():
            match = _MARKER.search(line)
            if match:
                for key, value in _PAIR.findall(match.group(1)):
                    if key != "close_ns":
                        self.markers.setdefault(key, []).append(float(value))
        for key, value in extra.items():
            self.markers.setdefault(key, []).append(float(value))


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def rss_tree(pid: int) -> tuple[float, int]:
    """RSS in MB of `pid` plus all its descendants (from /proc), and how many descendants."""
    tree = _children()
    todo, seen = [pid], []
    while todo:
        current = todo.pop()
        seen.append(current)
        todo.extend(tree.get(current, []))
    total = 0
    for each in seen:
        try:
            with open(f"/proc/{each}/status", encoding="ascii", errors="replace") as handle:
                total += next((int(line.split()[1]) for line in handle
                               if line.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return total / 1024, len(seen) - 1


def run_idle(command: list[str], env: dict[str, str], settle: float
             ) -> tuple[int, str, dict[str, float]]:
    """Start the window, wait until usable + `settle` s, read its memory, send `quit`."""
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    usable = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "usable=" in line:
                usable.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    extra: dict[str, float] = {}
    try:
        if not usable.wait(120):
            process.kill()
            process.wait()
            return 1, "".join(lines) + "\nnever usable", extra
        time.sleep(settle)
        extra["rss"], extra["children"] = rss_tree(process.pid)
        assert process.stdin is not None
        process.stdin.write("quit\n")
        process.stdin.flush()
        code = process.wait(120)
        exited_ns = time.time_ns()
        reader.join(10)
        close = re.search(r"close_ns=(\d+)", "".join(lines))
        if close:
            extra["close_exit"] = (exited_ns - int(close.group(1))) / 1e6
        return code, "".join(lines), extra
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def smoke_delay_ms() -> int:
    sys.path.insert(0, str(ROOT))
    try:
        from dlx_art import app

        return int(getattr(app, "SMOKE_DELAY_MS", 0))
    except Exception:  # noqa: BLE001 - the bench still runs without the figure
        return 0


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per variant (>= 5)")
    parser.add_argument("--frozen", type=Path, default=FROZEN, help="the built binary")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds the idle window runs after usable before its RSS is read")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "startup.txt",
                        help="where the report is also written ('-': nowhere)")
    args = parser.parse_args()
    runs = max(5, args.runs)

    tmp = Path(tempfile.mkdtemp(prefix="dlx-bench-startup-"))
    # PYTHONDONTWRITEBYTECODE (set in some sandboxes) would make every start compile the
    # app's ~50 modules from source again, which no installed app does: the warm-up run
    # writes the .pyc files, as a first start does.
    env = {k: v for k, v in os.environ.items()
           if k not in ("DLX_ART_HOME", "PYTHONDONTWRITEBYTECODE")}
    env.update(QT_QPA_PLATFORM=env.get("QT_QPA_PLATFORM", "offscreen"), DLX_ART_TIMING="1")
    py = sys.executable
    variants = [
        Variant("baseline", [py, "-c", BASELINE]),
        Variant("source", [py, "-m", "dlx_art", "--smoke", "--home", str(tmp / "source")],
                smoke=True),
        Variant("idle", [py, "-m", "dlx_art", "--home", str(tmp / "idle")], idle=True,
                settle=args.settle),
    ]
    frozen = args.frozen if args.frozen.is_file() else None
    if frozen:
        variants.append(Variant("frozen", [str(frozen), "--smoke", "--home", str(tmp / "frozen")],
                                smoke=True))
    variants.append(Variant("source-cli", [py, "-m", "dlx_art", "--version"]))
    if frozen:
        variants.append(Variant("frozen-cli", [str(frozen), "--version"]))

    out: list[str] = []

    def say(line: str = "") -> None:
        print(line)
        out.append(line)

    load_before = _load()
    say(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, platform "
        f"{env['QT_QPA_PLATFORM']}, {runs} timed runs per variant (+1 warm-up), round-robin")
    if not frozen:
        say(f"(no built app at {args.frozen}: frozen rows skipped; run .ci/build-app first)")
    try:
        for variant in variants:
            variant.run(env, record=False)
        for i in range(runs):
            for variant in variants:
                variant.run(env, record=True)
            print(f"  round {i + 1}/{runs} done", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = _load()

    delay = smoke_delay_ms()
    med = {v.name: statistics.median(v.walls) for v in variants if v.walls}
    say()
    say(f"{'variant':<11} {'median':>8} {'min':>7} {'max':>7} {'-smoke delay':>13} "
        f"{'x baseline':>10}  markers (median ms; rss MB)")
    for v in variants:
        if not v.walls:
            say(f"{v.name:<11} all {v.failures} runs failed")
            continue
        m = med[v.name]
        net = f"{m - delay:.0f}" if v.smoke and delay else ""
        ratio = m / med["baseline"] if "baseline" in med and not v.idle else float("nan")
        marks = ", ".join(f"{k}={statistics.median(vals):.0f}" for k, vals in v.markers.items())
        wall = "" if v.idle else f"{m:>8.0f} {min(v.walls):>7.0f} {max(v.walls):>7.0f}"
        say(f"{v.name:<11} {wall:>24} {net:>13} {ratio:>10.2f}  {marks}")
    say()
    if "source" in med and "frozen" in med:
        say(f"frozen / source (smoke): {med['frozen'] / med['source']:.2f}"
            + (f"; without the {delay} ms smoke delay: "
               f"{(med['frozen'] - delay) / (med['source'] - delay):.2f}" if delay else ""))
    if "source-cli" in med and "frozen-cli" in med:
        say(f"frozen / source (--version): {med['frozen-cli'] / med['source-cli']:.2f}")

    def marker(name: str, key: str) -> float | None:
        for v in variants:
            if v.name == name and v.markers.get(key):
                return statistics.median(v.markers[key])
        return None

    paint = marker("baseline", "paint")
    shown, usable_ms = marker("source", "shown"), marker("source", "usable")
    close_exit, rss = marker("idle", "close_exit"), marker("idle", "rss")
    children = marker("idle", "children")
    bare_rss = marker("baseline", "rss")
    say()
    say("issue 11 targets (medians; the window's figures beside a bare PySide6 window's paint "
        f"of {paint or float('nan'):.0f} ms)")
    rows = [
        ("process start -> window shown", shown, paint and shown and shown / paint, 1.5, "x"),
        ("process start -> usable", usable_ms, paint and usable_ms and usable_ms / paint, 3.0,
         "x"),
    ]
    for label, value, ratio, target, unit in rows:
        ok = None if not ratio else ratio <= target
        say(f"  {label:<44} {value or float('nan'):7.0f} ms  {ratio or float('nan'):5.2f}"
            f"{unit} (target <= {target}{unit})  {_verdict(ok)}")
    say(f"  {'window closed (Ctrl+Q) -> process exited':<44} {close_exit or float('nan'):7.0f} "
        f"ms  (target <= 250 ms)  {_verdict(None if close_exit is None else close_exit <= 250)}")
    say(f"  {'RSS after start, empty library (+workers)':<44} {rss or float('nan'):7.1f} MB  "
        f"(target <= 120 MB; bare window {bare_rss or float('nan'):.0f} MB)  "
        f"{_verdict(None if rss is None else rss <= 120)}")
    say(f"  {'worker processes at idle, nothing to render':<44} "
        f"{children if children is not None else float('nan'):7.0f}     (target 0)  "
        f"{_verdict(None if children is None else children == 0)}")
    smoke_close = marker("source", "close_exit")
    if smoke_close is not None:
        say(f"  (info) --smoke close -> exit {smoke_close:.0f} ms")
    say(f"load average before {load_before}, after {load_after}")
    app_marked = any(v.markers for v in variants if v.smoke)
    if not app_marked:
        say("the app printed no `timing: shown=... usable=...` lines with DLX_ART_TIMING=1: "
            "window shown / usable not measured")
    failed = sum(v.failures for v in variants)
    if failed:
        say(f"{failed} runs failed (see above)")
    if str(args.out) != "-":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(out) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
