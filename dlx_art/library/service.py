"""The library: projects, images and their lineage, on disk and in the catalog.

One `Library` serves one storage root. It is safe to use from several threads: reads run in
parallel, writes are serialised by a lock (SQLite has a single writer anyway). It hands out
frozen `ProjectInfo` / `AssetInfo` records, never live ORM rows.

Crash safety of adding an image: the mask and the image are written atomically (temporary file,
fsync, rename) *before* the row is committed, and each carries a small `dlx-art` chunk with its
ids. A crash between the rename and the commit leaves a complete file that names its own asset;
`reconcile()` (run when a library opens) adopts such files, so neither a row without a file nor
an unexplained file survives a reopen.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from dlx_art.errors import BadImageFile, DlxError, NotFound, StorageError
from dlx_art.library import db, doctor, lock, metadata, sql, staging, storage
from dlx_art.library.assets import IMAGE_SUFFIXES, PROCESS_IMPORT_MIN, AssetsMixin, ImportReport
from dlx_art.library.backups import (
    BACKUP_EVERY,
    BACKUPS_KEPT,
    BackupsMixin,
    _backup_file,
    _set_catalog_aside,
)
from dlx_art.library.base import _read_json
from dlx_art.library.doctor import ReconcileReport
from dlx_art.library.edits import EditsMixin
from dlx_art.library.integrity import IntegrityMixin, _scandir
from dlx_art.library.projects import (
    MAX_NAME_LENGTH,
    PROJECT_FILE,
    PROJECT_TYPES,
    RENAME_JOURNAL,
    name_key,
    normalise_name,
)
from dlx_art.library.reads import ORDERS, Lineage, fts_query
from dlx_art.library.records import (
    new_id,
    parse_datetime,
    utc_now,
)
from dlx_art.library.staging import content_hash

if TYPE_CHECKING:
    from dlx_art.library.changes import ChangeWatcher

log = logging.getLogger("dlx_art.library")


class Library(AssetsMixin, EditsMixin, IntegrityMixin, BackupsMixin):
    """A storage root: its catalog (`library.sqlite3`) and its project folders.

    Composed of focused parts: `base` (connections, lifecycle), `projects`, `reads`, `edits`
    (favourites, trash, export), `assets` (adding, importing), `integrity` (reconcile, repair)
    and `backups`; opening and rebuilding live here. `changes()` watches the catalog for what
    any process writes (`library.changes`).
    """

    def changes(self) -> ChangeWatcher:
        """A watcher of this catalog's changes made by any process (see `library.changes`)."""
        from dlx_art.library.changes import ChangeWatcher

        return ChangeWatcher(self.db_path)

    @classmethod
    def open(cls, root: str | os.PathLike[str], *, create: bool = True) -> Library:
        """Open (and create, and migrate) the library at `root`. Fast when nothing to migrate."""
        root = Path(root).expanduser()
        if create:
            root.mkdir(parents=True, exist_ok=True)
        elif not root.is_dir():
            raise NotFound(f"There is no library at {root}.")
        root = root.resolve()
        # Held shared for the library's life: maintenance that replaces the catalog (rebuild,
        # restoring a backup, repair) needs it exclusive, so it never swaps the catalog under
        # an open library, and an open waits while such maintenance runs (see `lock`).
        hold = lock.hold_library(root)
        try:
            path = root / storage.DB_NAME
            recovery = doctor.recover_lost_catalog(root) if doctor.catalog_is_lost(root) \
                else None
            if recovery is not None and recovery[0] is not None:
                hold.release()  # the recovered library holds its own
                recovery[0].recovery = recovery[1]
                return recovery[0]
            existed = path.exists()
            if existed and db.needs_migration(path):
                _backup_file(path, root / storage.BACKUPS_DIR, "before-migration")
            engine = None
            if db.needs_migration(path):
                engine = db.create_catalog_engine(path)
                try:
                    db.migrate(engine, path)
                except Exception as exc:
                    engine.dispose()
                    if isinstance(exc, DlxError):
                        raise
                    raise StorageError(f"The catalog {path} could not be opened: {exc}") from exc
            library = cls(root, engine)
            library._hold = hold
        except BaseException:
            hold.release()
            raise
        library._finish_interrupted_rename()
        if recovery is not None:
            library.reconcile(repair=True)  # images and projects made since the backup
            library.recovery = recovery[1]
        return library

    @classmethod
    def rebuild(cls, root: str | os.PathLike[str]) -> tuple[Library, ReconcileReport]:
        """Recreate a lost or damaged catalog from the files alone.

        Projects come from their `project.json` (or the folder name), images from their
        `dlx-art` ids and A1111 `parameters` chunks; trashed images stay in the trash.
        The old catalog, if any, is kept in `.backups/`.

        Raises:
            LibraryLocked: If the window or another process has the library open (after a
                short wait); the message names them.
        """
        root = Path(root).resolve()
        # the library to itself from setting the old catalog aside until the new one is whole
        with lock.exclusive_library(root, "rebuild the catalog"):
            return cls._rebuild(root)

    @classmethod
    def _rebuild(cls, root: Path) -> tuple[Library, ReconcileReport]:
        from sqlalchemy import insert

        P = sql.tables().project
        _set_catalog_aside(root, "before-rebuild")
        library = cls.open(root)
        with library._write_lock, library.engine.begin() as con:
            for entry in _scandir(root / storage.PROJECTS_DIR):
                if not entry.is_dir():
                    continue
                info = _read_json(Path(entry.path) / PROJECT_FILE)
                name = str(info.get("name") or entry.name)
                project_id = str(info.get("id") or new_id())
                created = parse_datetime(info.get("createdAt")) or utc_now()
                con.execute(insert(P).values(
                    id=project_id, name=name, description=info.get("description"),
                    type=info.get("type") if info.get("type") in PROJECT_TYPES else "art",
                    status="archived" if info.get("status") == "archived" else "active",
                    createdAt=created, updatedAt=created, folder=entry.name,
                    nameKey=name_key(name), lastOpenedAt=None))
        report = library.reconcile(repair=True)
        library._rebuild_trash()
        return library, report

    def _rebuild_trash(self) -> None:
        from sqlalchemy import insert, select

        A = sql.tables().asset
        P = sql.tables().project
        trash = self.root / storage.TRASH_DIR
        with self.engine.connect() as con:
            folders = {pid: f for pid, f in con.execute(select(P.c.id, P.c.folder))}
            ids = {i for (i,) in con.execute(select(A.c.id))}
        for entry in _scandir(trash):
            if not entry.is_dir() or entry.name in ids or entry.name == "incomplete":
                continue
            for file_entry in _scandir(Path(entry.path)):
                try:
                    probe, data = metadata.probe_file(Path(file_entry.path))
                except (BadImageFile, OSError):
                    continue
                own = probe.dlx_ids
                if own is None or own.asset_id != entry.name or own.project_id not in folders \
                        or file_entry.name.endswith("-mask.png"):
                    continue
                rel = (f"{storage.PROJECTS_DIR}/{folders[own.project_id]}/{storage.ASSETS_DIR}/"
                       f"{storage.IMAGES}/{file_entry.name}")
                values = {"prompt": "", "model": "",
                          **staging.values_from_parameters(probe.parameters)}
                with self._write_lock, self.engine.begin() as con:
                    con.execute(insert(A).values(
                        id=own.asset_id, projectId=own.project_id, filePath=rel,
                        fileType=staging.file_type(probe.format), parentId=own.parent_id,
                        isFavorite=False, createdAt=utc_now(), trashedAt=utc_now(),
                        width=probe.width, height=probe.height, fileSize=len(data),
                        contentHash=content_hash(data), approximate=False, **values))

    def stats(self) -> dict[str, int]:
        (projects, assets, trashed), = self._read(
            'SELECT (SELECT count(*) FROM "Project"), '
            '(SELECT count(*) FROM "ArtAsset" WHERE "trashedAt" IS NULL), '
            '(SELECT count(*) FROM "ArtAsset" WHERE "trashedAt" IS NOT NULL)')
        return {"projects": projects, "assets": assets, "trashed": trashed}


# Where the parts of the library used to live: keep `from dlx_art.library.service import ...`.
__all__ = [
    "BACKUPS_KEPT",
    "BACKUP_EVERY",
    "IMAGE_SUFFIXES",
    "MAX_NAME_LENGTH",
    "ORDERS",
    "PROCESS_IMPORT_MIN",
    "PROJECT_FILE",
    "PROJECT_TYPES",
    "RENAME_JOURNAL",
    "ImportReport",
    "Library",
    "Lineage",
    "ReconcileReport",
    "content_hash",
    "fts_query",
    "name_key",
    "normalise_name",
]
