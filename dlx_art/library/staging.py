"""Getting an image ready for the library: its catalog row, its final bytes, its staged file.

Nothing here touches the catalog, so it runs anywhere: in the thread that saves a generated
image, on an import's worker threads, and, for large imports, in worker *processes* (Python's
GIL would otherwise let only one thread at a time do the per-file work that is not I/O).

An import stages each file (`stage_files`): it is read once, checked (`metadata.probe_file`),
given its row and its `dlx-art` ids chunk, and written, not yet durable, to a temporary
``.<id>.import.<pid>.part`` file in the project's image folder. The library then names it,
renames it into place, makes the batch durable and commits the rows. A crash leaves either
temporary files (removed by `Library.reconcile`) or complete files that name their own asset
(adopted by it).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dlx_art.errors import BadImageFile, StorageError, UsageError
from dlx_art.library import metadata, png, storage, workers
from dlx_art.library.records import ASSET_COLUMNS, new_id, utc_now

__all__ = [
    "Prepared",
    "content_hash",
    "file_type",
    "prepare",
    "stage_files",
    "values_from_parameters",
    "write_parts",
]

log = logging.getLogger("dlx_art.library")

#: Catalog fields a caller may set through `values`; the others come from the file itself.
ASSET_FIELDS = set(ASSET_COLUMNS) - {"projectId", "filePath", "fileType", "width", "height",
                                     "fileSize", "contentHash", "maskPath", "trashedAt",
                                     "missingAt"}

# The hashes already in the project, set once per worker process by `init_worker`.
_worker_known: frozenset[str] = frozenset()


# --- the row and the bytes ----------------------------------------------------------------------


def content_hash(data: bytes) -> str:
    """SHA-256 of what the picture is, not of its metadata.

    For PNG only the IHDR, PLTE, tRNS and IDAT chunks are hashed, so the same picture with
    other text chunks (ours, A1111's, or stripped) is recognised as the same image.
    """
    if not data.startswith(png.PNG_SIGNATURE):
        return hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    view = memoryview(data)
    for kind, offset, length in png.walk_chunks(data):
        if kind in (b"IHDR", b"PLTE", b"tRNS", b"IDAT"):
            digest.update(view[offset + 4:offset + 8 + length])
    return digest.hexdigest()


def file_type(probe_format: str) -> str:
    """The catalog's fileType (a file extension) for a `metadata.ImageProbe.format`."""
    return {"jpeg": "jpg", "tiff": "tif"}.get(probe_format, probe_format)


class Prepared:
    """An image (and mask) ready to be written, with the row that will catalogue it.

    Attributes:
        row: The catalog values (all but filePath and maskPath, set once the names are claimed).
        folder: The project's folder name.
        stem: The file name to aim for, without extension.
        parts: The image file in pieces (see `metadata.png_text_parts`); emptied once a staged
            import has written them, so that only the row travels back from a worker process.
        mask: The mask file's bytes, if any; mask_type its extension.
        temp_path: Where a staged import wrote the file before it is named.
        image_path, mask_path: The final files, once named.
    """

    def __init__(self, row: dict[str, Any], folder: str, stem: str,
                 parts: list[bytes | memoryview], mask: bytes | None,
                 mask_type: str | None) -> None:
        self.row = row
        self.folder = folder
        self.stem = stem
        self.parts = parts
        self.mask = mask
        self.mask_type = mask_type
        self.temp_path: Path | None = None
        self.image_path: Path | None = None
        self.mask_path: Path | None = None
        self.source: str | None = None  # the imported file, for the import's report

    def image_bytes(self) -> bytes:
        if len(self.parts) == 1 and isinstance(self.parts[0], bytes):
            return self.parts[0]
        return b"".join(self.parts)

    def remove_files(self) -> None:
        """Delete whatever was written for this image (the save or import did not complete)."""
        for path in (self.temp_path, self.image_path, self.mask_path):
            if path is not None:
                try:
                    path.unlink(missing_ok=True)
                except OSError:
                    log.warning("could not remove %s after a failed save", path)


def prepare(project_id: str, folder: str, probe: metadata.ImageProbe, data: bytes,
            values: dict[str, Any], mask: bytes | None, file_stem: str | None,
            name: str) -> Prepared:
    """Build the row and the final bytes of an image; its file name is chosen later.

    PNG files get the `dlx-art` ids chunk, and the A1111 `parameters` chunk built from
    `values` when they carry none, without re-encoding the pixels.

    Raises:
        BadImageFile: If the mask is not a readable image.
        UsageError: If the mask's size differs from the image's (other than for inpainting).
    """
    asset_id = values.get("id") or new_id()
    created = values.get("createdAt") or utc_now()
    kind = file_type(probe.format)
    row: dict[str, Any] = {
        "prompt": "", "negative": None, "model": "", "seed": None, "steps": None,
        "cfgScale": None, "parentId": None, "kind": "txt2img", "sampler": None,
        "scheduler": None, "denoisingStrength": None, "backend": None,
        "backendReason": None, "infotext": None, "approximate": False, "isFavorite": False,
    }
    row.update({k: v for k, v in values.items() if k in ASSET_FIELDS})
    row.update(id=asset_id, projectId=project_id, createdAt=created, fileType=kind,
               width=probe.width, height=probe.height, trashedAt=None, missingAt=None)
    if row["infotext"] is None:
        row["infotext"] = probe.parameters or infotext_from(row)
    _cap_texts(row)
    # For PNG only text chunks change, so the source's hash is the file's.
    row["contentHash"] = content_hash(data)
    parts: list[bytes | memoryview] = [data]
    if kind == "png":
        chunks: dict[str, str | None] = {
            metadata.DLX_CHUNK: metadata.encode_dlx_ids(asset_id, project_id, row["parentId"])
        }
        if not probe.parameters and row["infotext"]:
            chunks["parameters"] = row["infotext"]
        parts = metadata.png_text_parts(data, chunks)
    stem = storage.safe_file_name(file_stem, "image").rsplit(".", 1)[0] if file_stem else (
        f"{created.strftime('%Y%m%d-%H%M%S')}-{asset_id[:8]}")
    mask_type = None
    if mask is not None:
        mask_probe = metadata.probe_image(mask, f"mask of {name}")
        if (mask_probe.width, mask_probe.height) != (probe.width, probe.height) and \
                row["kind"] != "inpaint":
            raise UsageError("The mask must have the image's size.")
        if mask_probe.format == "png":
            mask = metadata.set_png_text(mask, {
                metadata.DLX_CHUNK: metadata.encode_dlx_ids(asset_id, project_id,
                                                            row["parentId"])})
        mask_type = file_type(mask_probe.format)
    row["fileSize"] = sum(len(part) for part in parts)
    return Prepared(row, folder, stem, parts, mask, mask_type)


def infotext_from(row: dict[str, Any]) -> str | None:
    """An A1111-style infotext for an image that came without one (None if too little known).

    A1111's parser only takes the last line as parameters when it holds at least three pairs.
    """
    extra: dict[str, object] = {}
    if row.get("kind") == "inpaint":
        extra["Inpaint"] = "approximate" if row.get("approximate") else None
    if row.get("backend"):
        extra["Backend"] = {"hf": "Hugging Face", "a1111": "A1111"}.get(row["backend"],
                                                                       row["backend"])
    params = metadata.build_params(
        steps=row.get("steps"), sampler=row.get("sampler"),
        scheduler_label=row.get("scheduler"), cfg_scale=row.get("cfgScale"),
        seed=row.get("seed"), width=row.get("width"), height=row.get("height"),
        model_hash=None, model=row.get("model") or None,
        denoising_strength=row.get("denoisingStrength") if row.get("kind") != "txt2img" else None,
        extra={k: v for k, v in extra.items() if v is not None},
    )
    if len(params) < 3:
        return None
    return metadata.format_infotext(row.get("prompt") or "", row.get("negative") or "", params)


def values_from_parameters(parameters: str | None) -> dict[str, Any]:
    """Catalog fields from an A1111 infotext found in a file ({} when there is none)."""
    if not parameters:
        return {}
    info = metadata.parse_infotext(parameters)  # linear in its length: no cap needed first
    values = {"prompt": info.prompt, "negative": info.negative or None,
              "model": info.model or "", "seed": _int64(info.seed), "steps": info.steps,
              "cfgScale": info.cfg_scale, "sampler": info.sampler, "scheduler": info.scheduler,
              "denoisingStrength": info.denoising_strength, "infotext": parameters}
    _cap_texts(values)
    return values


#: Text fields from outside (a file, a server) that `_cap_texts` cuts to `MAX_KEPT_TEXT`.
_CAPPED_FIELDS = ("infotext", "prompt", "negative", "model", "sampler", "scheduler")


def _cap_texts(row: dict[str, Any]) -> None:
    """Cut over-long outside text in `row` (marked in the text itself; see `cap_text`)."""
    for key in _CAPPED_FIELDS:
        value = row.get(key)
        if isinstance(value, str):
            row[key] = metadata.cap_text(value)


def _int64(value: int | None) -> int | None:
    if value is None or not (-(2**63) <= value < 2**63):
        return None
    return value


# --- writing ------------------------------------------------------------------------------------


def write_parts(path: Path, parts: Iterable[bytes | memoryview]) -> None:
    """Write a new file from pieces, without fsync; `path` must not exist.

    Raises:
        OSError: As `open` and `write` raise it (the file may be left half-written).
    """
    with open(path, "xb", buffering=0) as handle:
        for part in parts:
            view = memoryview(part)
            while view:  # a raw write may be partial
                view = view[handle.write(view):]


# --- staging an import --------------------------------------------------------------------------


def prepare_file(project_id: str, folder: str, path: Path) -> Prepared | str:
    """Read and check one file to import; a one-line reason naming it if it is rejected."""
    try:
        probe, data = metadata.probe_file(path)
    except BadImageFile as exc:
        return exc.user_message
    except OSError as exc:
        return f"{path.name} cannot be read: {exc.strerror or exc}."
    values: dict[str, Any] = {"kind": "import", "backend": None}
    values.update(values_from_parameters(probe.parameters))
    if probe.dlx_ids is not None:
        values["parentId"] = probe.dlx_ids.parent_id
    try:
        return prepare(project_id, folder, probe, data, values, None, path.stem, path.name)
    except BadImageFile as exc:
        return exc.user_message


def stage_file(path: Path, project_id: str, folder: str, images: Path,
               known: frozenset[str]) -> Prepared | str | None:
    """Prepare one file and write it to a temporary file in `images` (not durable, unnamed).

    Returns:
        The staged image (its bytes already written, `parts` emptied); a one-line reason if
        the file was rejected; None if its picture's hash is in `known`.

    Raises:
        StorageError: If the temporary file cannot be written (disk full, no permission).
    """
    outcome = prepare_file(project_id, folder, path)
    if isinstance(outcome, str):
        return outcome
    if outcome.row["contentHash"] in known:
        return None
    temp = images / f".{outcome.row['id']}.import.{os.getpid()}.part"
    outcome.temp_path = temp
    try:
        write_parts(temp, outcome.parts)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise StorageError(f"Could not save {path.name} into the library: "
                           f"{exc.strerror or exc}.") from exc
    outcome.parts = []
    return outcome


def stage_files(paths: list[Path], project_id: str, folder: str, images: Path,
                known: frozenset[str] | None = None) -> list[Prepared | str | None]:
    """`stage_file` for several files (one task for a worker process: fewer round trips).

    `known` defaults to the set given to `init_worker` in this process. If a file fails, the
    ones staged before it are removed and the error is raised.
    """
    known = _worker_known if known is None else known
    staged: list[Prepared | str | None] = []
    try:
        for path in paths:
            staged.append(stage_file(path, project_id, folder, images, known))
    except BaseException:
        for item in staged:
            if isinstance(item, Prepared):
                item.remove_files()
        raise
    return staged


def init_worker(known: frozenset[str]) -> None:
    """Set up an import worker process: the known hashes, low priority, no Ctrl+C."""
    global _worker_known
    _worker_known = known
    workers.lower_process_priority()
