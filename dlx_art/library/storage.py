"""The library's layout on disk: safe names, containment in the storage root, atomic writes.

```
<root>/library.sqlite3
<root>/Projects/<Project Folder>/Assets/Images/<file>
<root>/Projects/<Project Folder>/Assets/Masks/<file>
<root>/.thumbnails/   <root>/.trash/   <root>/.backups/
```

Everything here is about one promise: no project name, imported file name or path read back
from the catalog can make the app read or write outside the storage root. Names are made safe
for Windows, macOS and Linux at once, so a library can be copied or synced between them, and
catalog paths (`filePath`) are relative, `/`-separated and checked before use.

No Qt here; the functions are plain and thread-safe.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sys
import unicodedata
from collections.abc import Iterable
from itertools import count
from pathlib import Path, PurePosixPath

from dlx_art.errors import DiskFull, ReadOnlyStorage, StorageError
from dlx_art.library.names import (
    _DEFAULT_STEM,
    _EXTENSION,
    MAX_FOLDER_BYTES,
    _bad_char,
    _clean_chars,
    _clean_stem,
    _name_key,
    _reserved_stem,
    _split_extension,
    safe_file_name,
    safe_folder_name,
    unique_folder_name,
)

__all__ = [
    "ASSETS_DIR",
    "BACKUPS_DIR",
    "DB_NAME",
    "IMAGES",
    "MASKS",
    "MAX_FOLDER_BYTES",
    "PROJECTS_DIR",
    "THUMBNAILS_DIR",
    "TRASH_DIR",
    "asset_dir",
    "atomic_write",
    "claim_folder",
    "claim_name",
    "disk_free",
    "ensure_dir",
    "is_inside",
    "is_temp_file",
    "move_onto_claim",
    "move_within",
    "project_dir",
    "resolve_inside",
    "safe_file_name",
    "safe_folder_name",
    "split_name",
    "to_relative",
    "unique_file_path",
    "unique_folder_name",
    "write_new_file",
    "write_temp",
]

DB_NAME = "library.sqlite3"
PROJECTS_DIR = "Projects"
ASSETS_DIR = "Assets"
IMAGES = "Images"
MASKS = "Masks"
THUMBNAILS_DIR = ".thumbnails"
TRASH_DIR = ".trash"
BACKUPS_DIR = ".backups"

_WINDOWS = sys.platform == "win32"
_DRIVE = re.compile(r"^[A-Za-z]:")
# `.<final name>.<token>.part`; the token is ours (hex) or another writer's (e.g. a pid).
_TEMP_NAME = re.compile(r"\.(?P<final>.+)\.(?P<token>[0-9A-Za-z_-]{1,32})\.part", re.DOTALL)


# --- containment --------------------------------------------------------------------------------


def _resolve(path: Path) -> Path:
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loops, NUL bytes
        raise StorageError(f"Cannot use the path {str(path)!r}: {exc}.") from exc


def _inside(root_resolved: Path, path: Path) -> bool:
    try:
        real = Path(path).resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return real != root_resolved and real.is_relative_to(root_resolved)


def is_inside(root: Path, path: Path) -> bool:
    """Whether `path`, with symlinks resolved, lies strictly below `root` (resolved).

    Args:
        root: The storage root.
        path: Any path; relative paths are taken from the working directory.

    Returns:
        False for the root itself, for anything outside it and for paths that cannot be
        resolved (symlink loops, NUL bytes).
    """
    try:
        root_resolved = Path(root).resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return _inside(root_resolved, path)


def _component_problem(part: str) -> str | None:
    """Why `part` cannot be one component of a catalog path, or None if it can."""
    if part == "":
        return "it has an empty component"
    if part in (".", ".."):
        return f"it contains {part!r}"
    if any(_bad_char(char) for char in part):
        return f"the name {part!r} contains characters that are not allowed"
    if part.endswith((" ", ".")):
        return f"the name {part!r} ends with a space or a dot"
    if _reserved_stem(part) is not None:
        return f"the name {part!r} is reserved on Windows"
    return None


def _relative_problem(relative: str) -> str | None:
    """Why `relative` is not a valid catalog path, or None if it is (lexical checks only)."""
    if not isinstance(relative, str):
        return "it is not text"
    if relative == "":
        return "it is empty"
    if "\x00" in relative:
        return "it contains a NUL character"
    if any(unicodedata.category(char) == "Cs" for char in relative):
        return "it is not valid Unicode"
    if "\\" in relative:
        return "it contains backslashes (catalog paths use /)"
    if relative.startswith("//"):
        return "it is a network (UNC) path"
    if relative.startswith("/"):
        return "it is absolute"
    if _DRIVE.match(relative):
        return "it starts with a drive letter"
    if ":" in relative:
        return "it contains ':'"
    for part in relative.split("/"):
        problem = _component_problem(part)
        if problem:
            return problem
    return None


def resolve_inside(root: Path, relative: str) -> Path:
    """Turn a catalog path (``filePath``) into an absolute path inside `root`.

    Refused: absolute paths, drive letters, UNC paths, backslashes, ``:``, NUL, empty, ``.`` or
    ``..`` components, components that Windows would silently change (trailing dot or space,
    device names), and anything that leaves the root once symlinks are resolved.

    Args:
        root: The storage root.
        relative: A relative path with ``/`` separators, e.g. ``Projects/Cats/Assets/Images/a.png``.

    Returns:
        ``root.resolve()`` joined with the components of `relative` (the final component is not
        dereferenced, so moving or deleting the result acts on the catalogued entry).

    Raises:
        StorageError: If the path is invalid or escapes the root; the message names the path.
    """
    problem = _relative_problem(relative)
    if problem is None:
        root_resolved = _resolve(root)
        candidate = root_resolved.joinpath(*relative.split("/"))
        if _inside(root_resolved, candidate):
            return candidate
        problem = f"it points outside the library folder {root_resolved}"
    raise StorageError(f"Refusing to use the library path {relative!r}: {problem}.")


def to_relative(root: Path, path: Path) -> str:
    """The catalog form of `path`: relative to `root`, with ``/`` separators.

    The inverse of `resolve_inside`: ``resolve_inside(root, to_relative(root, p))`` names `p`.

    Args:
        root: The storage root.
        path: A path inside the root (the final component may not exist yet).

    Returns:
        For example ``"Projects/Cats/Assets/Images/a.png"``.

    Raises:
        StorageError: If `path` is not inside the root, or has a name `resolve_inside` would
            refuse (so nothing unreadable ever gets into the catalog).
    """
    root_resolved = _resolve(root)
    absolute = Path(path).absolute()
    if absolute.name in ("", ".", "..") or not _inside(root_resolved, absolute):
        raise StorageError(f"{str(path)!r} is not inside the library folder {root_resolved}.")
    located = _resolve(absolute.parent) / absolute.name
    if not located.is_relative_to(root_resolved):
        raise StorageError(f"{str(path)!r} is not inside the library folder {root_resolved}.")
    relative = PurePosixPath(*located.relative_to(root_resolved).parts).as_posix()
    problem = _relative_problem(relative)
    if problem:
        raise StorageError(f"Cannot store the path {relative!r} in the library: {problem}.")
    return relative


# --- layout -------------------------------------------------------------------------------------


def _check_folder(folder: str) -> None:
    problem = _component_problem(folder) if isinstance(folder, str) else "it is not text"
    if problem is None and len(folder.encode("utf-8")) > 255:
        problem = "it is too long"
    if problem:
        raise StorageError(f"Invalid project folder name {folder!r}: {problem}.")


def project_dir(root: Path, folder: str) -> Path:
    """``<root>/Projects/<folder>``; does not create it.

    Raises:
        StorageError: If `folder` is not a single safe path component.
    """
    _check_folder(folder)
    return Path(root) / PROJECTS_DIR / folder


def asset_dir(root: Path, folder: str, kind: str) -> Path:
    """``<root>/Projects/<folder>/Assets/<kind>``; does not create it.

    Args:
        root: The storage root.
        folder: The project's folder name (a single safe component).
        kind: `IMAGES` or `MASKS`.

    Raises:
        StorageError: If `folder` is not a single safe path component.
        ValueError: If `kind` is neither `IMAGES` nor `MASKS` (a bug).
    """
    if kind not in (IMAGES, MASKS):
        raise ValueError(f"asset kind must be {IMAGES!r} or {MASKS!r}, not {kind!r}")
    return project_dir(root, folder) / ASSETS_DIR / kind


def ensure_dir(path: Path) -> Path:
    """Create `path` and its parents if needed.

    Returns:
        `path`, for chaining.

    Raises:
        StorageError: If the folder cannot be created (or a file is in the way).
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise StorageError(f"Cannot create the folder {path}: a file is in the way.") from exc
    except OSError as exc:
        raise _os_error("create the folder", path, exc) from exc
    return path


