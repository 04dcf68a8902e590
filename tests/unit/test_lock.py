"""The library locks (library/lock.py) between real processes.

A helper process takes a lock, says so through a file, and keeps it until the test writes a
release file: no sleeps as synchronisation, generous deadlines only as guards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from dlx_art.errors import LibraryLocked
from dlx_art.library import lock
from dlx_art.library.service import Library

DEADLINE = 300
ROOT = Path(__file__).resolve().parents[2]

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dlx_art.library import lock
    from dlx_art.library.service import Library

    root, mode = Path(sys.argv[1]), sys.argv[2]
    ready, release = Path(sys.argv[3]), Path(sys.argv[4])
    lock.set_process_label("test holder")
    held = []
    if mode in ("window", "window-only"):
        held.append(lock.LibraryLock(root).acquire())
    if mode in ("window", "library"):
        held.append(Library.open(root))
    if mode == "exclusive":
        context = lock.exclusive_library(root, "hold")
        context.__enter__()
    if mode == "writing":
        context = lock.writing(root)
        context.__enter__()
    ready.write_text("ready")
    while not release.exists():
        time.sleep(0.01)
""")


class Holder:
    """A real process holding a lock on `root` until `release()`."""

    def __init__(self, root: Path, mode: str, tmp: Path) -> None:
        self.ready = tmp / f"ready-{mode}-{id(self)}"
        self.released = tmp / f"release-{mode}-{id(self)}"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(root), mode,
                                      str(self.ready), str(self.released)],
                                     env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + DEADLINE
        while not self.ready.exists():
            if self.proc.poll() is not None:
                raise AssertionError(f"holder failed: {self.proc.communicate()[1]}")
            assert time.monotonic() < deadline, "holder did not start"
            time.sleep(0.02)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def release(self) -> None:
        self.released.touch()
        _out, err = self.proc.communicate(timeout=DEADLINE)
        assert self.proc.returncode == 0, err

    def kill(self) -> None:
        self.proc.kill()
        self.proc.communicate(timeout=DEADLINE)


@pytest.fixture
def library_root(tmp_path):
    root = tmp_path / "lib"
    with Library.open(root) as library:
        library.create_project("Cats")
    return root


def test_window_lock_one_per_library_in_any_process(tmp_path):
    first = lock.LibraryLock(tmp_path).acquire()
    with pytest.raises(LibraryLocked, match="already has the library"):
        lock.LibraryLock(tmp_path).acquire()  # the same process, another window
    first.release()
    holder = Holder(tmp_path, "window-only", tmp_path)
    try:
        with pytest.raises(LibraryLocked, match=f"process {holder.pid}"):
            lock.LibraryLock(tmp_path).acquire()
    finally:
        holder.kill()  # a dead owner's lock is free at once, whatever its age
    lock.LibraryLock(tmp_path).acquire().release()


@pytest.mark.parametrize("mode", ["library", "window", "window-only"])
def test_rebuild_and_restore_refused_while_another_process_has_the_library(
        library_root, tmp_path, mode):
    with Library.open(library_root) as library:
        backup = library.backup("test").name
    holder = Holder(library_root, mode, tmp_path)
    try:
        for attempt in (lambda: Library.rebuild(library_root),
                        lambda: Library.restore_backup(library_root, backup)):
            with pytest.raises(LibraryLocked) as caught:
                attempt()
            message = caught.value.user_message
            assert f"process {holder.pid}" in message
            assert ("window" in message) == (mode != "library")
            assert "test holder" in message or mode != "library"
        with Library.open(library_root) as library:
            assert [p.name for p in library.list_projects()] == ["Cats"]  # untouched
            with pytest.raises(LibraryLocked):
                library.reconcile(repair=True)
            assert library.reconcile().clean  # everyday checks go on
    finally:
        holder.release()
    library, _report = Library.rebuild(library_root)  # works once it is closed
    library.close()
    Library.restore_backup(library_root, backup)
    with Library.open(library_root) as library:
        assert [p.name for p in library.list_projects()] == ["Cats"]
        assert library.reconcile(repair=True).clean


