"""Run start-up work right after the window's first frame is on screen.

What fast desktop programs do: build and show the window, let it paint, and only then start
what the first frame does not need (opening the catalog, importing the database layer, loading
the window icon). Work started earlier competes with the window for the one GIL and both cores'
worth of CPU and so delays the first frame.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

#: When a shown window has not painted after this long (minimised at start, a platform that
#: never exposes it), the work starts anyway.
FALLBACK_MS = 1000


class _AfterFirstPaint(QObject):
    def __init__(self, window: QWidget, callback: Callable[[], None], fallback_ms: int) -> None:
        super().__init__(window)
        self._window = window
        self._callback: Callable[[], None] | None = callback
        self._fallback_ms = fallback_ms
        window.installEventFilter(self)
        QTimer.singleShot(0, self, self._check)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if obj is self._window and event.type() == QEvent.Type.Paint:
            self._window.removeEventFilter(self)
            # the window paints first, its children after it in the same pass: the callback
            # runs once the whole frame is painted and flushed
            QTimer.singleShot(0, self, self._fire)
        return False

    def _check(self) -> None:
        if self._callback is None:
            return
        if not self._window.isVisible():  # a window that is not shown (tests): start now
            self._fire()
        else:
            QTimer.singleShot(self._fallback_ms, self, self._fire)

    def _fire(self) -> None:
        callback, self._callback = self._callback, None
        if callback is None:
            return
        self._window.removeEventFilter(self)
        self.deleteLater()
        callback()


def after_first_paint(window: QWidget, callback: Callable[[], None], *,
                      fallback_ms: int = FALLBACK_MS) -> None:
    """Call `callback` once, on the GUI thread, right after `window`'s first frame is painted.

    When the window is not shown by the time the event loop first runs, `callback` runs then;
    when it is shown but has not painted within `fallback_ms`, it runs after that.
    """
    _AfterFirstPaint(window, callback, fallback_ms)
