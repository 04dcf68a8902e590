"""The GUI thread during the first generation after start-up, and how soon its tile shows.

Each run is a fresh process (so "first" really is the first: nothing imported yet for HTTP,
Pillow or the thumbnails) that builds the studio window as `dlx_art.app.main` does, on a
library with one project, with the fake A1111 of tests/fakes/fake_a1111.py (run by this
script, on 127.0.0.1) as its only server. Once the window is usable and the server is seen up,
a 5 ms heartbeat (a precise QTimer on the GUI thread) starts, the window's Generate runs with
a 512x512 request, and the heartbeat stops when the new image's tile has its thumbnail.

Printed (medians over the runs, and each run):
* the longest gap between heartbeats from Generate to the tile: raw, and less the time the
  GUI thread spent runnable but not running (Linux schedstat; what a busy machine costs, not
  our code). Target <= 50 ms (on the adjusted figure; the raw one is shown beside it);
* tile latency: the image's file and row committed (`Library.add_image` returned, in the job's
  thread) -> the tile's thumbnail ready in the gallery. Target <= 100 ms. The thumbnail is made
  after the save, so this holds making it; the job's `job_finished` on the GUI thread -> the
  tile is shown beside it.

    python bench/bench_first_generation.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DRIVER = r"""
import json, os, sys, time
from pathlib import Path
from PySide6.QtCore import QTimer, Qt
from PySide6.QtWidgets import QApplication

def run_queue_ns():
    try:
        with open(f"/proc/self/task/{os.getpid()}/schedstat") as handle:
            return int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0

app = QApplication([])
from dlx_art.app import tune_process
from dlx_art.config import load_context
from dlx_art.gui import theme
from dlx_art.gui.main_window import MainWindow
from dlx_art.gui.session import Session

context = load_context()
theme.apply_theme(app, context.settings.theme)
session = Session.locked(context)
window = MainWindow(session)
tune_process(session)
window.show()
out = {}
beat = {"last": 0.0, "wait": 0, "max_raw": 0.0, "max_adj": 0.0, "beats": 0}
heart = QTimer()
heart.setTimerType(Qt.TimerType.PreciseTimer)
heart.setInterval(5)

def on_beat():
    now, wait = time.perf_counter(), run_queue_ns()
    gap = now - beat["last"]
    beat["max_raw"] = max(beat["max_raw"], gap)
    beat["max_adj"] = max(beat["max_adj"], gap - (wait - beat["wait"]) / 1e9)
    beat["last"], beat["wait"] = now, wait
    beat["beats"] += 1

heart.timeout.connect(on_beat)
state = {"asset": None, "finished": None, "started": False, "saved": None}

def finish(ok):
    heart.stop()
    out.update(ok=ok, max_gap_raw_ms=beat["max_raw"] * 1000, max_gap_ms=beat["max_adj"] * 1000,
               beats=beat["beats"])
    print("RESULT " + json.dumps(out), flush=True)
    window.close()
    app.quit()

def on_thumb(asset_id):
    if asset_id == state["asset"] and state["finished"] is not None:
        now = time.perf_counter()
        out["tile_ms"] = (now - state["saved"]) * 1000
        out["tile_after_finished_ms"] = (now - state["finished"]) * 1000
        QTimer.singleShot(0, lambda: finish(True))

def on_finished(job):
    if not job.assets:
        out["error"] = job.error or job.message
        finish(False)
        return
    state["finished"] = time.perf_counter()
    state["asset"] = job.assets[0].id
    loader = window.gallery.loader
    if loader.pixmap(state["asset"]) is not None:
        on_thumb(state["asset"])

