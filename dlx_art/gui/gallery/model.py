"""The gallery's list model: one project's images, paged from the catalog as the view scrolls.

Rows are frozen `AssetInfo` records. The first page (200 rows, about 2 ms) is read when the
query changes; `fetchMore` appends the next page when the view reaches the end, so a project
of 100,000 images opens as fast as one of ten. Paging is by offset: new images added at the
top are also in the catalog, and rows removed here are removed there, so the offset stays in
step; pages are de-duplicated by id in case it drifts.

Thumbnails are not loaded here: the delegate asks the `ThumbnailLoader` for the rows it
paints, and the model only reports what the loader holds.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from shiboken6 import isValid

from dlx_art.gui.gallery import mime as gallery_mime
from dlx_art.gui.gallery.thumbnails import ThumbnailLoader, ThumbState
from dlx_art.gui.tasks import Lane
from dlx_art.library.search import matches as search_matches

if TYPE_CHECKING:
    from dlx_art.library.models import AssetInfo
    from dlx_art.library.service import Library

PAGE_SIZE = 200
REFRESH_MAX_ROWS = 1000
THUMBNAIL_FLUSH_MS = 33  # thumbnails that arrive together repaint together (about 30 fps)
ORDERS = ("newest", "oldest", "favorites")

KIND_LABELS = {"txt2img": "txt2img", "img2img": "img2img", "inpaint": "inpaint",
               "import": "import", "upscale": "upscaled", "outpaint": "outpaint"}

_Index = QModelIndex | QPersistentModelIndex


class Role(IntEnum):
    asset = Qt.ItemDataRole.UserRole + 1
    id = Qt.ItemDataRole.UserRole + 2
    favorite = Qt.ItemDataRole.UserRole + 3
    kind = Qt.ItemDataRole.UserRole + 4
    thumbnail = Qt.ItemDataRole.UserRole + 5  # QPixmap | None (never starts a load)
    thumbnail_state = Qt.ItemDataRole.UserRole + 6  # ThumbState value ("ready", "broken", ...)
    prompt = Qt.ItemDataRole.UserRole + 7
    trashed = Qt.ItemDataRole.UserRole + 8


@dataclasses.dataclass(frozen=True)
class GalleryQuery:
    project_id: str | None = None
    order: str = "newest"
    favorites: bool = False
    search: str = ""
    trashed: bool = False


def matches_search(asset: AssetInfo, search: str) -> bool:
    """Whether the catalog's search would find `asset` (prompt words, field filters)."""
    return search_matches(search, prompt=asset.prompt, negative=asset.negative,
                          model=asset.model, seed=asset.seed)


def _sort_key(order: str):  # noqa: ANN202
    if order == "oldest":
        return lambda a: (a.createdAt, a.id)
    if order == "favorites":
        return lambda a: (a.isFavorite, a.createdAt, a.id)
    return lambda a: (a.createdAt, a.id)


