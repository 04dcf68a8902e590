"""The canvas's graphics items: brush outline, padding box, before/after comparison, and the tools.

Cosmetic items keep a constant on-screen width whatever the zoom (`set_pixel` gives them the size
of one screen pixel in scene units).
"""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene, QStyleOptionGraphicsItem, QWidget


class Tool(StrEnum):
    brush = "brush"
    eraser = "eraser"
    pan = "pan"


class _CosmeticItem(QGraphicsItem):
    """An item drawn with screen-sized pens; `pixel` is one screen pixel in scene units."""

    def __init__(self) -> None:
        super().__init__()
        self.pixel = 1.0
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_pixel(self, pixel: float) -> None:
        if pixel != self.pixel:
            self.prepareGeometryChange()
            self.pixel = pixel


class BrushOutlineItem(_CosmeticItem):
    """A circle showing the brush footprint, dark and light so it reads on any image."""

    def __init__(self) -> None:
        super().__init__()
        self.radius = 10.0
        self.eraser = False
        self.setZValue(100)

    def set_radius(self, radius: float) -> None:
        if radius != self.radius:
            self.prepareGeometryChange()
            self.radius = radius

    def set_eraser(self, eraser: bool) -> None:
        if eraser != self.eraser:
            self.eraser = eraser
            self.update()

    def boundingRect(self) -> QRectF:
        r = self.radius + 3 * self.pixel
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        dark = QPen(QColor(0, 0, 0, 170), 3)
        dark.setCosmetic(True)
        light = QPen(QColor(255, 255, 255, 230), 1)
        light.setCosmetic(True)
        if self.eraser:
            light.setStyle(Qt.PenStyle.DashLine)
        r = max(self.radius, 1.5 * self.pixel)
        for pen in (dark, light):
            painter.setPen(pen)
            painter.drawEllipse(QPointF(0, 0), r, r)


class _EdgeItem(_CosmeticItem):
    """One side of the padding box: a dark line under a light dashed one."""

    def __init__(self) -> None:
        super().__init__()
        self.a = QPointF()
        self.b = QPointF()
        self.setZValue(50)

    def set_line(self, a: QPointF, b: QPointF) -> None:
        if a != self.a or b != self.b:
            self.prepareGeometryChange()
            self.a, self.b = a, b

    def boundingRect(self) -> QRectF:
        m = 3 * self.pixel
        return QRectF(self.a, self.b).normalized().adjusted(-m, -m, m, m)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        dark = QPen(QColor(0, 0, 0, 160), 3)
        dark.setCosmetic(True)
        light = QPen(QColor(255, 255, 255, 230), 1, Qt.PenStyle.DashLine)
        light.setCosmetic(True)
        for pen in (dark, light):
            painter.setPen(pen)
            painter.drawLine(self.a, self.b)


class PaddingBox:
    """The "only masked" crop box as four thin edge items (cheap to move, unlike one big rect)."""

    def __init__(self, scene: QGraphicsScene) -> None:
        self.edges = [_EdgeItem() for _ in range(4)]
        for edge in self.edges:
            scene.addItem(edge)
            edge.hide()
        self.rect: QRectF | None = None

    def set_rect(self, rect: QRectF | None) -> None:
        if rect == self.rect:
            return
        self.rect = rect
        if rect is None:
            for edge in self.edges:
                edge.hide()
            return
        tl, tr, br, bl = rect.topLeft(), rect.topRight(), rect.bottomRight(), rect.bottomLeft()
        for edge, (a, b) in zip(self.edges, ((tl, tr), (tr, br), (bl, br), (tl, bl)), strict=True):
            edge.set_line(a, b)
            edge.show()

    def set_pixel(self, pixel: float) -> None:
        for edge in self.edges:
            edge.set_pixel(pixel)


class ComparisonItem(_CosmeticItem):
    """The result drawn over the original right of a vertical split line (image coordinates)."""

    def __init__(self) -> None:
        super().__init__()
        self.image = QImage()
        self.target = QRectF()
        self.split = 0.5  # fraction of the width; left of it shows the original
        self.smooth = True
        self.setZValue(20)

    def set_image(self, image: QImage, target: QRectF) -> None:
        self.prepareGeometryChange()
        self.image = image
        self.target = QRectF(target)
        self.update()

    def split_x(self) -> float:
        return self.target.left() + self.target.width() * self.split

    def set_split(self, split: float) -> None:
        split = min(1.0, max(0.0, split))
        if split == self.split:
            return
        old = self.split_x()
        self.split = split
        new = self.split_x()
        m = 14 * self.pixel
        self.update(
            QRectF(
                min(old, new) - m,
                self.target.top() - m,
                abs(new - old) + 2 * m,
                self.target.height() + 2 * m,
            )
        )

    def boundingRect(self) -> QRectF:
        m = 14 * self.pixel
        return self.target.adjusted(-m, -m, m, m)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        if self.image.isNull():
            return
        x = self.split_x()
        right = QRectF(x, self.target.top(), self.target.right() - x, self.target.height())
        if right.width() > 0:
            sx = self.image.width() / self.target.width()
            source = QRectF(
                (x - self.target.left()) * sx, 0, right.width() * sx, self.image.height()
            )
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.smooth)
            painter.drawImage(right, self.image, source)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        dark = QPen(QColor(0, 0, 0, 160), 4)
        dark.setCosmetic(True)
        light = QPen(QColor(255, 255, 255, 235), 2)
        light.setCosmetic(True)
        top, bottom = QPointF(x, self.target.top()), QPointF(x, self.target.bottom())
        for pen in (dark, light):
            painter.setPen(pen)
            painter.drawLine(top, bottom)
        # a round grip in the middle, 10 screen pixels across
        painter.setPen(dark)
        painter.setBrush(QColor(255, 255, 255, 235))
        r = 9 * self.pixel
        painter.drawEllipse(QPointF(x, self.target.center().y()), r, r)
