"""What changed in a library's catalog since last time, whoever wrote it (any process).

`ChangeWatcher.poll()` is cheap when nothing changed: one `PRAGMA data_version` on its own
connection (SQLite bumps it when another connection commits). Only then does it read the
`StudioChange` log past its cursor: triggers on `ArtAsset`, `Project` and `StudioJob` write one
entry per inserted, updated or deleted row, whoever wrote it (this studio, a command, another
studio through Prisma), so the watcher never scans the catalog itself. The log keeps its latest
entries only; a watcher that fell further behind gets `Changes.reset` (reload everything).

A GUI polls it every 250 ms or so (from a timer, or with `watch` in a thread) and shows an image
another process added within a second. No Qt here.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dlx_art.errors import StorageError
from dlx_art.library import db

__all__ = ["POLL_INTERVAL", "ChangeWatcher", "Changes"]

#: How often `watch` looks (`PRAGMA data_version` costs microseconds).
POLL_INTERVAL = 0.25


@dataclass(frozen=True)
class Changes:
    """Ids of the rows that are new, changed or gone since the previous poll.

    `reset` means more changed than the log keeps (or the catalog was replaced): reload
    everything rather than trust the lists.
    """

    new_assets: list[str] = field(default_factory=list)
    changed_assets: list[str] = field(default_factory=list)
    deleted_assets: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)  # new or changed
    deleted_projects: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)  # new or changed
    reset: bool = False

    def __bool__(self) -> bool:
        return self.reset or any((self.new_assets, self.changed_assets, self.deleted_assets,
                                  self.projects, self.deleted_projects, self.jobs))


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
        self._cursor: int | None = None
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

    @property
    def cursor(self) -> int | None:
        """The last change-log entry already reported (None before the first poll)."""
        return self._cursor

    def poll(self) -> Changes:
        """What changed since the previous poll (empty, and cheap, when nothing did)."""
        with self._lock:
            try:
                con = self._connection()
                version = con.execute("PRAGMA data_version").fetchone()[0]
                if version == self._version:
                    return Changes()
                self._version = version
                return self._read(con)
            except sqlite3.DatabaseError as exc:
                raise StorageError(f"The catalog could not be read: {exc}.") from exc

    def _read(self, con: sqlite3.Connection) -> Changes:
        con.execute("BEGIN")  # the bounds and the entries from one snapshot
        try:
            low, high = con.execute(
                'SELECT min("seq"), max("seq") FROM "StudioChange"').fetchone()
            if self._cursor is None:  # the first look: start from here
                self._cursor = high or 0
                return Changes()
            if high is None or high <= self._cursor:
                if high is not None and high < self._cursor:  # the catalog was replaced
                    self._cursor = high
                    return Changes(reset=True)
                return Changes()
            reset = low is not None and low > self._cursor + 1
            rows = con.execute('SELECT "tableName", "rowId", "op" FROM "StudioChange" '
                               'WHERE "seq" > ? ORDER BY "seq"', (self._cursor,)).fetchall()
            self._cursor = high
        finally:
            con.execute("COMMIT")
        return _summarise(rows, reset)

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


def _summarise(rows: list[tuple[str, str, str]], reset: bool) -> Changes:
    """Fold log entries into one state per row: inserted, updated or deleted since the cursor."""
    state: dict[tuple[str, str], str] = {}
    for table, row_id, op in rows:
        key = (table, row_id)
        before = state.get(key)
        if op == "insert":
            state[key] = "update" if before == "delete" else "insert"
        elif op == "update":
            state[key] = before or "update"
        else:  # delete: a row born and gone since the cursor was never seen
            state[key] = "gone" if before == "insert" else "delete"
    out: dict[str, list[str]] = {"new": [], "changed": [], "deleted": [], "projects": [],
                                 "deleted_projects": [], "jobs": []}
    for (table, row_id), op in state.items():
        if op == "gone":
            continue
        if table == "ArtAsset":
            out[{"insert": "new", "update": "changed", "delete": "deleted"}[op]].append(row_id)
        elif table == "Project":
            out["deleted_projects" if op == "delete" else "projects"].append(row_id)
        elif table == "StudioJob" and op != "delete":
            out["jobs"].append(row_id)
    return Changes(out["new"], out["changed"], out["deleted"], out["projects"],
                   out["deleted_projects"], out["jobs"], reset)
