"""What `dlx-art doctor` checks beyond "every row has a file", and the catalog's health.

`Library.reconcile` calls in here for the checks that need more than a file listing:

* **Ownership**: every image the studio writes carries its own asset id in a small `dlx-art`
  PNG chunk, right after the header. A row whose file carries *another* asset's id, and two
  rows pointing at one file, mean that a picture was lost or mixed up (for example by two
  writers racing for one name). Ids are read from the first few kilobytes of a file only
  (`read_own_ids`), never from the pixels, so checking 40,000 images costs a small read each.
* **Rows and folders written by others**: the suite's other studios write the catalog with
  Prisma. Deleting a project there sets its images' `projectId` to NULL (the foreign key's
  `ON DELETE SET NULL`), and a project folder can exist under `Projects/` without a row.
  Both are reported, and adopted with `repair`.
* **The catalog file itself**: `catalog_damage` says in words whether SQLite finds the file
  damaged; `check_backup` validates a backup before it may replace the catalog; and
  `recover_empty_catalog` notices a catalog truncated to 0 bytes while project folders exist
  (SQLite would silently treat it as a new, empty library).

Repair never deletes what a person made. Of rows sharing a file, the row whose id the file
carries keeps it; every other row keeps its details (prompt, seed, lineage) but is marked as
a *lost image*: `missingAt` is set and its `filePath` gets the suffix `#lost` (a name the
studio never gives a file), so the row can never again move, trash or delete the file that
belongs to another image.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlx_art.errors import NotFound, StorageError, UsageError
from dlx_art.library import metadata, png, storage
from dlx_art.library.metadata import DlxIds
from dlx_art.library.records import format_datetime, new_id, parse_datetime, utc_now

if TYPE_CHECKING:
    from dlx_art.library.base import LibraryBase
    from dlx_art.library.service import Library

log = logging.getLogger("dlx_art.library.doctor")

PROJECT_FILE = "project.json"
LOST_SUFFIX = "#lost"
"""Appended to the `filePath` of a row whose picture is lost (see the module docstring)."""

#: How much of a file is read first when looking for its ids. The studio writes the `dlx-art`
#: chunk right after the 33-byte PNG header, so one read almost always suffices.
_FIRST_READ = 4096
#: Largest text chunk read while looking for the ids (ours are about 150 bytes); larger text
#: chunks (a megabyte of infotext) are skipped by offset.
_MAX_ID_CHUNK = 64 * 1024

BACKUP_GLOB = "library-*.sqlite3"
#: Columns a catalog must have to be usable, by the Alembic revision it records. Revision 0001
#: is the suite's Prisma schema (also what a Prisma-made catalog without `alembic_version` has).
#: A test compares the newest set with a freshly migrated catalog.
_PRISMA_COLUMNS = {
    "Project": {"id", "name", "description", "type", "status", "createdAt", "updatedAt"},
    "ArtAsset": {"id", "projectId", "filePath", "fileType", "prompt", "negative", "model",
                 "seed", "steps", "cfgScale", "parentId", "isFavorite", "createdAt"},
}
EXPECTED_COLUMNS: dict[str, dict[str, set[str]]] = {
    "0001": _PRISMA_COLUMNS,
    "0002": {
        "Project": _PRISMA_COLUMNS["Project"] | {"folder", "nameKey", "lastOpenedAt"},
        "ArtAsset": _PRISMA_COLUMNS["ArtAsset"] | {
            "maskPath", "width", "height", "kind", "sampler", "scheduler", "denoisingStrength",
            "backend", "backendReason", "infotext", "approximate", "trashedAt", "missingAt",
            "fileSize", "contentHash"},
    },
}
EXPECTED_COLUMNS["0003"] = {
    **EXPECTED_COLUMNS["0002"],
    "StudioJob": {"id", "kind", "request", "projectId", "origin", "state", "progress",
                  "progressInfo", "createdAt", "startedAt", "finishedAt", "updatedAt", "error",
                  "errorKind", "exitCode", "resultAssetIds", "backend", "fallbackReason",
                  "attempts", "runner", "cancelRequested"},
    "StudioChange": {"seq", "tableName", "rowId", "op"},
}
EXPECTED_COLUMNS["0004"] = EXPECTED_COLUMNS["0003"]  # indexes only
EXPECTED_COLUMNS["0005"] = EXPECTED_COLUMNS["0004"]  # the search tokenizer only

_DAMAGED_ADVICE = (
    "Restore the newest good backup with `dlx-art backups restore NAME` (`dlx-art backups list` "
    "shows them), or recreate the catalog from the image files with `dlx-art rebuild`."
)


# --- the report ---------------------------------------------------------------------------------


@dataclass
class ReconcileReport:
    """What `Library.reconcile` (and so `dlx-art doctor`) found and did."""

    checked_rows: int = 0
    checked_files: int = 0
    missing: list[str] = field(default_factory=list)  # asset ids whose file is gone
    orphans: list[str] = field(default_factory=list)  # relative paths with no row
    adopted: list[str] = field(default_factory=list)  # asset ids re-created from files
    cleaned: list[str] = field(default_factory=list)  # leftover temporary files removed
    quarantined: list[str] = field(default_factory=list)  # incomplete saves moved to trash
    search_repaired: bool = False
    integrity: str = "ok"
    deferred: bool = False  # other writers were busy: cleanup and adoption left for later
    #: files that more than one row points at: {"file": path, "ids": [...], "carries": id}
    shared: list[dict[str, Any]] = field(default_factory=list)
    #: rows whose file carries another asset's id: {"id", "file", "carries"}
    wrong_file: list[dict[str, Any]] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # rows marked as lost images by repair
    unassigned: list[str] = field(default_factory=list)  # asset ids with no project
    reassigned: list[str] = field(default_factory=list)  # of those, moved into a project
    unlisted_folders: list[str] = field(default_factory=list)  # project folders with no row
    adopted_projects: list[str] = field(default_factory=list)  # folders made projects again

    @property
    def clean(self) -> bool:
        return not (self.missing or self.orphans or self.shared or self.wrong_file
                    or self.unlisted_folders or (set(self.unassigned) - set(self.reassigned))
                    ) and self.integrity == "ok"

    def summary(self) -> str:
        parts = [f"{self.checked_rows} rows and {self.checked_files} files checked"]
        for label, items in (
            ("missing files", self.missing),
            ("files not in the catalog", self.orphans),
            ("files adopted", self.adopted),
            ("temporary files removed", self.cleaned),
            ("incomplete saves moved to the trash", self.quarantined),
            ("files shared by several rows", self.shared),
            ("rows whose file holds another image", self.wrong_file),
            ("rows marked as lost images (details kept, the file stays with the image it "
             "holds)", self.lost),
            ("images in no project", self.unassigned),
            ("of them moved into the project of their folder", self.reassigned),
            ("project folders not in the catalog", self.unlisted_folders),
            ("project folders adopted as projects", self.adopted_projects),
        ):
            if items:
                parts.append(f"{len(items)} {label}")
        if self.search_repaired:
            parts.append("search index rebuilt")
        if self.deferred:
            parts.append("other programs were saving images, so unfinished saves were left "
                         "for a later check")
        if self.integrity != "ok":
            parts.append(f"database integrity: {self.integrity}")
        return "; ".join(parts) + "."

    def details(self, limit: int = 20) -> list[str]:
        """One line per problem found (at most `limit` of each kind), for people to read."""
        unplaced = [i for i in self.unassigned if i not in set(self.reassigned)]
        kinds: list[tuple[list[Any], Callable[[Any], str]]] = [
            (self.shared, lambda s: f"{s['file']} is the file of {len(s['ids'])} rows "
                                    f"({', '.join(s['ids'])}); it holds image "
                                    f"{s['carries'] or '(unknown: the file has no ids)'}"),
            (self.wrong_file, lambda w: f"image {w['id']}: its file {w['file']} holds image "
                                        f"{w['carries']}"),
            (self.lost, lambda i: f"image {i}: its picture is lost; the row keeps its details and "
                                  "is marked missing (trash it to remove it)"),
            ([m for m in self.missing if m not in set(self.lost)],
             lambda i: f"image {i}: its file is missing"),
            (self.orphans, lambda p: f"{p}: a file not in the catalog"),
            (unplaced, lambda i: f"image {i} belongs to no project"),
            (self.unlisted_folders, lambda f: f"{storage.PROJECTS_DIR}/{f}: a project folder "
                                              "not in the catalog"),
            (self.adopted_projects, lambda f: f"{storage.PROJECTS_DIR}/{f}: now a project "
                                              "again"),
        ]
        lines: list[str] = []
        for items, line in kinds:
            lines += [f"  {line(item)}" for item in items[:limit]]
            if len(items) > limit:
                lines.append(f"  … and {len(items) - limit} more (`--json` lists them all)")
        return lines

    def to_json(self) -> dict[str, object]:
        return {
            "checkedRows": self.checked_rows,
            "checkedFiles": self.checked_files,
            "missing": self.missing,
            "orphans": self.orphans,
            "adopted": self.adopted,
            "cleaned": self.cleaned,
            "quarantined": self.quarantined,
            "searchRepaired": self.search_repaired,
            "integrity": self.integrity,
            "deferred": self.deferred,
            "shared": self.shared,
            "wrongFile": self.wrong_file,
            "lost": self.lost,
            "unassigned": self.unassigned,
            "reassigned": self.reassigned,
            "unlistedFolders": self.unlisted_folders,
            "adoptedProjects": self.adopted_projects,
            "clean": self.clean,
        }


# --- ids in files -------------------------------------------------------------------------------


def read_own_ids(path: Path) -> DlxIds | None:
    """The ids in a file's `dlx-art` chunk, reading only the chunks before the pixel data.

    Chunk bodies other than text are never read; the walk stops at the first IDAT (the studio
    writes its ids right after the header) or at anything malformed.

    Args:
        path: Any file.

    Returns:
        The ids, or None for a file that is not a PNG, has no well-formed `dlx-art` chunk
        before its pixels, or cannot be read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    try:
        head = os.pread(fd, _FIRST_READ, 0) if hasattr(os, "pread") else os.read(fd, _FIRST_READ)
        if not head.startswith(png.PNG_SIGNATURE):
            return None
        pos = len(png.PNG_SIGNATURE)
        for _ in range(1000):  # a real PNG has a handful of chunks before IDAT
            header = _read_at(fd, head, pos, 8)
            if len(header) < 8:
                return None
            length, ctype = png.CHUNK_HEAD.unpack(header)
            if ctype in (b"IDAT", b"IEND") or not ctype.isalpha() or length > 0x7FFF_FFFF:
                return None
            if ctype in png.TEXT_TYPES and length <= _MAX_ID_CHUNK:
                body = _read_at(fd, head, pos + 8, length)
                if body.startswith(metadata.DLX_CHUNK.encode("ascii") + b"\0"):
                    decoded = png.decode_text_chunk(ctype, body)
                    return None if decoded is None else metadata.decode_dlx_ids(decoded[1])
            pos += 12 + length
        return None
    except OSError:
        return None
    finally:
        os.close(fd)


