"""The full-size viewer: one image over the whole window, as every image tool has.

Space (or Esc) closes it, Left/Right step through the gallery, F fits the image to the window,
1 shows it at 100 % (drag to pan), C compares with the parent image (a slider: drag it, the
parent is on the left). Images are decoded in the background (the task runner's `reads` lane),
so opening or stepping never waits on disk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QImage, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget
from shiboken6 import isValid

from dlx_art.errors import DlxError
from dlx_art.gui.details_panel import load_preview
from dlx_art.gui.tasks import TaskRunner, default_runner

if TYPE_CHECKING:
    from dlx_art.library.models import AssetInfo
    from dlx_art.library.service import Library

FULL_BOX = QSize(8192, 8192)  # decode at full size (bounded: a hostile 100k px PNG is scaled)
BACKGROUND = QColor(18, 18, 20)


def _parent_of(library: Library, asset: AssetInfo) -> tuple[AssetInfo | None, QImage | None]:
    if not asset.parentId:
        return None, None
    found = library.get_assets([asset.parentId])
    if not found:
        return None, None
    return found[0], load_preview(library.path_of(found[0]), FULL_BOX)


class _Canvas(QWidget):
    """Paints the image fitted or at 100 %, and the parent left of the compare slider."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QPixmap | None = None
        self.other: QPixmap | None = None  # the parent, while comparing
        self.fit = True
        self.split = 0.5  # compare slider position, 0..1 of the width
        self.offset = QPointF(0, 0)  # pan at 100 %
        self.message = ""
        self._drag: QPointF | None = None
        self._dragging_split = False
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def scale(self) -> float:
        if self.image is None or self.image.isNull():
            return 1.0
        if not self.fit:
            return 1.0
        w, h = self.width() - 24, self.height() - 24
        return max(0.01, min(8.0, w / self.image.width(), h / self.image.height()))

    def image_rect(self, pixmap: QPixmap) -> QRectF:
        scale = self.scale()
        w, h = pixmap.width() * scale, pixmap.height() * scale
        center = QPointF(self.width() / 2, self.height() / 2) + (QPointF(0, 0) if self.fit
                                                                   else self.offset)
        return QRectF(center.x() - w / 2, center.y() - h / 2, w, h)

    def paintEvent(self, _event: Any) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.fit)
        if self.image is None or self.image.isNull():
            painter.setPen(QColor(220, 220, 220))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.message)
            return
        target = self.image_rect(self.image)
        painter.drawPixmap(target, self.image, QRectF(self.image.rect()))
        if self.other is not None and not self.other.isNull():
            x = self.width() * self.split
            painter.save()
            painter.setClipRect(QRectF(0, 0, x, self.height()))
            painter.fillRect(QRectF(0, 0, x, self.height()), BACKGROUND)
            # the parent drawn in the same box, so the two line up whatever their sizes
            painter.drawPixmap(target, self.other, QRectF(self.other.rect()))
            painter.restore()
            painter.setPen(QColor(255, 255, 255, 220))
            painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(QRectF(8, 8, max(0.0, x - 16), 20), Qt.AlignmentFlag.AlignLeft,
                             "Parent")
            painter.drawText(QRectF(x + 8, 8, max(0.0, self.width() - x - 16), 20),
                             Qt.AlignmentFlag.AlignRight, "This image")

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802
        pos = event.position()
        if self.other is not None and abs(pos.x() - self.width() * self.split) < 12:
            self._dragging_split = True
        elif not self.fit:
            self._drag = pos
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: Any) -> None:  # noqa: N802
        pos = event.position()
        if self._dragging_split and self.width() > 0:
            self.split = min(1.0, max(0.0, pos.x() / self.width()))
            self.update()
        elif self._drag is not None:
            self.offset += pos - self._drag
            self._drag = pos
            self.update()

    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802
        self._drag = None
        self._dragging_split = False
        super().mouseReleaseEvent(event)


