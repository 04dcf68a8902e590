"""Room for the picture: the window stays on its screen, and the canvas gets most of it.

In the canvas the Generate, Details and Jobs panels step aside (the canvas has its own prompt,
shows its job's progress itself, and the status bar still shows the queue); they come back as
they were when the person leaves the canvas. A panel the person opens while in the canvas
stays open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRect, QSize, Slot
from PySide6.QtGui import QGuiApplication

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDockWidget, QWidget

    from dlx_art.gui.main_window import MainWindow

HEADLESS_PLATFORMS = ("offscreen", "minimal")


def fitted_size(wanted: QSize, available: QRect) -> QSize:
    """`wanted`, no larger than the screen's available area."""
    return QSize(min(wanted.width(), available.width()),
                 min(wanted.height(), available.height()))


def fit_to_screen(window: QWidget) -> None:
    """Shrink `window` to its screen's available area if it is larger (a small laptop
    screen: the default size is for 1440x900 and up). Headless test platforms have a
    nominal screen and are left alone."""
    screen = window.screen()
    if screen is None or QGuiApplication.platformName() in HEADLESS_PLATFORMS:
        return
    available = screen.availableGeometry()
    size = fitted_size(window.size(), available)
    if size != window.size():
        window.resize(size)
    frame = window.frameGeometry()
    if not available.contains(frame):
        window.move(max(available.left(), min(frame.left(), available.right() - frame.width())),
                    max(available.top(), min(frame.top(), available.bottom() - frame.height())))


class CanvasRoom(QObject):
    """Hides the side panels while the window shows the canvas; shows them again after."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._aside: list[QDockWidget] = []
        window.tabs.currentChanged.connect(self._on_tabs_current_changed)

    def docks(self) -> list[QDockWidget]:
        w = self._window
        return [w.prompt_dock, w.details_dock, w.jobs_dock]

    @property
    def aside(self) -> list[QDockWidget]:
        """The panels stepped aside for the canvas (shown again when leaving it)."""
        return list(self._aside)

    def in_canvas(self) -> bool:
        w = self._window
        current = w.tabs.currentWidget()
        return current is not None and current in (w.canvas_link.built, w.canvas_placeholder)

    @Slot(int)
    def _on_tabs_current_changed(self, *_args: Any) -> None:
        if self.in_canvas():
            self.step_aside()
        else:
            self.come_back()

    def step_aside(self) -> None:
        if self._aside:
            return
        # floating panels are in nobody's way
        self._aside = [d for d in self.docks() if not d.isHidden() and not d.isFloating()]
        for dock in self._aside:
            dock.hide()

    def come_back(self) -> None:
        aside, self._aside = self._aside, []
        for dock in aside:
            dock.show()
