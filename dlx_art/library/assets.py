"""Adding images: one generated image (`add_image`) and imports of many files (`import_paths`).

Crash safety of adding an image: the mask and the image are written atomically (temporary file,
fsync, rename) *before* the row is committed, and each carries a small `dlx-art` chunk with its
ids. A crash between the rename and the commit leaves a complete file that names its own asset,
which `reconcile()` adopts.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import BrokenExecutor, Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlx_art.errors import DlxError, StorageError
from dlx_art.library import lock, metadata, sql, staging, storage, workers
from dlx_art.library.base import _begin_immediate, _Obj, _with_defaults
from dlx_art.library.projects import ProjectsMixin
from dlx_art.library.reads import ReadsMixin
from dlx_art.library.records import (
    AssetInfo,
    ProjectInfo,
)
from dlx_art.library.staging import Prepared

log = logging.getLogger("dlx_art.library")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
#: From this many files an import stages them in worker processes rather than threads.
PROCESS_IMPORT_MIN = 400


@dataclass
class ImportReport:
    imported: list[AssetInfo] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # file names already in the project
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)

    def to_json(self) -> dict[str, object]:
        return {
            "imported": [a.to_json() for a in self.imported],
            "duplicates": self.duplicates,
            "rejected": [{"path": p, "reason": r} for p, r in self.rejected],
        }


class AssetsMixin(ProjectsMixin, ReadsMixin):
    """Adding images to a library (mixed into `service.Library`)."""

    def add_image(
        self,
        project_id: str,
        data: bytes,
        *,
        values: dict[str, Any] | None = None,
        mask: bytes | None = None,
        file_stem: str | None = None,
        thumbnail: bool = False,
    ) -> AssetInfo:
        """Store one image (and its mask) in a project and catalogue it.

        `values` holds catalog fields (prompt, negative, model, seed, steps, cfgScale, kind,
        sampler, scheduler, denoisingStrength, backend, backendReason, infotext, parentId,
        approximate). PNG files get the A1111 `parameters` chunk (built from `values` when the
        image carries none) and the `dlx-art` ids chunk, without re-encoding the pixels.
        """
        project = self.get_project(project_id)
        probe = metadata.probe_image(data, "image")
        if project.folder is None:  # pragma: no cover - get_project always gives one
            raise StorageError("The project has no folder.")
        prepared = staging.prepare(project.id, project.folder, probe, data, values or {}, mask,
                                   file_stem, "image")
        # a writer from claiming its names to committing its row (see `lock.writing`)
        with lock.writing(self.root), self._write_lock:
            self._write_files(prepared)
            try:
                with self.engine.begin() as con:
                    _insert_asset(con, prepared.row)
            except Exception as exc:
                prepared.remove_files()
                raise StorageError(f"The image could not be catalogued: {exc}") from exc
        asset = AssetInfo.from_row(_Obj(_with_defaults(prepared.row)))
        if thumbnail:
            self.make_thumbnail(asset)
        return asset

    def _set_paths(self, prepared: Prepared) -> None:
        """Put the claimed files' catalog paths into the row."""
        assert prepared.image_path is not None
        # built from parts already checked (a single safe folder name, a safe file name):
        # cheaper than resolving the path again
        prefix = f"{storage.PROJECTS_DIR}/{prepared.folder}/{storage.ASSETS_DIR}"
        prepared.row["filePath"] = f"{prefix}/{storage.IMAGES}/{prepared.image_path.name}"
        prepared.row["maskPath"] = None
        if prepared.mask_path is not None:
            prepared.row["maskPath"] = f"{prefix}/{storage.MASKS}/{prepared.mask_path.name}"

    def _taken(self, folder: Path) -> set[str]:
        """The names in `folder`, listed once and then kept up to date: a hint, never a guard.

        Listing a folder of 40,000 images costs tens of milliseconds, far more than the save
        itself. The list is read again when the folder changed behind our back (its
        modification time differs from the one after our own last write). While an import
        stages files into a folder (`_trusted`: its workers' temporary files keep changing that
        time), the list is kept as it is. Every name tried is added to it by
        `storage.claim_name`, which claims each name atomically and moves on to the next one
        when another process (unknown to this list) holds it: a stale list costs a retry, never
        an overwritten file.
        """
        cached = self._names.get(folder)
        if cached is not None and folder in self._trusted:
            return cached[1]
        mtime = _mtime_ns(folder)
        if cached is None or cached[0] != mtime:
            cached = (mtime, storage.taken_names(folder))
            self._names[folder] = cached
        return cached[1]

    def _written(self, prepared: Prepared) -> None:
        """Remember the folders' times after our own writes (see `_taken`)."""
        for path in (prepared.image_path, prepared.mask_path):
            if path is not None and path.parent in self._names and \
                    path.parent not in self._trusted:
                self._names[path.parent] = (_mtime_ns(path.parent),
                                            self._names[path.parent][1])

    def _write_files(self, prepared: Prepared) -> None:
        """Write an image (and mask) durably under names claimed for it; on failure neither is left.

        Each file is written whole to a temporary file, fsynced, and only then given a free name
        with `storage.claim_name` (atomic across processes; a clash moves on to the next name).
        The image is claimed first and its mask is named after it (``<image>-mask.png``), so
        that `reconcile` can pair them if a crash comes before the row is committed. The row's
        paths are set here. Call with `lock.writing` held (until the row is committed) and the
        write lock.
        """
        images = storage.asset_dir(self.root, prepared.folder, storage.IMAGES)
        masks = storage.asset_dir(self.root, prepared.folder, storage.MASKS)
        try:
            storage.ensure_dir(images)
            # the names are looked up before our temporary file changes the folder's time,
            # else `_taken` would list the whole folder again on every save
            taken = self._taken(images)
            prepared.temp_path = storage.write_temp(
                images, f"{prepared.stem}.{prepared.row['fileType']}", prepared.image_bytes())
            prepared.image_path = storage.claim_name(
                prepared.temp_path, images, prepared.stem, prepared.row["fileType"],
                taken=taken)
            prepared.temp_path = None
            if prepared.mask is not None and prepared.mask_type is not None:
                stem = f"{prepared.image_path.stem}-mask"
                storage.ensure_dir(masks)
                taken = self._taken(masks)
                prepared.temp_path = storage.write_temp(
                    masks, f"{stem}.{prepared.mask_type}", prepared.mask)
                prepared.mask_path = storage.claim_name(
                    prepared.temp_path, masks, stem, prepared.mask_type, taken=taken)
                prepared.temp_path = None
            for folder in {p.parent for p in (prepared.image_path, prepared.mask_path) if p}:
                storage._fsync_dir(folder)  # the new names survive a power cut
        except BaseException:
            prepared.remove_files()
            for folder in (images, masks):
                if folder not in self._trusted:
                    self._names.pop(folder, None)  # list it again next time
            raise
        self._set_paths(prepared)
        self._written(prepared)

    def import_paths(
        self,
        project_id: str,
        paths: Iterable[str | os.PathLike[str]],
        *,
        on_progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        batch: int = 256,
    ) -> ImportReport:
        """Import image files and folders (recursively) into a project.

        Broken, truncated, empty, non-image and decompression-bomb files are rejected with a
        message naming the file; the others are imported with the metadata found in them. A
        file whose picture is already in the project (same content hash) is reported as a
        duplicate and not copied again; of two equal files in one import the first one listed
        is kept.

        Work is pipelined in batches: workers (processes from `PROCESS_IMPORT_MIN` files, else
        threads; see `staging`) read, check and stage the files of batch k+1 while the kernel
        is asked to read batch k+2 ahead; this thread names batch k's files and a flusher
        thread makes them durable; a batch's rows commit only after its files are on disk. A
        crash in between leaves temporary files (removed by `reconcile`) or complete files that
        name their own asset (adopted by it).
        Stopping (`should_stop`) or a failure keeps the batches already committed and removes
        the files of the ones in flight.
        """
        project = self.get_project(project_id)
        if project.folder is None:  # pragma: no cover - get_project always gives one
            raise StorageError("The project has no folder.")
        if threading.current_thread() is not threading.main_thread():
            # a background import: let an interactive thread go first
            workers.lower_thread_priority()
        files = list(_expand(paths))
        report = ImportReport()
        in_catalog = frozenset(h for (h,) in self._read(
            'SELECT "contentHash" FROM "ArtAsset" WHERE "projectId" = ? AND "contentHash" IS '
            "NOT NULL", (project.id,)))
        images = storage.asset_dir(self.root, project.folder, storage.IMAGES)
        storage.ensure_dir(images)
        with self._write_lock:
            self._taken(images)  # listed once here; _name_staged keeps it current
            self._trusted[images] = self._trusted.get(images, 0) + 1
        try:
            # a writer for the whole run: its staged temporary files and its named files
            # whose batch is not committed yet are not another reconcile's to clean or adopt
            with lock.writing(self.root):
                self._import_batches(project, images, files, in_catalog, report, batch,
                                     on_progress, should_stop)
        finally:
            with self._write_lock:
                self._trusted[images] -= 1
                if not self._trusted[images]:
                    del self._trusted[images]
                    if images in self._names:
                        self._names[images] = (_mtime_ns(images), self._names[images][1])
        for path, reason in report.rejected:
            log.info("import rejected %s: %s", path, reason)
        return report

    def _import_batches(self, project: ProjectInfo, images: Path, files: list[Path],
                        in_catalog: frozenset[str], report: ImportReport, size: int,
                        on_progress: Callable[[int, int], None] | None,
                        should_stop: Callable[[], bool] | None) -> None:
        assert project.folder is not None
        folder: str = project.folder
        batches = [files[i:i + size] for i in range(0, len(files), size)]
        processes = len(files) >= PROCESS_IMPORT_MIN and workers.processes_allowed()
        task = 16 if processes else 4  # files per worker task
        known = None if processes else in_catalog  # a worker process got it at start-up
        seen: set[str] = set()  # content hashes imported by this run, in file order
        handed_off: set[int] = set()  # ids of items whose batch reached the flusher
        flushing: tuple[list[Prepared], Future[None]] | None = None
        current: list[tuple[list[Path], Future[list[Prepared | str | None]]]] = []
        pending: list[tuple[list[Path], Future[list[Prepared | str | None]]]] = []
        done = 0
        with _import_executor(processes, in_catalog) as pool, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlx-import-ahead") as ahead, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="dlx-import-flush") as flusher:

            def submit(index: int) -> list[tuple[list[Path], Future[list[Prepared | str | None]]]]:
                if index + 1 < len(batches):
                    ahead.submit(_read_ahead, batches[index + 1])
                if index >= len(batches):
                    return []
                chunk = batches[index]
                return [(chunk[i:i + task],
                         pool.submit(staging.stage_files, chunk[i:i + task], project.id,
                                     folder, images, known))
                        for i in range(0, len(chunk), task)]

            try:
                pending = submit(0)
                for index in range(len(batches)):
                    stop = bool(should_stop and should_stop())
                    current, pending = pending, [] if stop else submit(index + 1)
                    written: list[Prepared] = []
                    for paths_, future in current:
                        for path, outcome in zip(paths_, future.result(), strict=True):
                            done += 1
                            if outcome is None:
                                report.duplicates.append(str(path))
                            elif isinstance(outcome, str):
                                report.rejected.append((str(path), outcome))
                            elif outcome.row["contentHash"] in seen:
                                outcome.remove_files()  # an equal file listed earlier won
                                report.duplicates.append(str(path))
                            else:
                                seen.add(outcome.row["contentHash"])
                                outcome.source = str(path)
                                self._name_staged(outcome)
                                written.append(outcome)
                    if flushing is not None:
                        report.imported += self._catalog_batch(*flushing, report.duplicates)
                        flushing = None
                    if written:
                        handed_off.update(id(item) for item in written)
                        flushing = (written, flusher.submit(_flush_to_disk,
                                                            [i.image_path for i in written
                                                             if i.image_path is not None]))
                    current = []
                    if on_progress:
                        on_progress(done, len(files))
                    if stop:
                        break
            except DlxError:
                raise
            except BrokenExecutor as exc:
                raise StorageError("Import failed: a worker process stopped unexpectedly "
                                   f"({exc}).") from exc
            except Exception as exc:
                raise StorageError(f"Import failed while saving: {exc}") from exc
            finally:
                _discard_in_flight(current + pending, handed_off)
                if flushing is not None:  # written before the stop or failure: still catalogued
                    report.imported += self._catalog_batch(*flushing, report.duplicates)

    def _name_staged(self, item: Prepared) -> None:
        """Give a staged import its final name in the project's folder.

        The name is claimed atomically (`storage.claim_name`): if another process took it
        since the folder was listed, the next free name is used, never the other's file.

        Raises:
            StorageError: If the rename fails; the staged file is removed.
        """
        with self._write_lock:
            assert item.temp_path is not None
            images = storage.asset_dir(self.root, item.folder, storage.IMAGES)
            try:
                item.image_path = storage.claim_name(item.temp_path, images, item.stem,
                                                     item.row["fileType"],
                                                     taken=self._taken(images))
            except StorageError:
                item.remove_files()
                raise
            item.temp_path = None
            self._set_paths(item)

    def _catalog_batch(self, written: list[Prepared], flushed: Future[None],
                       duplicates: list[str]) -> list[AssetInfo]:
        """Commit a written batch's rows once its files are durable; else remove the files.

        The project's pictures are checked again under SQLite's write lock: another process
        importing the same files at the same time may have catalogued some of them since this
        import started. Those are reported as duplicates (their files removed), so two imports
        side by side leave each picture once, as two imports one after the other do.
        """
        from sqlalchemy import insert, select

        A = sql.tables().asset
        kept: list[Prepared] = []
        try:
            flushed.result()
            with self._write_lock, self.engine.begin() as con:
                _begin_immediate(con)
                project_id = written[0].row["projectId"]
                hashes = [i.row["contentHash"] for i in written]
                present = {h for (h,) in con.execute(select(A.c.contentHash).where(
                    A.c.projectId == project_id, A.c.contentHash.in_(hashes)))}
                for item in written:
                    (kept if item.row["contentHash"] not in present else []).append(item)
                if kept:
                    con.execute(insert(A), [i.row for i in kept])
        except Exception as exc:
            for item in written:
                item.remove_files()
            if isinstance(exc, DlxError):
                raise
            raise StorageError(f"Import failed while saving: {exc}") from exc
        for item in written:
            if item not in kept:  # catalogued by another import meanwhile
                item.remove_files()
                duplicates.append(item.source or item.stem)
        return [AssetInfo.from_row(_Obj(_with_defaults(i.row))) for i in kept]


