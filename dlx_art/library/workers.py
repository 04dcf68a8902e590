"""Worker processes for bulk work (large imports, many thumbnails), started safely.

Threads share one GIL: only one of them at a time runs Python code, and the per-file work of
an import or a batch of thumbnails has enough of it that two cores end up half idle (and a
window beside them stutters). Bulk jobs therefore run in a small pool of worker processes.

They are started with "spawn", a fresh interpreter: forking a process that runs Qt's threads
is unsafe. A spawned child normally runs the parent's main script again (as ``__mp_main__``)
so that functions defined there can be unpickled; ours live in `dlx_art`, and a script without
an ``if __name__ == "__main__":`` guard would run its own work again in every worker, so the
workers are started while the main script is hidden. In the frozen app,
`multiprocessing.freeze_support()` (packaging/launcher.py) turns such a start into a worker.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = [
    "BACKGROUND_NICENESS",
    "lower_process_priority",
    "lower_thread_priority",
    "process_pool",
    "processes_allowed",
    "worker_count",
]

#: The niceness of background work (threads on Linux, worker processes on POSIX).
BACKGROUND_NICENESS = 10
_niced: set[int] = set()  # native ids of the threads already lowered


def processes_allowed() -> bool:
    """Whether bulk jobs may use worker processes (``DLX_ART_WORKER_PROCESSES=0``: threads only)."""
    return os.environ.get("DLX_ART_WORKER_PROCESSES", "1") != "0"


def worker_count() -> int:
    """How many workers a bulk job uses: the CPUs this process may run on, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def process_pool(initializer: Callable[..., None] | None = None,
                 initargs: tuple[Any, ...] = (), workers: int | None = None
                 ) -> ProcessPoolExecutor:
    """A pool of spawned worker processes, all started before this returns.

    Args:
        initializer: Run once in each worker (module-level, so it can be pickled).
        initargs: Its arguments.
        workers: How many; default `worker_count()`.
    """
    import multiprocessing

    count = workers or worker_count()
    pool = ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"),
                               initializer=initializer, initargs=initargs)
    with _main_script_hidden():
        for _ in range(count):  # each submit that finds no idle worker starts one
            pool.submit(os.getpid)
    return pool


def lower_thread_priority() -> None:
    """Make the calling worker thread yield the CPU (and so the GIL) to interactive threads.

    Linux schedules threads individually, so this lowers only the calling thread: a window's
    GUI thread keeps winning the CPU back within a time slice while background threads work.
    Elsewhere `os.setpriority` would apply to the whole process: skipped. It is not raised
    again afterwards (an unprivileged process cannot), so call it only on background threads.
    """
    ident = threading.get_native_id()
    if ident in _niced or not sys.platform.startswith("linux"):
        return
    _niced.add(ident)
    try:
        current = os.getpriority(os.PRIO_PROCESS, ident)
        os.setpriority(os.PRIO_PROCESS, ident, max(current, BACKGROUND_NICENESS))
    except OSError:  # pragma: no cover - not allowed in some sandboxes; only a nicety
        pass


def lower_process_priority() -> None:
    """Run the calling worker process below normal priority and ignore Ctrl+C.

    A bulk job in the background must not slow down the window or a generation; the parent
    handles Ctrl+C (it stops the job and cleans up after its workers).
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if sys.platform == "win32":  # pragma: no cover - Windows
            import ctypes

            below_normal = 0x00004000
            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            kernel32.SetPriorityClass(kernel32.GetCurrentProcess(), below_normal)
        else:
            os.nice(BACKGROUND_NICENESS)
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    """Make `multiprocessing`'s spawn start children without importing the main script."""
    main = sys.modules.get("__main__")
    if main is None or getattr(sys, "frozen", False):  # frozen: PyInstaller's own bootstrap
        yield
        return
    saved = {name: main.__dict__[name] for name in ("__file__", "__spec__")
             if name in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)
