"""Serving image files under `/static/projects/...`, only from the projects' `Assets` folders.

A path is served only if every part is an ordinary name (no `..`, `.`, empty part, backslash,
NUL or drive letter, after percent-decoding, which the server has already done once), its
second part is `Assets`, and the real path of the file (symlinks resolved) is inside the real
`Projects/<folder>/Assets` folder of the storage root. Anything else is 404, so the service
tells nothing about files it does not serve.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import stat
from pathlib import Path
from urllib.parse import quote

from dlx_art.errors import NotFound

PREFIX = "/static/projects/"
_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
          ".webp": "image/webp", ".gif": "image/gif"}


def asset_url(file_path: str) -> str | None:
    """`/static/projects/<folder>/Assets/Images/<file>` for a catalog `filePath`."""
    parts = file_path.replace("\\", "/").split("/")
    if len(parts) < 4 or parts[0] != "Projects" or parts[2] != "Assets":
        return None
    return PREFIX + "/".join(quote(p) for p in parts[1:])


def resolve(root: Path, relative: str) -> tuple[Path, os.stat_result]:
    """The file `relative` (below `/static/projects/`) names, checked; raises `NotFound`."""
    missing = NotFound("There is no such file.")
    parts = relative.split("/")
    if len(parts) < 3 or parts[1] != "Assets":
        raise missing
    for part in parts:
        if part in ("", ".", "..") or "\\" in part or "\x00" in part or ":" in part:
            raise missing
    projects = Path(os.path.realpath(root / "Projects"))
    assets = Path(os.path.realpath(projects / parts[0] / "Assets"))
    if assets.parent.parent != projects:  # the project folder itself is a link elsewhere
        raise missing
    target = Path(os.path.realpath(assets.joinpath(*parts[2:])))
    if not target.is_relative_to(assets):
        raise missing
    try:
        info = target.stat()
    except OSError:
        raise missing from None
    if not stat.S_ISREG(info.st_mode):
        raise missing
    return target, info


def content_type(path: Path) -> str:
    return _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] \
        or "application/octet-stream"


def etag(info: os.stat_result) -> str:
    """A strong validator of the file's version (inode, size, modification time)."""
    key = f"{info.st_ino}-{info.st_size}-{info.st_mtime_ns}".encode()
    return '"' + hashlib.sha256(key).hexdigest()[:32] + '"'
