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

import contextlib
import gc
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlx_art.errors import BadImageFile, DlxError, InvalidName, NotFound, StorageError, UsageError
from dlx_art.library import db, doctor, lock, metadata, staging, storage, workers
from dlx_art.library.doctor import ReconcileReport
from dlx_art.library.records import (
    ASSET_SELECT,
    PROJECT_SELECT,
    AssetInfo,
    ProjectInfo,
    new_id,
    parse_datetime,
    utc_now,
)
from dlx_art.library.search import conditions as search_conditions
from dlx_art.library.staging import Prepared, content_hash

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from dlx_art.library.thumbnails import RenderProcesses

log = logging.getLogger("dlx_art.library")

PROJECT_TYPES = ("art", "unified", "dev")
PROJECT_FILE = "project.json"
RENAME_JOURNAL = ".pending-rename.json"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
MAX_NAME_LENGTH = 200
BACKUPS_KEPT = 7
BACKUP_EVERY = timedelta(hours=24)
#: From this many files an import stages them in worker processes rather than threads.
PROCESS_IMPORT_MIN = 400
ORDERS = ("newest", "oldest", "favorites")

# SQLAlchemy and the SQLModel tables cost about a second to import, so they are loaded only
# when the catalog is first written to (or migrated); every read uses plain sqlite3.
A: Any = None
P: Any = None
delete = func = insert = select = text = update = None  # type: ignore[assignment]


def _load_sql() -> None:
    global A, P, delete, func, insert, select, text, update
    if A is not None:
        return
    import sqlalchemy

    from dlx_art.library.models import ArtAsset, Project

    delete, func, insert = sqlalchemy.delete, sqlalchemy.func, sqlalchemy.insert
    select, text, update = sqlalchemy.select, sqlalchemy.text, sqlalchemy.update
    A, P = ArtAsset.__table__, Project.__table__
    # SQLAlchemy and SQLModel add ~100,000 objects that live as long as the process. Without
    # this, every full garbage collection walks them all (60-80 ms holding the GIL): a window
    # freezes, a worker stalls. gc.freeze() moves what exists now out of the collector's scans.
    gc.freeze()


# --- reports ------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    imported: list[AssetInfo] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # file names already in the project
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)

    def to_json(self) -> dict[str, object]:
        return {
            "imported": [a.to_json() for a in self.imported],
            "duplicates": self.duplicates,
            "rejected": [{"path": p, "reason": r} for p, r in self.rejected],
        }


@dataclass(frozen=True)
class Lineage:
    ancestors: list[AssetInfo]  # nearest parent first
    descendants: list[tuple[AssetInfo, int]]  # (asset, depth) in tree order


# --- helpers ------------------------------------------------------------------------------------


def normalise_name(name: str) -> str:
    """The project name as stored: NFC, outer white space removed; rejects unusable names."""
    if not isinstance(name, str):
        raise InvalidName("A project name must be text.")
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not cleaned:
        raise InvalidName("A project name cannot be empty.")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidName(f"A project name can have at most {MAX_NAME_LENGTH} characters.")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in cleaned):
        raise InvalidName("A project name cannot contain control characters.")
    return cleaned


def name_key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def fts_query(text_: str) -> str | None:
    """Turn what a person typed into an FTS5 query: every word must appear (as a prefix)."""
    words = re.findall(r"\w+", text_, flags=re.UNICODE)
    if not words:
        return None
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words)


# --- the library --------------------------------------------------------------------------------