def _read_at(fd: int, head: bytes, offset: int, size: int) -> bytes:
    if offset + size <= len(head):
        return head[offset:offset + size]
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
    return os.read(fd, size)  # pragma: no cover


# --- reconcile's checks -------------------------------------------------------------------------


def unlisted_folders(root: Path, folders: Iterable[str]) -> list[str]:
    """Folders under `Projects/` that no project row names and that hold something.

    A folder with neither `project.json` nor any file in `Assets/` holds nothing to lose, and
    is exactly what `create_project` makes in the moment before its row is committed: it is
    left alone, so that a check running beside another process never races a new project.
    Hidden folders are not projects.
    """
    known = set(folders)
    base = root / storage.PROJECTS_DIR
    try:
        entries = list(os.scandir(base))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(e.name for e in entries
                  if e.is_dir() and not e.name.startswith(".") and e.name not in known
                  and _holds_something(Path(e.path)))


def _holds_something(folder: Path) -> bool:
    if (folder / PROJECT_FILE).is_file():
        return True
    for kind in (storage.IMAGES, storage.MASKS):
        try:
            with os.scandir(folder / storage.ASSETS_DIR / kind) as entries:
                if any(not e.name.startswith(".") for e in entries):
                    return True
        except OSError:
            continue
    return False


