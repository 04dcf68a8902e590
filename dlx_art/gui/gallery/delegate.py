"""How one gallery tile is painted: the thumbnail centred on a rounded tile, a favourite star,
a kind badge and the selection (a frame and background around the picture, never a tint
on it). No text besides the badge: the prompt is in the tooltip
and the details panel.

Painting is also where thumbnails are asked for: only rows that are actually painted (on
screen) start a load, and a placeholder is painted until the pixmap arrives. Colours come from
the palette, so the tiles follow the dark and the light theme.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRectF,
    QSize,
    QSizeF,
    Qt,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from dlx_art.gui.gallery.model import Role
from dlx_art.gui.gallery.thumbnails import ThumbnailLoader, ThumbState

if TYPE_CHECKING:
    from dlx_art.library.models import AssetInfo

MIN_TILE = 96
MAX_TILE = 384
DEFAULT_TILE = 176
GAP = 8  # space between tiles
RADIUS = 6.0

BADGES = {"img2img": "img2img", "inpaint": "inpaint", "import": "import", "upscale": "upscaled",
          "outpaint": "outpaint"}
STAR_COLOR = QColor("#f5c542")


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * t,
                           a.greenF() + (b.greenF() - a.greenF()) * t,
                           a.blueF() + (b.blueF() - a.blueF()) * t)


def _is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightnessF() < 0.5


def tile_color(palette: QPalette) -> QColor:
    """A tile a little apart from the view's base: darker in light themes, lighter in dark."""
    base = palette.color(QPalette.ColorRole.Base)
    text = palette.color(QPalette.ColorRole.Text)
    return _mix(base, text, 0.06 if _is_dark(palette) else 0.05)


def star_polygon(center: QPointF, outer: float) -> QPolygonF:
    inner = outer * 0.45
    points = []
    for i in range(10):
        radius = outer if i % 2 == 0 else inner
        angle = -math.pi / 2 + i * math.pi / 5
        points.append(QPointF(center.x() + radius * math.cos(angle),
                              center.y() + radius * math.sin(angle)))
    return QPolygonF(points)


