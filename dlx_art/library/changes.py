"""What changed in a library's catalog since last time, whoever wrote it (any process).

`ChangeWatcher.poll()` is cheap when nothing changed: one `PRAGMA data_version` on its own
connection (SQLite bumps it when another connection commits). Only then does it look at what
changed since its cursor:

* assets: new rows (rowid above the cursor), and rows whose state changed (favorite, trash,
  missing, project, file) or that were deleted, found by comparing a small per-row fingerprint;
* projects: new, changed (`updatedAt`, status, name, folder) and deleted rows;
* jobs: rows of `StudioJob` whose `updatedAt`, state or progress changed.

A GUI polls it every 250 ms or so (e.g. from a timer, or with `watch` in a thread) and shows an
image another process added within a second. No Qt here.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlx_art.errors import StorageError
from dlx_art.library import db

__all__ = ["POLL_INTERVAL", "ChangeWatcher", "Changes"]

#: How often `watch` looks (`PRAGMA data_version` costs microseconds).
POLL_INTERVAL = 0.25


@dataclass(frozen=True)
class Changes:
    """Ids of the rows that are new, changed or gone since the previous poll."""

    new_assets: list[str] = field(default_factory=list)
    changed_assets: list[str] = field(default_factory=list)
    deleted_assets: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)  # new or changed
    deleted_projects: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)  # new or changed

    def __bool__(self) -> bool:
        return any((self.new_assets, self.changed_assets, self.deleted_assets, self.projects,
                    self.deleted_projects, self.jobs))


class ChangeWatcher:
    """Reports catalog changes made by any connection, this process's or another's.

    The first `poll` sets the cursor (reports nothing); each later one reports what changed
    since the previous one. Thread-safe.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self._lock = threading.Lock()
        self._con: sqlite3.Connection | None = None
        self._version: int | None = None
        self._max_rowid = 0
        self._assets: dict[int, tuple[Any, ...]] = {}
        self._projects: dict[str, tuple[Any, ...]] = {}
        self._jobs: dict[str, tuple[Any, ...]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            self._con = db.read_connection(self.db_path)
        return self._con

    def close(self) -> None:
        self.stop()
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def poll(self) -> Changes:
        """What changed since the previous poll (empty, and cheap, when nothing did)."""
        with self._lock:
            try:
                con = self._connection()
                version = con.execute("PRAGMA data_version").fetchone()[0]
                if version == self._version:
                    return Changes()
                first = self._version is None
                self._version = version
                # one read transaction: the three tables from the same snapshot
                con.execute("BEGIN")
                try:
                    changes = self._scan(con)
                finally:
                    con.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise StorageError(f"The catalog could not be read: {exc}.") from exc
            return Changes() if first else changes

    def _scan(self, con: sqlite3.Connection) -> Changes:
        rows = con.execute('SELECT rowid, "id", "projectId", "isFavorite", "trashedAt", '
                           '"missingAt", "filePath" FROM "ArtAsset"').fetchall()
        assets = {r[0]: r[1:] for r in rows}
        new = [v[0] for k, v in assets.items() if k not in self._assets and k > self._max_rowid]
        changed = [v[0] for k, v in assets.items()
                   if k in self._assets and self._assets[k] != v]
        # a row at a reused rowid (deleted, then another inserted) counts as deleted + new
        changed += [v[0] for k, v in assets.items()
                    if k not in self._assets and k <= self._max_rowid]
        deleted = [v[0] for k, v in self._assets.items() if k not in assets]
        self._assets = assets
        self._max_rowid = max([self._max_rowid, *assets]) if assets else self._max_rowid

        projects = {r[0]: r[1:] for r in con.execute(
            'SELECT "id", "updatedAt", "status", "name", "folder" FROM "Project"')}
        changed_projects = [k for k, v in projects.items() if self._projects.get(k) != v]
        deleted_projects = [k for k in self._projects if k not in projects]
        self._projects = projects

        jobs: dict[str, tuple[Any, ...]] = {}
        with contextlib.suppress(sqlite3.OperationalError):  # a catalog before the job queue
            jobs = {r[0]: r[1:] for r in con.execute(
                'SELECT "id", "updatedAt", "state", "progress" FROM "StudioJob"')}
        changed_jobs = [k for k, v in jobs.items() if self._jobs.get(k) != v]
        self._jobs = jobs
        return Changes(new, changed, deleted, changed_projects, deleted_projects, changed_jobs)

    def watch(self, callback: Callable[[Changes], None],
              interval: float = POLL_INTERVAL) -> None:
        """Call `callback(changes)` from a background thread whenever something changed."""
        self.poll()  # the cursor: report only what happens from now on
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    changes = self.poll()
                except StorageError:
                    continue  # a catalog being replaced by maintenance: look again later
                if changes:
                    callback(changes)

        self._thread = threading.Thread(target=loop, name="dlx-art-changes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._thread = None
