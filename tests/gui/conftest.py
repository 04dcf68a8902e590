"""Fixtures for GUI tests: a responsiveness heartbeat, a dangling-task check, fake servers and
a factory for real studio windows on a temporary library.

`heartbeat` (usable by every GUI test)::

    def test_x(qtbot, heartbeat):
        ...start something slow...
        heartbeat.wait_until(qtbot, lambda: done, timeout=10_000)   # event loop runs, ticking
        heartbeat.assert_responsive()   # no gap between 10 ms ticks above STALL_GUARD_MS

`fail_on_dangling_tasks`: add it to a test (or `pytestmark = pytest.mark.usefixtures(...)`) to
fail when a QThreadPool task or `gui.tasks.run_task` callback is still pending after the test.
"""

from __future__ import annotations

import copy
import gc
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt, QThreadPool, QTimer
from PySide6.QtWidgets import QApplication

from dlx_art.app import tune_process  # noqa: E402

# The process-wide settings the application makes at start-up (dlx_art.app.tune_process), for
# the windows and widgets the tests build directly.
tune_process()

#: The longest GUI-thread gap a test accepts. Generous on purpose: tests must pass on a loaded
#: machine (two other processes busy on both cores), so they only catch real blocking (a network
#: wait, a decode of a big image, a catalog scan). The tight figures (50 ms, medians) are
#: measured in `bench/` (bench_gallery.py, bench_generation.py, bench_startup.py).
STALL_GUARD_MS = 400.0


# --- responsiveness -------------------------------------------------------------------------


class Heartbeat:
    """A QTimer ticking every `interval_ms` on the GUI thread; records the longest gap.

    Only time spent inside `wait_until` / between `start()` and `stop()` with the event loop
    running counts. A gap much longer than the interval means the GUI thread was blocked.

    On a loaded machine the OS may simply not run us for a while, which says nothing about our
    code. On Linux each gap is therefore reduced by the longest *run-queue delay* (runnable but
    waiting for a CPU, from /proc/self/task/*/schedstat) that any thread of this process
    suffered during the gap: the GUI thread itself, or the thread holding the GIL the GUI thread
    waits for. Real blocking (a slow slot, a network or disk call on the GUI thread, a lock or
    the GIL held by one of our threads while it runs) is not run-queue time and still counts.
    `max_raw_gap_ms` keeps the wall-clock figure.
    """

    def __init__(self, interval_ms: int = 10) -> None:
        self.interval_ms = interval_ms
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.ticks = 0
        self.max_gap_ms = 0.0  # after subtracting run-queue delay
        self.max_raw_gap_ms = 0.0  # wall clock
        self.gaps: list[float] = []
        self._last: float | None = None
        self._last_waits: dict[str, float] = {}

    @staticmethod
    def _runqueue_waits() -> dict[str, float]:
        """Run-queue delay so far (ms) of every thread of this process; {} when unknown."""
        waits: dict[str, float] = {}
        try:
            tids = os.listdir("/proc/self/task")
        except OSError:
            return waits
        for tid in tids:
            try:
                with open(f"/proc/self/task/{tid}/schedstat", encoding="ascii") as handle:
                    waits[tid] = int(handle.read().split()[1]) / 1e6
            except (OSError, ValueError, IndexError):
                continue
        return waits

    def _tick(self) -> None:
        now = time.perf_counter()
        waits = self._runqueue_waits()
        if self._last is not None:
            raw = (now - self._last) * 1000
            starved = max((waits[t] - self._last_waits[t] for t in waits
                           if t in self._last_waits), default=0.0)
            gap = max(0.0, raw - starved)
            self.gaps.append(gap)
            self.max_gap_ms = max(self.max_gap_ms, gap)
            self.max_raw_gap_ms = max(self.max_raw_gap_ms, raw)
        self._last = now
        self._last_waits = waits
        self.ticks += 1

    def start(self) -> None:
        # The app freezes its start-up heap (gc.freeze in app.tune_process); do the same
        # for what exists now, so a full collection over pytest's own, far larger heap (tens of
        # ms with the GIL held) is not counted against the window.
        gc.collect()
        gc.freeze()
        self._last = time.perf_counter()
        self._last_waits = self._runqueue_waits()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        self._last = None
        gc.unfreeze()

    def wait_until(self, qtbot: Any, condition: Callable[[], Any], timeout: int = 10_000) -> None:
        """Run the event loop until `condition()` is true, measuring gaps meanwhile."""
        self.start()
        try:
            qtbot.waitUntil(lambda: bool(condition()), timeout=timeout)
        finally:
            self.stop()

    def assert_responsive(self, limit_ms: float | None = None) -> None:
        limit_ms = STALL_GUARD_MS if limit_ms is None else limit_ms
        assert self.ticks > 3, "the heartbeat never ran: was the event loop running?"
        slow = sorted(g for g in self.gaps if g > limit_ms)
        assert not slow, (
            f"GUI thread blocked: {len(slow)} gap(s) over {limit_ms:.0f} ms, longest "
            f"{self.max_gap_ms:.0f} ms ({self.max_raw_gap_ms:.0f} ms wall clock) over "
            f"{self.ticks} ticks"
        )


