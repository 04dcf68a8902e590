"""The application session: the one owner of the studio's state and background work.

A `Session` holds the context (paths, settings), the open `Library` (or None while it opens),
the library lock, the backend router, the job controller, the backend monitor and one
`TaskRunner` whose lanes (`reads`, `writer`, `imports`, `render`, `jobs`, `backends`) every
widget gets its background work from. Widgets are built once and follow the library through
the signals below; nothing here runs a nested event loop.

Opening, switching and moving a library happen in the background and report by signals:

* `library_opening(path)`: a library is being opened (the views show "Opening…").
* `library_opened(library | None)`: the library to show now (None: the old one was let go).
* `library_failed(message)`: no library could be opened (at start-up, or neither the new
  nor the old one after a switch).
* `switch_finished(ok, message)`, `move_finished(ok, message)`: how a switch or move ended.
* `move_progress(done, total)`: files copied + verified so far (`move_text()` describes it).
* `checks_done(summary | None)`, `checks_failed(message)`: the start-up checks.
* `catalog_changed(changes)`: what any process (a command, `dlx-art serve`, another studio,
  this window) changed in the open library's catalog (a `library.changes.Changes`). A timer
  polls the library's `ChangeWatcher` every `CHANGES_POLL_MS` on the reads lane (one
  `PRAGMA data_version` when nothing changed).

`shutdown(ms)` is the only place that waits for background work: it stops the running job
(recorded as interrupted: it runs again on the next start; queued jobs stay queued), stops
the monitor, drops queued reads, waits (bounded) for every lane, closes the library and
releases the lock.
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from dlx_art.config import Context
from dlx_art.errors import DlxError, UsageError
from dlx_art.gui.jobs import JobController, RouterProvider
from dlx_art.gui.status import BackendMonitor
from dlx_art.gui.tasks import TaskRunner
from dlx_art.library.lock import LibraryLock

if TYPE_CHECKING:
    from dlx_art.library.changes import Changes, ChangeWatcher
    from dlx_art.library.relocate import MoveProgress
    from dlx_art.library.service import Library

log = logging.getLogger("dlx_art.gui.session")

SHUTDOWN_WAIT_MS = 15_000
#: How long letting go of a library waits (on the writer lane) for reads still running on it.
RELEASE_WAIT_MS = 15_000
#: Lanes whose queued work is dropped when the library is let go (reads are asked again).
DROPPABLE = ("reads", "render", "backends")
#: Lanes that use the library: waited for before it closes (queued writes still happen).
LIBRARY_LANES = ("reads", "render", "writer", "imports")
#: How long `shutdown` waits for a backend status probe (it holds no data, only a connection:
#: a slow server or the first import of the HTTP clients must not hold the window's exit).
BACKENDS_WAIT_MS = 100
#: How often the open catalog is asked whether another process changed it.
CHANGES_POLL_MS = 250


def _open(root: Path) -> Library:  # writer lane: may migrate the catalog
    from dlx_art.library.service import Library

    return Library.open(root)


def _open_watched(root: Path) -> tuple[Library, ChangeWatcher]:  # writer lane
    library = _open(root)
    watcher = library.changes()
    try:
        # the cursor is set before the views read the library: nothing falls between the two
        watcher.poll()
    except DlxError as exc:
        log.warning("catalog changes cannot be watched yet: %s", exc.user_message)
    return library, watcher


def _user_message(exc: BaseException, fallback: str) -> str:
    return exc.user_message if isinstance(exc, DlxError) else fallback


def _startup_checks(library: Library) -> str | None:  # writer lane
    report = library.reconcile()
    try:
        library.backup_if_due()
    except DlxError as exc:
        log.warning("catalog backup failed: %s", exc.user_message)
    has_news = (not report.clean or report.adopted or report.cleaned
                or report.quarantined or report.search_repaired)
    summary = report.summary() if has_news else None
    recovery = library.recovery  # the catalog had to be recovered on open: say so
    if recovery:
        return f"{recovery} {summary}" if summary else recovery
    return summary


class Session(QObject):
    """The studio's state and background work; see the module docstring.

    Args:
        context: the loaded `dlx_art.config.Context`.
        library: an open `Library` to use, or None to call `open()` later.
        lock: the `LibraryLock` held for the library (released by `shutdown`).
    """

    library_opening = Signal(object)
    library_opened = Signal(object)
    library_failed = Signal(str)
    switch_finished = Signal(bool, str)
    move_progress = Signal(int, int)
    move_finished = Signal(bool, str)
    checks_done = Signal(object)
    checks_failed = Signal(str)
    catalog_changed = Signal(object)

    def __init__(self, context: Context, library: Library | None = None, *,
                 lock: LibraryLock | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("session")
        self.context = context
        self.library = library
        self.lock = lock
        self.runner = TaskRunner(parent=self)
        self.routers = RouterProvider(context.effective)
        self.jobs = JobController(library, self.routers, self, runner=self.runner)
        self.monitor = BackendMonitor(self.routers, self, runner=self.runner)
        self._opening = False
        self._closed = False
        #: After `shutdown`: True when every thread ended and the library closed (see
        #: `dlx_art.app.finish_process`), False when something was left running; None before.
        self.ended_cleanly: bool | None = None
        self._move: MoveProgress | None = None
        self._last_progress = 0.0
        self._watcher: ChangeWatcher | None = None
        self._polling = False
        self._changes_timer = QTimer(self)
        self._changes_timer.setInterval(CHANGES_POLL_MS)
        self._changes_timer.timeout.connect(self._poll_changes)
        if library is not None:
            self._watch(library.changes())

    @classmethod
    def locked(cls, context: Context) -> Session:
        """A session holding the lock on `context`'s library (not open yet: call `open()`).

        Raises `LibraryLocked` when another window has it, `OSError` when the folder is
        unusable.
        """
        lock = LibraryLock(context.storage_root).acquire()
        return cls(context, None, lock=lock)

    # --- queries ------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.library is not None and not self._opening and not self._closed

    @property
    def is_closed(self) -> bool:
        return self._closed

    def root(self) -> Path:
        """The library's folder (the configured one while none is open)."""
        return Path(self.library.root) if self.library is not None else self.context.storage_root

    def busy_message(self) -> str | None:
        """Why the library cannot be switched or moved now (None: it can)."""
        if self._opening or self.library is None or self._move is not None:
            return "Wait for the library to open first."
        if self.jobs.is_busy():
            return "Wait for the running jobs to finish (or cancel them) first."
        return None

    # --- opening ------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the configured library in the background (`library_opened` or `_failed`)."""
        self._open_at(self.context.storage_root, self.lock)

    def run_startup_checks(self) -> None:
        """Reconcile the catalog with the files and back it up when due, in the background."""
        library = self.library
        if library is None or self._closed:
            return
        self.runner.writer.run(_startup_checks, library, owner=self,
                               on_done=self.checks_done.emit,
                               on_error=lambda exc: self.checks_failed.emit(
                                   _user_message(exc, "see the log")))

    def _open_at(self, root: Path, lock: LibraryLock | None, on_ok: Any = None,
                 on_fail: Any = None) -> None:
        self._opening = True
        self.library_opening.emit(Path(root))
        self.runner.writer.run(
            _open_watched, Path(root), owner=self,
            on_done=lambda opened: self._opened(*opened, lock, on_ok),
            on_error=lambda exc: self._open_failed(exc, Path(root), on_fail))

    def _opened(self, library: Library, watcher: ChangeWatcher | None,
                lock: LibraryLock | None, on_ok: Any) -> None:
        self._opening = False
        if self._closed:
            if watcher is not None:
                watcher.close()
            library.close()
            return
        self.library = library
        self.lock = lock
        self.jobs.set_library(library)
        self._watch(watcher if watcher is not None else library.changes())
        self.library_opened.emit(library)
        if on_ok is not None:  # after the views have the library: "finished" means shown
            on_ok()

    def _open_failed(self, exc: BaseException, root: Path, on_fail: Any) -> None:
        self._opening = False
        message = _user_message(exc, f"The library in {root} could not be opened; see the log.")
        if self._closed:
            return
        if on_fail is not None:
            on_fail(message)
        else:
            self.library_failed.emit(message)

    def _release_library(self) -> None:
        """Let go of the open library: the views forget it, its work ends, then it closes.

        Nothing waits on the GUI thread: the close is queued on the writer lane, so it comes
        after the writes already asked for and before whatever the session queues next there
        (opening or copying a library); it first waits (bounded) for the reads and imports
        still running on the old catalog.
        """
        library = self.library
        if library is None:
            return
        self.library = None
        watcher = self._unwatch()
        close_jobs = self.jobs.release_library()  # nothing runs: not busy
        self.library_opened.emit(None)
        for name in DROPPABLE:
            self.runner.lane(name).cancel()
        runner = self.runner

        def close_when_unused() -> None:  # writer lane
            others = (*(n for n in LIBRARY_LANES if n != "writer"), "jobs")
            if not runner.wait(RELEASE_WAIT_MS, others):
                log.warning("work on %s still running after %d ms", library.root,
                            RELEASE_WAIT_MS)
            if close_jobs is not None:  # before the library: every connection closed
                close_jobs()            # folds the write-ahead log into the catalog
            if watcher is not None:
                watcher.close()
            library.close()

        self.runner.writer.run(close_when_unused, owner=self)

    def _save_storage_root(self, folder: Path) -> None:
        settings = copy.deepcopy(self.context.settings)
        settings.storage_root = str(folder)
        self.context.save_settings(settings)

    # --- live changes -------------------------------------------------------------------------

    def _watch(self, watcher: ChangeWatcher | None) -> None:
        self._watcher = watcher
        self._polling = False
        if watcher is not None:
            self._changes_timer.start()
            if watcher.cursor is None:  # not primed while opening: set its cursor now
                self._poll_changes()

    @property
    def watching(self) -> bool:
        """Whether catalog changes are followed now (changes from here on are reported)."""
        return self._watcher is not None and self._watcher.cursor is not None

    def _unwatch(self) -> ChangeWatcher | None:
        """Stop polling; the watcher is returned for closing once its poll has ended."""
        self._changes_timer.stop()
        watcher, self._watcher = self._watcher, None
        return watcher

    def _poll_changes(self) -> None:
        watcher = self._watcher
        if watcher is None or self._polling or self._closed:
            return  # the previous poll is still running: skip this tick
        self._polling = True

        def done(changes: Changes) -> None:
            if watcher is not self._watcher:
                return  # the library was let go meanwhile: its changes mean nothing now
            self._polling = False
            if changes:
                self.catalog_changed.emit(changes)

        def failed(exc: BaseException) -> None:
            if watcher is self._watcher:
                self._polling = False  # a catalog being replaced: look again next tick
            log.debug("polling catalog changes failed: %s", exc)

        self.runner.reads.run(watcher.poll, owner=self, on_done=done, on_error=failed)

    # --- switching ----------------------------------------------------------------------------

    def switch_library(self, folder: Path) -> None:
        """Use the library in `folder` (created when empty), in the background.

        Raises `UsageError` while busy and `LibraryLocked` (or `OSError`) when `folder` is in
        use; otherwise `switch_finished(ok, message)` follows. When the new library cannot be
        opened, the old one is opened again.
        """
        if (busy := self.busy_message()) is not None:
            raise UsageError(busy)
        folder = Path(folder).expanduser()
        new_lock = LibraryLock(folder).acquire()
        old_root, old_lock = self.root(), self.lock
        self._release_library()

        def ok() -> None:
            self._save_storage_root(folder)
            if old_lock is not None and old_lock is not new_lock:
                old_lock.release()
            self.switch_finished.emit(True, f"Using the library in {folder}.")

        def failed(message: str) -> None:
            new_lock.release()
            self._open_at(old_root, old_lock)
            self.switch_finished.emit(False, message)

        self._open_at(folder, new_lock, ok, failed)

    # --- moving -------------------------------------------------------------------------------

    def move_library(self, target: Path) -> None:
        """Copy + verify the library into `target`, then use it there (the old copy stays).

        Raises `UsageError` while busy or for an unusable target, `LibraryLocked` (or
        `OSError`) when `target` is in use; otherwise `move_progress` reports and
        `move_finished(ok, message)` follows. On failure the old library is used again.
        """
        from dlx_art.library.relocate import MoveProgress, check_move_target, move_library

        if (busy := self.busy_message()) is not None:
            raise UsageError(busy)
        source, old_lock = self.root(), self.lock
        target = Path(target).expanduser()
        check_move_target(source, target)
        new_lock = LibraryLock(target).acquire()
        self._release_library()
        self._move = MoveProgress(self._on_move_step)
        self._last_progress = 0.0

        def reopen_old(message: str) -> None:
            new_lock.release()
            self._open_at(source, old_lock)
            self.move_finished.emit(False, message)

        def moved(_count: int) -> None:
            self._move = None

            def ok() -> None:
                self._save_storage_root(target)
                if old_lock is not None and old_lock is not new_lock:
                    old_lock.release()
                self.move_finished.emit(True, f"The library now lives in {target}. The old "
                                        f"folder {source} was kept; delete it when you no "
                                        "longer need it.")

            self._open_at(target, new_lock, ok, reopen_old)

        def not_moved(exc: BaseException) -> None:
            self._move = None
            reopen_old(_user_message(exc, "The library could not be moved; see the log."))

        self.runner.writer.run(move_library, source, target, self._move, owner=self,
                               on_done=moved, on_error=not_moved)

    def stop_move(self) -> None:
        """Give up the move in progress (the partial copy is removed)."""
        if self._move is not None:
            self._move.stop()

    def move_text(self) -> str:
        from dlx_art.library.relocate import describe_move

        return describe_move(self._move) if self._move is not None else ""

    def _on_move_step(self, done: int, total: int, _stage: str) -> None:  # writer lane
        now = time.monotonic()
        # at most ~20 updates a second reach the GUI thread, however many files there are
        if done in (0, total) or now - self._last_progress >= 0.05:
            self._last_progress = now
            self.move_progress.emit(done, total)

    # --- settings -----------------------------------------------------------------------------

    def apply_settings(self, settings: Any) -> None:
        """Save new settings and rebuild the backends from them."""
        self.context.save_settings(settings)
        self.routers.update(self.context.effective)
        self.monitor.refresh()

    # --- the end ------------------------------------------------------------------------------

    def shutdown(self, timeout_ms: int = SHUTDOWN_WAIT_MS) -> bool:
        """Cancel jobs, stop lanes, close the library, release the lock: `timeout_ms` in all.

        Queued catalog writes still happen (a favourite toggled just before quitting is
        kept); queued reads are dropped. A backend status probe still running is waited for
        only `BACKENDS_WAIT_MS` (it holds no data). True when every thread ended in time;
        `ended_cleanly` says whether all the work on the library and the jobs did.
        """
        if self._closed:
            return True
        self._closed = True
        deadline = time.monotonic() + max(0, timeout_ms) / 1000

        def left() -> int:
            return int(max(0.0, deadline - time.monotonic()) * 1000)

        self.stop_move()
        watcher = self._unwatch()
        ok = self.jobs.shutdown(left())
        probes_ended = self.monitor.stop(min(left(), BACKENDS_WAIT_MS))
        for name in DROPPABLE:
            self.runner.lane(name).cancel()
        ok = self.runner.wait(left(), tuple(n for n in self.runner.lanes
                                            if n != "backends")) and ok
        if watcher is not None and ok:
            watcher.close()
        if ok:
            self.jobs.close()
        if self.library is not None:
            if ok:
                self.library.close()
            else:  # a thread still uses it: closing under it would fail that thread
                log.warning("background work still running; the catalog is left to exit")
        if self.lock is not None:
            self.lock.release()
        self.ended_cleanly = ok
        log.info("session ended (threads ended: %s, status probes ended: %s)", ok,
                 probes_ended)
        return ok and probes_ended
