"""Projects: creating, renaming (crash-safe, journalled), archiving, and their folders."""

from __future__ import annotations

import json
import logging
import os
import shutil
import unicodedata
from pathlib import Path
from typing import Any

from dlx_art.errors import DlxError, InvalidName, NotFound, UsageError
from dlx_art.library import lock, names, sql, storage
from dlx_art.library.base import LibraryBase, _begin_immediate, _Obj, _write_json
from dlx_art.library.records import (
    PROJECT_SELECT,
    ProjectInfo,
    new_id,
    utc_now,
)

log = logging.getLogger("dlx_art.library")

PROJECT_TYPES = ("art", "unified", "dev")
PROJECT_FILE = "project.json"
RENAME_JOURNAL = ".pending-rename.json"
MAX_NAME_LENGTH = 200


def normalise_name(name: object) -> str:
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


class ProjectsMixin(LibraryBase):
    """Projects of a library (mixed into `service.Library`)."""

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
        from sqlalchemy import insert

        P = sql.tables().project
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
        from sqlalchemy import select

        P = sql.tables().project
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
                if names._name_key(new_folder) != names._name_key(old_folder):
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
        from sqlalchemy import update

        P = sql.tables().project
        project = self.get_project(name_or_id)
        with self._write_lock, self.engine.begin() as con:
            con.execute(update(P).where(P.c.id == project.id).values(
                status="archived" if archived else "active", updatedAt=utc_now()))
        updated = self.get_project(project.id)
        self._write_project_file(updated)
        return updated

    def touch_project(self, project_id: str) -> None:
        """Mark a project as just used (for the most-recently-used order)."""
        from sqlalchemy import update

        P = sql.tables().project
        with self._write_lock, self.engine.begin() as con:
            con.execute(update(P).where(P.c.id == project_id).values(lastOpenedAt=utc_now()))

    def _check_name_free(self, con: Any, name: str, except_id: str | None = None) -> None:
        from sqlalchemy import select

        P = sql.tables().project
        key = name_key(name)
        for row in con.execute(select(P.c.id, P.c.name)):
            if row.id != except_id and name_key(row.name) == key:
                raise InvalidName(f"A project called {row.name!r} already exists.")

    def _new_folder(self, con: Any, name: str) -> str:
        """Create a new project folder for `name` and return its name.

        The folder is claimed with `storage.claim_folder` (an exclusive mkdir), so processes
        creating projects with clashing names at once never share one folder.
        """
        from sqlalchemy import select

        P = sql.tables().project
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
        if project.folder:  # every read of a project passes here: no SQLAlchemy for it
            return project
        from sqlalchemy import select, update

        P = sql.tables().project
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
        from sqlalchemy import func, update

        A = sql.tables().asset
        P = sql.tables().project
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


def _empty_dir(path: Path) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return False
