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

Workers end with their parent. A worker waits for work on a queue whose other end every
worker holds too, so when the parent is killed (SIGKILL, a crash, the window closed by force)
nothing tells it to stop: it would wait forever. So each worker watches its parent from the
start (`_start_worker`): on Linux the kernel signals it when the parent dies
(``prctl(PR_SET_PDEATHSIG)``), and everywhere a watchdog thread waits on the parent's
sentinel (and polls ``os.getppid()``) and ends the worker within about a second. What a
killed import had staged is cleaned up by the next `Library.reconcile`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

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
    from concurrent.futures import ProcessPoolExecutor  # here: not needed to open a library

    count = workers or worker_count()
    pool = ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker,
                               initargs=(os.getpid(), initializer, initargs))
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


#: How often a worker's watchdog checks that its parent still runs (seconds).
PARENT_POLL_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1
#: The signal the Linux kernel sends a worker when its parent dies (see `_start_worker`).
#: Not SIGTERM: the pool itself ends broken workers with SIGTERM, which must keep working.
_DEATH_SIGNAL: int | None = getattr(__import__("signal"), "SIGUSR1", None)


def _start_worker(parent_pid: int, initializer: Callable[..., None] | None,
                  initargs: tuple[Any, ...]) -> None:
    """Run first in every worker: end with the parent, then the pool's own initializer."""
    _end_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


def _parent_gone(parent_pid: int) -> bool:
    if sys.platform != "win32" and os.getppid() != parent_pid:
        return True  # re-parented (to init or a subreaper): the parent died
    import multiprocessing

    parent = multiprocessing.parent_process()
    return parent is not None and not parent.is_alive()


def _end_with_parent(parent_pid: int) -> None:
    """Make this worker process exit as soon as `parent_pid` is gone."""
    if sys.platform.startswith("linux") and _DEATH_SIGNAL is not None:
        _ask_kernel_for_death_signal(parent_pid)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="dlx-parent-watchdog",
                     daemon=True).start()
    if _parent_gone(parent_pid):  # died before any of this was set up
        os._exit(1)


def _ask_kernel_for_death_signal(parent_pid: int) -> None:
    """Linux: have the kernel send `_DEATH_SIGNAL` when the parent exits.

    The kernel sends it when the *thread* that started this worker ends, which in a
    multi-threaded parent (a window's thread pool) is not the end of the process: the handler
    checks that the parent process is really gone and ignores the signal otherwise.
    """
    import ctypes
    import signal

    if _DEATH_SIGNAL is None:  # pragma: no cover - the caller checked
        return
    death_signal = _DEATH_SIGNAL

    def on_death_signal(_signum: int, _frame: Any) -> None:
        if _parent_gone(parent_pid):
            os._exit(1)

    try:
        signal.signal(death_signal, on_death_signal)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(death_signal), 0, 0, 0)
    except (OSError, AttributeError, ValueError):  # pragma: no cover - the watchdog remains
        pass


def _watch_parent(parent_pid: int) -> None:
    """The portable guard: end this worker within about a second of its parent's death.

    A worker busy in C code (decoding an image) runs no Python signal handler until it is
    done; this thread does not wait for it. `os._exit`: there is nobody left to report to,
    and a clean shutdown would wait on queues that the dead parent was meant to read.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None)
    while True:
        if sentinel is not None:
            try:
                wait([sentinel], timeout=PARENT_POLL_SECONDS)
            except (OSError, ValueError):
                sentinel = None
        else:
            threading.Event().wait(PARENT_POLL_SECONDS)
        if _parent_gone(parent_pid):
            os._exit(1)


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    """Make `multiprocessing`'s spawn start children without importing the main script."""
    main = sys.modules.get("__main__")
    if main is None or getattr(sys, "frozen", False):  # frozen: PyInstaller's own bootstrap
        yield
        return
    saved: dict[str, Any] = {name: main.__dict__[name] for name in ("__file__", "__spec__")
             if name in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)