class Library:
    """A storage root: its catalog (`library.sqlite3`) and its project folders."""

    def __init__(self, root: Path, engine: Engine | None = None) -> None:
        self.root = root
        self._engine = engine
        self._engine_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self.thumbnails = _lazy_thumbnails(root)
        self._write_lock = threading.RLock()
        self._names: dict[Path, tuple[int | None, set[str]]] = {}  # see _taken
        self._trusted: dict[Path, int] = {}  # folders imports are writing into: see _taken
        self._closed = False
        #: A message for the person when opening had to recover the catalog (see `open`).
        self.recovery: str | None = None
        self._hold: lock.LibraryHold | None = None  # the shared library lock (see `open`)

    # --- opening ------------------------------------------------------------------------------

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
                _load_sql()
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

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine for writes (made on first use)."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    _load_sql()
                    self._engine = db.create_catalog_engine(self.db_path)
        return self._engine

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query on this thread's plain sqlite3 connection."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self._closed:
                raise StorageError("The library is closed.")
            connection = db.read_connection(self.db_path)
            self._local.connection = connection
            with self._engine_lock:
                self._readers.append(connection)
        try:
            return connection.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"The catalog could not be read: {exc}.") from exc

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._engine is not None:
                self._engine.dispose()
            with self._engine_lock:
                for connection in self._readers:
                    # check_same_thread=False, so any thread may close it
                    with contextlib.suppress(sqlite3.ProgrammingError):
                        connection.close()
                self._readers.clear()
            if self._hold is not None:
                self._hold.release()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def db_path(self) -> Path:
        return self.root / storage.DB_NAME

    # --- projects -----------------------------------------------------------------------------

    def list_projects(self, *, include_archived: bool = False) -> list[ProjectInfo]:
        """Projects, most recently used first."""
        where = "" if include_archived else "WHERE \"status\" != 'archived' "
        rows = self._read(f'SELECT {PROJECT_SELECT} FROM "Project" {where}'
                          'ORDER BY coalesce("lastOpenedAt", "createdAt") DESC, "name"')
        return [ProjectInfo.from_tuple(r) for r in rows]

    def get_project(self, name_or_id: str) -> ProjectInfo:
        """A project by id or by name (case-insensitive)."""
        rows = self._read(f'SELECT {PROJECT_SELECT} FROM "Project" WHERE "id" = ?', (name_or_id,))
        if not rows:
            key = name_key(name_or_id.strip())
            rows = self._read(f'SELECT {PROJECT_SELECT} FROM "Project" WHERE "nameKey" = ?',
                              (key,))
        if not rows:  # rows written by other studios may lack nameKey
            rows = [r for r in self._read(f'SELECT {PROJECT_SELECT} FROM "Project" '
                                          'WHERE "nameKey" IS NULL')
                    if name_key(r[1]) == key]
        if not rows:
            raise NotFound(f"There is no project called {name_or_id!r}.")
        return self._ensure_folder(ProjectInfo.from_tuple(rows[0]))

    def create_project(
        self, name: str, *, type: str = "art", description: str | None = None
    ) -> ProjectInfo:
        name = normalise_name(name)
        if type not in PROJECT_TYPES:
            raise UsageError(f"A project type is one of {', '.join(PROJECT_TYPES)}, not {type!r}.")
        folder: str | None = None
        try:
            with self._write_lock, self.engine.begin() as con:
                _begin_immediate(con)  # two processes creating one name: the second is refused
                self._check_name_free(con, name)
                folder = self._new_folder(con, name)
                now = utc_now()
                values = {
                    "id": new_id(), "name": name, "description": description, "type": type,
                    "status": "active", "createdAt": now, "updatedAt": now, "folder": folder,
                    "nameKey": name_key(name), "lastOpenedAt": now,
                }
                for kind in (storage.IMAGES, storage.MASKS):
                    storage.ensure_dir(storage.asset_dir(self.root, folder, kind))
                con.execute(insert(P).values(**values))
                project = ProjectInfo.from_row(_Obj(values))
        except BaseException:
            if folder is not None:  # ours alone (claimed just now): leave nothing half-made
                shutil.rmtree(storage.project_dir(self.root, folder), ignore_errors=True)
            raise
        self._write_project_file(project)
        log.info("created project %s (%s)", project.name, project.id)
        return project

    def rename_project(self, name_or_id: str, new_name: str) -> ProjectInfo:
        """Rename a project and its folder; the catalog paths follow in the same step.

        A journal file records the intent first, so a crash at any point is finished (or
        undone) the next time the library opens.
        """
        project = self.get_project(name_or_id)
        new_name = normalise_name(new_name)
        # Renames are serialised across processes (they share the journal); the new folder
        # name is claimed with an exclusive mkdir, so a project created meanwhile by another
        # process never shares it.
        with lock.rename_lock(self.root), lock.writing(self.root), self._write_lock:
            project = self.get_project(project.id)  # as it is now that we have the lock
            with lock.folders_lock(self.root):
                with self.engine.connect() as con:
                    self._check_name_free(con, new_name, except_id=project.id)
                    taken = [f for (f,) in con.execute(select(P.c.folder)
                                                       .where(P.c.id != project.id)) if f]
                old_folder = project.folder or ""
                others = taken + self._disk_folders(exclude=old_folder)
                new_folder = storage.unique_folder_name(new_name, others)
                if storage._name_key(new_folder) != storage._name_key(old_folder):
                    new_folder = storage.claim_folder(self.root / storage.PROJECTS_DIR,
                                                      new_name, others)
            journal = self.root / RENAME_JOURNAL
            intent = {"projectId": project.id, "name": new_name, "old": old_folder,
                      "new": new_folder}
            _write_json(journal, intent)
            try:
                self._apply_rename(intent)
            except Exception:
                # e.g. a read-only or full catalog: the folder moved but the rows could not
                # follow. Move it back now rather than leave the catalog pointing at nothing
                # until the journal is replayed.
                self._undo_rename(intent)
                journal.unlink(missing_ok=True)
                raise
            journal.unlink(missing_ok=True)
        renamed = self.get_project(project.id)
        self._write_project_file(renamed)
        return renamed

    def set_archived(self, name_or_id: str, archived: bool) -> ProjectInfo:
        project = self.get_project(name_or_id)
        with self._write_lock, self.engine.begin() as con:
            con.execute(update(P).where(P.c.id == project.id).values(
                status="archived" if archived else "active", updatedAt=utc_now()))
        updated = self.get_project(project.id)
        self._write_project_file(updated)
        return updated

    def touch_project(self, project_id: str) -> None:
        """Mark a project as just used (for the most-recently-used order)."""
        with self._write_lock, self.engine.begin() as con:
            con.execute(update(P).where(P.c.id == project_id).values(lastOpenedAt=utc_now()))

    def _check_name_free(self, con: Any, name: str, except_id: str | None = None) -> None:
        key = name_key(name)
        for row in con.execute(select(P.c.id, P.c.name)):
            if row.id != except_id and name_key(row.name) == key:
                raise InvalidName(f"A project called {row.name!r} already exists.")

    def _new_folder(self, con: Any, name: str) -> str:
        """Create a new project folder for `name` and return its name.

        The folder is claimed with `storage.claim_folder` (an exclusive mkdir), so processes
        creating projects with clashing names at once never share one folder.
        """
        with lock.folders_lock(self.root):
            taken = [f for (f,) in con.execute(select(P.c.folder)) if f]
            return storage.claim_folder(self.root / storage.PROJECTS_DIR, name,
                                        taken + self._disk_folders())

    def _disk_folders(self, exclude: str = "") -> list[str]:
        base = self.root / storage.PROJECTS_DIR
        if not base.is_dir():
            return []
        return [e.name for e in os.scandir(base) if e.name != exclude]

    def _ensure_folder(self, project: ProjectInfo) -> ProjectInfo:
        """Give a project made by another studio (no folder yet) its folder and name key."""
        if project.folder:
            return project
        with self._write_lock, self.engine.begin() as con:
            _begin_immediate(con)
            current = con.execute(select(P.c.folder).where(P.c.id == project.id)).scalar()
            if current:  # another process gave it one meanwhile
                folder = current
            else:
                folder = self._new_folder(con, project.name)
                con.execute(update(P).where(P.c.id == project.id).values(
                    folder=folder, nameKey=name_key(project.name)))
        for kind in (storage.IMAGES, storage.MASKS):
            storage.ensure_dir(storage.asset_dir(self.root, folder, kind))
        return self.get_project(project.id)

    def _apply_rename(self, intent: dict[str, str]) -> None:
        old = storage.project_dir(self.root, intent["old"]) if intent["old"] else None
        new = storage.project_dir(self.root, intent["new"])
        if old is not None and old.exists() and not new.exists():
            storage.move_within(self.root, old, new)
        elif old is not None and old.exists() and _empty_dir(new) and \
                not os.path.samefile(old, new):
            storage.move_onto_claim(self.root, old, new)  # the empty folder rename_project claimed
        else:
            new.mkdir(parents=True, exist_ok=True)
        old_prefix = f"{storage.PROJECTS_DIR}/{intent['old']}/"
        new_prefix = f"{storage.PROJECTS_DIR}/{intent['new']}/"
        with self.engine.begin() as con:
            con.execute(update(P).where(P.c.id == intent["projectId"]).values(
                name=intent["name"], nameKey=name_key(intent["name"]), folder=intent["new"],
                updatedAt=utc_now()))
            for column in ("filePath", "maskPath"):
                col = A.c[column]
                con.execute(
                    update(A)
                    .where(A.c.projectId == intent["projectId"], col.startswith(old_prefix,
                                                                               autoescape=True))
                    .values({column: new_prefix + func.substr(col, len(old_prefix) + 1)})
                )

    def _undo_rename(self, intent: dict[str, str]) -> None:
        if not intent["old"]:
            return
        old = storage.project_dir(self.root, intent["old"])
        new = storage.project_dir(self.root, intent["new"])
        if new.exists() and not old.exists():
            storage.move_within(self.root, new, old)

    def _finish_interrupted_rename(self) -> None:
        journal = self.root / RENAME_JOURNAL
        if not journal.exists():
            return
        # A journal another process is working on is not interrupted: finish it only when no
        # rename is running (the rename lock is free without waiting).
        with lock.rename_lock(self.root, wait=False) as free:
            if not free or not journal.exists():
                return
            try:
                intent = json.loads(journal.read_text(encoding="utf-8"))
                log.warning("finishing a project rename interrupted by a crash: %s", intent)
                self._apply_rename(intent)
                journal.unlink()
                self._write_project_file(self.get_project(intent["projectId"]))
            except (OSError, ValueError, KeyError, DlxError) as exc:
                log.error("could not finish the interrupted rename in %s: %s", journal, exc)

    def _write_project_file(self, project: ProjectInfo) -> None:
        """`project.json` in the project folder lets `rebuild` restore names and settings."""
        if not project.folder:
            return
        folder = storage.project_dir(self.root, project.folder)
        folder.mkdir(parents=True, exist_ok=True)
        data = {k: project.to_json()[k] for k in ("id", "name", "description", "type",
                                                   "status", "createdAt")}
        _write_json(folder / PROJECT_FILE, data)

    # --- reading assets -----------------------------------------------------------------------

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
        # written exactly as in the partial indexes' WHERE clauses, so SQLite uses them
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

    # --- adding assets ------------------------------------------------------------------------

    def add_image(
        self,
        project_id: str,
        data: bytes,
        *,
        values: dict[str, Any] | None = None,
        mask: bytes | None = None,
        file_stem: str | None = None,
        thumbnail: bool = False,
    ) -> AssetInfo:
        """Store one image (and its mask) in a project and catalogue it.

        `values` holds catalog fields (prompt, negative, model, seed, steps, cfgScale, kind,
        sampler, scheduler, denoisingStrength, backend, backendReason, infotext, parentId,
        approximate). PNG files get the A1111 `parameters` chunk (built from `values` when the
        image carries none) and the `dlx-art` ids chunk, without re-encoding the pixels.
        """
        project = self.get_project(project_id)
        probe = metadata.probe_image(data, "image")
        if project.folder is None:  # pragma: no cover - get_project always gives one
            raise StorageError("The project has no folder.")
        prepared = staging.prepare(project.id, project.folder, probe, data, values or {}, mask,
                                   file_stem, "image")
        # a writer from claiming its names to committing its row (see `lock.writing`)
        with lock.writing(self.root), self._write_lock:
            self._write_files(prepared)
            try:
                with self.engine.begin() as con:
                    con.execute(insert(A).values(**prepared.row))
            except Exception as exc:
                prepared.remove_files()
                raise StorageError(f"The image could not be catalogued: {exc}") from exc
        asset = AssetInfo.from_row(_Obj(_with_defaults(prepared.row)))
        if thumbnail:
            self.make_thumbnail(asset)
        return asset

    def _set_paths(self, prepared: Prepared) -> None:
        """Put the claimed files' catalog paths into the row."""
        assert prepared.image_path is not None
        # built from parts already checked (a single safe folder name, a safe file name):
        # cheaper than resolving the path again
        prefix = f"{storage.PROJECTS_DIR}/{prepared.folder}/{storage.ASSETS_DIR}"
        prepared.row["filePath"] = f"{prefix}/{storage.IMAGES}/{prepared.image_path.name}"
        prepared.row["maskPath"] = None
        if prepared.mask_path is not None:
            prepared.row["maskPath"] = f"{prefix}/{storage.MASKS}/{prepared.mask_path.name}"

    def _taken(self, folder: Path) -> set[str]:
        """The names in `folder`, listed once and then kept up to date: a hint, never a guard.

        Listing a folder of 40,000 images costs tens of milliseconds, far more than the save
        itself. The list is read again when the folder changed behind our back (its
        modification time differs from the one after our own last write). While an import
        stages files into a folder (`_trusted`: its workers' temporary files keep changing that
        time), the list is kept as it is. Every name tried is added to it by
        `storage.claim_name`, which claims each name atomically and moves on to the next one
        when another process (unknown to this list) holds it: a stale list costs a retry, never
        an overwritten file.
        """
        cached = self._names.get(folder)
        if cached is not None and folder in self._trusted:
            return cached[1]
        mtime = _mtime_ns(folder)
        if cached is None or cached[0] != mtime:
            cached = (mtime, storage.taken_names(folder))
            self._names[folder] = cached
        return cached[1]

    def _written(self, prepared: Prepared) -> None:
        """Remember the folders' times after our own writes (see `_taken`)."""
        for path in (prepared.image_path, prepared.mask_path):
            if path is not None and path.parent in self._names and \
                    path.parent not in self._trusted:
                self._names[path.parent] = (_mtime_ns(path.parent),
                                            self._names[path.parent][1])

    def _write_files(self, prepared: Prepared) -> None:
        """Write an image (and mask) durably under names claimed for it; on failure neither is left.

        Each file is written whole to a temporary file, fsynced, and only then given a free name
        with `storage.claim_name` (atomic across processes; a clash moves on to the next name).
        The image is claimed first and its mask is named after it (``<image>-mask.png``), so
        that `reconcile` can pair them if a crash comes before the row is committed. The row's
        paths are set here. Call with `lock.writing` held (until the row is committed) and the
        write lock.
        """
        images = storage.asset_dir(self.root, prepared.folder, storage.IMAGES)
        masks = storage.asset_dir(self.root, prepared.folder, storage.MASKS)
        try:
            storage.ensure_dir(images)
            prepared.temp_path = storage.write_temp(
                images, f"{prepared.stem}.{prepared.row['fileType']}", prepared.image_bytes())
            prepared.image_path = storage.claim_name(
                prepared.temp_path, images, prepared.stem, prepared.row["fileType"],
                taken=self._taken(images))
            prepared.temp_path = None
            if prepared.mask is not None and prepared.mask_type is not None:
                stem = f"{prepared.image_path.stem}-mask"
                storage.ensure_dir(masks)
                prepared.temp_path = storage.write_temp(
                    masks, f"{stem}.{prepared.mask_type}", prepared.mask)
                prepared.mask_path = storage.claim_name(
                    prepared.temp_path, masks, stem, prepared.mask_type, taken=self._taken(masks))
                prepared.temp_path = None
            for folder in {p.parent for p in (prepared.image_path, prepared.mask_path) if p}:
                storage._fsync_dir(folder)  # the new names survive a power cut
        except BaseException:
            prepared.remove_files()
            for folder in (images, masks):
                if folder not in self._trusted:
                    self._names.pop(folder, None)  # list it again next time
            raise
        self._set_paths(prepared)
        self._written(prepared)

    def import_paths(
        self,
        project_id: str,
        paths: Iterable[str | os.PathLike[str]],
        *,
        on_progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        batch: int = 256,
    ) -> ImportReport:
        """Import image files and folders (recursively) into a project.

        Broken, truncated, empty, non-image and decompression-bomb files are rejected with a
        message naming the file; the others are imported with the metadata found in them. A
        file whose picture is already in the project (same content hash) is reported as a
        duplicate and not copied again; of two equal files in one import the first one listed
        is kept.

        Work is pipelined in batches: workers (processes from `PROCESS_IMPORT_MIN` files, else
        threads; see `staging`) read, check and stage the files of batch k+1 while the kernel
        is asked to read batch k+2 ahead; this thread names batch k's files and a flusher
        thread makes them durable; a batch's rows commit only after its files are on disk. A
        crash in between leaves temporary files (removed by `reconcile`) or complete files that
        name their own asset (adopted by it).
        Stopping (`should_stop`) or a failure keeps the batches already committed and removes
        the files of the ones in flight.
        """
        project = self.get_project(project_id)
        if project.folder is None:  # pragma: no cover - get_project always gives one
            raise StorageError("The project has no folder.")
        if threading.current_thread() is not threading.main_thread():
            # a background import: let an interactive thread go first
            workers.lower_thread_priority()
        files = list(_expand(paths))
        report = ImportReport()
        in_catalog = frozenset(h for (h,) in self._read(
            'SELECT "contentHash" FROM "ArtAsset" WHERE "projectId" = ? AND "contentHash" IS '
            "NOT NULL", (project.id,)))
        images = storage.asset_dir(self.root, project.folder, storage.IMAGES)
        storage.ensure_dir(images)
        with self._write_lock:
            self._taken(images)  # listed once here; _name_staged keeps it current
            self._trusted[images] = self._trusted.get(images, 0) + 1
        try:
            # a writer for the whole run: its staged temporary files and its named files
            # whose batch is not committed yet are not another reconcile's to clean or adopt
            with lock.writing(self.root):
                self._import_batches(project, images, files, in_catalog, report, batch,
                                     on_progress, should_stop)
        finally:
            with self._write_lock:
                self._trusted[images] -= 1
                if not self._trusted[images]:
                    del self._trusted[images]
                    if images in self._names:
                        self._names[images] = (_mtime_ns(images), self._names[images][1])
        for path, reason in report.rejected:
            log.info("import rejected %s: %s", path, reason)
        return report

    def _import_batches(self, project: ProjectInfo, images: Path, files: list[Path],
                        in_catalog: frozenset[str], report: ImportReport, size: int,
                        on_progress: Callable[[int, int], None] | None,
                        should_stop: Callable[[], bool] | None) -> None:
        assert project.folder is not None
        batches = [files[i:i + size] for i in range(0, len(files), size)]
        processes = len(files) >= PROCESS_IMPORT_MIN and workers.processes_allowed()
        task = 16 if processes else 4  # files per worker task
        known = None if processes else in_catalog  # a worker process got it at start-up
        seen: set[str] = set()  # content hashes imported by this run, in file order
        handed_off: set[int] = set()  # ids of items whose batch reached the flusher
        flushing: tuple[list[Prepared], Future[None]] | None = None
        current: list[tuple[list[Path], Future[list[Prepared | str | None]]]] = []
        pending: list[tuple[list[Path], Future[list[Prepared | str | None]]]] = []
        done = 0
        with _import_executor(processes, in_catalog) as pool, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlx-import-ahead") as ahead, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlx-import-flush") as flusher:

            def submit(index: int) -> list[tuple[list[Path], Future[list[Prepared | str | None]]]]:
                if index + 1 < len(batches):
                    ahead.submit(_read_ahead, batches[index + 1])
                if index >= len(batches):
                    return []
                chunk = batches[index]
                return [(chunk[i:i + task],
                         pool.submit(staging.stage_files, chunk[i:i + task], project.id,
                                     project.folder, images, known))
                        for i in range(0, len(chunk), task)]

            try:
                pending = submit(0)
                for index in range(len(batches)):
                    stop = bool(should_stop and should_stop())
                    current, pending = pending, [] if stop else submit(index + 1)
                    written: list[Prepared] = []
                    for paths_, future in current:
                        for path, outcome in zip(paths_, future.result(), strict=True):
                            done += 1
                            if outcome is None:
                                report.duplicates.append(str(path))
                            elif isinstance(outcome, str):
                                report.rejected.append((str(path), outcome))
                            elif outcome.row["contentHash"] in seen:
                                outcome.remove_files()  # an equal file listed earlier won
                                report.duplicates.append(str(path))
                            else:
                                seen.add(outcome.row["contentHash"])
                                self._name_staged(outcome)
                                written.append(outcome)
                    if flushing is not None:
                        report.imported += self._catalog_batch(*flushing)
                        flushing = None
                    if written:
                        handed_off.update(id(item) for item in written)
                        flushing = (written, flusher.submit(_flush_to_disk,
                                                            [i.image_path for i in written]))
                    current = []
                    if on_progress:
                        on_progress(done, len(files))
                    if stop:
                        break
            except DlxError:
                raise
            except BrokenExecutor as exc:
                raise StorageError("Import failed: a worker process stopped unexpectedly "
                                   f"({exc}).") from exc
            except Exception as exc:
                raise StorageError(f"Import failed while saving: {exc}") from exc
            finally:
                _discard_in_flight(current + pending, handed_off)
                if flushing is not None:  # written before the stop or failure: still catalogued
                    report.imported += self._catalog_batch(*flushing)

    def _name_staged(self, item: Prepared) -> None:
        """Give a staged import its final name in the project's folder.

        The name is claimed atomically (`storage.claim_name`): if another process took it
        since the folder was listed, the next free name is used, never the other's file.

        Raises:
            StorageError: If the rename fails; the staged file is removed.
        """
        with self._write_lock:
            assert item.temp_path is not None
            images = storage.asset_dir(self.root, item.folder, storage.IMAGES)
            try:
                item.image_path = storage.claim_name(item.temp_path, images, item.stem,
                                                     item.row["fileType"],
                                                     taken=self._taken(images))
            except StorageError:
                item.remove_files()
                raise
            item.temp_path = None
            self._set_paths(item)

    def _catalog_batch(self, written: list[Prepared], flushed: Future[None]) -> list[AssetInfo]:
        """Commit a written batch's rows once its files are durable; else remove the files."""
        try:
            flushed.result()
            with self._write_lock, self.engine.begin() as con:
                con.execute(insert(A), [i.row for i in written])
        except Exception as exc:
            for item in written:
                item.remove_files()
            if isinstance(exc, DlxError):
                raise
            raise StorageError(f"Import failed while saving: {exc}") from exc
        return [AssetInfo.from_row(_Obj(_with_defaults(i.row))) for i in written]

    # --- changing assets ----------------------------------------------------------------------

    def set_favorite(self, asset_id: str, on: bool = True) -> AssetInfo:
        self.get_asset(asset_id)
        with self._write_lock, self.engine.begin() as con:
            con.execute(update(A).where(A.c.id == asset_id).values(isFavorite=bool(on)))
        return self.get_asset(asset_id)

    def trash(self, asset_id: str) -> AssetInfo:
        """Move an image (and its mask) into the trash; `restore` brings it back."""
        asset = self.get_asset(asset_id)
        if asset.trashedAt is not None:
            return asset
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
            shutil.rmtree(self.root / storage.TRASH_DIR / asset.id, ignore_errors=True)
        return self.get_asset(asset_id)

    def empty_trash(self) -> int:
        """Delete every trashed image for good; returns how many."""
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

    def _trash_path(self, asset_id: str, rel: str) -> Path:
        name = rel.rsplit("/", 1)[-1]
        return self.root / storage.TRASH_DIR / asset_id / storage.safe_file_name(name)

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

    # --- thumbnails ---------------------------------------------------------------------------

    def make_thumbnail(self, asset: AssetInfo, renderer: RenderProcesses | None = None) -> Path:
        """The asset's cached thumbnail, made first if needed (by `renderer`'s processes)."""
        cached = self.thumbnails.get(asset.id)
        if cached is not None:
            return cached
        if renderer is not None:
            return renderer.make(self.thumbnails, asset.id, self.path_of(asset))
        return self.thumbnails.make(asset.id, self.path_of(asset))

    # --- integrity ----------------------------------------------------------------------------

    def exclusive(self, action: str) -> contextlib.AbstractContextManager[None]:
        """Have the library to this thread alone for maintenance (see `lock.exclusive_library`).

        For repairs that change the catalog at large (`reconcile(repair=True)` takes it
        itself; nesting is fine). Everyday writes do not need it.

        Args:
            action: What would be refused, for the message (``"repair the library"``).

        Raises:
            LibraryLocked: If the window or another process keeps the library open.
        """
        return lock.exclusive_library(self.root, action)

    def reconcile(self, *, repair: bool = False) -> ReconcileReport:
        """Compare catalog and disk; adopt files our own interrupted saves left behind.

        Always: leftover temporary files are removed; complete files that carry this library's
        ids but have no row (a crash between writing and committing) are catalogued again;
        masks of saves that never finished are moved to the trash. Rows whose file is gone
        are reported (and flagged with `missingAt` when `repair`). With `repair`, other
        image files found in project folders are imported with their metadata.

        The checks in `doctor` run too: rows sharing a file or whose file carries another
        image's id, images with no project, project folders with no row (with `repair`:
        lost rows are marked, folders become projects, images join their folder's project).

        Several processes may write the library meanwhile. A temporary file may be another
        process's save in progress, and a complete file without a row may be one it has named
        but not yet catalogued (adopting it would make that process's insert fail and remove
        the file). So removing, adopting, quarantining and flagging happen only when no writer
        anywhere is between claiming and committing (`lock.maintenance`, taken without
        waiting). Otherwise they are left for a later run, `deferred` says so, and files that
        carry our own ids are not reported as orphans. `repair` changes the catalog at large,
        so it needs the library to itself (`lock.exclusive_library`) and refuses otherwise.

        Raises:
            LibraryLocked: With `repair`, if the window or another process has the library
                open.
        """
        if repair:
            with lock.exclusive_library(self.root, "repair the library"):
                return self._reconcile(repair=True)
        return self._reconcile(repair=False)

    def _reconcile(self, *, repair: bool) -> ReconcileReport:
        with lock.maintenance(self.root) as free:
            report = self._reconcile_locked(repair=repair, free=free)
        if not free:
            log.info("reconcile: other writers are busy; cleanup and adoption left for later")
        return report

    def _reconcile_locked(self, *, repair: bool, free: bool) -> ReconcileReport:
        report = ReconcileReport(deferred=not free)
        if repair:
            doctor.adopt_folders(self, report)
        with self.engine.connect() as con:
            rows = con.execute(select(A.c.id, A.c.filePath, A.c.maskPath, A.c.trashedAt,
                                      A.c.missingAt, A.c.projectId)).all()
            folders = {f: pid for pid, f in con.execute(select(P.c.id, P.c.folder)) if f}
        report.checked_rows = len(rows)
        report.unlisted_folders = doctor.unlisted_folders(self.root, folders)
        doctor.assign_unowned(self, rows, folders, report, repair)
        on_disk: set[str] = set()
        base = self.root / storage.PROJECTS_DIR
        for folder_entry in _scandir(base):
            if not folder_entry.is_dir():
                continue
            for kind in (storage.IMAGES, storage.MASKS):
                directory = Path(folder_entry.path) / storage.ASSETS_DIR / kind
                for entry in _scandir(directory):
                    if not entry.is_file():
                        continue
                    rel = f"{storage.PROJECTS_DIR}/{folder_entry.name}/{storage.ASSETS_DIR}/" \
                          f"{kind}/{entry.name}"
                    if storage.is_temp_file(entry.name):
                        if free:  # else it may be a live writer's file
                            Path(entry.path).unlink(missing_ok=True)
                            report.cleaned.append(rel)
                        continue
                    report.checked_files += 1
                    on_disk.add(rel)
        ids = {row.id for row in rows}
        missing_now = []
        for row in rows:
            if row.trashedAt is None and row.filePath not in on_disk:
                report.missing.append(row.id)
                missing_now.append(row.id)
        lost = doctor.check_ownership(self, rows, on_disk, report, repair)
        report.missing += report.lost  # their own picture is gone: a missing file, flagged
        referenced: dict[str, str] = {}
        for row in rows:
            if row.id not in lost:
                referenced[row.filePath] = row.id
            if row.maskPath:
                referenced[row.maskPath] = row.id
        orphans = sorted(p for p in on_disk if p not in referenced)
        orphan_images = [p for p in orphans if f"/{storage.IMAGES}/" in p]
        orphan_masks = {p for p in orphans if f"/{storage.MASKS}/" in p}
        if not free:  # our own files without a row may be writes in progress: leave them
            report.orphans += [r for r in orphans if not _carries_own_ids(self.root / r)]
            missing_now = []
        for rel in orphan_images if free else []:
            adopted = self._adopt(rel, folders, ids, orphan_masks, repair)
            if adopted is not None:
                report.adopted.append(adopted)
                ids.add(adopted)
            else:
                report.orphans.append(rel)
        for rel in sorted(orphan_masks) if free else []:
            if _carries_own_ids(self.root / rel):
                self._quarantine(rel)
                report.quarantined.append(rel)
            else:
                report.orphans.append(rel)
        with self._write_lock, self.engine.begin() as con:
            if repair and missing_now:
                con.execute(update(A).where(A.c.id.in_(missing_now), A.c.missingAt.is_(None))
                            .values(missingAt=utc_now()))
            back = [r.id for r in rows if r.missingAt is not None and r.filePath in on_disk
                    and r.id not in lost]
            if back:
                con.execute(update(A).where(A.c.id.in_(back)).values(missingAt=None))
        report.integrity = self._integrity()
        report.search_repaired = self._repair_search_index()
        log.info("reconcile: %s", report.summary())
        return report

    def _adopt(self, rel: str, folders: dict[str, str], ids: set[str], orphan_masks: set[str],
               repair: bool) -> str | None:
        path = self.root / rel
        folder = rel.split("/")[1]
        project_id = folders.get(folder)
        try:
            probe, data = metadata.probe_file(path)
        except (BadImageFile, OSError):
            return None
        own = probe.dlx_ids
        copy = own is not None and own.asset_id in ids  # a copy of a catalogued image
        if project_id is None or ((own is None or copy) and not repair):
            return None
        values: dict[str, Any] = {"kind": "import"}
        values.update(staging.values_from_parameters(probe.parameters))
        asset_id = new_id()
        if own is not None and not copy:
            asset_id = own.asset_id
            values["parentId"] = own.parent_id
            values["kind"] = "img2img" if own.parent_id else "txt2img"
        elif copy and probe.format == "png":
            # it becomes an image of its own: its file must carry its own id, not the original's
            data = metadata.set_png_text(data, {metadata.DLX_CHUNK: metadata.encode_dlx_ids(
                asset_id, project_id, None)})
            storage.atomic_write(path, data, overwrite=True)
        mask_rel = rel.replace(f"/{storage.IMAGES}/", f"/{storage.MASKS}/", 1)
        mask_rel = mask_rel.rsplit(".", 1)[0] + "-mask.png"
        if mask_rel in orphan_masks:
            orphan_masks.discard(mask_rel)
            values["kind"] = "inpaint"
        else:
            mask_rel = None  # type: ignore[assignment]
        stat = path.stat()
        row = {
            "prompt": "", "negative": None, "model": "", "seed": None, "steps": None,
            "cfgScale": None, "parentId": None, "sampler": None, "scheduler": None,
            "denoisingStrength": None, "backend": None, "backendReason": None, "infotext": None,
            "approximate": False, "isFavorite": False,
        }
        row.update(values)
        row.update(id=asset_id, projectId=project_id, filePath=rel, maskPath=mask_rel,
                   fileType=staging.file_type(probe.format), width=probe.width, height=probe.height,
                   fileSize=len(data), contentHash=content_hash(data),
                   createdAt=parse_datetime(stat.st_mtime * 1000))
        with self._write_lock, self.engine.begin() as con:
            con.execute(insert(A).values(**row))
        log.info("adopted %s as %s", rel, asset_id)
        return asset_id

    def _quarantine(self, rel: str) -> None:
        dst = self.root / storage.TRASH_DIR / "incomplete" / rel.rsplit("/", 1)[-1]
        storage.move_within(self.root, self.root / rel, dst)

    def _integrity(self) -> str:
        with self.engine.connect() as con:
            result = con.exec_driver_sql("PRAGMA quick_check").scalar_one()
        return str(result)

    def _repair_search_index(self) -> bool:
        """Rebuild the FTS index if it is out of step with the catalog (e.g. after VACUUM)."""
        with self.engine.connect() as con:
            bad = con.exec_driver_sql(
                'SELECT (SELECT count(*) FROM "ArtAsset") != (SELECT count(*) FROM '
                '"ArtAssetSearch") OR EXISTS (SELECT 1 FROM "ArtAssetSearch" f JOIN "ArtAsset" a '
                "ON a.rowid = f.rowid WHERE a.id != f.assetId)"
            ).scalar_one()
        if not bad:
            return False
        with self._write_lock, self.engine.begin() as con:
            con.exec_driver_sql('DELETE FROM "ArtAssetSearch"')
            con.exec_driver_sql(
                'INSERT INTO "ArtAssetSearch" (rowid, assetId, prompt, negative) '
                "SELECT rowid, id, prompt, coalesce(negative, '') FROM \"ArtAsset\""
            )
        return True

    # --- backups ------------------------------------------------------------------------------

    def backup(self, reason: str = "auto") -> Path:
        """Copy the catalog with SQLite's backup API into `.backups/`, keeping the newest few."""
        return _backup_file(self.db_path, self.root / storage.BACKUPS_DIR, reason, check=True)

    def backup_if_due(self) -> Path | None:
        latest = max(self.backups(), default=None, key=lambda p: p.stat().st_mtime)
        if latest is not None and datetime.now().timestamp() - latest.stat().st_mtime < \
                BACKUP_EVERY.total_seconds():
            return None
        return self.backup()

    def backups(self) -> list[Path]:
        return doctor.list_backups(self.root)

    @staticmethod
    def restore_backup(root: str | os.PathLike[str], backup: str) -> Path:
        """Replace the catalog of `root` by the backup named `backup` (as `backups` lists it).

        The backup is copied and checked (integrity, tables, columns) before anything is
        moved; when it is refused the live catalog is left exactly as it was. The current
        catalog is kept aside in `.backups/`. Never opens the current catalog, so it works
        when that is damaged.

        Raises:
            NotFound: If there is no such backup.
            LibraryLocked: If the window or another process has the library open (after a
                short wait); the message names them.
        """
        root = Path(root).resolve()
        staged = doctor.stage_backup(root, str(backup))
        target = root / storage.DB_NAME
        try:
            # never under an open library: the window or a command would keep writing to the
            # catalog set aside (see `lock.exclusive_library`)
            with lock.exclusive_library(root, "restore a backup"):
                _set_catalog_aside(root, "replaced")
                os.replace(staged, target)
        finally:
            with contextlib.suppress(OSError):
                staged.unlink(missing_ok=True)
        return target

    # --- rebuild ------------------------------------------------------------------------------

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

    # --- statistics ---------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        (projects, assets, trashed), = self._read(
            'SELECT (SELECT count(*) FROM "Project"), '
            '(SELECT count(*) FROM "ArtAsset" WHERE "trashedAt" IS NULL), '
            '(SELECT count(*) FROM "ArtAsset" WHERE "trashedAt" IS NOT NULL)')
        return {"projects": projects, "assets": assets, "trashed": trashed}


