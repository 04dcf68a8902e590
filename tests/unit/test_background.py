"""The one background mechanism of generation/ and the command line: a blocking call's outcome
as a Future, in a thread that never keeps the process alive once the work is abandoned."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from dlx_art.generation import background


def test_the_value_or_the_error_reaches_the_waiting_thread():
    assert background.start(lambda: 42, "t").result(timeout=60) == 42

    def fail() -> None:
        raise KeyboardInterrupt  # any BaseException is handed over, not lost in the thread

    with pytest.raises(KeyboardInterrupt):
        background.start(fail, "t").result(timeout=60)


def test_wait_reports_whether_the_call_has_finished():
    release = threading.Event()
    future = background.start(lambda: release.wait(60), "t")
    assert background.wait(future, 0.05) is False
    release.set()
    assert background.wait(future, 60) is True and future.result() is True
    assert not future.cancel()  # running from the start: stopping it is the caller's business


def test_an_abandoned_call_does_not_keep_the_process_alive():
    # a request given up after a cancel or a deadline may block for minutes; exiting must not
    # wait for it (a ThreadPoolExecutor's workers would be joined at exit)
    code = ("import time; from dlx_art.generation import background; "
            "background.start(lambda: time.sleep(3600), 'stuck'); print('done')")
    finished = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120)
    assert finished.returncode == 0 and finished.stdout.strip() == "done", finished.stderr
