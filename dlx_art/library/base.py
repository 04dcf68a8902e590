"""The library's core: its catalog connections, paths and lifecycle (`LibraryBase`).

Reads use plain sqlite3 connections, one per thread; writes go through a SQLAlchemy engine made
on first use (see `sql.tables`). The other parts of the library (projects, assets, trash,
integrity, backups) are mixins over this base, composed into `service.Library`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, cast

from dlx_art.errors import NotFound, StorageError
from dlx_art.library import db, lock, storage
from dlx_art.library.records import (
    ASSET_SELECT,
    AssetInfo,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from dlx_art.library.thumbnails import ThumbnailCache


log = logging.getLogger("dlx_art.library")


class LibraryBase:
    """A storage root: its catalog (`library.sqlite3`) and its project folders."""

    def __init__(self, root: Path, engine: Engine | None = None) -> None:
        self.root = root
        self._engine = engine
        self._engine_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        # A stand-in that makes the cache on first use and forwards everything to it.
        self.thumbnails = cast("ThumbnailCache", _lazy_thumbnails(root))
        self._write_lock = threading.RLock()
        self._names: dict[Path, tuple[int | None, set[str]]] = {}  # see _taken
        self._trusted: dict[Path, int] = {}  # folders imports are writing into: see _taken
        self._closed = False
        #: A message for the person when opening had to recover the catalog (see `open`).
        self.recovery: str | None = None
        self._hold: lock.LibraryHold | None = None  # the shared library lock (see `open`)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine for writes (made on first use)."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def db_path(self) -> Path:
        return self.root / storage.DB_NAME


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
    full: dict[str, Any] = {name: None for name in AssetInfo.__dataclass_fields__}
    full.update(row)
    full["isFavorite"] = bool(full.get("isFavorite"))
    full["approximate"] = bool(full.get("approximate"))
    return full


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
        self._cache: ThumbnailCache | None = None

    def _get(self) -> ThumbnailCache:
        if self._cache is None:
            from dlx_art.library.thumbnails import ThumbnailCache

            self._cache = ThumbnailCache(self._root)
        return self._cache

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)
