"""Cross-process locks on a library: one window, shared use, exclusive maintenance, writers.

Several processes may use one storage root at once: the window, any number of `dlx-art`
commands, and the suite's other studios (which only see the catalog). Three locks, all
advisory file locks (``flock`` on POSIX, ``LockFileEx`` through `portalocker` on Windows),
so the operating system drops them when a process dies, however it dies:

``.dlx-art.lock`` (`LibraryLock`)
    One window per library. Exclusive, taken by the window for as long as it shows the library
    (from before its catalog opens). Everyday commands ignore it; maintenance refuses while
    another process holds it, and reads the window's process id from it for the message.

``.dlx-art-locks/library.lock`` (`hold_library`, `exclusive_library`)
    Every open `Library` holds it *shared* for its whole life. Maintenance that replaces or
    rewrites the catalog as a whole (rebuild, restoring a backup, ``doctor --repair``) needs it
    *exclusive*: it waits a short while and then refuses, naming who has the library open, so
    the catalog is never swapped under a window or a running import. Everyday writes (import,
    generate, favorite, trash...) only need the shared hold, so they run side by side.

``.dlx-art-locks/writing.lock`` (`writing`, `maintenance`)
    Held *shared* by every writer from the moment it claims a file name until its row is
    committed (an import: for its whole run). Reconciliation deletes leftover temporary files
    and adopts complete files that have no row; both are only right when nobody is between
    "claim" and "commit", so it does that work only if it gets the lock *exclusive without
    waiting* (`maintenance`), and otherwise leaves it for a later run. Holding the lock costs
    a writer nothing while nobody reconciles.

Within one process the holds are counted, so nested and concurrent uses (several `Library`
objects on one root, several threads writing) share one file handle: a file lock is per open
file, and a process must not block itself. A thread that holds the exclusive lock may take the
shared one again (rebuild opens a library); other threads of that process wait for it.

No Qt here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from dlx_art import APP_NAME
from dlx_art.errors import LibraryLocked, StorageError

__all__ = [
    "EXCLUSIVE_WAIT",
    "LOCK_DIR",
    "LOCK_FILE",
    "LibraryLock",
    "exclusive_library",
    "folders_lock",
    "hold_library",
    "holders",
    "maintenance",
    "rename_lock",
    "set_process_label",
    "writing",
]

LOCK_FILE = ".dlx-art.lock"
LOCK_DIR = ".dlx-art-locks"
#: How long maintenance waits for other users of the library to close it before refusing.
EXCLUSIVE_WAIT = 3.0
#: How long opening a library waits for maintenance in another process to finish.
OPEN_WAIT = 120.0
#: How long a writer waits for another process's reconciliation to finish.
WRITE_WAIT = 600.0
_POLL = 0.05

_process_label = "another DLX Art Studio program"
log = logging.getLogger("dlx_art.library")


def set_process_label(label: str) -> None:
    """Say what this process is (``"dlx-art import"``), for the messages of refused maintenance."""
    global _process_label
    _process_label = label


if sys.platform == "win32":  # LockFileEx, through portalocker
    import portalocker
    from portalocker import LockFlags

    def _lock(handle: IO[Any], flags: LockFlags) -> bool:
        """Try to take a file lock without waiting; False if someone else holds it."""
        try:
            portalocker.lock(handle, flags | LockFlags.NON_BLOCKING)
        except (portalocker.exceptions.AlreadyLocked, portalocker.exceptions.LockException):
            return False
        return True

    def _unlock(handle: IO[Any]) -> None:
        with contextlib.suppress(portalocker.exceptions.LockException, OSError):
            portalocker.unlock(handle)

else:
    # On POSIX portalocker is one call to `fcntl.flock` (its default locker), and the same
    # call here takes the same lock as any other process using portalocker on the file. But
    # importing portalocker (its version lookup through importlib.metadata, its redis module)
    # costs 60-170 ms, and the window takes its lock before its first paint (bench/).
    import enum
    import fcntl

    class LockFlags(enum.IntFlag):  # the names of portalocker.LockFlags
        EXCLUSIVE = fcntl.LOCK_EX
        SHARED = fcntl.LOCK_SH
        NON_BLOCKING = fcntl.LOCK_NB

    def _lock(handle: IO[Any], flags: LockFlags) -> bool:
        """Try to take a file lock without waiting; False if someone else holds it."""
        try:
            fcntl.flock(handle.fileno(), int(flags | LockFlags.NON_BLOCKING))
        except OSError:  # EWOULDBLOCK: held elsewhere; anything else: not taken either
            return False
        return True

    def _unlock(handle: IO[Any]) -> None:
        with contextlib.suppress(OSError, ValueError):
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _poll(handle: IO[Any], flags: LockFlags, timeout: float) -> bool:
    """Take a file lock, waiting up to `timeout` seconds (polled: works the same everywhere)."""
    deadline = time.monotonic() + timeout
    while True:
        if _lock(handle, flags):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)


# --- the window's lock --------------------------------------------------------------------------


class LibraryLock:
    """One DLX Art Studio window per library: an exclusive lock on ``.dlx-art.lock``.

    A lock left by a crashed process is free again (the operating system releases file locks
    of dead processes); a lock held by a running process, in this process or another, is
    refused with `LibraryLocked`. The file holds the owner's process id and host name, which
    `holders` reads to name the window when maintenance is refused.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / LOCK_FILE
        self._handle: IO[Any] | None = None
        self.held = False

    def acquire(self) -> LibraryLock:
        """Take the lock (waiting at most a fraction of a second).

        Raises:
            LibraryLocked: If another window (in any process) has the library open.
            OSError: If the lock file cannot be created.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + 0.2
        while True:
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - kept while held
            if not _poll(handle, LockFlags.EXCLUSIVE,
                         max(0.0, deadline - time.monotonic())):
                handle.close()
                owner = _window_owner(self.path)
                detail = f" (process {owner})" if owner else ""
                raise LibraryLocked(
                    f"{APP_NAME} already has the library in {self.root} open{detail}. Switch "
                    "to that window, or close it before starting another one on the same "
                    "library.")
            if _same_file(handle, self.path):
                break
            # the owner released it and deleted the file after we opened it: a lock on the
            # deleted file protects nothing, so take the new one
            _unlock(handle)
            handle.close()
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n{socket.gethostname()}\n")
        handle.flush()
        self._handle = handle
        self.held = True
        return self

    def release(self) -> None:
        """Give the lock up and delete its file (while still holding it; see `acquire`)."""
        if self.held and self._handle is not None:
            with contextlib.suppress(OSError):  # Windows keeps open files; a left file is free
                self.path.unlink()
            _unlock(self._handle)
            self._handle.close()
            self._handle = None
            self.held = False


def _same_file(handle: IO[Any], path: Path) -> bool:
    try:
        mine, now = os.fstat(handle.fileno()), os.stat(path)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)


def _window_owner(path: Path) -> str | None:
    """``"1234"`` or ``"1234 on host"`` for the window that holds `path`; None if nobody does."""
    try:
        with open(path, encoding="utf-8") as handle:
            if _lock(handle, LockFlags.EXCLUSIVE):
                _unlock(handle)
                return None
            try:
                lines = handle.read(200).splitlines()
            except OSError:  # Windows refuses reading a locked range
                lines = []
    except OSError:
        return None
    pid = lines[0].strip() if lines else ""
    if not pid.isdigit():
        return ""
    host = lines[1].strip() if len(lines) > 1 else ""
    return pid if not host or host == socket.gethostname() else f"{pid} on {host}"


# --- shared / exclusive holds, counted per process ----------------------------------------------


class _Hold:
    """One lock file of one library in this process: its handle and who in here holds it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[Any] | None = None
        self.shared: dict[int, int] = {}  # thread id -> count
        self.owner: int | None = None  # thread holding it exclusive
        self.exclusive = 0
        self.changed = threading.Condition(threading.Lock())

    def _open(self) -> IO[Any]:
        """The lock file, opened (and created) once.

        Raises:
            OSError: If it cannot be created (a read-only storage root, no permission).
        """
        if self.handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(self.path, "a+b")  # noqa: SIM115 - kept open while held
        return self.handle

    def _close_if_unused(self) -> None:
        if not self.shared and not self.exclusive and self.handle is not None:
            _unlock(self.handle)
            self.handle.close()
            self.handle = None

    def acquire_shared(self, timeout: float) -> bool:
        me = threading.get_ident()
        deadline = time.monotonic() + timeout
        with self.changed:
            while self.exclusive and self.owner != me:  # another thread here maintains
                if not self.changed.wait(max(0.0, deadline - time.monotonic())):
                    return False
            if not self.shared and not self.exclusive:
                try:
                    handle = self._open()
                except OSError as exc:
                    # A storage root nobody may write to (read-only drive, no permission) can
                    # still be read; its writes fail with their own plain message.
                    log.warning("no lock file %s (%s); going on without it", self.path, exc)
                    handle = None
                if handle is not None and not _poll(handle, LockFlags.SHARED,
                                                    max(0.0, deadline - time.monotonic())):
                    self._close_if_unused()
                    return False
            self.shared[me] = self.shared.get(me, 0) + 1
            return True

    def release_shared(self, thread: int | None = None) -> None:
        """Release a shared hold taken by `thread` (default: this one)."""
        me = threading.get_ident() if thread is None else thread
        with self.changed:
            count = self.shared.get(me, 0) - 1
            if count > 0:
                self.shared[me] = count
            else:
                self.shared.pop(me, None)
            self._close_if_unused()
            self.changed.notify_all()

    def acquire_exclusive(self, timeout: float, *, convert: bool = True) -> bool:
        """Exclusive for this thread; False if others (here or elsewhere) keep it past timeout.

        With `convert`, a shared hold of this thread is converted (released, then taken
        exclusive; on failure taken shared again); without it, any shared hold in this process
        makes it fail. Shared holds of other threads of this process make it wait.
        """
        me = threading.get_ident()
        deadline = time.monotonic() + timeout
        # Without a timeout, not even wait for a thread of ours that is waiting for the file
        # lock (it holds `changed` meanwhile): "never waits" means never.
        if not (self.changed.acquire(False) if timeout <= 0 else
                self.changed.acquire(True, timeout)):
            return False
        try:
            if self.exclusive and self.owner == me:
                self.exclusive += 1
                return True
            if not convert and me in self.shared:
                return False
            while self.exclusive or any(t != me for t in self.shared):  # others in here
                if not self.changed.wait(max(0.0, deadline - time.monotonic())):
                    return False
            timeout = max(0.0, deadline - time.monotonic())
            try:
                handle = self._open()
            except OSError as exc:
                raise StorageError(f"Cannot lock the library: the lock file {self.path} cannot "
                                   f"be created ({exc.strerror or exc}).") from exc
            converting = bool(self.shared)
            if converting:
                _unlock(handle)
            if not _poll(handle, LockFlags.EXCLUSIVE, timeout):
                if converting and not _poll(handle, LockFlags.SHARED, OPEN_WAIT):
                    # our shared hold back; only maintenance elsewhere lasting minutes stops it
                    log.warning("could not take the shared lock %s back", self.path)
                self._close_if_unused()
                return False
            self.owner, self.exclusive = me, 1
            return True
        finally:
            self.changed.release()

    def release_exclusive(self) -> None:
        with self.changed:
            self.exclusive -= 1
            if self.exclusive:
                return
            self.owner = None
            if self.shared and self.handle is not None:
                # back to this thread's shared hold (flock converts in place)
                _lock(self.handle, LockFlags.SHARED) or _poll(
                    self.handle, LockFlags.SHARED, OPEN_WAIT)
            self._close_if_unused()
            self.changed.notify_all()