def disk_free(path: Path | str) -> int:
    """Free bytes on the drive holding `path` (or its nearest existing parent).

    Raises:
        StorageError: If the drive cannot be queried.
    """
    probe = Path(path).absolute()
    try:
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        return shutil.disk_usage(probe).free
    except OSError as exc:
        raise _os_error("check the free space of", probe, exc) from exc


# --- writing ------------------------------------------------------------------------------------


def _os_error(action: str, path: Path, exc: OSError) -> StorageError:
    """A StorageError a person can act on, for an OSError while doing `action` on `path`."""
    name, folder = path.name or str(path), path.parent
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DiskFull(
            f"Not enough disk space to {action} {name}: the disk is full. Nothing already "
            f"saved was lost; free some space on the drive holding {folder} and try again."
        )
    elif code in (errno.EACCES, errno.EPERM):
        message = (
            f"No permission to {action} {name} in {folder}. Check the folder's "
            f"permissions, or choose another storage folder in Settings."
        )
    elif code == errno.EROFS:
        return ReadOnlyStorage(f"Cannot {action} {name}: {folder} is on a read-only drive.")
    elif code == errno.ENOENT:
        message = f"Cannot {action} {name}: the folder {folder} does not exist."
    elif code == errno.ENOTDIR:
        message = f"Cannot {action} {name}: part of the path {folder} is a file, not a folder."
    elif code == errno.ENAMETOOLONG:
        message = f"Cannot {action} {name}: the path is too long for this file system."
    elif code == errno.EEXIST:
        message = f"Not saving {name}: a file with that name already exists in {folder}."
    else:
        message = f"Cannot {action} {name} in {folder}: {exc.strerror or exc}."
    return StorageError(message)


