"""The durable job queue: jobs are rows of the catalog's `StudioJob` table, shared by processes.

Any process may enqueue (the window, `dlx-art generate`, `dlx-art serve`); exactly one process
per library runs jobs at a time: whoever holds the runner lock (`RunnerLock`, a file lock in the
library's lock folder, dropped by the operating system when its process dies).

States::

    queued ──claim──> running ──> done | failed | cancelled
       │                 │
       └─cancel─> cancelled   └─(runner died)─> interrupted ──claim (once)──> running

A job that was `running` when its runner died is found by the next runner (`recover`): it becomes
`interrupted` and is claimed again once (its request already holds the resolved seed, so the
second run makes the same image); a second interruption leaves it `interrupted` for good.
Queued jobs are plain rows: they survive a quit, a crash and a reboot.

Every write begins with `BEGIN IMMEDIATE` (SQLite's write lock), so a claim is atomic across
processes. Values use the catalog's formats (ISO text DateTimes with ms and `+00:00`, 1/0
booleans, JSON text). No Qt here.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from dlx_art.errors import NotFound, StorageError, UsageError
from dlx_art.library import db
from dlx_art.library import lock as _lock
from dlx_art.library.records import format_datetime, new_id, parse_datetime, utc_now

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "ORIGINS",
    "STATES",
    "JobInfo",
    "JobQueue",
    "RunnerLock",
    "runner_label",
]

log = logging.getLogger("dlx_art.library.jobs")

STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
FINAL_STATES = frozenset({"done", "failed", "cancelled"})
#: States a job can still leave (an `interrupted` job with attempts left runs again).
ACTIVE_STATES = frozenset({"queued", "running", "interrupted"})
ORIGINS = ("window", "cli", "service")
#: How many times a job is started at most: once, and once more after an interruption.
MAX_ATTEMPTS = 2
RUNNER_LOCK = "runner.lock"

_COLUMNS = ("id", "kind", "request", "projectId", "origin", "state", "progress", "progressInfo",
            "createdAt", "startedAt", "finishedAt", "updatedAt", "error", "errorKind",
            "exitCode", "resultAssetIds", "backend", "fallbackReason", "attempts", "runner",
            "cancelRequested")
_SELECT = ", ".join(f'"{c}"' for c in _COLUMNS)


def runner_label() -> str:
    """``"1234@host"``: who runs a job (stored in the row's `runner`)."""
    return f"{os.getpid()}@{socket.gethostname()}"


@dataclass(frozen=True)
class JobInfo:
    """One job row, safe to pass between threads."""

    id: str
    kind: str
    request: dict[str, Any]
    projectId: str | None
    origin: str
    state: str
    progress: float
    progressInfo: dict[str, Any] | None
    createdAt: datetime
    startedAt: datetime | None
    finishedAt: datetime | None
    updatedAt: datetime
    error: str | None
    errorKind: str | None
    exitCode: int | None
    resultAssetIds: list[str]
    backend: str | None
    fallbackReason: str | None
    attempts: int
    runner: str | None
    cancelRequested: bool

    @property
    def finished(self) -> bool:
        """True when the job will not change any more."""
        return self.state in FINAL_STATES or (
            self.state == "interrupted" and self.attempts >= MAX_ATTEMPTS)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> JobInfo:
        values = dict(zip(_COLUMNS, row, strict=True))
        values["request"] = _loads(values["request"]) or {}
        values["progressInfo"] = _loads(values["progressInfo"])
        values["resultAssetIds"] = _loads(values["resultAssetIds"]) or []
        for name in ("createdAt", "startedAt", "finishedAt", "updatedAt"):
            values[name] = parse_datetime(values[name])
        values["progress"] = float(values["progress"] or 0.0)
        values["attempts"] = int(values["attempts"] or 0)
        values["cancelRequested"] = bool(values["cancelRequested"])
        return cls(**values)

    def to_json(self, *, with_request: bool = True) -> dict[str, Any]:
        """The row as JSON (camelCase, as stored); bulky request bytes (a mask) are left out."""
        data: dict[str, Any] = {}
        for name in _COLUMNS:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = format_datetime(value)
            data[name] = value
        if with_request:
            data["request"] = {k: v for k, v in self.request.items()
                               if k not in ("maskPng", "initPng")}
            data["request"]["hasMask"] = bool(self.request.get("maskPng"))
        else:
            del data["request"]
        data["finished"] = self.finished
        return data


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:  # a row written by hand or by another program: keep it readable
        return None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class JobQueue:
    """The queue of one library's catalog (the file at `db_path`, already migrated).

    Thread-safe: one plain sqlite3 connection guarded by a lock (every call is short).
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self._mutex = threading.Lock()
        self._con: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            if not self.db_path.exists():
                raise StorageError(f"There is no catalog at {self.db_path}.")
            self._con = db.read_connection(self.db_path)
        return self._con

    def close(self) -> None:
        with self._mutex:
            if self._con is not None:
                self._con.close()
                self._con = None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds SQLite's write lock from its first statement."""
        with self._mutex:
            con = self._connection()
            try:
                con.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise StorageError(f"The job queue could not be written: {exc}.") from exc
            try:
                yield con
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise
            try:
                con.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise StorageError(f"The job queue could not be written: {exc}.") from exc

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._mutex:
            try:
                return self._connection().execute(sql, tuple(params)).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StorageError(f"The job queue could not be read: {exc}.") from exc

    @staticmethod
    def _get(con: sqlite3.Connection, job_id: str) -> JobInfo:
        rows = con.execute(f'SELECT {_SELECT} FROM "StudioJob" WHERE "id" = ?',
                           (job_id,)).fetchall()
        if not rows:
            raise NotFound(f"There is no job with id {job_id!r}.")
        return JobInfo.from_row(rows[0])

    # --- queue operations ---------------------------------------------------------------------

    def enqueue(self, kind: str, request: dict[str, Any], *, project_id: str | None,
                origin: str) -> JobInfo:
        """Add a job at the end of the queue and return it (state `queued`).

        Args:
            kind: The job kind (``txt2img``, ``img2img``, ``inpaint``).
            request: The job's parameters as JSON-able values (the seed already resolved).
            project_id: The project its images go to.
            origin: ``window``, ``cli`` or ``service``.
        """
        if origin not in ORIGINS:
            raise UsageError(f"Unknown job origin {origin!r}.")
        now = format_datetime(utc_now())
        job_id = new_id()
        with self._write() as con:
            con.execute(
                'INSERT INTO "StudioJob" ("id", "kind", "request", "projectId", "origin", "state",'
                ' "progress", "createdAt", "updatedAt", "attempts", "cancelRequested") '
                "VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?, 0, 0)",
                (job_id, kind, _dumps(request), project_id, origin, now, now))
            return self._get(con, job_id)

    def get(self, job_id: str) -> JobInfo:
        """The job with `job_id`. Raises `NotFound`."""
        rows = self._read(f'SELECT {_SELECT} FROM "StudioJob" WHERE "id" = ?', (job_id,))
        if not rows:
            raise NotFound(f"There is no job with id {job_id!r}.")
        return JobInfo.from_row(rows[0])

    def list(self, *, states: Sequence[str] | None = None, project_id: str | None = None,
             limit: int = 100, offset: int = 0) -> list[JobInfo]:
        """Jobs, newest first, optionally only those in `states` or of one project."""
        where, params = ["1"], []
        if states:
            where.append(f'"state" IN ({", ".join("?" for _ in states)})')
            params += list(states)
        if project_id is not None:
            where.append('"projectId" = ?')
            params.append(project_id)
        rows = self._read(f'SELECT {_SELECT} FROM "StudioJob" WHERE {" AND ".join(where)} '
                          'ORDER BY rowid DESC LIMIT ? OFFSET ?', [*params, limit, offset])
        return [JobInfo.from_row(r) for r in rows]

    def pending_count(self) -> int:
        """Jobs waiting for a runner (queued, or interrupted with a run left)."""
        rows = self._read('SELECT count(*) FROM "StudioJob" WHERE "state" = \'queued\' OR '
                          '("state" = \'interrupted\' AND "attempts" < ?)', (MAX_ATTEMPTS,))
        return int(rows[0][0])

    def claim(self, runner: str, job_id: str | None = None) -> JobInfo | None:
        """Atomically take the oldest waiting job (or `job_id`), marking it `running`.

        Only the holder of the runner lock calls this. Waiting jobs whose cancellation was
        requested are closed as `cancelled` on the way. Returns None when nothing waits.
        """
        with self._write() as con:
            now = format_datetime(utc_now())
            con.execute(
                'UPDATE "StudioJob" SET "state" = \'cancelled\', "finishedAt" = ?, '
                '"updatedAt" = ? WHERE "cancelRequested" = 1 AND ("state" = \'queued\' OR '
                '("state" = \'interrupted\' AND "attempts" < ?))', (now, now, MAX_ATTEMPTS))
            sql = (f'SELECT {_SELECT} FROM "StudioJob" WHERE ("state" = \'queued\' OR '
                   '("state" = \'interrupted\' AND "attempts" < ?))')
            params: list[Any] = [MAX_ATTEMPTS]
            if job_id is not None:
                sql += ' AND "id" = ?'
                params.append(job_id)
            rows = con.execute(sql + " ORDER BY rowid LIMIT 1", params).fetchall()
            if not rows:
                return None
            job = JobInfo.from_row(rows[0])
            con.execute(
                'UPDATE "StudioJob" SET "state" = \'running\', "startedAt" = ?, "updatedAt" = ?, '
                '"attempts" = "attempts" + 1, "runner" = ?, "progress" = 0, '
                '"progressInfo" = NULL WHERE "id" = ?', (now, now, runner, job.id))
            return self._get(con, job.id)

    def set_request(self, job_id: str, request: dict[str, Any]) -> None:
        """Replace a job's request (the runner stores the resolved seed before running)."""
        with self._write() as con:
            con.execute('UPDATE "StudioJob" SET "request" = ?, "updatedAt" = ? WHERE "id" = ?',
                        (_dumps(request), format_datetime(utc_now()), job_id))

    def update_progress(self, job_id: str, fraction: float,
                        info: dict[str, Any] | None = None) -> None:
        """Record a running job's progress (0..1) and its details (step, ETA, message)."""
        fraction = min(1.0, max(0.0, float(fraction))) if fraction == fraction else 0.0
        with self._write() as con:
            con.execute(
                'UPDATE "StudioJob" SET "progress" = ?, "progressInfo" = ?, "updatedAt" = ? '
                'WHERE "id" = ? AND "state" = \'running\'',
                (fraction, None if info is None else _dumps(info),
                 format_datetime(utc_now()), job_id))

    def finish(self, job_id: str, asset_ids: Sequence[str], *, backend: str | None,
               fallback_reason: str | None) -> JobInfo:
        """Close a job as `done` with the ids of the images it stored."""
        return self._close(job_id, "done", progress=1.0, resultAssetIds=_dumps(list(asset_ids)),
                           backend=backend, fallbackReason=fallback_reason)

    def fail(self, job_id: str, message: str, *, kind: str = "DlxError",
             exit_code: int = 1) -> JobInfo:
        """Close a job as `failed` with a plain-language message and the CLI's exit code."""
        return self._close(job_id, "failed", error=message, errorKind=kind, exitCode=exit_code)

    def mark_cancelled(self, job_id: str, message: str = "Cancelled.") -> JobInfo:
        """Close a job as `cancelled` (its runner stopped it)."""
        return self._close(job_id, "cancelled", error=message, errorKind="Cancelled",
                           exitCode=5)

    def _close(self, job_id: str, state: str, **values: Any) -> JobInfo:
        now = format_datetime(utc_now())
        values.update(state=state, finishedAt=now, updatedAt=now)
        sets = ", ".join(f'"{k}" = ?' for k in values)
        with self._write() as con:
            con.execute(f'UPDATE "StudioJob" SET {sets} WHERE "id" = ?',
                        (*values.values(), job_id))
            return self._get(con, job_id)

    def interrupt(self, job_id: str, message: str) -> JobInfo:
        """Close a running job as `interrupted`: its runner stopped it without a cancel request.

        It runs again once (same request, same seed) when a runner next claims it, as a job
        left by a dead runner does (`recover`); after its last attempt it stays interrupted.
        """
        with self._write() as con:
            job = self._get(con, job_id)
            if job.state != "running":
                return job
            final = job.attempts >= MAX_ATTEMPTS
            now = format_datetime(utc_now())
            con.execute(
                'UPDATE "StudioJob" SET "state" = \'interrupted\', "error" = ?, '
                '"errorKind" = \'Interrupted\', "exitCode" = ?, "updatedAt" = ?, '
                '"finishedAt" = ? WHERE "id" = ?',
                (message if not final else "The job was stopped twice while it ran; it was "
                 "not started again.", 1 if final else None, now, now if final else None,
                 job_id))
            return self._get(con, job_id)

    def request_cancel(self, job_id: str) -> JobInfo:
        """Ask for a job to stop: a waiting job is cancelled at once, a running one by its runner.

        A finished job is left as it is. Raises `NotFound`.
        """
        with self._write() as con:
            job = self._get(con, job_id)
            now = format_datetime(utc_now())
            if job.state == "queued" or (job.state == "interrupted" and not job.finished):
                con.execute('UPDATE "StudioJob" SET "state" = \'cancelled\', '
                            '"cancelRequested" = 1, "error" = \'Cancelled.\', '
                            '"errorKind" = \'Cancelled\', "exitCode" = 5, "finishedAt" = ?, '
                            '"updatedAt" = ? WHERE "id" = ?', (now, now, job_id))
            elif job.state == "running" and not job.cancelRequested:
                con.execute('UPDATE "StudioJob" SET "cancelRequested" = 1, "updatedAt" = ? '
                            'WHERE "id" = ?', (now, job_id))
            return self._get(con, job_id)

    def cancel_requested(self, job_id: str) -> bool:
        rows = self._read('SELECT "cancelRequested" FROM "StudioJob" WHERE "id" = ?', (job_id,))
        return bool(rows and rows[0][0])

    def retry(self, job_id: str, origin: str) -> JobInfo:
        """Queue a finished job's request again, as a new job."""
        job = self.get(job_id)
        return self.enqueue(job.kind, job.request, project_id=job.projectId, origin=origin)

    def recover(self) -> builtins.list[JobInfo]:
        """Close what a dead runner left: its `running` jobs become `interrupted`.

        Only the holder of the runner lock may call this (then no job can really be running).
        A job whose cancellation was requested becomes `cancelled` instead. Returns the jobs
        that were marked.
        """
        with self._write() as con:
            rows = con.execute(f'SELECT {_SELECT} FROM "StudioJob" WHERE "state" = \'running\''
                               ' ORDER BY rowid').fetchall()
            now = format_datetime(utc_now())
            marked = []
            for row in rows:
                job = JobInfo.from_row(row)
                if job.cancelRequested:
                    con.execute('UPDATE "StudioJob" SET "state" = \'cancelled\', '
                                '"error" = \'Cancelled.\', "errorKind" = \'Cancelled\', '
                                '"exitCode" = 5, "finishedAt" = ?, "updatedAt" = ? '
                                'WHERE "id" = ?', (now, now, job.id))
                    continue
                final = job.attempts >= MAX_ATTEMPTS
                con.execute(
                    'UPDATE "StudioJob" SET "state" = \'interrupted\', "error" = ?, '
                    '"errorKind" = \'Interrupted\', "exitCode" = ?, "updatedAt" = ?, '
                    '"finishedAt" = ? WHERE "id" = ?',
                    ("The program running this job stopped twice while running it; it was not "
                     "started again." if final else
                     "The program running this job stopped; it runs again once.",
                     1 if final else None, now, now if final else None, job.id))
                marked.append(self._get(con, job.id))
            if marked:
                log.warning("%d job(s) were interrupted by a runner that stopped: %s",
                            len(marked), ", ".join(j.id for j in marked))
            return marked


class RunnerLock:
    """The one-runner-per-library lock: an exclusive file lock on ``.dlx-art-locks/runner.lock``.

    Never waits: `acquire` answers at once whether this process is now the library's runner.
    The file holds the holder's ``pid@host`` (read by `holder`). The operating system drops
    the lock when its process dies, however it dies.
    """

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / _lock.LOCK_DIR / RUNNER_LOCK
        self._handle: IO[Any] | None = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self) -> bool:
        """Take the lock without waiting; False if another runner (any process) holds it."""
        if self._handle is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - kept while held
        if not _lock._lock(handle, _lock.LockFlags.EXCLUSIVE):
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(runner_label() + "\n")
        handle.flush()
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            _lock._unlock(self._handle)
            self._handle.close()
            self._handle = None

    def holder(self) -> str | None:
        """``pid@host`` of the process that runs this library's jobs; None if none does."""
        if self._handle is not None:
            return runner_label()
        try:
            with open(self.path, encoding="utf-8") as handle:
                if _lock._lock(handle, _lock.LockFlags.EXCLUSIVE):
                    _lock._unlock(handle)
                    return None
                with contextlib.suppress(OSError):
                    return handle.read(200).strip() or "another process"
                return "another process"
        except OSError:
            return None

    def __enter__(self) -> RunnerLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()
