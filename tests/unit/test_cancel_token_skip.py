"""CancelToken's skip hooks (issue 14: Skip beside Generate)."""

from __future__ import annotations

import threading

from dlx_art.generation.types import CancelToken


def test_skip_without_a_running_backend_does_nothing():
    assert CancelToken().skip() is False


def test_skip_calls_the_hooks_registered_while_the_job_runs():
    token = CancelToken()
    calls: list[str] = []
    remove = token.on_skip(lambda: calls.append("a1111"))
    assert token.skip() is True and calls == ["a1111"]
    remove()
    assert token.skip() is False and calls == ["a1111"]
    assert not token.cancelled  # a skip is not a cancel


def test_a_failing_skip_is_reported_and_leaves_the_job_alone():
    token = CancelToken()

    def refuse() -> None:
        raise OSError("connection refused")

    token.on_skip(refuse)
    assert token.skip() is False
    assert not token.cancelled


def test_hooks_may_come_and_go_while_another_thread_skips():
    token = CancelToken()
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            token.on_skip(lambda: None)()

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        for _ in range(2000):
            token.skip()
    finally:
        stop.set()
        thread.join()