def adopt_folders(library: LibraryBase, report: ReconcileReport) -> None:
    """Make every project folder without a row a project again (`project.json` or its name).

    The id in `project.json` is kept unless another project has it (a copied folder); a name
    already taken gets " (2)", " (3)", ...
    """
    from dlx_art.library.service import RENAME_JOURNAL

    if (library.root / RENAME_JOURNAL).exists():
        # a rename is moving a folder right now (or was interrupted: the next open finishes
        # it); its new folder has no row yet and must not become a second project
        log.info("a project rename is in progress; project folders are not adopted now")
        return
    projects = library._read('SELECT "id", "name", "folder" FROM "Project"')  # noqa: SLF001
    found = unlisted_folders(library.root, [f for _i, _n, f in projects if f])
    if not found:
        return
    ids = {i for i, _n, _f in projects}
    keys = {_name_key(n) for _i, n, _f in projects}
    from dlx_art.library.service import PROJECT_TYPES, normalise_name

    for folder in found:
        try:
            storage.project_dir(library.root, folder)
        except StorageError:
            # a name the studio refuses for a folder (control characters, a Windows device
            # name, ...): it stays reported, to be renamed by the person
            log.warning("project folder %r cannot be adopted: its name is not usable", folder)
            continue
        info = _read_json(library.root / storage.PROJECTS_DIR / folder / PROJECT_FILE)
        base = "Adopted project"  # when neither project.json nor the folder gives a usable name
        for candidate in (info.get("name"), folder):
            try:
                base = normalise_name(candidate)
                break
            except UsageError:  # not text, empty, control characters, too long
                continue
        name, n = base, 1
        while _name_key(name) in keys:
            n += 1
            name = f"{base} ({n})"
        given = info.get("id")
        usable_id = isinstance(given, str) and given.isprintable() and given.strip() == given \
            and 0 < len(given) <= 100 and given not in ids  # else: a copied folder, or junk
        project_id = given if usable_id else new_id()
        created = _when(info.get("createdAt"))
        values = (
            project_id, name, info.get("description") if isinstance(info.get("description"),
                                                                     str) else None,
            info.get("type") if info.get("type") in PROJECT_TYPES else "art",
            "archived" if info.get("status") == "archived" else "active",
            created, created, folder, _name_key(name),
        )
        with library._write_lock, library.engine.begin() as con:  # noqa: SLF001
            con.exec_driver_sql(
                'INSERT INTO "Project" ("id", "name", "description", "type", "status", '
                '"createdAt", "updatedAt", "folder", "nameKey") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
                values)
        ids.add(project_id)
        keys.add(_name_key(name))
        for kind in (storage.IMAGES, storage.MASKS):
            storage.ensure_dir(storage.asset_dir(library.root, folder, kind))
        log.warning("adopted the project folder %s as project %r (%s)", folder, name, project_id)
        report.adopted_projects.append(folder)


