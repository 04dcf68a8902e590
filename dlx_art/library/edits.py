"""Changing assets: favourites, the trash (move, restore, empty) and export."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from dlx_art.library import lock, metadata, sql, storage
from dlx_art.library.base import _begin_immediate, _locked_asset
from dlx_art.library.reads import ReadsMixin
from dlx_art.library.records import (
    AssetInfo,
    utc_now,
)

log = logging.getLogger("dlx_art.library")


class EditsMixin(ReadsMixin):
    """Changing a library's images (mixed into `service.Library`)."""

    def set_favorite(self, asset_id: str, on: bool = True) -> AssetInfo:
        from sqlalchemy import update

        A = sql.tables().asset
        self.get_asset(asset_id)
        with self._write_lock, self.engine.begin() as con:
            con.execute(update(A).where(A.c.id == asset_id).values(isFavorite=bool(on)))
        return self.get_asset(asset_id)

    def trash(self, asset_id: str) -> AssetInfo:
        """Move an image (and its mask) into the trash; `restore` brings it back."""
        asset = self.get_asset(asset_id)
        if asset.trashedAt is not None:
            return asset
        from sqlalchemy import update

        A = sql.tables().asset
        with lock.writing(self.root), self._write_lock:
            moved: list[tuple[Path, Path]] = []
            try:
                with self.engine.begin() as con:
                    # the row is read again under the catalog's write lock: of several
                    # processes trashing (or restoring) one image, one moves the files and
                    # the others see it done
                    asset = _locked_asset(con, asset_id)
                    if asset.trashedAt is None:
                        for rel in (asset.filePath, asset.maskPath):
                            if not rel:
                                continue
                            src = storage.resolve_inside(self.root, rel)
                            if src.exists():
                                dst = self._trash_path(asset.id, rel)
                                storage.move_within(self.root, src, dst)
                                moved.append((dst, src))
                        con.execute(update(A).where(A.c.id == asset_id)
                                    .values(trashedAt=utc_now()))
            except Exception:
                for dst, src in moved:
                    storage.move_within(self.root, dst, src)
                raise
        self.thumbnails.remove(asset_id)
        return self.get_asset(asset_id)

    def restore(self, asset_id: str) -> AssetInfo:
        asset = self.get_asset(asset_id)
        if asset.trashedAt is None:
            return asset
        from sqlalchemy import update

        A = sql.tables().asset
        with lock.writing(self.root), self._write_lock:
            moved: list[tuple[Path, Path]] = []
            try:
                with self.engine.begin() as con:
                    asset = _locked_asset(con, asset_id)  # see trash
                    if asset.trashedAt is not None:
                        values: dict[str, Any] = {"trashedAt": None}
                        for column in ("filePath", "maskPath"):
                            rel = getattr(asset, column)
                            if not rel:
                                continue
                            src = self._trash_path(asset.id, rel)
                            if not src.exists():
                                continue
                            dst = storage.resolve_inside(self.root, rel)
                            storage.ensure_dir(dst.parent)
                            # its old name if still free, else the next one: claimed
                            # atomically, so a file saved there meanwhile is never replaced
                            stem, ext = storage.split_name(dst.name)
                            final = storage.claim_name(src, dst.parent, stem, ext)
                            moved.append((final, src))
                            if final != dst:
                                values[column] = storage.to_relative(self.root, final)
                        con.execute(update(A).where(A.c.id == asset_id).values(**values))
            except Exception:
                for final, src in moved:
                    storage.move_within(self.root, final, src)
                raise
            _clear_trash_folder(self.root, asset.id)
        return self.get_asset(asset_id)

    def empty_trash(self) -> int:
        """Delete every trashed image for good; returns how many."""
        from sqlalchemy import delete, select

        A = sql.tables().asset
        with self._write_lock:
            with self.engine.begin() as con:
                # read and delete in one write transaction: an image another process restores
                # meanwhile is either restored first (and kept) or deleted first (and its
                # restore finds nothing)
                _begin_immediate(con)
                ids = [r.id for r in con.execute(select(A.c.id).where(A.c.trashedAt.is_not(None)))]
                for start in range(0, len(ids), 500):
                    con.execute(delete(A).where(A.c.id.in_(ids[start:start + 500])))
            for asset_id in ids:
                shutil.rmtree(self.root / storage.TRASH_DIR / asset_id, ignore_errors=True)
                self.thumbnails.remove(asset_id)
        return len(ids)

    def export(self, asset_id: str, dest: str | os.PathLike[str], *,
               strip_metadata: bool = False, force: bool = False) -> Path:
        """Copy an image out of the library (to a folder or a file name).

        Never overwrites an existing file unless `force`, never writes inside the storage root
        and never opens a special file (see `dlx_art.library.export`).

        Raises:
            UsageError: The destination is refused (exists, special, inside the library).
            StorageError: The write failed; nothing is left behind.
        """
        from dlx_art.library.export import export_target, write_export

        asset = self.get_asset(asset_id)
        target = export_target(self.root, dest, self.path_of(asset).name, force=force)
        data = self.read_bytes(asset)
        if strip_metadata:
            data = metadata.strip_metadata(data, asset.fileType)
        return write_export(self.root, target, data, force=force)


def _clear_trash_folder(root: Path, asset_id: str) -> None:
    """Remove an image's trash folder after its restore, only if it is empty.

    Another program may have trashed the image again since the restore committed: its file is
    in that folder now, and removing the whole folder would delete it.
    """
    with contextlib.suppress(OSError):
        os.rmdir(root / storage.TRASH_DIR / asset_id)
