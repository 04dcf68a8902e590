"""Outpainting in the canvas: the "Expand canvas" controls and the expansion frame.

The person sets how many pixels to add on each side (multiples of 8, as A1111 needs). The
canvas draws the larger rectangle around the picture with the new area hatched, before
anything runs; "Expand" asks for an outpaint job (`OutpaintRequestData`). The widget knows
nothing about jobs: the window's `CanvasLink` turns the request into a `GenerationRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QMarginsF, QObject, QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import (
    QBrush,
    QColor,
    QCursor,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QTabletEvent,
)
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGraphicsItem,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStyleOptionGraphicsItem,
    QWidget,
)

from dlx_art.generation.types import MAX_EXPAND
from dlx_art.gui.canvas.mask import encode_png

if TYPE_CHECKING:
    from dlx_art.gui.canvas.panel import CanvasWidget

STEP = 8  # A1111 works on multiples of 8 pixels
GRAB_PX = 6  # how near (screen pixels) to the frame's edge a press grabs it
SIDES = ("left", "right", "top", "bottom")
DEFAULT_DENOISE = 0.9  # the outpaint default of the request builder


@dataclass(frozen=True)
class Margins:
    """Pixels added on each side of the picture."""

    left: int = 0
    right: int = 0
    top: int = 0
    bottom: int = 0

    def any(self) -> bool:
        return any((self.left, self.right, self.top, self.bottom))

    def frame(self, width: int, height: int) -> QRectF:
        """The expanded canvas in image coordinates (the picture stays at 0, 0)."""
        return QRectF(-self.left, -self.top, width + self.left + self.right,
                      height + self.top + self.bottom)


@dataclass(frozen=True)
class OutpaintRequestData:
    """What "Expand" asks for: the margins, the canvas prompt and the source image."""

    margins: Margins
    prompt: str
    negative: str
    seed: int
    denoising_strength: float
    image_png: bytes
    asset_id: str


class Step8SpinBox(QSpinBox):
    """Pixels for one side: steps of 8; a typed value snaps to the nearest multiple of 8."""

    def __init__(self, name: str, tip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setRange(0, MAX_EXPAND)
        self.setSingleStep(STEP)
        self.setSuffix(" px")
        self.setToolTip(tip)
        self.setAccelerated(True)
        self.editingFinished.connect(self._snap)

    @Slot()
    def _snap(self) -> None:
        snapped = round(self.value() / STEP) * STEP
        if snapped != self.value():
            self.setValue(snapped)

    def valueFromText(self, text: str) -> int:  # noqa: N802 - Qt override
        value = super().valueFromText(text)
        return min(MAX_EXPAND, round(value / STEP) * STEP)


class OutpaintBox(QGroupBox):
    """Four margins, the denoising of the new area, the resulting size and "Expand".

    Signals:
        margins_changed(object): the `Margins` now set.
        expand_clicked()
    """

    margins_changed = Signal(object)
    expand_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Expand canvas (outpaint)", parent)
        self.setObjectName("outpaintBox")
        # compact, so Expand shows without scrolling on a 768 px high screen
        self.setToolTip("Add pixels on any side; the new area is painted to match the picture,\n"
                        "using the canvas prompt. The frame on the canvas shows the result.")
        grid = QGridLayout(self)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(4)
        self.spins: dict[str, Step8SpinBox] = {}
        positions = {"left": (0, 0), "right": (0, 2), "top": (1, 0), "bottom": (1, 2)}
        for side in SIDES:
            spin = Step8SpinBox(f"outpaint{side.capitalize()}",
                                f"Pixels to add on the {side} (multiples of 8)")
            spin.valueChanged.connect(self._on_spin_changed)
            self.spins[side] = spin
            row, column = positions[side]
            grid.addWidget(QLabel(side.capitalize()), row, column)
            grid.addWidget(spin, row, column + 1)

        grid.addWidget(QLabel("Denoising"), 2, 0)
        self.denoise_spin = QDoubleSpinBox()
        self.denoise_spin.setObjectName("outpaintDenoise")
        self.denoise_spin.setRange(0.0, 1.0)
        self.denoise_spin.setSingleStep(0.05)
        self.denoise_spin.setDecimals(2)
        self.denoise_spin.setValue(DEFAULT_DENOISE)
        self.denoise_spin.setToolTip("How freely the new area is painted: high values invent "
                                     "more, low ones only smear the edge outwards.")
        grid.addWidget(self.denoise_spin, 2, 1)
        self.size_label = QLabel()
        self.size_label.setObjectName("outpaintSizeLabel")
        self.size_label.setToolTip("The picture's size, and the size after expanding")
        grid.addWidget(self.size_label, 2, 2, 1, 2)

        buttons = QHBoxLayout()
        self.reset_button = QPushButton("Reset")
        self.reset_button.setObjectName("outpaintReset")
        self.reset_button.setToolTip("Set every side back to 0")
        self.reset_button.clicked.connect(self.reset)
        self.run_button = QPushButton("Expand")
        self.run_button.setObjectName("outpaintRun")
        self.run_button.clicked.connect(self.expand_clicked)
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.run_button, 1)
        grid.addLayout(buttons, 3, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        self._image_size: tuple[int, int] | None = None
        self.set_image_size(None)

    def margins(self) -> Margins:
        return Margins(**{side: spin.value() for side, spin in self.spins.items()})

    def set_margins(self, margins: Margins) -> None:
        for side, spin in self.spins.items():
            spin.setValue(getattr(margins, side))

    @Slot()
    def reset(self) -> None:
        self.set_margins(Margins())

    def set_image_size(self, size: tuple[int, int] | None) -> None:
        self._image_size = size
        self._update_label()

    def _update_label(self) -> None:
        if self._image_size is None:
            self.size_label.setText("")
            return
        w, h = self._image_size
        m = self.margins()
        if m.any():
            self.size_label.setText(f"{w}×{h} → {w + m.left + m.right}×{h + m.top + m.bottom}")
        else:
            self.size_label.setText(f"{w}×{h}")

    @Slot()
    def _on_spin_changed(self) -> None:
        self._update_label()
        self.margins_changed.emit(self.margins())


class ExpansionFrame(QGraphicsItem):
    """The outpaint canvas around the picture: the new area tinted and hatched, both outlined.

    In image coordinates: the picture is at (0, 0, width, height), the frame grows it by the
    margins. Pens are cosmetic (one screen pixel whatever the zoom).
    """

    def __init__(self) -> None:
        super().__init__()
        self.setZValue(40)  # over the picture and the mask, under the brush outline
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.picture = QRectF()
        self.frame = QRectF()
        self.hide()

    def set_frame(self, picture: QRectF, frame: QRectF | None) -> None:
        """Show `frame` around `picture`, or hide for None."""
        if frame is None or frame == picture:
            self.hide()
            return
        self.prepareGeometryChange()
        self.picture, self.frame = QRectF(picture), QRectF(frame)
        self.show()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        # room for the 3 px cosmetic pen down to a 5 % zoom (scene units grow as zoom shrinks)
        pad = max(self.frame.width(), self.frame.height()) * 0.05 + 8
        return self.frame.adjusted(-pad, -pad, pad, pad)

    def new_area(self) -> QPainterPath:
        """The pixels the outpaint adds (the frame minus the picture)."""
        path = QPainterPath()
        path.addRect(self.frame)
        inner = QPainterPath()
        inner.addRect(self.picture)
        return path.subtracted(inner)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        area = self.new_area()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.fillPath(area, QColor(60, 140, 230, 70))
        hatch = QBrush(QColor(255, 255, 255, 110), Qt.BrushStyle.BDiagPattern)
        # the hatching keeps its screen spacing whatever the zoom
        hatch.setTransform(painter.worldTransform().inverted()[0])
        painter.fillPath(area, hatch)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for colour, width, style in ((QColor(0, 0, 0, 180), 3, Qt.PenStyle.SolidLine),
                                     (QColor(255, 255, 255, 240), 1, Qt.PenStyle.DashLine)):
            pen = QPen(colour, width, style)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawRect(self.frame)
        edge = QPen(QColor(255, 255, 255, 140), 1, Qt.PenStyle.DotLine)
        edge.setCosmetic(True)
        painter.setPen(edge)
        painter.drawRect(self.picture)


def snap(value: float) -> int:
    """Pixels for one side: the nearest multiple of 8 in 0..MAX_EXPAND."""
    return int(min(MAX_EXPAND, max(0, round(value / STEP) * STEP)))


def frame_margins(margins: Margins) -> QMarginsF:
    return QMarginsF(margins.left, margins.top, margins.right, margins.bottom)


class OutpaintController(QObject):
    """Joins the canvas's `OutpaintBox` to its view: the frame follows the margins, and
    "Expand" emits `requested(OutpaintRequestData)`.

    The canvas tells it when its image changes (`image_changed`), when a comparison starts or
    ends and when a job runs (`update`).
    """

    requested = Signal(object)

    def __init__(self, canvas: CanvasWidget) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.box: OutpaintBox = canvas.panel.outpaint_box
        self.frame = ExpansionFrame()
        canvas.view.scene().addItem(self.frame)
        self.box.margins_changed.connect(self.update)
        self.box.expand_clicked.connect(self._on_expand_clicked)
        self.handles = FrameHandles(self)
        self.update()

    def image_changed(self) -> None:
        """A new picture: the margins start at 0 again."""
        view = self.canvas.view
        self.box.set_image_size((view.image.width(), view.image.height())
                                if view.has_image() else None)
        self.box.reset()
        self.update()

    @Slot()
    def update(self, *_args: object) -> None:
        view = self.canvas.view
        margins = self.box.margins()
        shown = view.has_image() and margins.any() and not view.comparing
        picture = view.image_rect()
        self.frame.set_frame(picture, margins.frame(view.image.width(), view.image.height())
                             if shown else None)
        if not self.handles.dragging:  # re-fitting under the pointer would make it jump
            view.set_expansion(frame_margins(margins) if shown else QMarginsF())
        busy = self.canvas.busy
        button = self.box.run_button
        button.setEnabled(bool(shown) and not busy)
        if busy:
            tip = "A job is running; wait for it to finish or cancel it."
        elif not view.has_image():
            tip = "Open an image first."
        elif view.comparing:
            tip = "Keep the original or continue from the result first."
        elif not margins.any():
            tip = "Set how many pixels to add on at least one side."
        else:
            w, h = view.image.width(), view.image.height()
            tip = (f"Paint a {w + margins.left + margins.right}×"
                   f"{h + margins.top + margins.bottom} picture around this one")
        button.setToolTip(tip)

    @Slot()
    def _on_expand_clicked(self) -> None:
        if not self.box.run_button.isEnabled():
            return
        panel, view = self.canvas.panel, self.canvas.view
        self.requested.emit(OutpaintRequestData(
            margins=self.box.margins(),
            prompt=panel.prompt_edit.toPlainText().strip(),
            negative=panel.negative_edit.toPlainText().strip(),
            seed=int(panel.seed_spin.value()),
            denoising_strength=round(self.box.denoise_spin.value(), 2),
            image_png=encode_png(view.image),
            asset_id=self.canvas.asset_id,
        ))


CURSORS = {
    frozenset({"left"}): Qt.CursorShape.SizeHorCursor,
    frozenset({"right"}): Qt.CursorShape.SizeHorCursor,
    frozenset({"top"}): Qt.CursorShape.SizeVerCursor,
    frozenset({"bottom"}): Qt.CursorShape.SizeVerCursor,
    frozenset({"left", "top"}): Qt.CursorShape.SizeFDiagCursor,
    frozenset({"right", "bottom"}): Qt.CursorShape.SizeFDiagCursor,
    frozenset({"right", "top"}): Qt.CursorShape.SizeBDiagCursor,
    frozenset({"left", "bottom"}): Qt.CursorShape.SizeBDiagCursor,
}


class FrameHandles(QObject):
    """The expansion frame's edges as drag handles (mouse or pen), in steps of 8 pixels.

    An event filter on the canvas's viewport: a press within `GRAB_PX` of the shown frame's
    edge (or corner) drags that side instead of painting; elsewhere the canvas gets the event
    as before. The spin boxes follow, so the frame and the numbers never disagree.
    """

    def __init__(self, controller: OutpaintController) -> None:
        super().__init__(controller)
        self._controller = controller
        self._sides: frozenset[str] = frozenset()  # being dragged
        self._hover_cursor: QCursor | None = None  # the view's cursor while over an edge
        controller.canvas.view.viewport().installEventFilter(self)

    @property
    def dragging(self) -> bool:
        return bool(self._sides)

    def sides_at(self, pos: QPointF) -> frozenset[str]:
        """The frame sides within grabbing distance of viewport position `pos`."""
        c = self._controller
        frame = c.frame
        if not frame.isVisible() or c.canvas.busy:
            return frozenset()
        rect = c.canvas.view.mapFromScene(frame.frame).boundingRect()
        x, y = pos.x(), pos.y()
        if not (rect.left() - GRAB_PX <= x <= rect.right() + GRAB_PX
                and rect.top() - GRAB_PX <= y <= rect.bottom() + GRAB_PX):
            return frozenset()
        sides = set()
        if abs(x - rect.left()) <= GRAB_PX:
            sides.add("left")
        elif abs(x - rect.right()) <= GRAB_PX:
            sides.add("right")
        if abs(y - rect.top()) <= GRAB_PX:
            sides.add("top")
        elif abs(y - rect.bottom()) <= GRAB_PX:
            sides.add("bottom")
        return frozenset(sides)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.TabletPress):
            assert isinstance(event, QMouseEvent | QTabletEvent)
            if event.button() != Qt.MouseButton.LeftButton:
                return False
            sides = self.sides_at(event.position())
            if not sides:
                return False
            self._sides = sides
            event.accept()
            return True
        if kind in (QEvent.Type.MouseMove, QEvent.Type.TabletMove):
            assert isinstance(event, QMouseEvent | QTabletEvent)
            if self._sides:
                self._drag_to(event.position())
                event.accept()
                return True
            self._hover(event.position())
            return False
        if kind in (QEvent.Type.MouseButtonRelease, QEvent.Type.TabletRelease) and self._sides:
            self._sides = frozenset()
            self._controller.update()  # now Fit may show the whole new frame
            event.accept()
            return True
        return False

    def _hover(self, pos: QPointF) -> None:
        viewport = self._controller.canvas.view.viewport()
        shape = CURSORS.get(self.sides_at(pos))
        if shape is not None:
            if self._hover_cursor is None:
                self._hover_cursor = viewport.cursor()
            viewport.setCursor(shape)
        elif self._hover_cursor is not None:
            viewport.setCursor(self._hover_cursor)
            self._hover_cursor = None

    def _drag_to(self, pos: QPointF) -> None:
        c = self._controller
        view = c.canvas.view
        point = view.mapToScene(pos.toPoint())
        w, h = view.image.width(), view.image.height()
        wanted = {"left": -point.x(), "right": point.x() - w,
                  "top": -point.y(), "bottom": point.y() - h}
        for side in self._sides:
            c.box.spins[side].setValue(snap(wanted[side]))