# --- module helpers -----------------------------------------------------------------------------


class _Obj:
    """Attribute access over a dict (builds Info records from values we just inserted)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _begin_immediate(con: Any) -> None:
    """Take SQLite's write lock now, for a transaction that reads and then writes.

    A deferred transaction that reads first sees a snapshot; if another process commits
    before it writes, SQLite refuses the write at once (busy snapshot) instead of waiting.
    Beginning with the write lock makes the read current and the wait the busy timeout's.
    """
    if not con.connection.dbapi_connection.in_transaction:
        con.exec_driver_sql("BEGIN IMMEDIATE")


def _locked_asset(con: Any, asset_id: str) -> AssetInfo:
    """An asset's row read under the catalog's write lock (see `_begin_immediate`)."""
    _begin_immediate(con)
    rows = con.exec_driver_sql(f'SELECT {ASSET_SELECT} FROM "ArtAsset" WHERE "id" = ?',
                               (asset_id,)).fetchall()
    if not rows:
        raise NotFound(f"There is no image with id {asset_id!r}.")
    return AssetInfo.from_row(rows[0])


def _with_defaults(row: dict[str, Any]) -> dict[str, Any]:
    full = {name: None for name in AssetInfo.__dataclass_fields__}
    full.update(row)
    full["isFavorite"] = bool(full.get("isFavorite"))
    full["approximate"] = bool(full.get("approximate"))
    return full


def _carries_own_ids(path: Path) -> bool:
    return doctor.read_own_ids(path) is not None


def _expand(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in IMAGE_SUFFIXES and \
                        not child.name.startswith("."):
                    yield child
        else:
            yield path


def _empty_dir(path: Path) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return False


def _scandir(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _discard_in_flight(tasks: list[tuple[list[Path], Future[list[Prepared | str | None]]]],
                       handed_off: set[int]) -> None:
    """Remove the files that workers staged for batches that will not be catalogued."""
    for _paths, future in tasks:
        future.cancel()
    for _paths, future in tasks:
        if future.cancelled():
            continue
        try:
            outcomes = future.result()
        except BaseException:  # noqa: BLE001 - a failed task removed its own files
            continue
        for outcome in outcomes:
            if isinstance(outcome, Prepared) and id(outcome) not in handed_off:
                outcome.remove_files()


def _import_executor(processes: bool, known: frozenset[str]) -> Executor:
    """The pool that stages an import's files: worker processes for a large import, else threads.

    Processes avoid the GIL (see `workers`): a large import on 2 cores runs about twice as fast,
    and a window beside it stays responsive. Starting them costs a fraction of a second, so
    small imports use threads.
    """
    if processes:
        return workers.process_pool(staging.init_worker, (known,))
    return ThreadPoolExecutor(max_workers=workers.worker_count(),
                              initializer=workers.lower_thread_priority,
                              thread_name_prefix="dlx-import")


def _read_ahead(paths: list[Path]) -> None:
    """Ask the kernel to start reading files that will be needed soon (Linux/macOS; no-op else).

    The reads then overlap the checking and writing of the files before them instead of
    stalling the workers one file at a time on a cold disk.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:  # pragma: no cover - Windows, macOS
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue  # reported by the worker that reads it
        try:
            advise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


