"""Recognising a full disk and a read-only library, whatever layer noticed it.

A full disk or a read-only drive shows up as an `OSError` (``ENOSPC``, ``EDQUOT``, ``EROFS``) when
we write a file, as a `sqlite3` error (``SQLITE_FULL`` "database or disk is full",
``SQLITE_READONLY`` "attempt to write a readonly database") when the catalog writes, wrapped by
SQLAlchemy, by our own `StorageError`s, or as a message only, when a worker process reported it
(exceptions crossing a process boundary lose their cause). `explain` finds the fault in any of
these and gives one plain message for it: the disk is full (never "the catalog is damaged",
never advice such as rebuilding that would write even more), or the library is read-only.
Nothing already stored is touched by such a failure: every write is atomic (a temporary file
renamed into place, a transaction), so freeing space or making the drive writable is enough to
carry on.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from dlx_art.errors import DiskFull, DlxError, ReadOnlyStorage

__all__ = ["FULL", "READ_ONLY", "classify", "drive_state", "explain"]

FULL = "full"
READ_ONLY = "read-only"

_FULL_ERRNOS = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None),
                                     getattr(errno, "EFBIG", None)) if e is not None)
_SQLITE_FULL = 13
_SQLITE_READONLY = 8
_FULL_WORDS = ("database or disk is full", os.strerror(errno.ENOSPC).lower(),
               "no space left on device", "disk quota exceeded", "not enough disk space",
               "not enough space on the disk")
_READ_ONLY_WORDS = ("attempt to write a readonly database", "readonly database",
                    os.strerror(errno.EROFS).lower(), "read-only file system")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, and SQLAlchemy's wrapped DB-API error (`orig`)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        if isinstance(orig, BaseException):
            todo.append(orig)
        todo += [c for c in (current.__cause__, current.__context__) if c is not None]


def classify(exc: BaseException) -> str | None:
    """`FULL`, `READ_ONLY` or None: which environment fault (if any) caused `exc`."""
    texts = []
    for current in _chain(exc):
        if isinstance(current, DiskFull):
            return FULL
        if isinstance(current, ReadOnlyStorage):
            return READ_ONLY
        if isinstance(current, OSError) and current.errno is not None:
            if current.errno in _FULL_ERRNOS:
                return FULL
            if current.errno == errno.EROFS:
                return READ_ONLY
        if isinstance(current, sqlite3.Error):
            code = getattr(current, "sqlite_errorcode", None)
            if code is not None and code & 0xFF == _SQLITE_FULL:
                return FULL
            if code is not None and code & 0xFF == _SQLITE_READONLY:
                return READ_ONLY
        texts.append(str(current.user_message if isinstance(current, DlxError) else current)
                     .lower())
    # a worker process's error arrives as text only
    for text in texts:
        if any(word in text for word in _FULL_WORDS):
            return FULL
        if any(word in text for word in _READ_ONLY_WORDS):
            return READ_ONLY
    return None


#: Below this much free space a vague I/O error of SQLite is taken for a full disk (SQLite
#: needs room for its WAL and shared-memory files, tens of kilobytes at least).
LOW_SPACE = 256 * 1024
_SQLITE_IOERR = 10
_SQLITE_CANTOPEN = 14


def _vague_io_error(exc: BaseException) -> bool:
    """A SQLite error that does not say why (a full disk and a read-only drive both give it)."""
    for current in _chain(exc):
        if isinstance(current, sqlite3.Error):
            code = getattr(current, "sqlite_errorcode", None)
            if code is not None and code & 0xFF in (_SQLITE_IOERR, _SQLITE_CANTOPEN):
                return True
            text = str(current).lower()
            if "disk i/o error" in text or "unable to open database file" in text:
                return True
    return False


def drive_state(place: Path) -> str | None:
    """`FULL` or `READ_ONLY` if the drive (or folder) holding `place` is so, else None."""
    probe = Path(place)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    folder = probe if probe.is_dir() else probe.parent
    try:
        stats = os.statvfs(folder)
    except (AttributeError, OSError):  # Windows: no statvfs
        stats = None
    if stats is not None and stats.f_flag & getattr(os, "ST_RDONLY", 1):
        return READ_ONLY
    if not os.access(folder, os.W_OK):
        return READ_ONLY
    try:
        import shutil

        if shutil.disk_usage(folder).free < LOW_SPACE:
            return FULL
    except OSError:
        pass
    return None


def _where(exc: BaseException, place: Path | str | None) -> str:
    if place is not None:
        return str(place)
    for current in _chain(exc):
        name = getattr(current, "filename", None)
        if isinstance(current, OSError) and name:
            return str(Path(os.fsdecode(name)).parent)
    return ""


def disk_full(place: Path | str | None = None) -> DiskFull:
    """The plain message for a full disk; `place` is a folder or file on that drive."""
    drive = f"the drive holding {place}" if place else "the drive holding the library"
    return DiskFull(
        f"The disk is full: there is no free space left on {drive}. Nothing already saved was "
        "lost; free some space on that drive and run the same command again.")


def read_only(place: Path | str | None = None) -> ReadOnlyStorage:
    """The plain message for a library that cannot be written."""
    what = f"The library at {place}" if place else "The library"
    return ReadOnlyStorage(
        f"{what} is read-only (a read-only drive, or a folder without write permission): "
        "nothing can be saved there. Make it writable, or choose another storage folder in "
        "Settings.")


def explain(exc: BaseException, place: Path | str | None = None) -> DlxError | None:
    """A plain `DiskFull` or `ReadOnlyStorage` for `exc` if one of them caused it, else None.

    Args:
        exc: Any exception (a `DlxError`, an `OSError`, a SQLAlchemy or sqlite3 error).
        place: Where the library is, for the message; else taken from the error when it says.
    """
    kind = classify(exc)
    if kind is None and place is not None and _vague_io_error(exc):
        kind = drive_state(Path(place))
    if kind is None:
        return None
    if isinstance(exc, DiskFull | ReadOnlyStorage):
        return exc
    where = _where(exc, place)
    return disk_full(where or None) if kind == FULL else read_only(where or None)