def assign_unowned(library: LibraryBase, rows: Sequence[Any], folders: dict[str, str],
                   report: ReconcileReport, repair: bool) -> None:
    """Report images with no project (NULL `projectId`); with `repair`, move each into the
    project whose folder its file is under (`folders`: folder -> project id)."""
    moves: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row.projectId is not None:
            continue
        report.unassigned.append(row.id)
        parts = row.filePath.split("/")
        if repair and len(parts) > 2 and parts[0] == storage.PROJECTS_DIR and parts[1] in folders:
            moves[folders[parts[1]]].append(row.id)
    if not moves:
        return
    with library._write_lock, library.engine.begin() as con:  # noqa: SLF001
        for project_id, ids in moves.items():
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                con.exec_driver_sql(
                    f'UPDATE "ArtAsset" SET "projectId" = ? WHERE "projectId" IS NULL AND "id" IN '
                    f'({", ".join("?" * len(chunk))})', (project_id, *chunk))
            report.reassigned.extend(ids)
    log.warning("moved %d images without a project into their folders' projects",
                len(report.reassigned))


def check_ownership(library: LibraryBase, rows: Sequence[Any], on_disk: set[str],
                    report: ReconcileReport, repair: bool,
                    read_ids: Callable[[Path], DlxIds | None] = read_own_ids) -> set[str]:
    """Check that each row's file carries that row's id; with `repair`, mark lost rows.

    Of rows sharing a file, the one whose id the file carries keeps it. When the file carries
    the id of an image that has no row at all, every row on it is marked lost and the file is
    left unreferenced, so that reconcile adopts it under its own id. A file carrying the id of
    an image that has a file of its own, and a shared file with no readable id, are only
    reported: nothing tells which row is right.

    Returns:
        The ids of the rows marked lost (their old paths are no longer referenced).
    """
    all_ids = {row.id for row in rows}
    groups: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        if row.trashedAt is None and row.filePath in on_disk:
            groups[row.filePath].append(row)
    lost: list[tuple[str, str]] = []
    for rel, group in sorted(groups.items()):
        ids = read_ids(library.root / rel)
        carried = ids.asset_id if ids is not None else None
        owners = [r for r in group if r.id == carried]
        if len(group) > 1:
            report.shared.append({"file": rel, "ids": sorted(r.id for r in group),
                                  "carries": carried})
        if carried is None:
            continue  # a file from elsewhere (no ids): nothing to compare with
        for row in group:
            if row.id != carried:
                report.wrong_file.append({"id": row.id, "file": rel, "carries": carried})
        if not repair:
            continue
        if owners:
            lost += [(r.id, rel) for r in group if r.id != carried]
        elif carried not in all_ids:
            lost += [(r.id, rel) for r in group]
    if lost:
        now = format_datetime(utc_now())
        lost_ids = {asset_id for asset_id, _rel in lost}
        # a mask another row keeps must not be moved by this row either
        kept_masks = {r.maskPath for r in rows if r.maskPath and r.id not in lost_ids}
        masks = {r.id: r.maskPath for r in rows if r.id in lost_ids}
        with library._write_lock, library.engine.begin() as con:  # noqa: SLF001
            for asset_id, rel in lost:
                con.exec_driver_sql(
                    'UPDATE "ArtAsset" SET "filePath" = ?, "missingAt" = coalesce("missingAt", ?)'
                    ' WHERE "id" = ? AND "filePath" = ?',
                    (rel + LOST_SUFFIX, now, asset_id, rel))
                if masks.get(asset_id) in kept_masks:
                    con.exec_driver_sql('UPDATE "ArtAsset" SET "maskPath" = NULL WHERE "id" = ?',
                                        (asset_id,))
                log.warning("image %s: its file %s holds another image; marked as lost",
                            asset_id, rel)
        report.lost.extend(asset_id for asset_id, _rel in lost)
    return {asset_id for asset_id, _rel in lost}