class ImageViewer(QWidget):
    """The full-size viewer, laid over its parent window (object name `imageViewer`).

    Signals:
        step_requested(int): -1 / +1: show the previous / next image of the gallery.
        closed(): the viewer was closed (Space, Esc or the Close button).
    """

    step_requested = Signal(int)
    closed = Signal()

    def __init__(self, library: Library | None, parent: QWidget | None = None, *,
                 runner: TaskRunner | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageViewer")
        self.setAutoFillBackground(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._library = library
        self._lane = (runner or default_runner()).reads
        self._asset: AssetInfo | None = None
        self._token = 0
        self._parent_image: QPixmap | None = None

        self.canvas = _Canvas(self)
        bar = QWidget(self)
        bar.setObjectName("imageViewerBar")
        bar.setStyleSheet("#imageViewerBar { background: #202024; } QLabel { color: #ddd; }")
        row = QHBoxLayout(bar)
        row.setContentsMargins(8, 4, 8, 4)

        def button(text: str, name: str, tip: str, slot: Any, checkable: bool = False
                   ) -> QToolButton:
            b = QToolButton(bar)
            b.setText(text)
            b.setObjectName(name)
            b.setToolTip(tip)
            b.setCheckable(checkable)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            (b.toggled if checkable else b.clicked).connect(slot)
            row.addWidget(b)
            return b

        self.prev_button = button("◀", "viewerPrevious", "Previous image (Left)",
                                  lambda: self.step_requested.emit(-1))
        self.next_button = button("▶", "viewerNext", "Next image (Right)",
                                  lambda: self.step_requested.emit(1))
        self.fit_button = button("Fit", "viewerFit", "Fit to the window (F)",
                                 lambda: self.set_fit(True))
        self.actual_button = button("100 %", "viewerActualSize", "Actual size (1); drag to pan",
                                    lambda: self.set_fit(False))
        self.compare_button = button("Compare with parent", "viewerCompare",
                                     "Show the parent left of a slider you can drag (C)",
                                     self.set_compare, checkable=True)
        self.info = QLabel(bar)
        self.info.setObjectName("viewerInfo")
        row.addWidget(self.info, 1)
        button("Close", "viewerClose", "Close the viewer (Space or Esc)", self.close_viewer)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(bar)
        layout.addWidget(self.canvas, 1)
        self.hide()

    # --- public API ---------------------------------------------------------------------------

    def set_library(self, library: Library | None) -> None:
        self._lane.cancel(self)
        self._library = library
        if library is None:
            self.close_viewer()

    def asset(self) -> AssetInfo | None:
        return self._asset

    def is_fit(self) -> bool:
        return self.canvas.fit

    def scale(self) -> float:
        return self.canvas.scale()

    def is_comparing(self) -> bool:
        return self.canvas.other is not None

    def is_loading(self) -> bool:
        return self._lane.active(self) > 0

    def open_asset(self, asset: AssetInfo) -> None:
        """Lay the viewer over the parent window and show `asset` full size."""
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect())
        self.show()
        self.raise_()
        self.setFocus(Qt.FocusReason.OtherFocusReason)
        self.show_asset(asset)

    def show_asset(self, asset: AssetInfo | None) -> None:
        """Show another image (stepping keeps the zoom mode; compare follows the new parent)."""
        if asset is None or self._library is None:
            return
        self._asset = asset
        self._token += 1
        token = self._token
        self.canvas.image = None
        self.canvas.other = None
        self._parent_image = None
        self.canvas.offset = QPointF(0, 0)
        self.canvas.message = "Loading…"
        self.compare_button.setEnabled(bool(asset.parentId))
        self.info.setText(f"{asset.width or '?'} × {asset.height or '?'} · "
                          f"{(asset.prompt or '').strip()[:120]}")
        self.canvas.update()
        self._lane.cancel(self)
        try:
            path = self._library.path_of(asset)
        except DlxError as exc:
            self.canvas.message = exc.user_message
            return
        self._lane.run(load_preview, path, FULL_BOX, owner=self,
                       on_done=lambda image: self._on_loaded(token, image),
                       on_error=lambda exc: self._on_failed(token, exc))
        if asset.parentId:
            self._lane.run(_parent_of, self._library, asset, owner=self,
                           on_done=lambda result: self._on_parent_loaded(token, result),
                           on_error=lambda _exc: None)

    def set_fit(self, fit: bool) -> None:
        self.canvas.fit = fit
        self.canvas.offset = QPointF(0, 0)
        self.canvas.update()

    @Slot(bool)
    def set_compare(self, on: bool) -> None:
        self.canvas.other = self._parent_image if on else None
        if self.compare_button.isChecked() != on:
            self.compare_button.setChecked(on)
        self.canvas.update()

    def close_viewer(self) -> None:
        if self.isVisible():
            self.hide()
            self._lane.cancel(self)
            self.closed.emit()

    def shutdown(self, timeout_ms: int = 5000) -> None:
        self._lane.cancel(self)
        self._lane.wait(timeout_ms, self)

    # --- events -------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        if key in (Qt.Key.Key_Space, Qt.Key.Key_Escape):
            self.close_viewer()
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            self.step_requested.emit(-1)
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            self.step_requested.emit(1)
        elif key == Qt.Key.Key_F:
            self.set_fit(True)
        elif key == Qt.Key.Key_1:
            self.set_fit(False)
        elif key == Qt.Key.Key_C and self.compare_button.isEnabled():
            self.set_compare(not self.compare_button.isChecked())
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def mouseDoubleClickEvent(self, event: Any) -> None:  # noqa: N802
        self.set_fit(not self.canvas.fit)
        event.accept()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.canvas.update()

    # --- loading ------------------------------------------------------------------------------

    def _alive(self, token: int) -> bool:
        return isValid(self) and token == self._token

    def _on_loaded(self, token: int, image: QImage) -> None:
        if self._alive(token):
            self.canvas.image = QPixmap.fromImage(image)
            self.canvas.message = ""
            self.canvas.update()

    def _on_failed(self, token: int, exc: BaseException) -> None:
        if self._alive(token):
            self.canvas.message = exc.user_message if isinstance(exc, DlxError) else \
                "This image cannot be shown."
            self.canvas.update()

    def _on_parent_loaded(self, token: int,
                          result: tuple[AssetInfo | None, QImage | None]) -> None:
        if not self._alive(token):
            return
        _parent, image = result
        if image is not None and not image.isNull():
            self._parent_image = QPixmap.fromImage(image)
            if self.compare_button.isChecked():
                self.canvas.other = self._parent_image
                self.canvas.update()
        else:
            self.compare_button.setEnabled(False)