_holds: dict[Path, _Hold] = {}
_holds_lock = threading.Lock()


def _hold(root: Path, name: str) -> _Hold:
    path = Path(root).resolve() / LOCK_DIR / name
    with _holds_lock:
        hold = _holds.get(path)
        if hold is None:
            hold = _holds[path] = _Hold(path)
        return hold


# --- who has the library open -------------------------------------------------------------------


def _holder_file(root: Path) -> Path:
    return Path(root).resolve() / LOCK_DIR / "holders" / f"{os.getpid()}.json"


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - no cheap check; trust the record
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def holders(root: Path) -> list[str]:
    """Who has the library at `root` open, other than this process, in words.

    The window comes first (from its lock file), then every live process that recorded
    itself when it opened the library (``dlx-art import (process 1234)``).
    """
    root = Path(root).resolve()
    found: list[str] = []
    window = _window_owner(root / LOCK_FILE)
    window_pid = None
    if window is not None:
        window_pid = window.split(" ", 1)[0]
        if window_pid != str(os.getpid()):
            found.append(f"the {APP_NAME} window (process {window})" if window
                         else f"the {APP_NAME} window")
    folder = root / LOCK_DIR / "holders"
    for record in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
            pid = int(data["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if pid == os.getpid() or str(pid) == window_pid:
            continue
        if not _pid_alive(pid):
            record.unlink(missing_ok=True)
            continue
        found.append(f"{data.get('label') or 'another program'} (process {pid})")
    return found


def _record_holder(root: Path) -> None:
    path = _holder_file(root)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "label": _process_label}),
                       encoding="utf-8")
        os.replace(tmp, path)