# --- the catalog file ---------------------------------------------------------------------------


def catalog_damage(path: Path) -> str | None:
    """Why the catalog file at `path` is damaged, in words, or None when SQLite finds it sound.

    Opens the file read-only, runs `PRAGMA integrity_check` and reads every catalog row once
    (SQLite's check does not look inside stored text); never writes and never runs
    migrations, so it works on any file.
    """
    if not path.exists():
        return None
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"The catalog file {path} cannot be read ({exc.strerror or exc}). {_DAMAGED_ADVICE}"
    if size == 0:
        return (f"The catalog file {path} is empty (0 bytes), although it should hold your "
                f"projects. {_DAMAGED_ADVICE}")
    problem = _quick_check(path, full=True)
    return None if problem is None else describe_damage(path, problem)


def describe_damage(path: Path, problem: str) -> str:
    """The message for a damaged catalog: what is wrong and what to do (SQLite's own words,
    which quote pages and damaged bytes, go to the log)."""
    log.warning("catalog %s is damaged: %s", path, problem)
    return (f"The catalog file {path} is damaged: part of it cannot be read (details in the "
            f"log). {_DAMAGED_ADVICE}")


def _connect_ro(path: Path, *, immutable: bool) -> sqlite3.Connection:
    """Read-only; `immutable` for a file no one else writes (a backup): SQLite then makes no
    `-wal` / `-shm` files beside it and takes no locks."""
    query = "mode=ro&immutable=1" if immutable else "mode=ro"
    return sqlite3.connect(f"{path.resolve().as_uri()}?{query}", uri=True, timeout=10)