def try_start():
    if state["started"]:
        return
    statuses = window.monitor.latest or []
    if not window._ready or not any(s.name == "a1111" and s.state == "up" for s in statuses):
        QTimer.singleShot(20, try_start)
        return
    state["started"] = True
    library = session.library
    add_image = library.add_image

    def timed_add_image(*args, **kwargs):  # the moment the file and row are committed
        asset = add_image(*args, **kwargs)
        if state["saved"] is None:
            state["saved"] = time.perf_counter()
        return asset

    library.add_image = timed_add_image
    window.prompt_panel.prompt_edit.setPlainText("a lighthouse in a storm")
    for name, value in (("width_spin", 512), ("height_spin", 512), ("steps_spin", 20)):
        spin = getattr(window.prompt_panel, name, None)
        if spin is not None:
            spin.setValue(value)
    window.gallery.loader.thumbnail_ready.connect(on_thumb)
    window.jobs.job_finished.connect(on_finished)
    beat["last"], beat["wait"] = time.perf_counter(), run_queue_ns()
    heart.start()
    if window.generate() is None:
        out["error"] = "generate refused"
        finish(False)

window.library_ready.connect(lambda: QTimer.singleShot(0, try_start))
QTimer.singleShot(120_000, lambda: finish(False))
app.exec()
session.shutdown()
"""


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def prepare_home(home: Path, url: str) -> None:
    from dlx_art.config import load_context
    from dlx_art.library.service import Library
    from dlx_art.settings import A1111Server

    os.environ["DLX_ART_HOME"] = str(home)
    context = load_context()
    settings = context.settings
    settings.a1111_servers = [A1111Server(url)]
    context.save_settings(settings)
    with Library.open(load_context().storage_root) as library:
        library.create_project("Bench")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "results" / "first_generation.txt")
    args = parser.parse_args()
    from tests.fakes.fake_a1111 import FakeA1111

    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line)
        lines.append(line)

    results: list[dict[str, float]] = []
    load_before = _load()
    with FakeA1111() as fake, tempfile.TemporaryDirectory(prefix="dlx-bench-first-") as tmp:
        for run in range(args.runs + 1):  # the first is a warm-up (file cache)
            home = Path(tmp) / f"home{run}"
            prepare_home(home, fake.url)
            env = dict(os.environ, DLX_ART_HOME=str(home),
                       QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
            env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: .pyc files are used
            result = subprocess.run([sys.executable, "-c", DRIVER], env=env, cwd=ROOT,
                                    capture_output=True, text=True, timeout=300, check=False)
            found = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
            if not found:
                say(f"run {run}: no result (exit {result.returncode}): "
                    + " | ".join(result.stderr.strip().splitlines()[-3:]))
                continue
            data = json.loads(found[-1][len("RESULT "):])
            if not data.get("ok"):
                say(f"run {run}: failed: {data}")
                continue
            if run:
                results.append(data)
            print(f"  run {run}: {data}", file=sys.stderr)
    load_after = _load()
    if not results:
        say("no successful runs")
        return 1
    gap = statistics.median(r["max_gap_ms"] for r in results)
    raw = statistics.median(r["max_gap_raw_ms"] for r in results)
    tile = statistics.median(r["tile_ms"] for r in results)
    say(f"first generation after start, 512x512, fake A1111; {len(results)} runs, medians")
    say(f"  longest GUI-thread stall (5 ms heartbeat)   {gap:7.1f} ms  (raw {raw:.1f} ms)  "
        f"target <= 50 ms   {'PASS' if gap <= 50 else 'FAIL'}")
    after = statistics.median(r["tile_after_finished_ms"] for r in results)
    say(f"  file and row committed -> tile thumbnail ready {tile:7.1f} ms  "
        f"target <= 100 ms  {'PASS' if tile <= 100 else 'FAIL'}")
    say(f"  job finished (GUI thread) -> tile thumbnail ready {after:4.1f} ms")
    say("  runs (stall adj/raw, tile ms from save / from job finished): " + "; ".join(
        f"{r['max_gap_ms']:.0f}/{r['max_gap_raw_ms']:.0f}, {r['tile_ms']:.0f}/"
        f"{r['tile_after_finished_ms']:.0f}" for r in results))
    say(f"load average before {load_before}, after {load_after}")
    if str(args.out) != "-":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
