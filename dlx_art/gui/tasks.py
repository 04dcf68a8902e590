"""Run plain functions on a thread pool and get their results back as Qt signals.

The function runs in a pool thread and must not touch widgets; `on_done(result)` or
`on_error(exception)` then run on the GUI thread (queued connection). Exceptions that are not
`DlxError`s are logged with their traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from dlx_art.errors import DlxError

log = logging.getLogger("dlx_art.gui.tasks")

_running: set[Task] = set()


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
        self.started = False

    def run(self) -> None:  # pool thread
        self.started = True
        try:
            result = self._fn(*self._args, **self._kwargs)
        except BaseException as exc:  # noqa: BLE001 - delivered to the GUI thread
            if not isinstance(exc, DlxError):
                log.exception("background task %s failed", getattr(self._fn, "__name__", "?"))
            self.signals.failed.emit(exc)
        else:
            self.signals.done.emit(result)


def run_task(
    fn: Callable[..., Any],
    *args: Any,
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    pool: QThreadPool | None = None,
    **kwargs: Any,
) -> Task:
    """Start `fn(*args, **kwargs)` on `pool` (the global pool by default)."""
    task = Task(fn, *args, **kwargs)
    task.pool = pool or QThreadPool.globalInstance()
    _running.add(task)

    @Slot(object)
    def finished_ok(result: Any) -> None:
        _running.discard(task)
        if on_done is not None:
            on_done(result)

    @Slot(object)
    def finished_error(exc: BaseException) -> None:
        _running.discard(task)
        if on_error is not None:
            on_error(exc)

    task.signals.done.connect(finished_ok)
    task.signals.failed.connect(finished_error)
    task.pool.start(task)
    return task


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
    return len(dropped)


def pending_tasks() -> int:
    return len(_running)