def _quick_check(path: Path, *, full: bool = False, immutable: bool = False) -> str | None:
    from dlx_art.library import faults

    try:
        con = _connect_ro(path, immutable=immutable)
    except sqlite3.Error as exc:
        plain = faults.explain(exc, path.parent)
        if plain is not None:  # a full or read-only drive is not damage
            raise plain from exc
        return str(exc)
    try:
        con.text_factory = bytes  # its messages quote damaged bytes
        rows = con.execute("PRAGMA integrity_check" if full else "PRAGMA quick_check").fetchall()
        results = [bytes(r[0]).decode("utf-8", "replace") for r in rows]
        con.text_factory = str
        if results != ["ok"]:
            return "; ".join(results[:3]) + (" …" if len(results) > 3 else "")
        # SQLite checks structure, not content: bytes that land inside a stored text leave a
        # sound file whose rows cannot be read back (invalid UTF-8). Read every row once.
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
            "('Project', 'ArtAsset', 'alembic_version')")]
        for table in tables:
            for _row in con.execute(f'SELECT * FROM "{table}"'):
                pass
        return None
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        plain = faults.explain(exc, path.parent) if isinstance(exc, sqlite3.Error) else None
        if plain is not None:  # a full or read-only drive is not damage
            raise plain from exc
        return str(exc)
    finally:
        con.close()


def check_backup(path: Path) -> None:
    """Refuse a file that cannot serve as the catalog.

    Checks `PRAGMA integrity_check`, the tables `Project` and `ArtAsset` with the columns of
    the revision the file records, and the `alembic_version` table (a file without it must be
    a catalog exactly as Prisma makes it, which opening migrates).

    Raises:
        StorageError: Saying what is wrong with the file.
    """
    name = path.name
    try:
        with open(path, "rb") as handle:
            if handle.read(16) != b"SQLite format 3\x00":
                raise StorageError(f"The backup {name} is not an SQLite catalog; it was not used.")
    except OSError as exc:
        raise StorageError(f"The backup {name} cannot be read ({exc.strerror or exc}).") from exc
    problem = _quick_check(path, full=True, immutable=True)
    if problem is not None:
        log.warning("backup %s is damaged: %s", path, problem)
        raise StorageError(f"The backup {name} is damaged: part of it cannot be read (details "
                           "in the log); it was not used.")
    con = _connect_ro(path, immutable=True)
    try:
        tables = {r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "alembic_version" in tables:
            columns = _columns(con, "alembic_version")
            if "version_num" not in columns:
                raise StorageError(f"The backup {name} has no catalog version; it was not used.")
            versions = [r[0] for r in con.execute("SELECT version_num FROM alembic_version")]
            if len(versions) != 1 or versions[0] not in EXPECTED_COLUMNS:
                raise StorageError(f"The backup {name} has an unknown catalog version "
                                   f"({', '.join(map(str, versions)) or 'none'}); "
                                   "it was not used.")
            expected = EXPECTED_COLUMNS[versions[0]]
        else:
            expected = _PRISMA_COLUMNS
        for table, wanted in expected.items():
            if table not in tables:
                raise StorageError(f"The backup {name} has no {table} table; it was not used.")
            lacking = sorted(wanted - _columns(con, table))
            if lacking:
                raise StorageError(f"The backup {name} lacks the {table} columns "
                                   f"{', '.join(lacking)}; it was not used.")
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        log.warning("backup %s cannot be read: %s", path, exc)
        raise StorageError(f"The backup {name} cannot be read (details in the log); it was not "
                           "used.") from exc
    finally:
        con.close()


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in con.execute(f'PRAGMA table_info("{table}")')}