class GalleryDelegate(QStyledItemDelegate):
    """Paints tiles of `tile` pixels inside cells of `cell_size()`."""

    def __init__(self, loader: ThumbnailLoader | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loader = loader
        self._tile = DEFAULT_TILE
        self._cell = QSize(DEFAULT_TILE + GAP, DEFAULT_TILE + GAP)
        self._badge_font: QFont | None = None
        self._sprites: dict[tuple[object, ...], QPixmap] = {}

    # --- geometry -----------------------------------------------------------------------------

    @property
    def tile(self) -> int:
        return self._tile

    def set_tile(self, tile: int) -> None:
        # the view stretches tiles around the zoom to fill its width
        self._tile = max(MIN_TILE // 2, min(2 * MAX_TILE, int(tile)))

    def set_cell(self, size: QSize) -> None:
        self._cell = QSize(size)

    def cell_size(self) -> QSize:
        return QSize(self._cell)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        return QSize(self._cell)

    def tile_rect(self, cell: QRectF) -> QRectF:
        size = float(self._tile)
        return QRectF(cell.center().x() - size / 2, cell.center().y() - size / 2, size, size)

    def thumbnail_box(self, device_pixel_ratio: float) -> QSize:
        """The box, in device pixels, a thumbnail must fit (the tile minus a thin margin)."""
        inner = self._tile - 8
        side = max(16, round(inner * device_pixel_ratio))
        return QSize(side, side)

    # --- painting -----------------------------------------------------------------------------

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex) -> None:
        asset: AssetInfo | None = index.data(Role.asset)
        if asset is None:
            return
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        widget = option.widget
        dpr = widget.devicePixelRatioF() if widget is not None else 1.0

        pixmap: QPixmap | None = None
        state = ThumbState.none
        if self._loader is not None:
            box = self.thumbnail_box(dpr)
            pixmap = self._loader.pixmap(asset.id)
            if self._loader.needs(asset.id, box):
                self._loader.request(asset, box, self._still_wanted(widget, index))
            state = self._loader.state(asset.id)

        # Everything that looks the same on many tiles is drawn once into a cached sprite and
        # blitted: a screen of tiles then paints in a few milliseconds.
        tile = self.tile_rect(QRectF(option.rect))
        origin = tile.topLeft().toPoint()
        tile = QRectF(origin.x(), origin.y(), self._tile, self._tile)
        if selected:
            # selection marks the cell around the picture, never the picture's colours
            cell = tile.adjusted(-GAP / 2 + 1, -GAP / 2 + 1, GAP / 2 - 1, GAP / 2 - 1)
            back = QColor(palette.color(QPalette.ColorRole.Highlight))
            back.setAlphaF(0.55)
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            path = QPainterPath()
            path.addRoundedRect(cell, RADIUS + 2, RADIUS + 2)
            painter.fillPath(path, back)
            painter.restore()
        if pixmap is not None and not pixmap.isNull():
            painter.drawPixmap(origin, self._sprite("tile", palette, dpr))
            self._paint_pixmap(painter, tile.adjusted(4, 4, -4, -4), pixmap, dpr)
        elif state == ThumbState.broken:
            painter.drawPixmap(origin, self._sprite("broken", palette, dpr))
        else:
            painter.drawPixmap(origin, self._sprite("placeholder", palette, dpr))

        if asset.isFavorite:
            star = self._sprite("star", palette, dpr)
            painter.drawPixmap(QPointF(tile.right() - star.deviceIndependentSize().width() - 4,
                                       tile.top() + 4), star)
        badge = BADGES.get(asset.kind or "")
        if badge and self._tile >= 120:
            painter.drawPixmap(QPointF(tile.left() + 8, tile.bottom() - 8
                                       - self._sprite("badge:" + badge, palette, dpr)
                                       .deviceIndependentSize().height()),
                               self._sprite("badge:" + badge, palette, dpr))
        if asset.missingAt is not None and state != ThumbState.broken:
            sprite = self._sprite("badge:missing", palette, dpr)
            size = sprite.deviceIndependentSize()
            painter.drawPixmap(QPointF(tile.right() - 8 - size.width(),
                                       tile.bottom() - 8 - size.height()), sprite)

        if not (selected or hovered or option.state & QStyle.StateFlag.State_HasFocus):
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if selected:
            # the frame lies in the tile's margin, outside the thumbnail's pixels
            highlight = palette.color(QPalette.ColorRole.Highlight)
            painter.setPen(QPen(highlight, 3))
            painter.drawRoundedRect(tile.adjusted(1.5, 1.5, -1.5, -1.5), RADIUS - 1, RADIUS - 1)
        elif hovered:
            edge = QColor(palette.color(QPalette.ColorRole.Text))
            edge.setAlphaF(0.35)
            painter.setPen(QPen(edge, 1.5))
            painter.drawRoundedRect(tile.adjusted(0.75, 0.75, -0.75, -0.75), RADIUS, RADIUS)
        if option.state & QStyle.StateFlag.State_HasFocus and not selected:
            focus = QColor(palette.color(QPalette.ColorRole.Highlight))
            focus.setAlphaF(0.6)
            painter.setPen(QPen(focus, 1.5, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(tile.adjusted(1, 1, -1, -1), RADIUS, RADIUS)
        painter.restore()

    def _sprite(self, kind: str, palette: QPalette, dpr: float) -> QPixmap:
        key = (kind, self._tile, dpr, palette.color(QPalette.ColorRole.Base).rgba(),
               palette.color(QPalette.ColorRole.Text).rgba())
        sprite = self._sprites.get(key)
        if sprite is not None:
            return sprite
        if len(self._sprites) > 64:  # sizes and palettes come and go: keep only a few
            self._sprites.clear()
        if kind == "star":
            side = max(7.0, min(12.0, self._tile * 0.055))
            size = QSizeF(2 * side + 14, 2 * side + 14)
        elif kind.startswith("badge:"):
            metrics = QFontMetrics(self._badge_font_for(palette))
            text = kind.removeprefix("badge:")
            size = QSizeF(metrics.horizontalAdvance(text) + 12, metrics.height() + 4)
        else:
            size = QSizeF(self._tile, self._tile)
        sprite = QPixmap(round(size.width() * dpr), round(size.height() * dpr))
        sprite.setDevicePixelRatio(dpr)
        sprite.fill(Qt.GlobalColor.transparent)
        painter = QPainter(sprite)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        area = QRectF(0, 0, size.width(), size.height())
        if kind in ("tile", "placeholder", "broken"):
            path = QPainterPath()
            path.addRoundedRect(area, RADIUS, RADIUS)
            painter.fillPath(path, tile_color(palette))
            inner = area.adjusted(4, 4, -4, -4)
            if kind == "placeholder":
                self._paint_placeholder(painter, inner, palette)
            elif kind == "broken":
                self._paint_broken(painter, inner, palette)
        elif kind == "star":
            self._paint_star(painter, area)
        else:
            self._paint_badge(painter, area, kind.removeprefix("badge:"), palette)
        painter.end()
        self._sprites[key] = sprite
        return sprite

    @staticmethod
    def _still_wanted(widget: QWidget | None, index: QModelIndex):  # noqa: ANN205
        if widget is None or not hasattr(widget, "is_index_visible"):
            return None
        persistent = QPersistentModelIndex(index)
        return lambda: widget.is_index_visible(persistent)

    @staticmethod
    def _paint_pixmap(painter: QPainter, box: QRectF, pixmap: QPixmap, dpr: float) -> None:
        # The loader decoded the thumbnail for this box in device pixels: blit it unscaled.
        # Only while a new size is loading (zoom), or for pictures smaller than the box, is
        # it scaled to fit.
        width, height = pixmap.width() / dpr, pixmap.height() / dpr
        fits = width <= box.width() + 0.5 and height <= box.height() + 0.5
        nearly_fills = width >= box.width() - 1.5 or height >= box.height() - 1.5
        if fits and nearly_fills:
            pixmap.setDevicePixelRatio(dpr)
            x = round(box.center().x() - width / 2)
            y = round(box.center().y() - height / 2)
            painter.drawPixmap(QPointF(x, y), pixmap)
            return
        scale = min(box.width() / width, box.height() / height)
        w, h = width * scale, height * scale
        target = QRectF(round(box.center().x() - w / 2), round(box.center().y() - h / 2),
                        round(w), round(h))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawPixmap(target, pixmap, QRectF(pixmap.rect()))
        painter.restore()

    @staticmethod
    def _paint_placeholder(painter: QPainter, box: QRectF, palette: QPalette) -> None:
        color = QColor(palette.color(QPalette.ColorRole.Text))
        color.setAlphaF(0.10)
        side = min(box.width(), box.height()) * 0.28
        center = box.center()
        frame = QRectF(center.x() - side / 2, center.y() - side * 0.4, side, side * 0.8)
        painter.setPen(QPen(color, 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(frame, 3, 3)
        # a small mountain and sun: the universal "picture" glyph
        hill = QPolygonF([QPointF(frame.left() + 3, frame.bottom() - 3),
                          QPointF(frame.left() + side * 0.4, frame.top() + side * 0.4),
                          QPointF(frame.right() - 3, frame.bottom() - 3)])
        painter.setBrush(color)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawPolygon(hill)
        painter.drawEllipse(QPointF(frame.right() - side * 0.25, frame.top() + side * 0.22),
                            side * 0.08, side * 0.08)

    @staticmethod
    def _paint_broken(painter: QPainter, box: QRectF, palette: QPalette) -> None:
        warn = QColor("#e06c5a") if _is_dark(palette) else QColor("#c2412d")
        side = min(box.width(), box.height()) * 0.3
        center = box.center()
        frame = QRectF(center.x() - side / 2, center.y() - side * 0.45, side, side * 0.8)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(warn, 2))
        painter.drawRoundedRect(frame, 3, 3)
        painter.drawLine(frame.topLeft() + QPointF(4, 4), frame.bottomRight() - QPointF(4, 4))
        painter.drawLine(frame.topRight() + QPointF(-4, 4), frame.bottomLeft() + QPointF(4, -4))
        if box.width() >= 110:
            font = QFont(painter.font())
            font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
            painter.setFont(font)
            text = QColor(palette.color(QPalette.ColorRole.Text))
            text.setAlphaF(0.6)
            painter.setPen(text)
            label = QRectF(box.left(), frame.bottom() + 4, box.width(), 20)
            painter.drawText(label, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                             "Cannot show")

    @staticmethod
    def _paint_star(painter: QPainter, area: QRectF) -> None:
        outer = (area.width() - 14) / 2
        center = area.center()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 110))
        painter.drawEllipse(center, outer + 4, outer + 4)
        painter.setBrush(STAR_COLOR)
        painter.setPen(QPen(STAR_COLOR.darker(140), 1))
        painter.drawPolygon(star_polygon(center, outer))

    def _badge_font_for(self, palette: QPalette) -> QFont:
        if self._badge_font is None:
            parent = self.parent()
            font = QFont(parent.font()) if isinstance(parent, QWidget) else QFont()
            font.setPointSizeF(max(7.0, font.pointSizeF() * 0.8))
            font.setWeight(QFont.Weight.DemiBold)
            self._badge_font = font
        return self._badge_font

    def _paint_badge(self, painter: QPainter, rect: QRectF, text: str,
                     palette: QPalette) -> None:
        height = rect.height()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(rect, height / 2, height / 2)
        painter.setFont(self._badge_font_for(palette))
        painter.setPen(QColor(255, 255, 255, 230))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
