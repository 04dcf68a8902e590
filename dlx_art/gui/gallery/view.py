"""The gallery grid: a `QListView` in icon mode with uniform item sizes.

Uniform sizes matter: without them the view asks every row for its size hint on the first
layout (6.4 s instead of 55 ms for 10,000 rows). The grid is justified: the cells share the
width of the view, so there is no ragged gap on the right.

Drag out hands over the original files (see `mime.py`); files dropped in are passed to the
model, which reports them for import. Keys the gallery owns (F, Del, Enter, Ctrl+C) are
claimed in `ShortcutOverride`, so window-wide shortcuts do not steal them while the grid has
the focus.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QDrag,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import QAbstractItemView, QFrame, QListView, QStyle, QWidget

from dlx_art.gui.gallery import mime as gallery_mime
from dlx_art.gui.gallery.delegate import (
    DEFAULT_TILE,
    GAP,
    MAX_TILE,
    MIN_TILE,
    GalleryDelegate,
    tile_color,
)
from dlx_art.gui.gallery.model import Role
from dlx_art.gui.gallery.thumbnails import ThumbnailLoader

_OWN_KEYS = {Qt.Key.Key_F, Qt.Key.Key_Delete, Qt.Key.Key_Return, Qt.Key.Key_Enter}


#: Rows laid out per slice of the event loop (about 5 ms each on a slow machine).
LAYOUT_BATCH = 1000


class GalleryView(QListView):
    """The grid of thumbnails.

    Signals:
        zoom_requested(int): Ctrl+wheel / Ctrl+plus / Ctrl+minus, in steps (+1 = bigger).
        key_action(str): "open", "favorite", "trash" or "copy" pressed on the grid.
        drop_state_changed(bool): files are being dragged over the grid (or not any more).
    """

    zoom_requested = Signal(int)
    key_action = Signal(str)
    drop_state_changed = Signal(bool)

    def __init__(self, loader: ThumbnailLoader | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("galleryView")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        # Laying out is O(rows) in QListView: at 80,000 loaded rows one pass takes 130 ms, and it
        # runs again whenever rows are added (a page fetched while scrolling, a new image at the
        # top). Batched, it runs in slices between events, so neither freezes the window.
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(LAYOUT_BATCH)
        self.setUniformItemSizes(True)
        self.setWrapping(True)
        self.setSpacing(0)
        self.setWordWrap(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)  # drops land on the viewport, as clicks do
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setDropIndicatorShown(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMouseTracking(True)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_Hover, True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self._loader = loader
        self._delegate = GalleryDelegate(loader, self)
        self.setItemDelegate(self._delegate)
        self._wheel_rest = 0
        self._drop_active = False
        self.empty_text = ""
        self._target_tile = DEFAULT_TILE
        # the margin strips belong to the scroll area: give them the viewport's colour
        self.setViewportMargins(GAP // 2, GAP // 2, 0, 0)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.setAutoFillBackground(True)
        self._update_grid()

    # --- geometry -----------------------------------------------------------------------------

    @property
    def delegate(self) -> GalleryDelegate:
        return self._delegate

    @property
    def tile_size(self) -> int:
        """The size asked for (the zoom); tiles stretch a little to fill the width."""
        return self._target_tile

    def set_tile_size(self, px: int) -> None:
        anchor = self._top_visible_row()
        self._target_tile = max(MIN_TILE, min(MAX_TILE, int(px)))
        self._update_grid(force=True)
        if anchor >= 0 and self.model() is not None:
            self.scrollTo(self.model().index(anchor, 0), QAbstractItemView.ScrollHint.PositionAtTop)

    def _available_width(self) -> int:
        # Reserve the scroll bar's width whether it is shown or not, so it appearing cannot
        # change the column count (and make the layout oscillate).
        frame = 2 * self.frameWidth()
        extent = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self)
        return max(1, self.width() - frame - extent)

    def _update_grid(self, force: bool = False) -> None:
        # The column count nearest to the zoom, then tiles stretched to fill the row: every
        # gap is GAP pixels, across and down, at any width.
        width = self._available_width() - GAP  # a half gap at each edge
        target = self._target_tile
        columns = max(1, round((width + GAP) / (target + GAP)))
        column_width = max(1, width // columns)
        tile = max(MIN_TILE // 2, column_width - GAP)
        cell = QSize(column_width, tile + GAP)
        if not force and cell == self.gridSize() and tile == self._delegate.tile:
            return
        self._delegate.set_tile(tile)
        self._delegate.set_cell(cell)
        self.setGridSize(cell)
        self.verticalScrollBar().setSingleStep(max(8, cell.height() // 3))
        self.doItemsLayout()

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001
        super().resizeEvent(event)
        self._update_grid()

    def updateGeometries(self) -> None:  # noqa: N802
        super().updateGeometries()
        # QListView resets the step; one wheel notch (3 steps) should move about one row
        self.verticalScrollBar().setSingleStep(max(8, self.gridSize().height() // 3))

    def _top_visible_row(self) -> int:
        index = self.indexAt(QPoint(self.gridSize().width() // 2, self.gridSize().height() // 2))
        return index.row() if index.isValid() else -1

    def is_index_visible(self, index: QModelIndex | QPersistentModelIndex) -> bool:
        """Whether the row is on screen or within half a screen of it (worth loading)."""
        if not index.isValid() or self.model() is None:
            return False
        rect = self.visualRect(self.model().index(index.row(), 0))
        area = self.viewport().rect()
        margin = area.height() // 2
        return rect.isValid() and rect.intersects(area.adjusted(0, -margin, 0, margin))

    def visible_rows(self) -> range:
        """The rows painted in the viewport now (first to last)."""
        model = self.model()
        if model is None or model.rowCount() == 0:
            return range(0)
        area = self.viewport().rect()
        first = last = -1
        cell = self.gridSize()
        for y in range(cell.height() // 2, area.height() + cell.height(), cell.height()):
            for x in range(cell.width() // 2, area.width(), cell.width()):
                index = self.indexAt(QPoint(x, min(y, area.height() - 1)))
                if index.isValid():
                    first = index.row() if first < 0 else min(first, index.row())
                    last = max(last, index.row())
        return range(first, last + 1) if first >= 0 else range(0)

    # --- input --------------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) \
                and self._action_for(event) is not None:
            event.accept()
            return True
        return super().event(event)

    @staticmethod
    def _action_for(event: QKeyEvent) -> str | None:
        modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        key = event.key()
        if event.matches(QKeySequence.StandardKey.Copy):
            return "copy"
        if modifiers == Qt.KeyboardModifier.ControlModifier and key in (
                Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            return "zoom_in"
        if modifiers == Qt.KeyboardModifier.ControlModifier and key == Qt.Key.Key_Minus:
            return "zoom_out"
        if modifiers != Qt.KeyboardModifier.NoModifier or key not in _OWN_KEYS:
            return None
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            return "open"
        return "favorite" if key == Qt.Key.Key_F else "trash"

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        action = self._action_for(event)
        if action == "zoom_in":
            self.zoom_requested.emit(1)
        elif action == "zoom_out":
            self.zoom_requested.emit(-1)
        elif action is not None:
            self.key_action.emit(action)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self._wheel_rest += event.angleDelta().y()
            steps = int(self._wheel_rest / 120)
            if steps:
                self._wheel_rest -= steps * 120
                self.zoom_requested.emit(steps)
            event.accept()
            return
        super().wheelEvent(event)

    # --- drag out -----------------------------------------------------------------------------

    def startDrag(self, supported_actions: Qt.DropAction) -> None:  # noqa: N802
        model = self.model()
        indexes = sorted((i for i in self.selectedIndexes()
                          if i.flags() & Qt.ItemFlag.ItemIsDragEnabled), key=lambda i: i.row())
        if model is None or not indexes:
            return
        data = model.mimeData(indexes)
        if data is None:
            return
        drag = QDrag(self)
        drag.setMimeData(data)
        pixmap = self.drag_pixmap(indexes)
        drag.setPixmap(pixmap)
        drag.setHotSpot(QPoint(pixmap.width() // 2, pixmap.height() // 2))
        drag.exec(Qt.DropAction.CopyAction, Qt.DropAction.CopyAction)

    def drag_pixmap(self, indexes: list[QModelIndex]) -> QPixmap:
        """The first thumbnail (or a blank tile) with the number of images dragged."""
        side = 96
        dpr = self.devicePixelRatioF()
        canvas = QPixmap(round(side * dpr), round(side * dpr))
        canvas.setDevicePixelRatio(dpr)
        canvas.fill(Qt.GlobalColor.transparent)
        painter = QPainter(canvas)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        thumb = indexes[0].data(Role.thumbnail) if indexes else None
        rect = QRectF(0, 0, side, side)
        if isinstance(thumb, QPixmap) and not thumb.isNull():
            scale = min(side / thumb.width(), side / thumb.height())
            w, h = thumb.width() * scale, thumb.height() * scale
            target = QRectF((side - w) / 2, (side - h) / 2, w, h)
            painter.setOpacity(0.9)
            painter.drawPixmap(target, thumb, QRectF(thumb.rect()))
            painter.setOpacity(1.0)
        else:
            painter.setBrush(tile_color(self.palette()))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawRoundedRect(rect, 6, 6)
        if len(indexes) > 1:
            text = str(len(indexes))
            badge = QRectF(side - 34, 4, 30, 20)
            painter.setBrush(self.palette().color(QPalette.ColorRole.Highlight))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawRoundedRect(badge, 10, 10)
            painter.setPen(self.palette().color(QPalette.ColorRole.HighlightedText))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
        painter.end()
        return canvas

    # --- drop in ------------------------------------------------------------------------------

    def accepts_drop(self, event: QDropEvent | QDragMoveEvent | QDragEnterEvent) -> bool:
        data = event.mimeData()
        model = self.model()
        if data is None or model is None or event.source() is self:
            return False
        if gallery_mime.is_from_gallery(data):
            return False
        return model.canDropMimeData(data, Qt.DropAction.CopyAction, -1, -1, QModelIndex())

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if self.accepts_drop(event):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            self._set_drop_active(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if self.accepts_drop(event):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802, ANN001
        self._set_drop_active(False)
        event.accept()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self._set_drop_active(False)
        if not self.accepts_drop(event):
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        if self.model().dropMimeData(event.mimeData(), Qt.DropAction.CopyAction, -1, -1,
                                     QModelIndex()):
            event.accept()
        else:
            event.ignore()

    def _set_drop_active(self, on: bool) -> None:
        if self._drop_active != on:
            self._drop_active = on
            self.drop_state_changed.emit(on)
            self.viewport().update()

    # --- painting -----------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        super().paintEvent(event)
        model = self.model()
        empty = model is None or model.rowCount() == 0
        if not (self._drop_active or (empty and self.empty_text)):
            return
        painter = QPainter(self.viewport())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.viewport().rect())
        text_color = QColor(self.palette().color(QPalette.ColorRole.Text))
        if self._drop_active:
            highlight = self.palette().color(QPalette.ColorRole.Highlight)
            fill = QColor(highlight)
            fill.setAlphaF(0.08)
            painter.setBrush(fill)
            painter.setPen(QPen(highlight, 2, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(area.adjusted(6, 6, -6, -6), 10, 10)
            painter.setPen(highlight)
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter,
                             "Drop images or folders to import them into this project")
        elif empty:
            text_color.setAlphaF(0.55)
            painter.setPen(text_color)
            box = QRect(area.toRect().adjusted(40, 0, -40, 0))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self.empty_text)
        painter.end()
