"""Integrity: exclusive maintenance, reconciling the catalog with the files, repairs."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, NamedTuple

from dlx_art.errors import BadImageFile
from dlx_art.library import doctor, lock, metadata, sql, staging, storage
from dlx_art.library.base import LibraryBase
from dlx_art.library.doctor import ReconcileReport
from dlx_art.library.records import (
    new_id,
    parse_datetime,
    utc_now,
)
from dlx_art.library.staging import content_hash

log = logging.getLogger("dlx_art.library")


class IntegrityMixin(LibraryBase):
    """Keeping catalog and files in step (mixed into `service.Library`)."""

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
        # Reads go through the plain sqlite3 connection and SQLAlchemy is loaded only when
        # something must be written: a clean library is checked at every start, and the
        # engine would cost the window about 45 MB (issue 11's memory figure).
        report = ReconcileReport(deferred=not free)
        if repair:
            doctor.adopt_folders(self, report)
        rows = [_Row(*r) for r in self._read(
            'SELECT "id", "filePath", "maskPath", "trashedAt", "missingAt", "projectId" '
            'FROM "ArtAsset"')]
        folders = {f: pid for pid, f in self._read('SELECT "id", "folder" FROM "Project"') if f}
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
        back = [r.id for r in rows if r.missingAt is not None and r.filePath in on_disk
                and r.id not in lost]
        if (repair and missing_now) or back:
            self._flag_missing(missing_now if repair else [], back)
        report.integrity = self._integrity()
        report.search_repaired = self._repair_search_index()
        log.info("reconcile: %s", report.summary())
        return report

    def _flag_missing(self, missing: list[str], back: list[str]) -> None:
        """Set `missingAt` on the rows `missing` (if not set yet), clear it on `back`."""
        from sqlalchemy import update

        A = sql.tables().asset
        with self._write_lock, self.engine.begin() as con:
            if missing:
                con.execute(update(A).where(A.c.id.in_(missing), A.c.missingAt.is_(None))
                            .values(missingAt=utc_now()))
            if back:
                con.execute(update(A).where(A.c.id.in_(back)).values(missingAt=None))

    def _adopt(self, rel: str, folders: dict[str, str], ids: set[str], orphan_masks: set[str],
               repair: bool) -> str | None:
        from sqlalchemy import insert

        A = sql.tables().asset
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
            if own.parent_id and "postprocessing" in probe.text:
                values["kind"] = "upscale"  # A1111's extras (upscale) write this chunk
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
        row: dict[str, Any] = {
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
        return str(self._read("PRAGMA quick_check")[0][0])

    def _repair_search_index(self) -> bool:
        """Rebuild the FTS index if it is out of step with the catalog (e.g. after VACUUM)."""
        bad = self._read(
            'SELECT (SELECT count(*) FROM "ArtAsset") != (SELECT count(*) FROM '
            '"ArtAssetSearch") OR EXISTS (SELECT 1 FROM "ArtAssetSearch" f JOIN "ArtAsset" a '
            "ON a.rowid = f.rowid WHERE a.id != f.assetId)"
        )[0][0]
        if not bad:
            return False
        with self._write_lock, self.engine.begin() as con:
            con.exec_driver_sql('DELETE FROM "ArtAssetSearch"')
            con.exec_driver_sql(
                'INSERT INTO "ArtAssetSearch" (rowid, assetId, prompt, negative) '
                "SELECT rowid, id, prompt, coalesce(negative, '') FROM \"ArtAsset\""
            )
        return True


class _Row(NamedTuple):
    """The columns of an `ArtAsset` row that reconcile compares with the files."""

    id: str
    filePath: str
    maskPath: str | None
    trashedAt: str | None
    missingAt: str | None
    projectId: str | None


def _carries_own_ids(path: Path) -> bool:
    return doctor.read_own_ids(path) is not None


def _scandir(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []
