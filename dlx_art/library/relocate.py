"""Moving a library to another folder: copy every file, verify every copy, leave the original.

`move_library(source, target, progress)` copies what a library is made of (`LIBRARY_ITEMS`)
into an empty or new folder, then checks every copy against its original (size and SHA-256).
The original folder is never modified: the caller switches to the new folder (settings,
window) and the person deletes the old one when satisfied. On any error or a stop request the
partial copy is removed and nothing else changes.

Progress is reported through a `MoveProgress` (counters another thread may poll, an optional
`on_change(done, total, stage)` callback, and a stop flag). Used by the window (through the
session) and by `dlx-art library move DEST`. No Qt here; the catalog must be closed while it
is copied so its file is complete.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from dlx_art.errors import DlxError, StorageError, UsageError

log = logging.getLogger("dlx_art.library.relocate")

# what a library is made of; everything else in the storage root (with --home: config and
# logs) stays where it is. Thumbnails are a cache and are rebuilt.
LIBRARY_ITEMS = ("library.sqlite3", "Projects", ".trash", ".backups")
IGNORED_IN_TARGET = {".dlx-art.lock"}  # our own lock, taken on the target before copying
_CHUNK = 1 << 20
STOPPED = "Moving the library was stopped; nothing was changed."


class MoveProgress:
    """Counters shared between the copying thread and whoever shows them.

    `total` counts every file twice (copy, then verify); `stage` is "Preparing…", "Copying"
    or "Verifying". `on_change(done, total, stage)` is called from the copying thread after
    each step. `stop()` (any thread) makes the move give up at the next file.
    """

    def __init__(self, on_change: Callable[[int, int, str], None] | None = None) -> None:
        self.done = 0
        self.total = 0
        self.stage = "Preparing…"
        self._on_change = on_change
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def step(self, stage: str | None = None) -> None:
        """One more file done (or a new stage begun when `stage` is given)."""
        if stage is not None:
            self.stage = stage
        else:
            self.done += 1
        if self._on_change is not None:
            self._on_change(self.done, self.total, self.stage)

    def check(self) -> None:
        if self.stopped:
            raise UsageError(STOPPED)


def describe_move(progress: MoveProgress) -> str:
    """"Copying 12 of 40 files…" for a progress dialog or a terminal."""
    half = progress.total // 2
    if not half:
        return progress.stage
    count = progress.done - half if progress.stage == "Verifying" else progress.done
    return f"{progress.stage} {max(0, count)} of {half} files…"


def library_files(root: Path) -> list[Path]:
    """Every file that belongs to the library at `root`, as paths relative to it."""
    files: list[Path] = []
    for name in LIBRARY_ITEMS:
        item = root / name
        if item.is_file():
            files.append(Path(name))
        elif item.is_dir():
            for dirpath, _dirnames, filenames in os.walk(item):
                for filename in filenames:
                    files.append((Path(dirpath) / filename).relative_to(root))
    return files


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_move_target(source: Path, target: Path) -> None:
    """Raise `UsageError` unless `target` is a usable, empty folder outside `source`."""
    source, target = source.resolve(), target.expanduser().resolve()
    if target == source:
        raise UsageError("The library is already in that folder.")
    if target.is_relative_to(source) or source.is_relative_to(target):
        raise UsageError("Choose a folder that is neither inside the library nor contains it.")
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} is a file, not a folder.")
    if target.is_dir() and any(p.name not in IGNORED_IN_TARGET for p in target.iterdir()):
        raise UsageError(f"{target} is not empty. Choose an empty or new folder.")


def copy_files(source: Path, target: Path, files: list[Path], progress: MoveProgress) -> None:
    """Copy `files` (relative to `source`) into `target`, keeping times and modes."""
    progress.step("Copying")
    for rel in files:
        progress.check()
        dst = target / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, dst)
        progress.step()


def verify_copy(source: Path, target: Path, files: list[Path], progress: MoveProgress) -> None:
    """Raise `StorageError` unless every file in `target` equals its original (size, SHA-256)."""
    progress.step("Verifying")
    for rel in files:
        progress.check()
        src, dst = source / rel, target / rel
        if not dst.is_file() or src.stat().st_size != dst.stat().st_size \
                or sha256_of(src) != sha256_of(dst):
            raise StorageError(f"The copy of {rel.as_posix()} differs from the original; "
                               "the library was not moved.")
        progress.step()


def move_library(source: Path, target: Path, progress: MoveProgress | None = None) -> int:
    """Copy the library at `source` into the empty folder `target` and verify every file.

    The catalog must be closed (no open connections) so its file is complete. Returns the
    number of files copied. On any error or a stop request the partial copy is removed and
    `StorageError` (or `UsageError`) is raised; `source` is never modified.
    """
    progress = progress or MoveProgress()
    source, target = Path(source), Path(target).expanduser()
    check_move_target(source, target)
    files = library_files(source)
    progress.total = len(files) * 2
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        copy_files(source, target, files, progress)
        verify_copy(source, target, files, progress)
    except OSError as exc:
        _remove_partial(target, created)
        raise StorageError(f"Could not copy the library to {target}: {exc.strerror or exc}.") \
            from exc
    except DlxError:
        _remove_partial(target, created)
        raise
    log.info("copied and verified %d library files to %s", len(files), target)
    return len(files)


copy_library = move_library  # the name the settings dialog and older callers use


def _remove_partial(target: Path, created: bool) -> None:
    if created:
        shutil.rmtree(target, ignore_errors=True)
        return
    for name in LIBRARY_ITEMS:  # the folder existed (empty): remove only what we put there
        item = target / name
        if item.is_dir():
            shutil.rmtree(item, ignore_errors=True)
        elif item.exists():
            item.unlink(missing_ok=True)
