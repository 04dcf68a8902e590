"""`gui.first_paint.after_first_paint`: start-up work runs once the window's first frame is done."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QLabel, QMainWindow

from dlx_art.gui.first_paint import after_first_paint

pytestmark = [pytest.mark.gui]


class _PaintLog(QObject):
    """Records, in order, the window's paint events and (from the callback) "callback"."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Paint:
            self.log.append(f"paint {obj.objectName()}")
        return False


def _window(qtbot) -> QMainWindow:
    window = QMainWindow()
    window.setObjectName("window")
    label = QLabel("child")
    label.setObjectName("child")
    window.setCentralWidget(label)
    window.resize(300, 200)
    qtbot.addWidget(window)
    return window


def test_the_callback_runs_after_the_whole_first_frame(qtbot):
    window = _window(qtbot)
    log: list[str] = []
    watcher = _PaintLog(log)
    window.installEventFilter(watcher)
    window.centralWidget().installEventFilter(watcher)
    after_first_paint(window, lambda: log.append("callback"))
    window.show()
    qtbot.waitUntil(lambda: "callback" in log, timeout=30_000)
    first = log.index("callback")
    # the window and its child were painted before the callback ran, and it ran once
    assert "paint window" in log[:first]
    assert "paint child" in log[:first]
    qtbot.wait(50)
    assert log.count("callback") == 1


def test_a_window_that_is_not_shown_runs_the_callback_at_once(qtbot):
    window = _window(qtbot)
    calls: list[int] = []
    after_first_paint(window, lambda: calls.append(1))
    qtbot.waitUntil(lambda: calls == [1], timeout=30_000)  # the next event loop pass


def test_a_shown_window_that_never_paints_runs_it_after_the_fallback(qtbot):
    window = _window(qtbot)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(50)  # its first frame is done: no paint is pending
    calls: list[int] = []
    after_first_paint(window, lambda: calls.append(1), fallback_ms=200)
    qtbot.waitUntil(lambda: calls == [1], timeout=30_000)
    qtbot.wait(300)
    assert calls == [1]
