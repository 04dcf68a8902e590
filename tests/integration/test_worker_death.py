"""Worker processes end with their parent; what a killed import staged is cleaned up after.

Real processes: a `dlx-art import` large enough to use worker processes is killed (SIGKILL,
SIGTERM) while its workers run, and no process of it may be left a few seconds later. Children
are found in /proc (Linux), so these tests run on Linux only.
"""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

from dlx_art.library import storage
from dlx_art.library.service import PROCESS_IMPORT_MIN, Library

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]
GONE_WITHIN = 15.0  # seconds; generous for a loaded machine (they go within about one)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            continue
    return found


def _descendants(pid: int) -> set[int]:
    todo, seen = [pid], set()
    while todo:
        for child in _children(todo.pop()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that may never come counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _wait_gone(pids: set[int]) -> set[int]:
    deadline = time.monotonic() + GONE_WITHIN
    left = {p for p in pids if _alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {p for p in left if _alive(p)}
    return left


@pytest.fixture(scope="module")
def many_pngs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many")
    rng = random.Random(7)
    for i in range(PROCESS_IMPORT_MIN * 5):  # long enough to be caught running anywhere
        buf = io.BytesIO()
        Image.frombytes("RGB", (96, 96), rng.randbytes(96 * 96 * 3)).save(buf, "PNG",
                                                                           compress_level=1)
        (folder / f"{i:04d}.png").write_bytes(buf.getvalue())
    return folder


def _temp_files(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if storage.is_temp_file(p.name)]


def _check_library(home: Path) -> None:
    """Open as the next start does: no staged leftovers, no row without its file."""
    with Library.open(home) as library:
        library.reconcile()
        assert _temp_files(home) == []
        project = library.get_project("P")
        for asset in library.assets(project.id, limit=100_000):
            assert library.path_of(asset).is_file(), asset.id
        report = library.reconcile()
        assert report.clean, report.summary()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_import_leaves_no_process_and_no_staged_file(tmp_path, many_pngs, sig):
    home = tmp_path / "home"
    env = dict(os.environ, DLX_ART_HOME=str(home))
    with Library.open(home) as library:
        library.create_project("P")
    process = subprocess.Popen([sys.executable, "-m", "dlx_art", "import", "--project", "P",
                                str(many_pngs)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    workers: set[int] = set()
    deadline = time.monotonic() + 120
    # wait until the worker processes run (spawned pythons; the resource tracker too)
    while len(workers) < 2 and process.poll() is None and time.monotonic() < deadline:
        workers = _descendants(process.pid)
        time.sleep(0.01)
    assert process.poll() is None, "the import ended before its workers were seen"
    time.sleep(0.3)  # let them stage some files
    workers = _descendants(process.pid)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    left = _wait_gone(workers)
    assert not left, f"processes left behind after {sig!r}: {sorted(left)}"
    if sig == signal.SIGTERM:
        assert process.returncode == 128 + signal.SIGTERM, err
        assert "Traceback" not in err, err
        assert _temp_files(home) == []  # the import's own clean-up ran
    _check_library(home)


def test_workers_outlive_the_thread_that_started_them_but_not_the_process(tmp_path):
    """Linux's parent-death signal follows the starting *thread*: that must not end them."""
    script = textwrap.dedent("""
        import sys, threading, time
        from dlx_art.library.thumbnails import RenderProcesses
        renderer = RenderProcesses(workers=2, idle_seconds=600)
        starter = threading.Thread(target=renderer.start)
        starter.start(); starter.join()
        print("started", flush=True)
        time.sleep(600)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               text=True, cwd=str(Path(__file__).resolve().parents[2]))
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "started"
        workers = _descendants(process.pid)
        assert len(workers) >= 2
        time.sleep(2)  # the starting thread has ended: the kernel signalled them
        assert all(_alive(p) for p in workers)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        assert not _wait_gone(workers)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