def test_cli_maintenance_sees_the_window(library_root, tmp_path):
    """`dlx-art rebuild`, `backups restore` and `doctor --repair` respect an open window."""
    with Library.open(library_root) as library:
        backup = library.backup("test").name
    env = dict(os.environ, DLX_ART_HOME=str(library_root), PYTHONPATH=str(ROOT))
    commands = [["rebuild"], ["backups", "restore", backup], ["doctor", "--repair"]]
    holder = Holder(library_root, "window", tmp_path)
    try:
        for argv in commands:
            done = subprocess.run([sys.executable, "-m", "dlx_art", *argv], env=env, cwd=ROOT,
                                  capture_output=True, text=True, timeout=DEADLINE)
            assert done.returncode == 1, done
            assert f"window (process {holder.pid}" in done.stderr
            assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        # everyday commands keep working beside the window
        done = subprocess.run([sys.executable, "-m", "dlx_art", "projects", "create", "Dogs"],
                              env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=DEADLINE)
        assert done.returncode == 0, done.stderr
    finally:
        holder.release()
    for argv in commands:
        done = subprocess.run([sys.executable, "-m", "dlx_art", *argv], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=DEADLINE)
        assert done.returncode == 0, done.stderr


def test_open_waits_for_maintenance_then_refuses(library_root, tmp_path):
    holder = Holder(library_root, "exclusive", tmp_path)
    try:
        with pytest.raises(LibraryLocked, match="rebuilt or restored by test holder"):
            lock.hold_library(library_root, timeout=0.2)
        opened: list[Library] = []
        thread = threading.Thread(target=lambda: opened.append(Library.open(library_root)))
        thread.start()
        assert not opened
    finally:
        holder.release()
    thread.join(DEADLINE)
    assert opened and [p.name for p in opened[0].list_projects()] == ["Cats"]
    opened[0].close()


def test_maintenance_only_when_no_writer_anywhere(library_root, tmp_path):
    with lock.maintenance(library_root) as free:
        assert free
    holder = Holder(library_root, "writing", tmp_path)
    try:
        with lock.maintenance(library_root) as free:
            assert not free
        with lock.writing(library_root):  # writers share it
            pass
    finally:
        holder.release()
    with lock.writing(library_root), lock.maintenance(library_root) as free:
        assert free is False  # this thread writes: not now either
    seen: list[bool] = []

    def other_thread() -> None:
        with lock.maintenance(library_root) as free:
            seen.append(free)

    with lock.writing(library_root):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(DEADLINE)
    assert seen == [False]


def test_holds_are_counted_per_process(library_root):
    first = Library.open(library_root)
    second = Library.open(library_root)
    first.close()
    with pytest.raises(LibraryLocked):
        # `second` is open in this thread: converting to exclusive works only with it...
        threading_result: list[BaseException] = []

        def elsewhere() -> None:
            try:
                with lock.exclusive_library(library_root, "test", timeout=0.1):
                    pass
            except LibraryLocked as exc:
                threading_result.append(exc)

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join(DEADLINE)
        raise threading_result[0]  # ...not from another thread while it is open
    with lock.exclusive_library(library_root, "test"):  # this thread converts its own hold
        third = Library.open(library_root)  # and may open more under it
        third.close()
    second.close()
    with lock.exclusive_library(library_root, "test", timeout=0):
        pass


def test_a_library_opened_on_one_thread_and_closed_on_another_lets_go(library_root):
    """The window opens its library on a pool thread and closes it on the GUI thread."""
    opened: list[Library] = []
    thread = threading.Thread(target=lambda: opened.append(Library.open(library_root)))
    thread.start()
    thread.join(DEADLINE)
    opened[0].close()
    hold = lock._hold(library_root, "library.lock")
    assert hold.handle is None and not hold.shared
    with lock.exclusive_library(library_root, "test", timeout=0):
        pass


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("mode", ["library", "exclusive", "writing"])
def test_a_killed_holder_leaves_nothing_locked(library_root, tmp_path, mode):
    holder = Holder(library_root, mode, tmp_path)
    holder.kill()
    assert lock.holders(library_root) == []  # its record names a dead process: dropped
    with lock.exclusive_library(library_root, "test", timeout=0), \
            lock.maintenance(library_root) as free:
        assert free
    library, _report = Library.rebuild(library_root)
    library.close()