# --- backups ------------------------------------------------------------------------------------


def list_backups(root: Path) -> list[Path]:
    """The backups in `<root>/.backups`, oldest first (never opens the catalog)."""
    folder = root / storage.BACKUPS_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(BACKUP_GLOB) if p.is_file())


def backup_named(root: Path, name: str) -> Path:
    """The backup `name` exactly as `backups list` shows it; anything else is refused."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or ".." in name \
            or "\x00" in name or os.path.isabs(name):
        raise UsageError(f"Give a backup's name as `dlx-art backups list` shows it, not a path "
                         f"({name!r}).")
    for path in list_backups(root):
        if path.name == name:
            return path
    raise NotFound(f"There is no backup called {name!r}; `dlx-art backups list` shows them.")


def stage_backup(root: Path, name: str) -> Path:
    """Copy backup `name` next to the catalog and check the copy; the caller moves it in.

    Checking the copy, not the original, means what is checked is what is used. On refusal
    the copy is removed and nothing else has been touched.
    """
    source = backup_named(root, name)
    # os.urandom(6).hex() is secrets.token_hex(6), without loading hmac and random
    staged = root / f".{storage.DB_NAME}.{os.urandom(6).hex()}.part"  # one per restore
    try:
        shutil.copyfile(source, staged)
        check_backup(staged)
    except BaseException as exc:
        _remove_with_companions(staged)
        if isinstance(exc, OSError):
            raise StorageError(f"The backup {name} could not be copied: "
                               f"{exc.strerror or exc}.") from exc
        raise
    return staged


def _remove_with_companions(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def newest_good_backup(root: Path) -> Path | None:
    for path in reversed(list_backups(root)):
        try:
            check_backup(path)
        except StorageError as exc:
            log.warning("backup %s not usable: %s", path.name, exc.user_message)
            continue
        return path
    return None


def catalog_is_lost(root: Path) -> bool:
    """True for a 0-byte catalog while project folders exist (SQLite would open it as new)."""
    path = root / storage.DB_NAME
    try:
        if path.stat().st_size != 0:
            return False
    except OSError:
        return False
    return bool(unlisted_folders(root, ()))


def recover_lost_catalog(root: Path) -> tuple[Library | None, str]:
    """Replace a catalog found empty (0 bytes) while project folders exist.

    SQLite would open such a file as a new library and the person would see "no projects".
    The empty file is set aside in `.backups/` (never deleted), and the newest backup that
    passes `check_backup` takes its place (the caller, `Library.open`, then adopts the images
    and projects made since); without one, the catalog is rebuilt from the files and that
    library is returned.

    Returns:
        (the rebuilt library or None, the message for the person).
    """
    from dlx_art.library.backups import _set_catalog_aside
    from dlx_art.library.service import Library

    _set_catalog_aside(root, "damaged")
    backup = newest_good_backup(root)
    if backup is not None:
        Library.restore_backup(root, backup.name)
        message = (f"The catalog file was empty although project folders exist. It was set "
                   f"aside in {storage.BACKUPS_DIR}, restored from the backup {backup.name}, "
                   f"and images made since were found again from their files.")
        log.warning("%s", message)
        return None, message
    library, report = Library.rebuild(root)
    message = (f"The catalog file was empty although project folders exist, and there was no "
               f"usable backup. It was set aside in {storage.BACKUPS_DIR} and the catalog was "
               f"rebuilt from the image files ({report.summary()}).")
    log.warning("%s", message)
    return library, message


# --- small helpers ------------------------------------------------------------------------------


def _name_key(name: str) -> str:
    from dlx_art.library.service import name_key

    return name_key(name)


def _when(value: object) -> str:
    try:
        parsed = parse_datetime(value)
    except (ValueError, TypeError, OverflowError, OSError):
        parsed = None
    return format_datetime(parsed or utc_now())


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