def _insert_asset(con: Any, row: dict[str, Any]) -> None:
    """INSERT one catalog row in `con`'s transaction, as `insert(ArtAsset)` would.

    The SQL and the value conversions (the model's column types: dates as Prisma's text,
    booleans as 0/1) are built once per set of columns; executing a Core `insert(...)` per
    saved image spent more time preparing the statement than SQLite spent inserting the row.
    """
    statement, converters = _asset_insert(con.dialect, tuple(row))
    con.exec_driver_sql(statement, tuple(
        value if convert is None else convert(value)
        for value, convert in zip(row.values(), converters, strict=True)))


@functools.lru_cache(maxsize=16)
def _asset_insert(dialect: Any, keys: tuple[str, ...]) -> tuple[
        str, tuple[Callable[[Any], Any] | None, ...]]:
    columns = sql.tables().asset.c
    converters = tuple(columns[key].type.bind_processor(dialect) for key in keys)  # KeyError:
    # not a column of the table (a bug)
    names = ", ".join(f'"{key}"' for key in keys)
    marks = ", ".join("?" for _ in keys)
    return f'INSERT INTO "ArtAsset" ({names}) VALUES ({marks})', converters


def _expand(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in IMAGE_SUFFIXES and \
                        not child.name.startswith("."):
                    yield child
        else:
            yield path


def _discard_in_flight(tasks: list[tuple[list[Path], Future[list[Prepared | str | None]]]],
                       handed_off: set[int]) -> None:
    """Remove the files that workers staged for batches that will not be catalogued."""
    for _paths, future in tasks:
        future.cancel()
    for _paths, future in tasks:
        if future.cancelled():
            continue
        try:
            outcomes = future.result()
        except BaseException:  # noqa: BLE001 - a failed task removed its own files
            continue
        for outcome in outcomes:
            if isinstance(outcome, Prepared) and id(outcome) not in handed_off:
                outcome.remove_files()


def _import_executor(processes: bool, known: frozenset[str]) -> Executor:
    """The pool that stages an import's files: worker processes for a large import, else threads.

    Processes avoid the GIL (see `workers`): a large import on 2 cores runs about twice as fast,
    and a window beside it stays responsive. Starting them costs a fraction of a second, so
    small imports use threads.
    """
    if processes:
        return workers.process_pool(staging.init_worker, (known,))
    return ThreadPoolExecutor(max_workers=workers.worker_count(),
                              initializer=workers.lower_thread_priority,
                              thread_name_prefix="dlx-import")


def _read_ahead(paths: list[Path]) -> None:
    """Ask the kernel to start reading files that will be needed soon (Linux/macOS; no-op else).

    The reads then overlap the checking and writing of the files before them instead of
    stalling the workers one file at a time on a cold disk.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:  # pragma: no cover - Windows, macOS
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue  # reported by the worker that reads it
        try:
            advise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)


def _flush_to_disk(paths: list[Path]) -> None:
    if hasattr(os, "sync"):
        os.sync()  # one call for the whole batch, far cheaper than one fsync per file
        return
    for path in paths:  # pragma: no cover - Windows
        with open(path, "rb+") as handle:
            os.fsync(handle.fileno())


def _mtime_ns(folder: Path) -> int | None:
    try:
        return folder.stat().st_mtime_ns
    except OSError:
        return None
