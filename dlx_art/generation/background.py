"""One blocking call in the background, its outcome as a `concurrent.futures.Future`.

The A1111 client (the generation POST, a model load), the Hugging Face client (each request)
and the command line (the whole job, so Ctrl+C can cancel it on the server) all need the same
thing: start a call that may block for minutes, keep the calling thread free to poll progress,
watch a `CancelToken` or a deadline, and take the result or the error when it is there.

Each call gets its own daemon thread rather than a `ThreadPoolExecutor` worker: an executor's
threads are joined when the interpreter exits, so a request abandoned after a cancel or a
deadline (a Hugging Face call cannot be interrupted; a hostile server may hold a read) would
keep the process from ending. A daemon thread ends with the process; the work it abandons is
never stored (the callers drop late results).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future
from typing import TypeVar

__all__ = ["start", "wait"]

T = TypeVar("T")

_ids = itertools.count(1)


def start(call: Callable[[], T], name: str) -> Future[T]:
    """Run `call()` in a new daemon thread named `name-N`; return its future.

    The future holds what `call` returned or the exception it raised (any `BaseException`,
    re-raised by `Future.result()` in the waiting thread). It cannot be cancelled: stopping
    the work is the caller's business (a `CancelToken`, shutting a connection).
    """
    future: Future[T] = Future()
    future.set_running_or_notify_cancel()  # running from now on: Future.cancel() is refused

    def run() -> None:
        try:
            value = call()
        except BaseException as exc:  # handed to the waiting thread, which maps it
            future.set_exception(exc)
        else:
            future.set_result(value)

    threading.Thread(target=run, name=f"{name}-{next(_ids)}", daemon=True).start()
    return future


def wait(future: Future[T], timeout: float) -> bool:
    """Wait up to `timeout` seconds for `future` to finish; True when it has.

    Interruptible by Ctrl+C in the main thread (a `KeyboardInterrupt` is raised here), unlike
    `Thread.join()`, which an interrupt can leave believing a running thread has stopped.
    """
    done, _pending = futures.wait([future], timeout=max(0.0, timeout))
    return bool(done)
