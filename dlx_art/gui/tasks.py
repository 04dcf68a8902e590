"""Run plain functions on named lanes of one task runner; results come back as Qt signals.

The function runs in a lane's thread and must not touch widgets; `on_done(result)` or
`on_error(exception)` then run on the GUI thread (queued connection). Exceptions that are not
`DlxError`s are logged with their traceback.

A task may name an `owner` (the widget or object that asked for it). When the owner has been
deleted by the time the result arrives, the callbacks are dropped instead of calling into a
dead object; when it is deleted before the task started, the task is taken off its lane.

`TaskRunner` holds the application's lanes (one `QThreadPool` each, see `LANES`). The
`Session` owns one; widgets built without one (tests, small tools) share `default_runner()`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot
from shiboken6 import isValid

from dlx_art.errors import DlxError

log = logging.getLogger("dlx_art.gui.tasks")

_running: set[Task] = set()

#: The lanes of a runner and their thread counts.
#: reads: catalog reads for the views (counts, previews, lineage) and opening a library.
#: writer: the one thread that changes the catalog for the views (favourites, trash, checks),
#: so writes stay in the order they were asked for.
#: imports: long imports, apart from the writer so a favourite toggle never waits for one.
#: render: thumbnail loads (rendering itself runs in the library's worker processes).
#: jobs: generation, one at a time. backends: backend status polls (network timeouts).
LANES: dict[str, int] = {"reads": 2, "writer": 1, "imports": 1, "render": 2, "jobs": 1,
                         "backends": 1}


class _TaskSignals(QObject):
    """Signals: done(object), failed(object)."""

    done = Signal(object)
    failed = Signal(object)


class Task(QRunnable):
    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)  # we keep the reference until the result is delivered
        self.signals = _TaskSignals()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self.pool: QThreadPool | None = None
        self.lane: Lane | None = None
        self.owner: QObject | None = None
        self.started = False
        self.ended = threading.Event()

    def run(self) -> None:  # pool thread
        self.started = True
        try:
            result = self._fn(*self._args, **self._kwargs)
        except BaseException as exc:  # noqa: BLE001 - delivered to the GUI thread
            if not isinstance(exc, DlxError):
                log.exception("background task %s failed", getattr(self._fn, "__name__", "?"))
            self.ended.set()
            self.signals.failed.emit(exc)
        else:
            self.ended.set()
            self.signals.done.emit(result)

    def owner_alive(self) -> bool:
        return self.owner is None or isValid(self.owner)


def run_task(
    fn: Callable[..., Any],
    *args: Any,
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    pool: QThreadPool | None = None,
    owner: QObject | None = None,
    lane: Lane | None = None,
    **kwargs: Any,
) -> Task:
    """Start `fn(*args, **kwargs)` on `lane` (or `pool`; the global pool by default).

    With an `owner`, the callbacks run only while the owner exists.
    """
    task = Task(fn, *args, **kwargs)
    task.lane = lane
    task.pool = lane.pool if lane is not None else (pool or QThreadPool.globalInstance())
    task.owner = owner
    _running.add(task)
    if lane is not None:
        lane._add(task)

    def deliver(callback: Callable[[Any], None] | None, value: Any) -> None:
        _running.discard(task)
        if lane is not None:
            lane._discard(task)
        if callback is not None and task.owner_alive():
            callback(value)

    @Slot(object)
    def finished_ok(result: Any) -> None:
        deliver(on_done, result)

    @Slot(object)
    def finished_error(exc: BaseException) -> None:
        deliver(on_error, exc)

    task.signals.done.connect(finished_ok)
    task.signals.failed.connect(finished_error)
    task.pool.start(task)
    return task


_POOLS: list[QThreadPool] = []  # every lane's pool, never deleted while the process runs


class Lane:
    """One named lane of a `TaskRunner`: a QThreadPool with `threads` threads."""

    def __init__(self, name: str, threads: int) -> None:
        self.name = name
        self.threads = threads
        # No Qt parent, and kept for the life of the process: a pool deleted as a child while a
        # Python task still runs would wait for it in its destructor with the GIL held, which
        # the task needs to finish (a deadlock seen in CI when a window was deleted right after
        # a runner step started). Idle pools cost nothing: their threads expire.
        self.pool = QThreadPool()
        _POOLS.append(self.pool)
        self.pool.setObjectName(f"{name}Lane")
        self.pool.setMaxThreadCount(threads)
        self._tasks: set[Task] = set()  # queued or running, result not yet delivered
        self._watched: set[int] = set()  # owners whose `destroyed` we listen to

    def run(self, fn: Callable[..., Any], *args: Any, owner: QObject | None = None,
            on_done: Callable[[Any], None] | None = None,
            on_error: Callable[[BaseException], None] | None = None, **kwargs: Any) -> Task:
        """Run `fn(*args, **kwargs)` here; see `run_task`."""
        if owner is not None and id(owner) not in self._watched:
            key = id(owner)
            self._watched.add(key)
            # A deleted owner's queued work is pointless: take it off the lane at once.
            owner.destroyed.connect(lambda *_: self._owner_destroyed(key))
        return run_task(fn, *args, on_done=on_done, on_error=on_error, owner=owner, lane=self,
                        **kwargs)

    def _add(self, task: Task) -> None:
        self._tasks.add(task)

    def _discard(self, task: Task) -> None:
        self._tasks.discard(task)

    def _owner_destroyed(self, key: int) -> None:
        self._watched.discard(key)
        mine = [t for t in self._tasks if t.owner is not None and id(t.owner) == key]
        if not isValid(self.pool):  # an owner outlived its runner: nothing is queued
            for task in mine:
                self._forget(task)
            return
        for task in mine:
            if self.pool.tryTake(task):
                self._forget(task)

    def _forget(self, task: Task) -> None:
        self._tasks.discard(task)
        _running.discard(task)

    def cancel(self, owner: QObject | None = None) -> int:
        """Take queued tasks (of `owner`, or all) off the lane; their callbacks never run."""
        dropped = 0
        if not isValid(self.pool):
            return 0
        for task in list(self._tasks):
            if owner is not None and task.owner is not owner:
                continue
            if self.pool.tryTake(task):
                self._forget(task)
                dropped += 1
        return dropped

    def wait(self, timeout_ms: int, owner: QObject | None = None) -> bool:
        """Wait (bounded) until the lane's tasks (of `owner`, or all) have ended."""
        if owner is None:
            return self.pool.waitForDone(max(0, timeout_ms))
        deadline = time.monotonic() + max(0, timeout_ms) / 1000
        for task in [t for t in self._tasks if t.owner is owner]:
            if not task.ended.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def active(self, owner: QObject | None = None) -> int:
        """Tasks queued or running whose result has not been delivered (of `owner`, or all)."""
        return sum(1 for t in self._tasks if owner is None or t.owner is owner)

    def busy(self) -> bool:
        return self.pool.activeThreadCount() > 0