def is_temp_file(name: str) -> bool:
    """Whether `name` is a leftover temporary file of an interrupted write (``.<name>.<x>.part``).

    Reconciliation deletes these: their final file was never completed.
    """
    return _TEMP_NAME.fullmatch(name) is not None


def _temp_path(path: Path) -> Path:
    # Keep the temporary name within 255 bytes even for long final names ("surrogatepass":
    # POSIX names that are not valid UTF-8 arrive as lone surrogates).
    hint = path.name
    while len(hint.encode("utf-8", "surrogatepass")) > 200:
        hint = hint[:-1]
    return path.with_name(f".{hint}.{os.urandom(6).hex()}.part")  # = secrets.token_hex(6)


def _fsync_dir(folder: Path) -> None:
    if _WINDOWS:  # no directory handles to fsync; NTFS journals the rename
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems (e.g. network shares) refuse; the data is already synced
        pass
    finally:
        os.close(fd)


def _commit_new(tmp: Path, path: Path) -> None:
    """Give `tmp` the name `path`, failing with FileExistsError if `path` exists.

    Atomic across processes: of several writers giving their files the same name, exactly one
    succeeds and the others get FileExistsError (never check-then-rename, which lets a second
    writer overwrite the first one's file).
    """
    if _WINDOWS:
        os.rename(tmp, path)  # MoveFileEx without REPLACE_EXISTING: refuses to overwrite
        return
    try:
        os.link(tmp, path)  # atomic and refuses to overwrite
    except FileExistsError:
        raise
    except OSError as exc:
        # File systems without hard links (FAT, exFAT, some network shares): claim the name
        # with an exclusive create (atomic there too), then replace our own placeholder.
        if exc.errno not in (
            errno.EPERM,
            errno.ENOTSUP,
            errno.EOPNOTSUPP,
            errno.EMLINK,
            errno.ENOSYS,
        ):
            raise
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666))
        try:
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        return
    with contextlib.suppress(OSError):  # saved; a stray .part is cleaned by reconciliation
        os.unlink(tmp)