def _flush_to_disk(paths: list[Path]) -> None:
    if hasattr(os, "sync"):
        os.sync()  # one call for the whole batch, far cheaper than one fsync per file
        return
    for path in paths:  # pragma: no cover - Windows
        with open(path, "rb+") as handle:
            os.fsync(handle.fileno())


def _mtime_ns(folder: Path) -> int | None:
    try:
        return folder.stat().st_mtime_ns
    except OSError:
        return None


def _set_catalog_aside(root: Path, label: str) -> None:
    """Move the catalog of `root`, with its WAL and shared-memory files, into `.backups/`.

    The WAL holds committed transactions not yet copied into the main file, so it goes along:
    the copy kept aside is the whole catalog. WAL files left without their catalog are stale
    and are deleted, so that the next catalog in this place does not read them.
    """
    current = root / storage.DB_NAME
    aside = None
    if current.exists():
        aside = root / storage.BACKUPS_DIR / f"{label}-{_stamp()}.sqlite3"
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.replace(current, aside)
    for suffix in ("-wal", "-shm"):
        companion = Path(str(current) + suffix)
        if aside is not None and companion.exists():
            os.replace(companion, Path(str(aside) + suffix))
        else:
            companion.unlink(missing_ok=True)


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-%f")


def _backup_file(path: Path, folder: Path, reason: str, *, check: bool = False) -> Path:
    """Copy the catalog into `folder` and drop the oldest copies beyond `BACKUPS_KEPT`.

    With `check` the copy must pass `doctor.check_backup` first: a damaged catalog must not
    push the last good backups out of the rotation.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"library-{_stamp()}-{reason}.sqlite3"
    try:
        source = sqlite3.connect(path)
        try:
            dest = sqlite3.connect(target)
            try:
                source.backup(dest)
            finally:
                dest.close()
        finally:
            source.close()
        if check:
            doctor.check_backup(target)
    except (sqlite3.DatabaseError, UnicodeDecodeError, StorageError) as exc:
        target.unlink(missing_ok=True)
        log.warning("no backup of %s made: %s", path, exc)
        raise StorageError(doctor.describe_damage(path, str(exc)) + " No backup was made, so "
                           "the existing backups are all kept.") from exc
    for old in sorted(folder.glob("library-*.sqlite3"))[:-BACKUPS_KEPT]:
        old.unlink(missing_ok=True)
    return target


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` by `data` atomically.

    The temporary file's name is unique (`storage.write_temp`): two processes writing one
    project's `project.json` at once must not share, and pull away, one temporary file.
    """
    text = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    tmp = storage.write_temp(path.parent, path.name, text)
    try:
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


class _lazy_thumbnails:
    """The thumbnail cache, created on first use (keeps Pillow off the start-up path)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._cache: Any = None

    def _get(self) -> Any:
        if self._cache is None:
            from dlx_art.library.thumbnails import ThumbnailCache

            self._cache = ThumbnailCache(self._root)
        return self._cache

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


__all__ = [
    "ImportReport", "Library", "Lineage", "ReconcileReport", "content_hash", "fts_query",
    "normalise_name",
]
