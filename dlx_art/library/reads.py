"""Reading assets: pages of the gallery, search, lineage, files and thumbnails."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlx_art.errors import NotFound, StorageError, UsageError
from dlx_art.library import storage
from dlx_art.library.records import (
    ASSET_SELECT,
    AssetInfo,
)

if TYPE_CHECKING:

    from dlx_art.library.thumbnails import RenderProcesses
from dlx_art.library.base import LibraryBase
from dlx_art.library.search import conditions as search_conditions

log = logging.getLogger("dlx_art.library")

ORDERS = ("newest", "oldest", "favorites")


@dataclass(frozen=True)
class Lineage:
    ancestors: list[AssetInfo]  # nearest parent first
    descendants: list[tuple[AssetInfo, int]]  # (asset, depth) in tree order


def fts_query(text_: str) -> str | None:
    """Turn what a person typed into an FTS5 query: every word must appear (as a prefix)."""
    words = re.findall(r"\w+", text_, flags=re.UNICODE)
    if not words:
        return None
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words)


class ReadsMixin(LibraryBase):
    """Reading a library's images (mixed into `service.Library`)."""

    def get_asset(self, asset_id: str) -> AssetInfo:
        rows = self._read(f'SELECT {ASSET_SELECT} FROM "ArtAsset" WHERE "id" = ?', (asset_id,))
        if not rows:
            raise NotFound(f"There is no image with id {asset_id!r}.")
        return AssetInfo.from_row(rows[0])

    def get_assets(self, ids: Sequence[str]) -> list[AssetInfo]:
        found: dict[str, AssetInfo] = {}
        ids = list(ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            for row in self._read(f'SELECT {ASSET_SELECT} FROM "ArtAsset" WHERE "id" IN ({marks})',
                                  chunk):
                asset = AssetInfo.from_row(row)
                found[asset.id] = asset
        return [found[i] for i in ids if i in found]

    @staticmethod
    def _where(project_id: str | None, favorites: bool, search: str | None, trashed: bool,
               *, counting: bool = False) -> tuple[str, list[Any]]:
        found, found_params = search_conditions(search) if search else ([], [])
        match = bool(found)
        conditions: list[str] = []
        params: list[Any] = []
        if project_id is not None:
            # with a search, a count starts from the (usually few) matches: unary + keeps
            # SQLite from walking the whole project's index instead
            conditions.append('+"projectId" = ?' if match and counting else '"projectId" = ?')
            params.append(project_id)
        # an equality constraint for the planner: the gallery indexes carry trashedAt right
        # after projectId (and isFavorite), so a page reads them in order
        conditions.append('"trashedAt" IS NOT NULL' if trashed else '"trashedAt" IS NULL')
        if favorites:
            conditions.append('"isFavorite" = 1')
        conditions.extend(found)  # prompt words and field filters: see library/search.py
        params.extend(found_params)
        return " AND ".join(conditions), params

    def assets(
        self,
        project_id: str | None,
        *,
        limit: int = 200,
        offset: int = 0,
        favorites: bool = False,
        search: str | None = None,
        order: str = "newest",
        trashed: bool = False,
    ) -> list[AssetInfo]:
        """A page of a project's images (newest first by default; trash with `trashed`)."""
        if order not in ORDERS:
            raise UsageError(f"Order must be one of {', '.join(ORDERS)}.")
        where, params = self._where(project_id, favorites, search, trashed)
        order_by = {
            "newest": '"createdAt" DESC, "id" DESC',
            "oldest": '"createdAt", "id"',
            "favorites": '"isFavorite" DESC, "createdAt" DESC, "id" DESC',
        }[order]
        rows = self._read(f'SELECT {ASSET_SELECT} FROM "ArtAsset" WHERE {where} '
                          f"ORDER BY {order_by} LIMIT ? OFFSET ?",
                          [*params, max(0, limit), max(0, offset)])
        return [AssetInfo.from_row(r) for r in rows]

    def count_assets(self, project_id: str | None, *, favorites: bool = False,
                     search: str | None = None, trashed: bool = False) -> int:
        where, params = self._where(project_id, favorites, search, trashed, counting=True)
        return int(self._read(f'SELECT count(*) FROM "ArtAsset" WHERE {where}', params)[0][0])

    def children(self, asset_id: str) -> list[AssetInfo]:
        rows = self._read(f'SELECT {ASSET_SELECT} FROM "ArtAsset" WHERE "parentId" = ? '
                          'ORDER BY "createdAt", "id"', (asset_id,))
        return [AssetInfo.from_row(r) for r in rows]

    def lineage(self, asset_id: str) -> Lineage:
        """Ancestors (parent first) and descendants (depth-first) of an image."""
        asset = self.get_asset(asset_id)
        ancestors: list[AssetInfo] = []
        seen = {asset.id}
        parent_id = asset.parentId
        while parent_id and parent_id not in seen:
            seen.add(parent_id)
            try:
                parent = self.get_asset(parent_id)
            except NotFound:
                break
            ancestors.append(parent)
            parent_id = parent.parentId
        descendants: list[tuple[AssetInfo, int]] = []

        def walk(node_id: str, depth: int) -> None:
            for child in self.children(node_id):
                if child.id not in seen:
                    seen.add(child.id)
                    descendants.append((child, depth))
                    walk(child.id, depth + 1)

        walk(asset.id, 1)
        return Lineage(ancestors, descendants)

    def path_of(self, asset: AssetInfo) -> Path:
        """The absolute path of an image (its trash location while it is in the trash)."""
        if asset.trashedAt is not None:
            return self._trash_path(asset.id, asset.filePath)
        return storage.resolve_inside(self.root, asset.filePath)

    def mask_path_of(self, asset: AssetInfo) -> Path | None:
        if not asset.maskPath:
            return None
        if asset.trashedAt is not None:
            return self._trash_path(asset.id, asset.maskPath)
        return storage.resolve_inside(self.root, asset.maskPath)

    def read_bytes(self, asset: AssetInfo) -> bytes:
        try:
            return self.path_of(asset).read_bytes()
        except OSError as exc:
            raise StorageError(f"The file of image {asset.id} cannot be read: {exc}.") from exc

    def _trash_path(self, asset_id: str, rel: str) -> Path:
        name = rel.rsplit("/", 1)[-1]
        return self.root / storage.TRASH_DIR / asset_id / storage.safe_file_name(name)

    def make_thumbnail(self, asset: AssetInfo, renderer: RenderProcesses | None = None) -> Path:
        """The asset's cached thumbnail, made first if needed (by `renderer`'s processes)."""
        cached = self.thumbnails.get(asset.id)
        if cached is not None:
            return cached
        if renderer is not None:
            return renderer.make(self.thumbnails, asset.id, self.path_of(asset))
        return self.thumbnails.make(asset.id, self.path_of(asset))