def _write_exclusive(path: Path, data: bytes, *, durable: bool) -> None:
    """Create `path` (never an existing file) holding `data`, fsynced with `durable`."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o666)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        if durable:
            os.fsync(handle.fileno())


def write_temp(folder: Path, hint: str, data: bytes, *, durable: bool = True) -> Path:
    """Write `data` to a new temporary file ``.<hint>.<random>.part`` in `folder`.

    The file is complete (and fsynced with `durable`) on return; give it its name with
    `claim_name`. Reconciliation removes such files when their writer is gone.

    Raises:
        StorageError: If the write fails (the temporary file is removed).
    """
    tmp = _temp_path(Path(folder) / hint)
    try:
        _write_exclusive(tmp, data, durable=durable)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _os_error("save", Path(folder) / hint, exc) from exc
    return tmp


def split_name(name: str) -> tuple[str, str]:
    """``("stem", "ext")`` of a file name; ext is ``""`` unless a short usable extension."""
    return _split_extension(name)


def move_onto_claim(root: Path, src: Path, dst: Path) -> None:
    """Move the folder `src` to `dst`, an empty folder this process created to claim the name.

    The rename replaces the empty folder atomically (POSIX), so no other process can take the
    name in between.

    Raises:
        StorageError: If either path is outside the root, or the rename fails.
    """
    root_resolved = _resolve(root)
    for path in (src, dst):
        if not _inside(root_resolved, path):
            raise StorageError(
                f"Refusing to move {str(path)!r}: it is outside the library folder {root_resolved}."
            )
    try:
        if _WINDOWS:  # pragma: no cover - rename does not replace folders there
            os.rmdir(dst)
        os.rename(src, dst)
    except OSError as exc:
        raise _os_error("move", Path(src), exc) from exc


def claim_name(tmp: Path, folder: Path, stem: str, ext: str, *,
               taken: set[str] | None = None) -> Path:
    """Give the complete file `tmp` a free name in `folder`, atomically across processes.

    Candidates come from `unique_file_path` (``stem.ext``, ``stem-2.ext``, ...); each is taken
    with `_commit_new`, which fails if the name exists, in which case the next one is tried.
    So a clash with another process (or thread, or a stale `taken` list) is resolved, never an
    error, and no file is ever overwritten. `tmp` may be in another folder of the same drive
    (a file coming back from the trash).

    Args:
        tmp: The complete file (already written and, if wanted, fsynced). It is gone on return.
        folder: Where the file goes (must exist).
        stem: The name to aim for, without extension.
        ext: The extension, with or without its dot.
        taken: Name keys known to be in use (`taken_names`), a hint that saves listing the
            folder; every name tried is added to it.

    Returns:
        The file's final path.

    Raises:
        StorageError: If the rename fails for another reason than a clash.
    """
    for _attempt in range(10_000):
        path = unique_file_path(folder, stem, ext, taken=taken)
        try:
            _commit_new(tmp, path)
        except FileExistsError:
            continue  # another writer won this name; unique_file_path added it to `taken`
        except OSError as exc:
            raise _os_error("save", path, exc) from exc
        return path
    raise StorageError(f"Could not find a free file name for {stem!r} in {folder}.")


def claim_folder(parent: Path, name: str, taken: Iterable[str]) -> str:
    """Create a new folder for project `name` in `parent`, atomically across processes.

    The name is `unique_folder_name(name, taken)`; it is created with `os.mkdir`, which fails
    if another process created it first, in which case the next free name is tried. So two
    processes creating projects with clashing names never share a folder.

    Returns:
        The folder name (a single safe component), now an existing, empty folder of ours.

    Raises:
        StorageError: If the folder cannot be created.
    """
    keys = set(taken)
    ensure_dir(parent)
    for _attempt in range(10_000):
        folder = unique_folder_name(name, keys)
        try:
            os.mkdir(Path(parent) / folder)
        except FileExistsError:
            keys.add(folder)
            continue
        except OSError as exc:
            raise _os_error("create the folder", Path(parent) / folder, exc) from exc
        return folder
    raise StorageError(f"Could not find a free folder name for {name!r} in {parent}.")


def _write(path: Path, data: bytes, *, overwrite: bool, durable: bool) -> None:
    """Atomic write that raises plain OSErrors (FileExistsError when refusing to overwrite)."""
    tmp = _temp_path(path)
    try:
        _write_exclusive(tmp, data, durable=durable)
        if overwrite:
            os.replace(tmp, path)
        else:
            _commit_new(tmp, path)
        if durable:
            _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path: Path, data: bytes, *, overwrite: bool = False, durable: bool = True) -> None:
    """Write `data` to `path` so that `path` either does not exist or is complete.

    The bytes go to ``.<name>.<random>.part`` in the same folder, are flushed and fsynced, and
    the file is then given its final name; the folder is fsynced (POSIX) so the name survives
    a power cut. On any failure the temporary file is removed.

    Args:
        path: The final file; its folder must exist (see `ensure_dir`).
        data: The complete contents.
        overwrite: Replace an existing file instead of refusing (for caches).
        durable: fsync file and folder; False for disposable data such as thumbnails.

    Raises:
        StorageError: If `path` exists (unless `overwrite`), or the write fails; the message
            says what to do (e.g. "Not enough disk space to save a.png. ...").
    """
    path = Path(path)
    try:
        _write(path, data, overwrite=overwrite, durable=durable)
    except OSError as exc:
        raise _os_error("save", path, exc) from exc


def taken_names(folder: Path) -> set[str]:
    """The keys (case and Unicode normalisation ignored) of every name in `folder`.

    Pass the set to `unique_file_path(..., taken=...)` to pick many names without listing the
    folder each time.

    Raises:
        StorageError: If the folder exists but cannot be listed.
    """
    try:
        return {_name_key(name) for name in os.listdir(folder)}
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise _os_error("list", Path(folder), exc) from exc


def unique_file_path(folder: Path, stem: str, ext: str, *, taken: set[str] | None = None) -> Path:
    """A free path ``folder/stem.ext``, else ``stem-2.ext``, ``stem-3.ext``, ...

    Names are compared ignoring case and Unicode normalisation, so the folder stays valid when
    synced to a case-insensitive file system. The stem is made safe (see `safe_file_name`) and
    shortened if the number would push it over `MAX_FOLDER_BYTES`.

    This only picks a name; `atomic_write` still refuses to overwrite if another writer takes
    it first. `write_new_file` does both and retries.

    Args:
        folder: The folder (it need not exist yet).
        stem: The name without extension.
        ext: The extension with or without its dot (``"png"``, ``".png"``), or ``""``.
        taken: Name keys already in use (from `taken_names`); the chosen name is added to it.
            Without it the folder is listed.

    Raises:
        ValueError: If `ext` is not 1 to 5 ASCII letters or digits (a bug in the caller).
        StorageError: If the folder cannot be listed.
    """
    folder = Path(folder)
    ext = ext.removeprefix(".").lower()
    if ext and not _EXTENSION.fullmatch(ext):
        raise ValueError(f"not a usable file extension: {ext!r}")
    suffix = f".{ext}" if ext else ""
    keys = taken_names(folder) if taken is None else taken
    clean = _clean_chars(stem)
    for number in count(1):
        tail = "" if number == 1 else f"-{number}"
        limit = MAX_FOLDER_BYTES - len(tail) - len(suffix)
        base = _clean_stem(clean, limit) or _DEFAULT_STEM
        name = f"{base}{tail}{suffix}"
        key = _name_key(name)
        if key not in keys and not os.path.lexists(folder / name):
            keys.add(key)
            return folder / name
    raise AssertionError("unreachable")  # pragma: no cover


def write_new_file(folder: Path, stem: str, ext: str, data: bytes, *, durable: bool = True) -> Path:
    """`unique_file_path` + `atomic_write`, retrying if another writer takes the name first.

    Returns:
        The path written.

    Raises:
        StorageError: If the write fails.
    """
    for _attempt in range(100):
        path = unique_file_path(folder, stem, ext)
        try:
            _write(path, data, overwrite=False, durable=durable)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _os_error("save", path, exc) from exc
        return path
    raise StorageError(f"Could not find a free file name for {stem!r} in {folder}.")


def move_within(root: Path, src: Path, dst: Path) -> None:
    """Rename a file or folder to another place inside the storage root.

    Parent folders of `dst` are created. An existing `dst` is never overwritten (except that a
    case-only rename of the same entry is allowed on case-insensitive file systems).

    Raises:
        StorageError: If either path is outside the root, `src` is missing, `dst` exists, or the
            rename fails.
    """
    src, dst = Path(src), Path(dst)
    root_resolved = _resolve(root)
    for path in (src, dst):
        if not _inside(root_resolved, path):
            raise StorageError(
                f"Refusing to move {str(path)!r}: it is outside the library folder {root_resolved}."
            )
    if not os.path.lexists(src):
        raise StorageError(f"Cannot move {src.name}: it no longer exists.")
    if os.path.lexists(dst) and _same_entry(src, dst):
        try:
            os.rename(src, dst)  # a case-only rename of the same entry
        except OSError as exc:
            raise _os_error("move", src, exc) from exc
        return
    exists = StorageError(f"Cannot move {src.name}: {dst} already exists.")
    if os.path.lexists(dst):
        raise exists
    # A plain rename would replace a file (or an empty folder) another process creates at
    # `dst` meanwhile; the name is claimed atomically instead, so nothing is ever overwritten.
    for attempt in range(3):
        ensure_dir(dst.parent)
        try:
            _claim_move(src, dst)
            return
        except FileExistsError as exc:
            raise exists from exc
        except FileNotFoundError as exc:
            # another process removed the (empty) folder between our mkdir and the rename,
            # e.g. a restore clearing a trash folder: make it again and retry
            if attempt < 2 and os.path.lexists(src):
                continue
            raise _os_error("move", src, exc) from exc
        except OSError as exc:
            raise _os_error("move", src, exc) from exc


def _claim_move(src: Path, dst: Path) -> None:
    if os.path.isdir(src) and not os.path.islink(src):
        os.mkdir(dst)  # claims the name; the rename then replaces our own empty folder
        try:
            if _WINDOWS:  # pragma: no cover - rename does not replace folders there
                os.rmdir(dst)
            os.rename(src, dst)
        except BaseException:
            with contextlib.suppress(OSError):
                os.rmdir(dst)
            raise
    elif os.path.islink(src):  # pragma: no cover - the library makes no links
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "File exists", str(dst))
        os.rename(src, dst)
    else:
        _commit_new(src, dst)


def _same_entry(a: Path, b: Path) -> bool:
    try:
        return (
            _name_key(a.name) == _name_key(b.name)
            and os.path.samefile(a, b)
            and a.parent.resolve() == b.parent.resolve()
        )
    except OSError:
        return False