class GalleryModel(QAbstractListModel):
    """Images of one project (or its trash), paged from the catalog.

    Signals:
        files_dropped(list): local paths dropped onto the gallery (to import).
        total_changed(int): how many images match the query in all.
    """

    files_dropped = Signal(list)
    total_changed = Signal(int)

    def __init__(self, library: Library | None, loader: ThumbnailLoader | None = None,
                 parent: Any = None, *, count_lane: Lane | None = None) -> None:
        super().__init__(parent)
        self._library = library
        self._loader = loader
        self._count_lane = count_lane  # None: count on the GUI thread (tests, small tools)
        self._query = GalleryQuery()
        self._generation = 0
        self._rows: list[AssetInfo] = []
        self._row_of: dict[str, int] | None = {}
        self._total = 0
        self._total_known = True
        self._exhausted = True  # the last page came back short: nothing more to fetch
        self._arrived: set[str] = set()
        self._last_flush = 0.0
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(THUMBNAIL_FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush_thumbnails)
        if loader is not None:
            loader.thumbnail_ready.connect(self._on_loader_thumbnail_ready)

    # --- query --------------------------------------------------------------------------------

    @property
    def query(self) -> GalleryQuery:
        return self._query

    @property
    def total(self) -> int:
        """Images matching the query (a lower bound until `total_known`)."""
        return self._total

    @property
    def total_known(self) -> bool:
        return self._total_known

    def set_query(self, query: GalleryQuery, *, keep_loaded: bool = False) -> None:
        """Show another project, order, filter or the trash (the first page is read now)."""
        if query.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, not {query.order!r}")
        # a refresh re-reads what was loaded, within reason (one query on the GUI thread)
        want = max(PAGE_SIZE, min(len(self._rows), REFRESH_MAX_ROWS)) if keep_loaded \
            else PAGE_SIZE
        self._generation += 1
        self.beginResetModel()
        self._query = query
        self._rows = []
        self._row_of = {}
        self._total, self._total_known, self._exhausted = 0, True, True
        if query.project_id is not None and self._library is not None:
            page = self._page(0, want)
            self._rows = self._unique(page)
            self._row_of = None
            self._exhausted = len(page) < want
            if self._exhausted:
                self._total = len(self._rows)
            elif self._count_lane is None:
                self._total = max(self._count(), len(self._rows))
            else:
                # Counting 100,000 rows takes tens of milliseconds: not on the GUI thread.
                # Paging does not need the count; only the label waits for it.
                self._total, self._total_known = len(self._rows), False
                generation = self._generation
                self._count_lane.run(self._count, owner=self,
                                     on_done=lambda n: self._on_counted(generation, n))
        self.endResetModel()
        self.total_changed.emit(self._total)

    def _on_counted(self, generation: int, count: int) -> None:
        if not isValid(self) or generation != self._generation:
            return
        self._total = max(count, len(self._rows))
        self._total_known = True
        self.total_changed.emit(self._total)

    def refresh(self) -> None:
        self.set_query(self._query, keep_loaded=True)

    def set_library(self, library: Library | None) -> None:
        """Read another library (None: none); shows no project until `set_query`."""
        self._library = library
        self.set_query(GalleryQuery(None, self._query.order, self._query.favorites,
                                    self._query.search, False))

    def _count(self) -> int:
        q = self._query
        return self._library.count_assets(q.project_id, favorites=q.favorites,
                                          search=q.search or None, trashed=q.trashed)

    def _page(self, offset: int, limit: int) -> list[AssetInfo]:
        q = self._query
        return self._library.assets(q.project_id, limit=limit, offset=offset,
                                    favorites=q.favorites, search=q.search or None,
                                    order=q.order, trashed=q.trashed)

    def _unique(self, rows: Iterable[AssetInfo]) -> list[AssetInfo]:
        seen: set[str] = set()
        out = []
        for asset in rows:
            if asset.id not in seen:
                seen.add(asset.id)
                out.append(asset)
        return out

    # --- paging -------------------------------------------------------------------------------

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:  # noqa: B008, N802
        if parent.isValid() or self._query.project_id is None:
            return False
        return not self._exhausted

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:  # noqa: B008, N802
        if not self.canFetchMore(parent):
            return
        fetched = self._page(len(self._rows), PAGE_SIZE)
        if len(fetched) < PAGE_SIZE:
            self._exhausted = True
        page = [a for a in fetched if self.row_of(a.id) < 0]
        if not page:
            if self._exhausted and self._total != len(self._rows):
                self._total, self._total_known = len(self._rows), True
                self.total_changed.emit(self._total)
            return
        page = self._unique(page)
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        self._rows.extend(page)
        if self._row_of is not None:
            for offset, asset in enumerate(page):
                self._row_of[asset.id] = first + offset
        self.endInsertRows()
        if self._exhausted and not self._total_known:
            self._total, self._total_known = len(self._rows), True  # counted by paging
            self.total_changed.emit(self._total)
        elif len(self._rows) > self._total:
            self._total = len(self._rows)
            self.total_changed.emit(self._total)

    def fetch_all_loaded_until(self, asset_id: str, max_rows: int) -> int:
        """Fetch pages until `asset_id` is loaded (at most `max_rows` rows); its row or -1."""
        row = self.row_of(asset_id)
        while row < 0 and self.canFetchMore() and len(self._rows) < max_rows:
            self.fetchMore()
            row = self.row_of(asset_id)
        return row

    # --- Qt model API -------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows) or index.column() != 0:
            return None
        asset = self._rows[index.row()]
        if role == Role.asset:
            return asset
        if role == Role.id:
            return asset.id
        if role in (Qt.ItemDataRole.DisplayRole, Role.prompt):
            return asset.prompt or ""
        if role == Role.favorite:
            return asset.isFavorite
        if role == Role.kind:
            return asset.kind or ""
        if role == Role.trashed:
            return asset.trashedAt is not None
        if role in (Role.thumbnail, Qt.ItemDataRole.DecorationRole):
            return self._loader.pixmap(asset.id) if self._loader is not None else None
        if role == Role.thumbnail_state:
            state = self._loader.state(asset.id) if self._loader is not None else ThumbState.none
            return state.value
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(asset)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return asset.prompt or "Image"
        return None

    def _tooltip(self, asset: AssetInfo) -> str:
        lines = []
        if asset.prompt:
            prompt = asset.prompt if len(asset.prompt) <= 300 else asset.prompt[:297] + "…"
            lines.append(prompt)
        facts = [KIND_LABELS.get(asset.kind or "", asset.kind or "")]
        if asset.width and asset.height:
            facts.append(f"{asset.width}×{asset.height}")
        facts.append(asset.createdAt.astimezone().strftime("%Y-%m-%d %H:%M"))
        lines.append(" · ".join(f for f in facts if f))
        if self._loader is not None and (error := self._loader.error(asset.id)):
            lines.append(error)
        return "\n".join(lines)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.ItemIsDropEnabled
        return (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemIsDragEnabled | Qt.ItemFlag.ItemNeverHasChildren)

    # --- drag and drop ------------------------------------------------------------------------

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return [gallery_mime.URI_LIST_MIME, gallery_mime.ASSET_IDS_MIME]

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802
        return Qt.DropAction.CopyAction

    def supportedDropActions(self) -> Qt.DropAction:  # noqa: N802
        return Qt.DropAction.CopyAction

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData | None:  # noqa: N802
        """File URLs of the original files of `indexes` (row order), plus image data."""
        rows = sorted({i.row() for i in indexes if i.isValid() and i.row() < len(self._rows)})
        assets = [self._rows[r] for r in rows]
        if not assets:
            return None
        return self.mime_for(assets)

    def mime_for(self, assets: Sequence[AssetInfo]) -> QMimeData:
        paths = [self._library.path_of(a) for a in assets]
        return gallery_mime.AssetMimeData(paths, [a.id for a in assets])

    def canDropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int,  # noqa: N802
                        column: int, parent: _Index) -> bool:
        if data is None or self._query.project_id is None or self._query.trashed:
            return False
        if gallery_mime.is_from_gallery(data):
            return False  # our own thumbnails: nothing to import
        return bool(gallery_mime.local_paths(data))

    def dropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int,  # noqa: N802
                     column: int, parent: _Index) -> bool:
        if action == Qt.DropAction.IgnoreAction:
            return True
        if not self.canDropMimeData(data, action, row, column, parent):
            return False
        self.files_dropped.emit(gallery_mime.local_paths(data))
        return True

    # --- rows ---------------------------------------------------------------------------------

    def asset_at(self, row: int) -> AssetInfo | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def loaded_assets(self) -> list[AssetInfo]:
        return list(self._rows)

    def row_of(self, asset_id: str) -> int:
        if self._row_of is None:
            self._row_of = {a.id: i for i, a in enumerate(self._rows)}
        return self._row_of.get(asset_id, -1)

    def index_of(self, asset_id: str) -> QModelIndex:
        row = self.row_of(asset_id)
        return self.index(row, 0) if row >= 0 else QModelIndex()

    def accepts(self, asset: AssetInfo) -> bool:
        """Whether `asset` belongs in the rows of the current query."""
        q = self._query
        if q.project_id is None or asset.projectId != q.project_id:
            return False
        if (asset.trashedAt is not None) != q.trashed:
            return False
        if q.favorites and not asset.isFavorite:
            return False
        return not q.search or matches_search(asset, q.search)

    def add_assets(self, assets: Iterable[AssetInfo]) -> int:
        """Insert new images where the order puts them (the top, for newest first).

        Images already shown are updated instead. Returns how many rows were inserted.
        """
        fresh: list[AssetInfo] = []
        for asset in self._unique(assets):
            if self.row_of(asset.id) >= 0:
                self.update_asset(asset)
            elif self.accepts(asset):
                fresh.append(asset)
        if not fresh:
            return 0
        order = self._query.order
        fresh.sort(key=_sort_key(order), reverse=order != "oldest")
        inserted = 0
        if order == "newest":
            self._insert(0, fresh)
            inserted = len(fresh)
        elif order == "oldest":
            if self._exhausted:
                self._insert(len(self._rows), fresh)
                inserted = len(fresh)
        else:  # favorites first, newest first within each group
            others = [a for a in fresh if not a.isFavorite]
            favorites = [a for a in fresh if a.isFavorite]
            if others:
                row = next((i for i, a in enumerate(self._rows) if not a.isFavorite), None)
                if row is None and self._exhausted:
                    row = len(self._rows)
                if row is not None:  # else they come with a later page
                    self._insert(row, others)
                    inserted += len(others)
            if favorites:
                self._insert(0, favorites)
                inserted += len(favorites)
        self._total += len(fresh)
        self.total_changed.emit(self._total)
        return inserted

    def _insert(self, row: int, assets: list[AssetInfo]) -> None:
        self.beginInsertRows(QModelIndex(), row, row + len(assets) - 1)
        self._rows[row:row] = assets
        self._row_of = None
        self.endInsertRows()

    def update_asset(self, asset: AssetInfo) -> None:
        """Replace a shown image's record (favorite changed, ...); drop it if it no longer fits."""
        row = self.row_of(asset.id)
        if row < 0:
            return
        if not self.accepts(asset):
            self.remove_ids([asset.id])
            return
        self._rows[row] = asset
        index = self.index(row, 0)
        self.dataChanged.emit(index, index, [])

    def set_favorite_local(self, asset_id: str, on: bool) -> AssetInfo | None:
        row = self.row_of(asset_id)
        if row < 0:
            return None
        updated = dataclasses.replace(self._rows[row], isFavorite=on)
        self.update_asset(updated)
        return updated

    def remove_ids(self, ids: Iterable[str]) -> int:
        """Remove shown images (trashed, restored, ...); returns how many rows went."""
        rows = sorted({r for r in (self.row_of(i) for i in ids) if r >= 0}, reverse=True)
        if not rows:
            return 0
        # remove contiguous runs, bottom first, so earlier row numbers stay valid
        runs: list[tuple[int, int]] = []
        for r in rows:
            if runs and runs[-1][0] == r + 1:
                runs[-1] = (r, runs[-1][1])
            else:
                runs.append((r, r))
        for first, last in runs:
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._rows[first:last + 1]
            self._row_of = None
            self.endRemoveRows()
        self._total = max(len(self._rows), self._total - len(rows))
        self.total_changed.emit(self._total)
        return len(rows)

    def _on_loader_thumbnail_ready(self, asset_id: str) -> None:
        self._arrived.add(asset_id)
        idle = self._loader is not None and self._loader.is_idle()
        if idle or (not self._flush_timer.isActive()
                    and time.monotonic() - self._last_flush >= THUMBNAIL_FLUSH_MS / 1000):
            self._flush_timer.stop()
            self._flush_thumbnails()  # the first after a pause, or the last, shows at once
        elif not self._flush_timer.isActive():
            self._flush_timer.start()

    def _flush_thumbnails(self) -> None:
        self._last_flush = time.monotonic()
        rows = sorted(r for r in (self.row_of(i) for i in self._arrived) if r >= 0)
        self._arrived.clear()
        roles = [Qt.ItemDataRole.DecorationRole, Role.thumbnail, Role.thumbnail_state]
        for row in rows:  # one index each: the view repaints just those tiles
            index = self.index(row, 0)
            self.dataChanged.emit(index, index, roles)
