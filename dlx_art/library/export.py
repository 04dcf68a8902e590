"""Writing an image out of the library without destroying anything.

`export` is the only command that writes to a place the person names, so it is the one that
could overwrite a file by mistake. The rules:

- an existing file is replaced only when asked (`force`), and then atomically: the bytes go to
  a new temporary file (created with ``O_EXCL``, so it cannot clobber anything either) that is
  renamed over the target, never written through it (a symlink or a hard link at the target is
  replaced, the file it points at is untouched);
- nothing inside the storage root is ever written, even with `force`: the catalog and its
  ``-wal``/``-shm`` files, images, masks, backups, thumbnails, the trash. Symlinks are resolved
  first and folders are compared by identity (device and inode), so another spelling of the
  same place (a symlink, a different case on a case-insensitive drive, a bind mount of the root)
  is refused too;
- special files (FIFOs, devices, sockets) are refused without being opened, so a FIFO nobody
  reads cannot block the command.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dlx_art.errors import StorageError, UsageError
from dlx_art.library import storage

__all__ = ["export_target", "write_export"]


def export_target(root: Path, dest: str | os.PathLike[str], file_name: str, *,
                  force: bool = False) -> Path:
    """The file an export to `dest` writes, after checking that writing it destroys nothing.

    Args:
        root: The storage root of the library.
        dest: A file name, or an existing folder (the image keeps `file_name` inside it).
        file_name: The image's own file name.
        force: Allow replacing an existing regular file (never one inside the storage root).

    Raises:
        UsageError: If `dest` is empty, names a special file or a folder where a file should
            go, lies inside the storage root, or exists and `force` is not given.
    """
    text = os.fspath(dest)
    if not text.strip():
        raise UsageError("The export destination is empty: give a file name or a folder.")
    if "\x00" in text:
        raise UsageError("The export destination contains a NUL character.")
    target = Path(text).expanduser()
    if _is_dir(target):
        target = target / file_name
    _refuse_inside_root(root, target)
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise UsageError(f"Cannot export to {target}: {exc.strerror or exc}.") from None
    found: os.stat_result | None = info
    if stat.S_ISLNK(info.st_mode):
        try:
            found = os.stat(target)  # what the link points at (it is replaced, not written)
        except OSError:
            found = None  # a dangling link: replacing it with --force harms nothing
    if found is not None and not stat.S_ISREG(found.st_mode):
        kind = _kind(found.st_mode)
        raise UsageError(f"Not exporting to {target}: it is {kind}, not a regular file.")
    if not force:
        raise UsageError(f"Not exporting to {target}: a file with that name already exists. "
                         "Use --force to replace it, or choose another name.")
    return target


def write_export(root: Path, target: Path, data: bytes, *, force: bool = False) -> Path:
    """Write `data` to `target` (checked with `export_target`) atomically.

    The containment check is repeated just before the write (a folder may have been swapped
    for a symlink meanwhile). Without `force` the final rename refuses an existing name, so a
    file created by someone else in between is not overwritten either.

    Raises:
        UsageError: See `export_target`.
        StorageError: If the write fails (no space, no permission, ...); nothing is left behind.
    """
    storage.ensure_dir(target.parent)
    _refuse_inside_root(root, target)
    try:
        storage.atomic_write(target, data, overwrite=force)
    except StorageError as exc:
        if not force and os.path.lexists(target):
            raise UsageError(f"Not exporting to {target}: a file with that name already "
                             "exists. Use --force to replace it, or choose another name.") \
                from exc
        raise
    return target


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _refuse_inside_root(root: Path, target: Path) -> None:
    """Raise UsageError if `target` (symlinks resolved) lies in the storage root `root`."""
    try:
        root_info = os.stat(root)
    except OSError:
        return  # no library there: nothing to protect
    try:
        resolved = Path(os.path.realpath(target))
    except (OSError, ValueError) as exc:  # symlink loop and friends
        raise UsageError(f"Cannot export to {target}: {exc}.") from None
    # Compare every existing folder above the target with the root by identity (device and
    # inode), not by spelling: case-insensitive drives, bind mounts and symlinked roots.
    for folder in (resolved, *resolved.parents):
        try:
            info = os.stat(folder)
        except OSError:
            continue
        if os.path.samestat(info, root_info):
            raise UsageError(
                f"Not exporting to {target}: it is inside the library's storage folder "
                f"{root}, whose files (catalog, images, masks, backups) are never overwritten. "
                "Choose a place outside it.")
