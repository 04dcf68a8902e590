"""Backups of the catalog: taking them (daily, before migrations), listing, restoring."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from dlx_art.errors import StorageError
from dlx_art.library import doctor, lock, storage
from dlx_art.library.base import LibraryBase

log = logging.getLogger("dlx_art.library")

BACKUPS_KEPT = 7
BACKUP_EVERY = timedelta(hours=24)


class BackupsMixin(LibraryBase):
    """Catalog backups (mixed into `service.Library`)."""

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
