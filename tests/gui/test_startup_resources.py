"""What a freshly started window holds: no worker processes while there is nothing to render.

Real process, real library on disk, driven the way `bench/bench_startup.py` drives it
(DLX_ART_TIMING=1 prints when the window is usable; DLX_ART_BENCH_STDIN=1 lets a `quit` line
trigger the Quit action). No timing figures here: those live in bench/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text(errors="replace")
        except OSError:
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], list(children.get(pid, []))
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


@pytest.mark.integration
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_idle_window_starts_no_worker_processes_and_quits_on_ctrl_q(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", DLX_ART_TIMING="1",
               DLX_ART_BENCH_STDIN="1")
    env.pop("DLX_ART_HOME", None)
    home = tmp_path / "home"
    command = [sys.executable, "-m", "dlx_art", "--home", str(home)]
    # the first start creates the library; the second is an ordinary start on it
    for _ in range(2):
        process = subprocess.Popen(command, env=env, cwd=REPO, stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        usable = threading.Event()

        def read(process: subprocess.Popen[str] = process, lines: list[str] = lines,
                 usable: threading.Event = usable) -> None:
            assert process.stderr is not None
            for line in process.stderr:
                lines.append(line)
                if "usable=" in line:
                    usable.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            assert usable.wait(120), "".join(lines)
            # well past any timed warm-up (there used to be one at 2 s)
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                assert _descendants(process.pid) == [], "a worker started with nothing to do"
                time.sleep(0.25)
            assert process.stdin is not None
            process.stdin.write("quit\n")
            process.stdin.flush()
            assert process.wait(120) == 0, "".join(lines)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        reader.join(10)
        assert "close_ns=" in "".join(lines)
        assert not (home / ".dlx-art.lock").exists()
