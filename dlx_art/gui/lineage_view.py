"""The lineage of an image: its ancestors and descendants as a small tree of thumbnails.

The oldest ancestor is the root; each refinement is a child of the image it was made from,
so a chain of refinements reads top to bottom and branches show as siblings. The image asked
about is highlighted. The lineage is read and the thumbnails are loaded in the background.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from dlx_art.errors import DlxError
from dlx_art.gui.gallery.delegate import tile_color
from dlx_art.gui.gallery.thumbnails import ThumbnailLoader, ThumbState
from dlx_art.gui.tasks import TaskRunner, default_runner

if TYPE_CHECKING:
    from dlx_art.library.models import AssetInfo
    from dlx_art.library.service import Library, Lineage

ICON_SIZE = 64
ASSET_ROLE = Qt.ItemDataRole.UserRole + 1
KIND_TEXT = {"txt2img": "Generated", "img2img": "Refined", "inpaint": "Inpainted",
             "import": "Imported", "upscale": "Upscaled", "outpaint": "Expanded"}
PROMPT_CHARS = 70


def _read_lineage(library: Library, asset_id: str) -> tuple[AssetInfo, Lineage]:
    return library.get_asset(asset_id), library.lineage(asset_id)


def _item_text(asset: AssetInfo, current: bool) -> str:
    kind = KIND_TEXT.get(asset.kind or "", asset.kind or "Image")
    when = asset.createdAt.astimezone().strftime("%Y-%m-%d %H:%M")
    head = f"{kind} · {when}" + ("  (this image)" if current else "")
    if asset.trashedAt is not None:
        head += "  (in the trash)"
    prompt = (asset.prompt or "").replace("\n", " ")
    if len(prompt) > PROMPT_CHARS:
        prompt = prompt[:PROMPT_CHARS - 1] + "…"
    return f"{head}\n{prompt}" if prompt else head


CHOOSE_TEXT = "Choose an image to see where it came from and what was made from it."


def untinted_icon(pixmap: QPixmap) -> QIcon:
    """An icon that looks the same selected: Qt's styles otherwise blend the highlight colour
    into a selected item's icon, which changes the picture's colours."""
    icon = QIcon()
    for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected, QIcon.Mode.Active):
        icon.addPixmap(pixmap, mode)
    return icon


class LineageView(QWidget):
    """Ancestors and descendants of one image.

    Signals:
        open_asset(object): an `AssetInfo` that was clicked (or activated with Enter).
        lineage_loaded(str): the tree for this asset id is filled in.
    """

    open_asset = Signal(object)
    lineage_loaded = Signal(str)

    def __init__(self, library: Library | None, parent: QWidget | None = None, *,
                 runner: TaskRunner | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lineageView")
        self._library = library
        self._asset_id: str | None = None
        self._token = 0
        self._closed = False
        self._items: dict[str, QTreeWidgetItem] = {}
        runner = runner or default_runner()
        self._lane = runner.reads
        self.loader = ThumbnailLoader(library, self, max_bytes=16 * 1024 * 1024, threads=1,
                                      runner=runner)
        self.loader.thumbnail_ready.connect(self._on_loader_thumbnail_ready)

        self.tree = QTreeWidget(self)
        self.tree.setObjectName("lineageTree")
        self.tree.setHeaderHidden(True)
        self.tree.setColumnCount(1)
        self.tree.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.tree.setIndentation(22)
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setExpandsOnDoubleClick(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.tree.itemClicked.connect(self._on_tree_item_clicked)
        self.tree.itemActivated.connect(self._on_tree_item_clicked)
        self.message = QLabel(self)
        self.message.setObjectName("lineageMessage")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setEnabled(False)
        self.message.setContentsMargins(8, 6, 8, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.message)
        layout.addWidget(self.tree, 1)
        self._show_message(CHOOSE_TEXT)

    # --- public API ---------------------------------------------------------------------------

    def show_lineage(self, asset_id: str) -> None:
        """Show the ancestors and descendants of `asset_id` (read in the background)."""
        self._asset_id = asset_id
        self._token += 1
        token = self._token
        self.loader.cancel_pending()
        if not self._items:
            self._show_message("Loading…")
        self._lane.cancel(self)
        self._lane.run(_read_lineage, self._library, asset_id, owner=self,
                       on_done=lambda result: self._on_lineage_read(token, result),
                       on_error=lambda exc: self._on_lineage_failed(token, exc))

    def current_asset_id(self) -> str | None:
        return self._asset_id

    def item_for(self, asset_id: str) -> QTreeWidgetItem | None:
        return self._items.get(asset_id)

    def set_library(self, library: Library | None) -> None:
        """Show lineages from another library (None: none); shows nothing chosen."""
        self._token += 1  # a lineage still being read belongs to the old library
        self._lane.cancel(self)
        self._library = library
        self.loader.set_library(library)
        self._asset_id = None
        self.tree.clear()
        self._items.clear()
        self._show_message(CHOOSE_TEXT)

    def shutdown(self, timeout_ms: int = 5000) -> None:
        self._closed = True
        self.loader.shutdown(timeout_ms)
        self._lane.cancel(self)
        self._lane.wait(timeout_ms, self)

    # --- building -----------------------------------------------------------------------------

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _alive(self, token: int) -> bool:
        return isValid(self) and not self._closed and token == self._token

    def _on_lineage_read(self, token: int, result: tuple[AssetInfo, Lineage]) -> None:
        if not self._alive(token):
            return
        asset, lineage = result
        self.tree.clear()
        self._items.clear()
        parent_item: QTreeWidgetItem | None = None
        for ancestor in reversed(lineage.ancestors):  # oldest first
            parent_item = self._add(parent_item, ancestor, current=False)
        current_item = self._add(parent_item, asset, current=True)
        stack: list[QTreeWidgetItem] = [current_item]  # stack[d - 1] is the item at depth d
        for child, depth in lineage.descendants:
            del stack[depth:]
            stack.append(self._add(stack[depth - 1], child, current=False))
        self.tree.expandAll()
        self.tree.setCurrentItem(current_item)
        self.tree.scrollToItem(current_item)
        generations = len(lineage.ancestors) + 1 + max((d for _, d in lineage.descendants),
                                                       default=0)
        if lineage.ancestors or lineage.descendants:
            self._show_message(f"{len(self._items)} images over {generations} generations")
        else:
            self._show_message("This image has no parent and no refinements yet.")
        self.lineage_loaded.emit(asset.id)

    def _on_lineage_failed(self, token: int, exc: BaseException) -> None:
        if self._alive(token):
            self.tree.clear()
            self._items.clear()
            self._show_message(exc.user_message if isinstance(exc, DlxError) else
                               "The lineage could not be read.")

    def _add(self, parent: QTreeWidgetItem | None, asset: AssetInfo,
             current: bool) -> QTreeWidgetItem:
        item = QTreeWidgetItem([_item_text(asset, current)])
        item.setData(0, ASSET_ROLE, asset)
        item.setToolTip(0, asset.prompt or "")
        item.setSizeHint(0, QSize(0, ICON_SIZE + 8))
        item.setIcon(0, self._icon(asset))
        if current:
            font = QFont(self.tree.font())
            font.setBold(True)
            item.setFont(0, font)
            highlight = QColor(self.palette().color(QPalette.ColorRole.Highlight))
            highlight.setAlphaF(0.22)
            item.setBackground(0, QBrush(highlight))
        if parent is None:
            self.tree.addTopLevelItem(item)
        else:
            parent.addChild(item)
        self._items[asset.id] = item
        return item

    def _icon(self, asset: AssetInfo) -> QIcon:
        dpr = self.devicePixelRatioF()
        box = QSize(round(ICON_SIZE * dpr), round(ICON_SIZE * dpr))
        pixmap = self.loader.pixmap(asset.id)
        if pixmap is None and self.loader.needs(asset.id, box):
            self.loader.request(asset, box)
        return untinted_icon(self._square(pixmap,
                                          self.loader.state(asset.id) == ThumbState.broken))

    def _square(self, pixmap: QPixmap | None, broken: bool) -> QPixmap:
        """The thumbnail centred on a square tile, so rows line up whatever the aspect."""
        from PySide6.QtCore import QRectF
        from PySide6.QtGui import QPainter, QPainterPath, QPen

        dpr = self.devicePixelRatioF()
        canvas = QPixmap(round(ICON_SIZE * dpr), round(ICON_SIZE * dpr))
        canvas.setDevicePixelRatio(dpr)
        canvas.fill(Qt.GlobalColor.transparent)
        painter = QPainter(canvas)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        tile = QRectF(0, 0, ICON_SIZE, ICON_SIZE)
        path = QPainterPath()
        path.addRoundedRect(tile, 5, 5)
        painter.fillPath(path, tile_color(self.palette()))
        if pixmap is not None and not pixmap.isNull():
            scale = min(ICON_SIZE / pixmap.width(), ICON_SIZE / pixmap.height())
            w, h = pixmap.width() * scale, pixmap.height() * scale
            target = QRectF((ICON_SIZE - w) / 2, (ICON_SIZE - h) / 2, w, h)
            painter.setClipPath(path)
            painter.drawPixmap(target, pixmap, QRectF(pixmap.rect()))
        elif broken:
            painter.setPen(QPen(QColor("#e06c5a"), 2))
            inner = tile.adjusted(20, 20, -20, -20)
            painter.drawLine(inner.topLeft(), inner.bottomRight())
            painter.drawLine(inner.topRight(), inner.bottomLeft())
        painter.end()
        return canvas

    # --- slots --------------------------------------------------------------------------------

    @Slot(str)
    def _on_loader_thumbnail_ready(self, asset_id: str) -> None:
        item = self._items.get(asset_id)
        if item is not None:
            item.setIcon(0, untinted_icon(self._square(
                self.loader.pixmap(asset_id), self.loader.state(asset_id) == ThumbState.broken)))

    @Slot(QTreeWidgetItem, int)
    def _on_tree_item_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        asset = item.data(0, ASSET_ROLE)
        if asset is not None:
            self.open_asset.emit(asset)
