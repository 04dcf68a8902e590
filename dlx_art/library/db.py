"""The catalog's SQLite engine and its migrations.

Every connection gets foreign keys on, a busy timeout and WAL. Alembic migrations run when a
catalog is opened, but Alembic itself is only imported when the stored revision is not the
head: importing it costs about half a second, which the window must not wait for.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlx_art.errors import StorageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger("dlx_art.library.db")

HEAD_REVISION = "0005"
BUSY_TIMEOUT_MS = 10_000
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def configure_connection(connection: sqlite3.Connection, *, writer: bool = True) -> None:
    """The settings every catalog connection gets (SQLite keeps them per connection)."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if writer:
        cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    configure_connection(dbapi_connection)


def _on_error(context: Any) -> None:
    """Turn "database or disk is full" / "readonly database" into plain `DlxError`s.

    SQLAlchemy raises what this hook raises (after rolling back): callers and the command line
    then show a message without SQL text, and a full disk is never reported as damage.
    """
    from dlx_art.library import faults

    engine = getattr(context, "engine", None)
    url = getattr(engine, "url", None)
    place = Path(url.database).parent if url is not None and url.database else None
    plain = faults.explain(context.original_exception, place)
    if plain is not None:
        raise plain from context.original_exception


def read_connection(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection for reading the catalog (no SQLAlchemy: fast to start)."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
                                 isolation_level=None)
    configure_connection(connection, writer=False)
    return connection


def create_catalog_engine(path: Path) -> Engine:
    """An engine for the catalog file at `path` (created if missing)."""
    from sqlalchemy import create_engine, event

    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        pool_pre_ping=False,
    )
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "handle_error", _on_error)
    return engine


def stored_revision(path: Path) -> str | None:
    """The Alembic revision recorded in the catalog, read with plain sqlite3 (fast)."""
    if not path.exists():
        return None
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "alembic_version" in tables:
            row = con.execute("SELECT version_num FROM alembic_version").fetchone()
            return row[0] if row else None
        if {"Project", "ArtAsset"} <= tables:
            return "prisma"  # made by another studio of the suite with Prisma
        return None
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # bytes in the schema text
        if isinstance(exc, sqlite3.DatabaseError):
            from dlx_art.library import faults

            plain = faults.explain(exc, path.parent)
            if plain is not None:  # full or read-only is not damage: never advise a rebuild
                raise plain from exc
            if isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc):
                raise StorageError(f"The catalog {path} cannot be opened: check that its "
                                   "folder can be read and written.") from exc
            if "disk i/o error" in str(exc).lower():  # not damage: the drive failed
                raise StorageError(f"The catalog {path} could not be read or written (a disk "
                                   "error). Check the drive, then try again.") from exc
        log.warning("catalog %s cannot be read: %s", path, exc)
        raise StorageError(
            f"The catalog {path} is damaged: part of it cannot be read (details in the log). "
            "Restore a backup with "
            "`dlx-art backups restore`, or rebuild it from the image files with `dlx-art rebuild`."
        ) from exc
    finally:
        con.close()


def needs_migration(path: Path) -> bool:
    return stored_revision(path) != HEAD_REVISION


def migrate(engine: Engine, path: Path) -> None:
    """Bring the catalog to the head revision (no-op when it already is)."""
    revision = stored_revision(path)
    if revision == HEAD_REVISION:
        return
    started = time.perf_counter()
    from alembic import command

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        if revision == "prisma":
            command.stamp(config, "0001")  # Prisma's own tables are exactly our first revision
        command.upgrade(config, "head")
    log.info("catalog %s migrated from %s to %s in %.0f ms", path, revision, HEAD_REVISION,
             (time.perf_counter() - started) * 1000)


def upgrade_to(engine: Engine, revision: str) -> None:
    """Migrate to a given revision (tests use it to build an old catalog)."""
    from alembic import command

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config