class TaskRunner(QObject):
    """The application's lanes: `runner.reads`, `runner.writer`, `runner.render`, ...

    `stop(ms)` drops queued work and waits (bounded) for running work on every lane.
    """

    def __init__(self, lanes: Mapping[str, int] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("taskRunner")
        self.lanes: dict[str, Lane] = {name: Lane(name, threads)
                                       for name, threads in (lanes or LANES).items()}

    def lane(self, name: str) -> Lane:
        return self.lanes[name]

    def __getattr__(self, name: str) -> Lane:
        lanes = self.__dict__.get("lanes")
        if lanes is not None and name in lanes:
            return lanes[name]
        raise AttributeError(name)

    def cancel(self, owner: QObject | None = None) -> int:
        return sum(lane.cancel(owner) for lane in self.lanes.values())

    def wait(self, timeout_ms: int, names: tuple[str, ...] | None = None) -> bool:
        """Wait for the running work of `names` (all lanes by default), `timeout_ms` in all."""
        deadline = time.monotonic() + max(0, timeout_ms) / 1000
        ok = True
        for name, lane in self.lanes.items():
            if names is None or name in names:
                left = int(max(0.0, deadline - time.monotonic()) * 1000)
                ok = lane.wait(left) and ok
        return ok

    def stop(self, timeout_ms: int) -> bool:
        """Drop every queued task and wait, `timeout_ms` in all, for the running ones."""
        self.cancel()
        return self.wait(timeout_ms)

    def idle(self) -> bool:
        return not any(lane.busy() for lane in self.lanes.values())


_default: TaskRunner | None = None


def default_runner() -> TaskRunner:
    """The runner shared by widgets that were not given one (tests, small tools)."""
    global _default
    if _default is None or not isValid(_default):
        _default = TaskRunner()
    return _default


def clear_pool(pool: QThreadPool) -> int:
    """Drop `pool`'s queued tasks (their callbacks will never run); returns how many.

    Use this instead of `QThreadPool.clear()`, which would leave the dropped tasks tracked
    here forever.
    """
    pool.clear()
    dropped = {task for task in _running if task.pool is pool and not task.started}
    # a task may have started between clear() and now: only forget those that did not
    dropped = {task for task in dropped if not task.started}
    _running.difference_update(dropped)
    for task in dropped:
        if task.lane is not None:
            task.lane._discard(task)
    return len(dropped)


def pending_tasks() -> int:
    return len(_running)