@pytest.fixture
def heartbeat(qapp) -> Iterator[Heartbeat]:
    beat = Heartbeat()
    yield beat
    beat.stop()


@pytest.fixture
def fail_on_dangling_tasks(qapp) -> Iterator[None]:
    """Fail a test that leaves QThreadPool work or undelivered `run_task` results behind.

    Counts only what the test itself left: tasks still pending from earlier tests (another
    module's) are not this test's fault.
    """
    from dlx_art.gui import tasks

    before = tasks.pending_tasks()
    yield
    pool = QThreadPool.globalInstance()
    finished = pool.waitForDone(5000)
    deadline = time.monotonic() + 5
    while tasks.pending_tasks() > before and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.005)
    assert finished, "a task on the global QThreadPool was still running 5 s after the test"
    left = tasks.pending_tasks() - before
    assert left <= 0, f"{left} background task(s) started by the test never delivered a result"


# --- fake servers ----------------------------------------------------------------------------


@pytest.fixture
def fake_hf() -> Iterator[Any]:
    from tests.fakes.fake_hf import FakeHF

    fake = FakeHF(token="hf_testtoken1234567890")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused at once)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- studio windows --------------------------------------------------------------------------


class Studio:
    """Makes real `MainWindow`s on the test's library (DLX_ART_HOME) and closes them after."""

    def __init__(self, qtbot: Any) -> None:
        self.qtbot = qtbot
        self.windows: list[Any] = []

    def configure(self, **changes: Any) -> Any:
        """Write settings (a1111_servers=[...] as URLs or A1111Server, hf_* ...) to the file."""
        from dlx_art.config import load_context
        from dlx_art.settings import A1111Server

        context = load_context()
        settings = copy.deepcopy(context.settings)
        servers = changes.pop("a1111", None)
        if servers is not None:
            settings.a1111_servers = [s if isinstance(s, A1111Server) else A1111Server(s)
                                      for s in servers]
        for key, value in changes.items():
            setattr(settings, key, value)
        context.save_settings(settings)
        return settings

    def open(self, *, start_background: bool = True, show: bool = True) -> Any:
        from dlx_art.config import load_context
        from dlx_art.gui.main_window import LibraryLock, MainWindow
        from dlx_art.gui.session import Session

        context = load_context()
        lock = LibraryLock(context.storage_root).acquire()
        library = context.open_library()
        window = MainWindow(Session(context, library, lock=lock),
                            start_background=start_background)
        self.windows.append(window)
        if show:
            window.show()
            self.qtbot.waitExposed(window)
        return window

    def close(self, window: Any) -> None:
        window._force_quit = True
        window.close()
        assert window._shut_down
        if window.library is not None:
            window.library.close()
        if window.lock is not None:
            window.lock.release()
        window.deleteLater()
        QApplication.processEvents()
        if window in self.windows:
            self.windows.remove(window)

    def close_all(self) -> None:
        for window in list(self.windows):
            self.close(window)


@pytest.fixture
def studio(qtbot) -> Iterator[Studio]:
    helper = Studio(qtbot)
    try:
        yield helper
    finally:
        helper.close_all()


@pytest.fixture
def library(tmp_path):
    """A real library (SQLite catalog + folders) in a temporary folder."""
    from dlx_art.library.service import Library

    lib = Library.open(tmp_path / "library")
    yield lib
    lib.close()