def _forget_holder(root: Path) -> None:
    with contextlib.suppress(OSError):
        _holder_file(root).unlink(missing_ok=True)


def _forget_if_unheld(root: Path, hold: _Hold) -> None:
    with hold.changed:
        if not hold.shared and not hold.exclusive:
            _forget_holder(root)


def _who(root: Path) -> str:
    names = holders(root)
    if not names:
        return "another program"
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]


# --- the public holds ---------------------------------------------------------------------------


class LibraryHold:
    """This process's shared hold on a library, released by `release` (idempotent)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._thread = threading.get_ident()  # a library opened here may be closed elsewhere
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            hold = _hold(self.root, "library.lock")
            hold.release_shared(self._thread)
            _forget_if_unheld(self.root, hold)


def hold_library(root: Path, timeout: float | None = None) -> LibraryHold:
    """Hold the library at `root` shared, for as long as a `Library` on it is open.

    Raises:
        LibraryLocked: If maintenance in another process (rebuild, restore) keeps the library
            for longer than `timeout` (default `OPEN_WAIT`) seconds.
    """
    root = Path(root).resolve()
    hold = _hold(root, "library.lock")
    if not hold.acquire_shared(OPEN_WAIT if timeout is None else timeout):
        raise LibraryLocked(
            f"The library in {root} is being rebuilt or restored by {_who(root)}. "
            "Try again when that is done.")
    _record_holder(root)
    return LibraryHold(root)


@contextlib.contextmanager
def exclusive_library(root: Path, action: str, timeout: float | None = None) -> Iterator[None]:
    """Have the library at `root` to this thread alone while replacing or repairing its catalog.

    Waits up to `timeout` (default `EXCLUSIVE_WAIT`) seconds for other users to close it.

    Args:
        root: The storage root.
        action: What is refused, for the message (``"rebuild the catalog"``).
        timeout: Seconds to wait.

    Raises:
        LibraryLocked: If the window or another process keeps the library open; the message
            names them.
    """
    root = Path(root).resolve()
    hold = _hold(root, "library.lock")

    def refused() -> LibraryLocked:
        return LibraryLocked(f"Cannot {action} now: the library in {root} is in use by "
                             f"{_who(root)}. Close it and try again.")

    if not hold.acquire_exclusive(EXCLUSIVE_WAIT if timeout is None else timeout):
        raise refused()
    # The window takes its own lock before it opens the catalog (in the background), so its
    # lock alone also keeps maintenance away.
    window = _window_owner(root / LOCK_FILE)
    if window is not None and window.split(" ", 1)[0] != str(os.getpid()):
        hold.release_exclusive()
        _forget_if_unheld(root, hold)
        raise refused()
    _record_holder(root)
    try:
        yield
    finally:
        hold.release_exclusive()
        _forget_if_unheld(root, hold)


@contextlib.contextmanager
def writing(root: Path) -> Iterator[None]:
    """Be a writer of `root` (see the module docstring): from claiming a file to committing it.

    Waits while another process reconciles (rarely more than a moment).

    Raises:
        StorageError: If reconciliation elsewhere keeps the library for `WRITE_WAIT` seconds.
    """
    hold = _hold(root, "writing.lock")
    if not hold.acquire_shared(WRITE_WAIT):
        raise StorageError(f"The library in {root} is busy: another process has been checking "
                           "it for a long time. Try again later.")
    try:
        yield
    finally:
        hold.release_shared()


@contextlib.contextmanager
def maintenance(root: Path) -> Iterator[bool]:
    """Yield True if no writer, in any process, is between claiming a file and committing it.

    While True is held, new writers wait. Never waits itself: with writers busy it yields False
    and the caller leaves cleanup and adoption for a later run.
    """
    hold = _hold(root, "writing.lock")
    try:
        got = hold.acquire_exclusive(0.0, convert=False)  # a writer in this thread is a writer
    except StorageError:
        got = False  # nothing can be cleaned where nothing can be written
    try:
        yield got
    finally:
        if got:
            hold.release_exclusive()


@contextlib.contextmanager
def folders_lock(root: Path) -> Iterator[None]:
    """Serialise choosing new project folder names across processes (a moment each).

    `storage.claim_folder`'s mkdir is atomic for one exact name, but the library also keeps
    names apart that differ only in case ("Cats", "cats"), which a case-sensitive file system
    would let two processes create at once.
    """
    hold = _hold(root, "folders.lock")
    if not hold.acquire_exclusive(WRITE_WAIT):
        raise StorageError("Another program keeps the library's project folders locked; "
                           "try again later.")
    try:
        yield
    finally:
        hold.release_exclusive()


@contextlib.contextmanager
def rename_lock(root: Path, *, wait: bool = True) -> Iterator[bool]:
    """Serialise project renames across processes (they share one journal file).

    Yields False only with ``wait=False`` when another rename is running.
    """
    hold = _hold(root, "rename.lock")
    got = hold.acquire_exclusive(WRITE_WAIT if wait else 0.0)
    if wait and not got:
        raise StorageError("Another project rename has not finished; try again later.")
    try:
        yield got
    finally:
        if got:
            hold.release_exclusive()
