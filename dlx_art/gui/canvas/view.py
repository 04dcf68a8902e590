"""The canvas view: image, mask overlay, brush outline, zoom and pan, mouse / pen / gesture input.

Input is read on the viewport: mouse events through the usual handlers, `QTabletEvent`s in
`viewportEvent` (QAbstractScrollArea does not route them to the view), pinch gestures as
`QNativeGestureEvent` (macOS trackpads, Wayland) and `QPinchGesture` (touch screens). Canvas keys
are claimed with `ShortcutOverride`, so they work while the canvas has focus even when the main
window has shortcuts on the same keys.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QMarginsF, QPointF, QRect, QRectF, QSizeF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QNativeGestureEvent,
    QPainter,
    QPalette,
    QPixmap,
    QPointingDevice,
    QTabletEvent,
    QTransform,
    QUndoStack,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGestureEvent,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QPinchGesture,
    QWidget,
)

from dlx_art.gui.canvas.commands import UNDO_LIMIT, MaskHistory
from dlx_art.gui.canvas.items import (  # noqa: F401 - Tool and the items are re-exported
    BrushOutlineItem,
    ComparisonItem,
    PaddingBox,
    Tool,
)
from dlx_art.gui.canvas.mask import MaskLayer, MaskOverlayItem, PressureCurve

MIN_ZOOM = 0.01
MAX_ZOOM = 64.0
ZOOM_STEP = 1.25
MIN_BRUSH = 1
MAX_BRUSH = 1000
PREVIEW_OPACITY = 0.85


class CanvasView(QGraphicsView):
    """Shows one image with its mask and turns pointer input into mask strokes.

    Signals:
        zoom_changed(float): the scale (1.0 = 100 %).
        brush_size_changed(int): brush diameter in image pixels (keys `[` and `]`).
        tool_changed(str): a `Tool` value.
        overlay_visible_changed(bool)
        mask_edited(): a stroke ended, or clear / invert / fill / undo / redo changed the mask.
        show_before_changed(bool): the comparison shows the original only (key \\).
    """

    zoom_changed = Signal(float)
    brush_size_changed = Signal(int)
    tool_changed = Signal(str)
    overlay_visible_changed = Signal(bool)
    mask_edited = Signal()
    show_before_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvasView")
        scene = QGraphicsScene(self)
        scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.setScene(scene)

        self.mask = MaskLayer(parent=self)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(UNDO_LIMIT)
        self.history = MaskHistory(self.undo_stack, self.mask.apply_edit)

        self._image = QImage()
        self.image_item = QGraphicsPixmapItem()
        self.image_item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        self.image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.preview_item = QGraphicsPixmapItem()
        self.preview_item.setZValue(10)
        self.preview_item.setOpacity(PREVIEW_OPACITY)
        self.preview_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.preview_item.hide()
        self.comparison = ComparisonItem()
        self.comparison.hide()
        self.overlay = MaskOverlayItem(self.mask)
        self.overlay.setZValue(30)
        self.outline = BrushOutlineItem()
        self.outline.hide()
        for item in (
            self.image_item,
            self.preview_item,
            self.comparison,
            self.overlay,
            self.outline,
        ):
            scene.addItem(item)
        self.padding_box = PaddingBox(scene)
        self._padding: int | None = None  # None: no box ("whole picture")
        self._expansion = QMarginsF()  # the outpaint frame around the image: Fit shows it

        self.tool = Tool.brush
        self.brush_size = 40
        self.pressure_curve = PressureCurve()
        self.pressure_opacity = False
        self._overlay_visible = True
        self._comparing = False
        self._show_before = False
        self._progress: float | None = None
        self._fitted = True
        self._space = False
        self._pan_from: QPointF | None = None
        self._stroke_source: str | None = None  # "mouse" | "tablet" while a stroke runs
        self._split_drag = False
        self._pen_eraser = False
        self._last_pos: QPointF | None = None

        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.viewport().grabGesture(Qt.GestureType.PinchGesture)
        self._apply_palette()
        self._update_cursor()

        self.mask.edited.connect(self._on_mask_edited)
        self.mask.changed.connect(self._on_mask_changed)

    # --- image -------------------------------------------------------------------------------

    @property
    def image(self) -> QImage:
        return self._image

    def has_image(self) -> bool:
        return not self._image.isNull()

    def image_rect(self) -> QRectF:
        return QRectF(self._image.rect()) if self.has_image() else QRectF()

    def content_rect(self) -> QRectF:
        """The image grown by the outpaint frame (what Fit shows)."""
        rect = self.image_rect()
        return rect if rect.isEmpty() else rect.marginsAdded(self._expansion)

    def set_expansion(self, margins: QMarginsF) -> None:
        """Grow what Fit shows and what can be panned to by the outpaint frame."""
        self._expansion = QMarginsF(margins)
        self._update_scene_rect()
        if self._fitted:
            self.fit()

    def load_image(self, image: QImage) -> None:
        """Show `image` fitted, with an empty mask and no history."""
        self.end_comparison()
        self.clear_progress()
        self._set_base(image)
        self.undo_stack.clear()
        self.mask.reset(image.size())
        self.fit()

    def replace_image(self, image: QImage) -> None:
        """Make `image` the new base and keep the mask (scaled if the size changed)."""
        self.end_comparison()
        same = image.size() == self._image.size()
        self._set_base(image)
        if not same:
            self.undo_stack.clear()
            self.mask.reset(image.size(), self.mask.mask_image())
            self.fit()

    def _set_base(self, image: QImage) -> None:
        self._image = QImage(image)
        self.image_item.setPixmap(QPixmap.fromImage(image))
        self.scene().setSceneRect(self.image_rect())
        self._update_scene_rect()

    # --- zoom and pan ------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        self._fitted = True
        rect = self.content_rect()
        vp = self.viewport().rect()
        if rect.isEmpty() or vp.width() < 2 or vp.height() < 2:
            return
        scale = min(vp.width() / rect.width(), vp.height() / rect.height()) * 0.97
        self._apply_zoom(scale)
        self.centerOn(rect.center())

    def zoom_to(self, scale: float, anchor: QPointF | None = None) -> None:
        """Set the scale keeping the scene point under `anchor` (viewport coords) in place."""
        self._fitted = False
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        scene_point = self.to_scene(anchor)
        self._apply_zoom(scale)
        moved = self.viewportTransform().map(scene_point) - anchor
        self._scroll_by(moved.x(), moved.y())

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        self.zoom_to(self.zoom * factor, anchor)

    def _apply_zoom(self, scale: float) -> None:
        scale = min(MAX_ZOOM, max(MIN_ZOOM, scale))
        self.setTransform(QTransform.fromScale(scale, scale))
        self._update_scene_rect()
        pixel = 1.0 / scale
        for item in (self.outline, self.comparison):
            item.set_pixel(pixel)
        self.padding_box.set_pixel(pixel)
        # Show real pixels from 200 % up; smooth below.
        smooth = scale < 2.0
        mode = (
            Qt.TransformationMode.SmoothTransformation
            if smooth
            else Qt.TransformationMode.FastTransformation
        )
        self.image_item.setTransformationMode(mode)
        self.overlay.smooth = smooth
        self.comparison.smooth = smooth
        self.zoom_changed.emit(scale)

    def _update_scene_rect(self) -> None:
        # Let the image be dragged anywhere inside the window, whatever the zoom.
        rect = self.content_rect()
        if rect.isEmpty():
            return
        vp = self.viewport().rect()
        mx = vp.width() / max(self.zoom, MIN_ZOOM)
        my = vp.height() / max(self.zoom, MIN_ZOOM)
        self.setSceneRect(rect.adjusted(-mx, -my, mx, my))

    def _scroll_by(self, dx: float, dy: float) -> None:
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + round(dx))
        v.setValue(v.value() + round(dy))

    def to_scene(self, pos: QPointF) -> QPointF:
        """Viewport position (sub-pixel) to scene / image coordinates."""
        inverted, _ok = self.viewportTransform().inverted()
        return inverted.map(QPointF(pos))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._update_scene_rect()
        if self._fitted:
            self.fit()

    # --- brush state -------------------------------------------------------------------------

    def set_tool(self, tool: Tool | str) -> None:
        tool = Tool(tool)
        if tool == self.tool:
            return
        self.tool = tool
        self.outline.set_eraser(tool == Tool.eraser)
        self._update_outline_visibility()
        self._update_cursor()
        self.tool_changed.emit(tool.value)

    def swap_brush_eraser(self) -> None:
        self.set_tool(Tool.brush if self.tool == Tool.eraser else Tool.eraser)

    def set_brush_size(self, size: int) -> None:
        size = int(min(MAX_BRUSH, max(MIN_BRUSH, size)))
        if size == self.brush_size:
            return
        self.brush_size = size
        self.outline.set_radius(size / 2)
        self.brush_size_changed.emit(size)

    def set_hardness(self, hardness: float) -> None:
        self.mask.hardness = min(1.0, max(0.0, hardness))

    def set_overlay_visible(self, visible: bool) -> None:
        if visible == self._overlay_visible:
            return
        self._overlay_visible = visible
        self.overlay.setVisible(visible and not self._comparing)
        self.overlay_visible_changed.emit(visible)

    @property
    def overlay_visible(self) -> bool:
        return self._overlay_visible

    def set_padding(self, padding: int | None) -> None:
        """Draw the "only masked" crop box with `padding`, or no box for None."""
        self._padding = padding
        self._update_padding_box()

    def padding_rect(self) -> QRect | None:
        """The mask's bounding box grown by the padding, clamped to the image."""
        bbox = self.mask.bbox()
        if bbox is None or self._padding is None:
            return None
        p = self._padding
        return bbox.adjusted(-p, -p, p, p).intersected(self._image.rect())

    def _update_padding_box(self) -> None:
        rect = self.padding_rect()
        self.padding_box.set_rect(
            QRectF(rect) if rect is not None and not self._comparing else None
        )

    def undo(self) -> None:
        if not self.mask.stroking:
            self.undo_stack.undo()

    def redo(self) -> None:
        if not self.mask.stroking:
            self.undo_stack.redo()

    def clear_mask(self) -> None:
        self._push(self.mask.clear())

    def invert_mask(self) -> None:
        self._push(self.mask.invert())

    def fill_mask(self) -> None:
        self._push(self.mask.fill())

    def _push(self, edit) -> None:
        if edit is not None:
            self.history.push(edit)

    def _on_mask_changed(self, rect: QRect) -> None:
        if self._padding is not None:
            self._update_padding_box()

    def _on_mask_edited(self) -> None:
        self._update_padding_box()
        self.mask_edited.emit()

    # --- progress, preview, comparison -------------------------------------------------------

    def show_progress(
        self, fraction: float, preview: QImage | None = None, target: QRectF | None = None
    ) -> None:
        self._progress = min(1.0, max(0.0, fraction))
        if preview is not None and not preview.isNull():
            target = (
                QRectF(target) if target is not None and not target.isEmpty() else self.image_rect()
            )
            pixmap = QPixmap.fromImage(preview)
            # fit inside the target, keeping the preview's aspect ratio
            size = QSizeF(pixmap.size()).scaled(target.size(), Qt.AspectRatioMode.KeepAspectRatio)
            self.preview_item.setPixmap(pixmap)
            self.preview_item.setTransform(
                QTransform.fromScale(size.width() / pixmap.width(), size.height() / pixmap.height())
            )
            self.preview_item.setPos(
                target.left() + (target.width() - size.width()) / 2,
                target.top() + (target.height() - size.height()) / 2,
            )
            self.preview_item.show()
        self.viewport().update(self._progress_band())

    def clear_progress(self) -> None:
        if self._progress is None and not self.preview_item.isVisible():
            return
        self._progress = None
        self.preview_item.hide()
        self.preview_item.setPixmap(QPixmap())
        self.viewport().update()

    @property
    def progress(self) -> float | None:
        return self._progress

    def _progress_band(self) -> QRect:
        return QRect(0, 0, self.viewport().width(), 34)

    def show_comparison(self, result: QImage) -> None:
        """Show `result` right of a draggable split line, the original left of it."""
        self.clear_progress()
        self._comparing = True
        self.comparison.set_pixel(1.0 / self.zoom)
        self.comparison.set_image(QImage(result), self.image_rect())
        self.comparison.split = 0.5
        self.set_show_before(False)
        self.overlay.hide()
        self._update_padding_box()
        self._update_outline_visibility()
        self._update_cursor()

    def end_comparison(self) -> None:
        if not self._comparing:
            return
        self._comparing = False
        self._show_before = False
        self.comparison.hide()
        self.comparison.set_image(QImage(), QRectF())
        self.overlay.setVisible(self._overlay_visible)
        self._update_padding_box()
        self._update_cursor()

    @property
    def comparing(self) -> bool:
        return self._comparing

    @property
    def show_before(self) -> bool:
        return self._show_before

    def set_show_before(self, before: bool) -> None:
        """While comparing: True shows the original only, False the split view."""
        before = before and self._comparing
        changed = before != self._show_before
        self._show_before = before
        self.comparison.setVisible(self._comparing and not before)
        if changed:
            self.show_before_changed.emit(before)

    def set_split(self, fraction: float) -> None:
        self.comparison.set_split(fraction)

    # --- painting of the view itself ---------------------------------------------------------

    def _apply_palette(self) -> None:
        base = self.palette().color(QPalette.ColorRole.Window)
        self.setBackgroundBrush(base.darker(135) if base.lightness() < 128 else base.darker(115))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        if self._progress is None:
            return
        painter.save()
        painter.resetTransform()
        width = self.viewport().width()
        track = self.palette().color(QPalette.ColorRole.Window)
        track.setAlpha(200)
        painter.fillRect(QRect(0, 0, width, 4), track)
        painter.fillRect(
            QRect(0, 0, round(width * self._progress), 4),
            self.palette().color(QPalette.ColorRole.Highlight),
        )
        text = f"Generating… {round(self._progress * 100)} %"
        metrics = painter.fontMetrics()
        box = QRect(8, 10, metrics.horizontalAdvance(text) + 16, metrics.height() + 6)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(QRectF(box), 4, 4)
        painter.setPen(QColor(255, 255, 255, 230))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    # --- input: helpers ----------------------------------------------------------------------

    def _radius(self, pressure: float) -> float:
        return self.brush_size / 2 * self.pressure_curve.size_factor(pressure)

    def _opacity(self, pressure: float) -> float:
        return self.pressure_curve.opacity(pressure) if self.pressure_opacity else 1.0

    def _panning_gesture(self) -> bool:
        return self._space or self.tool == Tool.pan

    def _move_outline(self, pos: QPointF, pressure: float | None = None) -> None:
        self._last_pos = QPointF(pos)
        scene_pos = self.to_scene(pos)
        radius = self.brush_size / 2 if pressure is None else self._radius(pressure)
        self.outline.set_radius(radius)
        self.outline.setPos(scene_pos)
        self._update_outline_visibility()

    def _update_outline_visibility(self) -> None:
        self.outline.setVisible(
            self.has_image()
            and self._last_pos is not None
            and self.tool != Tool.pan
            and not self._space
            and self._pan_from is None
            and not self._comparing
        )

    def _update_cursor(self) -> None:
        if self._pan_from is not None:
            shape = Qt.CursorShape.ClosedHandCursor
        elif self._panning_gesture():
            shape = Qt.CursorShape.OpenHandCursor
        elif self._comparing:
            shape = Qt.CursorShape.SplitHCursor
        else:
            shape = Qt.CursorShape.CrossCursor
        self.viewport().setCursor(shape)

    def _start_pan(self, pos: QPointF) -> None:
        self._pan_from = QPointF(pos)
        self._update_outline_visibility()
        self._update_cursor()

    def _pan_to(self, pos: QPointF) -> None:
        assert self._pan_from is not None
        delta = pos - self._pan_from
        self._pan_from = QPointF(pos)
        self._fitted = False
        self._scroll_by(-delta.x(), -delta.y())

    def _end_pan(self) -> None:
        self._pan_from = None
        self._update_outline_visibility()
        self._update_cursor()

    def _split_to(self, pos: QPointF) -> None:
        rect = self.image_rect()
        if rect.width() > 0:
            self.set_split((self.to_scene(pos).x() - rect.left()) / rect.width())

    def _begin_stroke(self, pos: QPointF, pressure: float, source: str, erase: bool) -> None:
        self._stroke_source = source
        self.mask.begin_stroke(
            self.to_scene(pos), self._radius(pressure), self._opacity(pressure), erase=erase
        )

    def _continue_stroke(self, pos: QPointF, pressure: float) -> None:
        self.mask.stroke_to(self.to_scene(pos), self._radius(pressure), self._opacity(pressure))

    def _end_stroke(self) -> None:
        self._stroke_source = None
        edit = self.mask.end_stroke()
        if edit is not None:
            self.history.push(edit)

    def _press(
        self, pos: QPointF, button: Qt.MouseButton, pressure: float, source: str, erase: bool
    ) -> bool:
        if not self.has_image():
            return False
        if button == Qt.MouseButton.MiddleButton or (
            button == Qt.MouseButton.LeftButton and self._panning_gesture()
        ):
            self._start_pan(pos)
            return True
        if button != Qt.MouseButton.LeftButton:
            return False
        if self._comparing:
            self._split_drag = True
            self._split_to(pos)
            return True
        self._begin_stroke(pos, pressure, source, erase or self.tool == Tool.eraser)
        return True

    def _move(self, pos: QPointF, pressure: float, source: str) -> None:
        if self._pan_from is not None:
            self._pan_to(pos)
        elif self._split_drag:
            self._split_to(pos)
        elif self._stroke_source == source:
            self._continue_stroke(pos, pressure)

    def _release(self, source: str) -> None:
        if self._pan_from is not None:
            self._end_pan()
        self._split_drag = False
        if self._stroke_source == source:
            self._end_stroke()

    # --- input: mouse ------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if self._stroke_source == "tablet":
            event.accept()
            return
        if self._press(event.position(), event.button(), 1.0, "mouse", False):
            event.accept()
        else:
            event.ignore()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._stroke_source == "tablet":
            return
        self._move_outline(event.position())
        self._move(event.position(), 1.0, "mouse")
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._stroke_source == "tablet":
            return
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self._release("mouse")
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.mousePressEvent(event)  # a fast second click is just another dab

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not delta:
            event.ignore()
            return
        # 120 units (one notch) = one zoom step; trackpads send smaller deltas
        self.zoom_by(ZOOM_STEP ** (delta / 120), event.position())
        event.accept()

    # --- input: tablet, gestures, leave ------------------------------------------------------

    def viewportEvent(self, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.TabletPress, QEvent.Type.TabletMove, QEvent.Type.TabletRelease):
            self._tablet_event(event)  # type: ignore[arg-type]
            return True
        if kind == QEvent.Type.NativeGesture:
            return self._native_gesture(event)  # type: ignore[arg-type]
        if kind == QEvent.Type.Gesture:
            return self._gesture(event)  # type: ignore[arg-type]
        if kind == QEvent.Type.Leave:
            self._last_pos = None
            self._update_outline_visibility()
        return super().viewportEvent(event)

    def _tablet_event(self, event: QTabletEvent) -> None:
        # Accepting keeps Qt from also synthesising mouse events for the same pen motion.
        event.accept()
        pos = event.position()
        pressure = event.pressure()
        device = event.pointingDevice()
        eraser = device is not None and device.pointerType() == QPointingDevice.PointerType.Eraser
        self._pen_eraser = eraser
        self.outline.set_eraser(eraser or self.tool == Tool.eraser)
        kind = event.type()
        if kind == QEvent.Type.TabletPress:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            if self._stroke_source == "mouse":
                self._end_stroke()
            self._move_outline(pos, pressure)
            self._press(pos, event.button(), pressure, "tablet", eraser)
        elif kind == QEvent.Type.TabletMove:
            drawing = self._stroke_source == "tablet"
            self._move_outline(pos, pressure if drawing else None)
            self._move(pos, pressure, "tablet")
        else:
            self._release("tablet")
            self._move_outline(pos)
            self.outline.set_eraser(self.tool == Tool.eraser)

    def _native_gesture(self, event: QNativeGestureEvent) -> bool:
        if event.gestureType() == Qt.NativeGestureType.ZoomNativeGesture:
            self.zoom_by(1.0 + event.value(), event.position())
            event.accept()
            return True
        if event.gestureType() == Qt.NativeGestureType.SmartZoomNativeGesture:
            if self._fitted:
                self.zoom_to(1.0, event.position())
            else:
                self.fit()
            event.accept()
            return True
        return super().viewportEvent(event)

    def _gesture(self, event: QGestureEvent) -> bool:
        pinch = event.gesture(Qt.GestureType.PinchGesture)
        if pinch is None:
            return super().viewportEvent(event)
        assert isinstance(pinch, QPinchGesture)
        if pinch.changeFlags() & QPinchGesture.ChangeFlag.ScaleFactorChanged:
            center = QPointF(self.viewport().mapFromGlobal(pinch.centerPoint().toPoint()))
            self.zoom_by(pinch.scaleFactor(), center)
        event.accept(pinch)
        return True

    # --- input: keys -------------------------------------------------------------------------

    _KEYS = {
        Qt.Key.Key_Plus, Qt.Key.Key_Equal, Qt.Key.Key_Minus, Qt.Key.Key_Underscore, Qt.Key.Key_0,
        Qt.Key.Key_1, Qt.Key.Key_BracketLeft, Qt.Key.Key_BracketRight, Qt.Key.Key_X, Qt.Key.Key_H,
        Qt.Key.Key_B, Qt.Key.Key_E, Qt.Key.Key_Backslash, Qt.Key.Key_Space,
    }  # fmt: skip

    def _is_undo(self, event: QKeyEvent) -> bool:
        return event.matches(QKeySequence.StandardKey.Undo)

    def _is_redo(self, event: QKeyEvent) -> bool:
        combo = event.keyCombination()
        ctrl = Qt.KeyboardModifier.ControlModifier
        return (
            event.matches(QKeySequence.StandardKey.Redo)
            or (combo.key() == Qt.Key.Key_Y and combo.keyboardModifiers() == ctrl)
            or (
                combo.key() == Qt.Key.Key_Z
                and combo.keyboardModifiers() == ctrl | Qt.KeyboardModifier.ShiftModifier
            )
        )

    def _owns_key(self, event: QKeyEvent) -> bool:
        if self._is_undo(event) or self._is_redo(event):
            return True
        mods = event.modifiers() & ~(
            Qt.KeyboardModifier.KeypadModifier | Qt.KeyboardModifier.ShiftModifier
        )
        return mods == Qt.KeyboardModifier.NoModifier and event.key() in self._KEYS

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and self._owns_key(event):  # type: ignore[arg-type]
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if self._is_redo(event):
            self.redo()
        elif self._is_undo(event):
            self.undo()
        elif not self._owns_key(event):
            super().keyPressEvent(event)
            return
        elif key == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space = True
                self._update_outline_visibility()
                self._update_cursor()
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom_by(ZOOM_STEP, self._key_anchor())
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.zoom_by(1 / ZOOM_STEP, self._key_anchor())
        elif key == Qt.Key.Key_0:
            self.fit()
        elif key == Qt.Key.Key_1:
            self.zoom_to(1.0, self._key_anchor())
        elif key == Qt.Key.Key_BracketLeft:
            self.set_brush_size(min(self.brush_size - 1, math.floor(self.brush_size / 1.15)))
        elif key == Qt.Key.Key_BracketRight:
            self.set_brush_size(max(self.brush_size + 1, math.ceil(self.brush_size * 1.15)))
        elif key == Qt.Key.Key_X:
            self.swap_brush_eraser()
        elif key == Qt.Key.Key_H:
            self.set_overlay_visible(not self._overlay_visible)
        elif key == Qt.Key.Key_B:  # Brush, as in Krita and Photoshop
            self.set_tool(Tool.brush)
        elif key == Qt.Key.Key_E:  # Eraser, as in Krita and Photoshop
            self.set_tool(Tool.eraser)
        elif key == Qt.Key.Key_Backslash:  # before / after, as in Lightroom
            self.set_show_before(not self._show_before)
        event.accept()

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._update_outline_visibility()
            self._update_cursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        self._space = False  # the release may go to another widget
        self._update_cursor()
        super().focusOutEvent(event)

    def _key_anchor(self) -> QPointF | None:
        if self._last_pos is not None and self.viewport().rect().contains(self._last_pos.toPoint()):
            return self._last_pos
        return None
