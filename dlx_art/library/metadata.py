"""Image metadata: A1111 infotext, PNG text chunks and fast image validation.

Three parts, all Qt-free; the first two live in their own modules and are re-exported here:

* **Infotext** (`infotext`). `format_infotext` / `parse_infotext` write and read the
  `parameters` text the way AUTOMATIC1111 v1.10.1 does (`processing.create_infotext`,
  `infotext_utils.parse_generation_parameters`), so our files and A1111's read each other.
* **PNG chunks** (`png`). `read_png_text` / `set_png_text` / `strip_png_metadata` work on the
  chunk stream directly. Pixel data (IDAT) is copied byte for byte, never decoded or re-encoded.
* **Validation** (here). `probe_image` / `probe_file` reject empty, foreign, truncated,
  corrupted and oversized images with a one-line message naming the file. PNG is checked
  structurally (chunk lengths, every CRC, IHDR, IDAT, IEND) without decoding pixels, which keeps
  bulk import about as fast as copying; other formats are decoded once by Pillow. Our own
  `dlx-art` ids chunk (`encode_dlx_ids` / `decode_dlx_ids`) is here too.
"""

from __future__ import annotations

import functools
import io
import json
import os
import stat
import struct
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dlx_art.errors import BadImageFile
from dlx_art.library import png

__all__ = [
    "DLX_CHUNK",
    "MAX_KEPT_TEXT",
    "MAX_PIXELS",
    "MAX_TEXT_CHUNK",
    "MAX_TEXT_TOTAL",
    "PNG_SIGNATURE",
    "DlxIds",
    "ImageProbe",
    "Infotext",
    "build_params",
    "cap_text",
    "decode_dlx_ids",
    "encode_dlx_ids",
    "format_infotext",
    "parse_infotext",
    "png_text_parts",
    "probe_file",
    "probe_image",
    "quote",
    "read_png_text",
    "read_regular_file",
    "set_png_text",
    "strip_metadata",
    "strip_png_metadata",
]

# The infotext and PNG parts live in their own modules; their names stay importable from here.
from dlx_art.library.infotext import (
    MAX_KEPT_TEXT,
    Infotext,
    build_params,
    cap_text,
    format_infotext,
    parse_infotext,
    quote,
)
from dlx_art.library.png import (
    MAX_TEXT_CHUNK,
    MAX_TEXT_TOTAL,
    PNG_SIGNATURE,
    png_text_parts,
    read_png_text,
    set_png_text,
    strip_png_metadata,
)

if TYPE_CHECKING:
    # Pillow is imported where an image is decoded: a PNG (the studio's own files) is read
    # without it, and opening a library need not load it (about 10 ms and 5 MB)
    from PIL import Image

DLX_CHUNK = "dlx-art"
"""PNG text keyword of our own chunk holding asset / project / parent ids."""


@dataclass(frozen=True)
class DlxIds:
    """Our ids stored in the `dlx-art` PNG chunk, so a file can be matched to its record."""

    asset_id: str
    project_id: str | None
    parent_id: str | None


def encode_dlx_ids(asset_id: str, project_id: str | None, parent_id: str | None) -> str:
    """Encode ids for the `dlx-art` chunk as compact, ASCII-only JSON.

    Args:
        asset_id: The asset's id.
        project_id: Its project's id, if any.
        parent_id: The asset it was refined from, if any.

    Returns:
        e.g. `{"v":1,"assetId":"a1","projectId":"p1","parentId":null}`.
    """
    payload = {"v": 1, "assetId": asset_id, "projectId": project_id, "parentId": parent_id}
    return json.dumps(payload, separators=(",", ":"))


def decode_dlx_ids(text: str) -> DlxIds | None:
    """Decode the `dlx-art` chunk written by `encode_dlx_ids`.

    Args:
        text: The chunk text, possibly from a foreign or damaged file.

    Returns:
        The ids, or None if the text is not a version 1 payload with a non-empty `assetId` and
        string-or-null `projectId` / `parentId` (missing ones count as null). Never raises.
    """
    try:
        payload = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return None
    if not isinstance(payload, dict) or type(payload.get("v")) is not int or payload["v"] != 1:
        return None
    asset_id = payload.get("assetId")
    project_id = payload.get("projectId")
    parent_id = payload.get("parentId")
    if not isinstance(asset_id, str) or not asset_id:
        return None
    if not all(value is None or isinstance(value, str) for value in (project_id, parent_id)):
        return None
    return DlxIds(asset_id, project_id, parent_id)


# --- validation -----------------------------------------------------------------------------------

MAX_PIXELS = 178_956_970
"""Largest width x height accepted: Pillow's DecompressionBombError threshold (2x its default
`MAX_IMAGE_PIXELS`), checked from the header before any pixel is decoded."""

_MAX_FILE_BYTES = 512 * 1024 * 1024  # largest file probe_file reads

_PILLOW_FORMATS = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "WEBP": "webp",
    "GIF": "gif",
    "BMP": "bmp",
    "TIFF": "tiff",
}
_OPEN_FORMATS = ("JPEG", "WEBP", "GIF", "BMP", "TIFF")  # MPO files open as JPEG
_FILE_TYPES = {
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "webp": "WEBP",
    "gif": "GIF",
    "bmp": "BMP",
    "tif": "TIFF",
    "tiff": "TIFF",
}
# What Pillow raises on broken files besides OSError (truncated, bad headers, bad tables).
_PILLOW_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
)
_NOT_TEXT = frozenset({"compression"})  # str-valued Pillow info that is not metadata (TIFF)
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
# warnings.catch_warnings() swaps process-wide state; serialise it between worker threads.
_WARNINGS_LOCK = threading.Lock()


@dataclass(frozen=True)
class ImageProbe:
    """What `probe_image` learned about a valid image.

    Attributes:
        format: Lower-case file extension style: `png`, `jpg`, `webp`, `gif`, `bmp` or `tiff`.
        width: Width in pixels.
        height: Height in pixels.
        text: Text metadata. For PNG every text chunk; for other formats Pillow's text info,
            plus `parameters` taken from the EXIF UserComment (JPEG/WebP, as A1111 writes it)
            or the GIF comment.
    """

    format: str
    width: int
    height: int
    text: dict[str, str]

    @property
    def parameters(self) -> str | None:
        """The A1111 infotext, if the image carries one."""
        return self.text.get("parameters")

    @property
    def dlx_ids(self) -> DlxIds | None:
        """Our ids from the `dlx-art` chunk, if present and well-formed."""
        text = self.text.get(DLX_CHUNK)
        return None if text is None else decode_dlx_ids(text)


@functools.cache
def _open_formats() -> tuple[str, ...]:
    from PIL import Image

    Image.init()  # a format whose plugin or codec is missing must not be asked for (KeyError)
    return tuple(name for name in _OPEN_FORMATS if name in Image.OPEN)


def _label(name: str) -> str:
    # repr() quotes the name and escapes newlines, so the message stays on one line.
    return repr(name)


def _damaged(name: str, problem: str) -> BadImageFile:
    return BadImageFile(f"{_label(name)} is damaged or incomplete: {problem}.")


def _too_large(name: str, width: int, height: int) -> BadImageFile:
    return BadImageFile(
        f"{_label(name)} is too large: {width}x{height} pixels is over the limit of "
        f"{MAX_PIXELS:,} pixels."
    )


def _probe_png(data: bytes, name: str) -> ImageProbe:
    # Size first, straight from IHDR, so a bomb is refused before anything else is read.
    size = png.ihdr_size(data) if len(data) >= 33 else None
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise _too_large(name, *size)
    chunks, _end, problem = png.scan_chunks(data, check_crc=True)
    if problem is not None:
        raise _damaged(name, problem)
    header = chunks[0]
    if header.type != b"IHDR" or header.end - header.start != 12 + png.IHDR.size:
        raise _damaged(name, "the image header (IHDR) is missing")
    width, height, depth, colour, compression, filtering, interlace = png.Ihdr.unpack(
        data, header.start + 8
    )
    valid = (
        0 < width <= 0x7FFF_FFFF
        and 0 < height <= 0x7FFF_FFFF
        and depth in png.BIT_DEPTHS.get(colour, ())
        and compression == 0
        and filtering == 0
        and interlace in (0, 1)
    )
    if not valid:
        raise _damaged(name, "the image header (IHDR) has invalid values")
    types = {chunk.type for chunk in chunks}
    if b"IDAT" not in types:
        raise _damaged(name, "there is no image data (IDAT)")
    if colour == 3 and b"PLTE" not in types:
        raise _damaged(name, "the palette (PLTE) is missing")
    return ImageProbe("png", width, height, png.text_from_chunks(data, chunks))


def _decode_user_comment(raw: bytes, big_endian: bool) -> str:
    """Decode an EXIF UserComment: 8-byte charset prefix, then the text."""
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\0":
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            big_endian, body = body[:2] == b"\xfe\xff", body[2:]
        else:
            # piexif (A1111) writes UTF-16BE; others follow the EXIF byte order. Mostly-ASCII
            # text shows its byte order by where the zero bytes fall; otherwise trust EXIF's.
            zeros_high = body[0::2].count(0)
            zeros_low = body[1::2].count(0)
            if zeros_high != zeros_low:
                big_endian = zeros_high > zeros_low
        body = body[: len(body) // 2 * 2]
        first, second = ("utf-16-be", "utf-16-le") if big_endian else ("utf-16-le", "utf-16-be")
        try:
            text = body.decode(first)
        except UnicodeDecodeError:
            try:
                text = body.decode(second)
            except UnicodeDecodeError:
                text = body.decode(first, errors="replace")
    elif prefix == b"ASCII\0\0\0":
        text = body.decode("utf-8", errors="replace")  # UTF-8 in practice; ASCII is a subset
    elif prefix == b"JIS\0\0\0\0\0":
        text = body.decode("shift_jis", errors="replace")
    elif prefix == b"\0" * 8:
        text = body.decode("utf-8", errors="replace")
    else:
        text = raw.decode("utf-8", errors="ignore")  # A1111's fallback for unknown prefixes
    return text.rstrip("\0")


def _exif_parameters(image: Image.Image) -> str | None:
    try:
        exif = image.getexif()
        raw = exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    except _PILLOW_ERRORS:
        return None  # unreadable EXIF is not a reason to refuse the picture
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not isinstance(raw, bytes) or not raw:
        return None
    return _decode_user_comment(raw, big_endian=exif.endian == ">") or None


def _pillow_text(image: Image.Image) -> dict[str, str]:
    text = {
        key: value
        for key, value in image.info.items()
        if isinstance(key, str) and isinstance(value, str) and key not in _NOT_TEXT
    }
    parameters = _exif_parameters(image)
    comment = image.info.get("comment")
    if parameters is None and image.format == "GIF" and isinstance(comment, bytes):
        parameters = comment.decode("utf-8", errors="ignore") or None
    if parameters is not None:
        text["parameters"] = parameters
    return text


def _describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _probe_with_pillow(data: bytes, name: str) -> ImageProbe:
    from PIL import Image, UnidentifiedImageError

    with _WARNINGS_LOCK, warnings.catch_warnings():
        # Our own MAX_PIXELS check replaces Pillow's warning; it must not leak to callers.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=_open_formats()) as image:
                width, height = image.size
                if width <= 0 or height <= 0:
                    raise _damaged(name, "the image has no pixels")
                if width * height > MAX_PIXELS:
                    raise _too_large(name, width, height)
                image.load()
                kind = _PILLOW_FORMATS[image.format or ""]
                text = _pillow_text(image)
        except BadImageFile:
            raise
        except Image.DecompressionBombError as exc:
            raise BadImageFile(
                f"{_label(name)} is too large: over the limit of {MAX_PIXELS:,} pixels."
            ) from exc
        except UnidentifiedImageError as exc:
            raise BadImageFile(
                f"{_label(name)} is not an image (supported: PNG, JPEG, WebP, GIF, BMP, TIFF)."
            ) from exc
        except _PILLOW_ERRORS as exc:
            raise _damaged(name, _describe(exc)) from exc
    return ImageProbe(kind, width, height, text)


def probe_image(data: bytes, name: str = "image") -> ImageProbe:
    """Check that `data` is a whole, usable image and read its size and text metadata.

    PNG is validated without decoding pixels: signature, every chunk's length and CRC, a valid
    IHDR, at least one IDAT, IEND, and the pixel count. JPEG, WebP, GIF, BMP and TIFF are
    opened by Pillow, their size checked from the header, then decoded once. No other format
    is accepted (some Pillow plugins run external programs).

    Args:
        data: The file's bytes.
        name: File name used in error messages.

    Returns:
        Format, size and text metadata.

    Raises:
        BadImageFile: One line naming the file and the problem: empty, not an image, damaged
            or incomplete, or more than `MAX_PIXELS` pixels.
    """
    if not data:
        raise BadImageFile(f"{_label(name)} is empty.")
    if data.startswith(PNG_SIGNATURE):
        return _probe_png(data, name)
    if len(data) < len(PNG_SIGNATURE) and PNG_SIGNATURE.startswith(data):
        raise _damaged(name, "the file is cut off")
    return _probe_with_pillow(data, name)


_FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(name: str, mode: int) -> BadImageFile:
    kind = next((text for test, text in _FILE_KINDS if test(mode)), "not a regular file")
    return BadImageFile(f"{_label(name)} is {kind}, not an image file; only regular files "
                        "are read.")


def read_regular_file(path: Path, limit: int = _MAX_FILE_BYTES) -> bytes:
    """Read a whole regular file of at most `limit` bytes, refusing anything else at once.

    FIFOs, devices, sockets and folders are refused without reading (or blocking on) them:
    the type is checked before the file is opened, and again on the opened descriptor (opened
    with O_NONBLOCK, so a FIFO swapped in meanwhile cannot block either). The size is checked
    by what is actually read: at most `limit` + 1 bytes, whatever `stat` said.

    Args:
        path: The file.
        limit: The most bytes accepted.

    Returns:
        The file's bytes.

    Raises:
        BadImageFile: Not a regular file, larger than `limit`, or cannot be read (one line
            naming the file).
    """
    path = Path(path)
    name = path.name
    too_big = BadImageFile(f"{_label(name)} is too big: the limit is {limit // 2**20} MiB.")
    flags = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
             | getattr(os, "O_BINARY", 0))
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(name, mode)
        descriptor = os.open(path, flags)
        with open(descriptor, "rb", buffering=0) as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise _not_regular(name, info.st_mode)
            if info.st_size > limit:
                raise too_big
            # One read sized from fstat (read(limit) would allocate `limit` bytes up front);
            # more only if the file is longer than fstat said, and never past limit + 1.
            parts: list[bytes] = []
            total = 0
            want = info.st_size + 1
            while total <= limit:
                piece = file.read(min(want, limit + 1 - total))
                if not piece:
                    break
                parts.append(piece)
                total += len(piece)
                want = 1024 * 1024
    except OSError as exc:
        raise BadImageFile(f"{_label(name)} cannot be read: {exc.strerror or exc}.") from exc
    if total > limit:  # it grew while we looked, or stat did not tell the truth
        raise too_big
    return parts[0] if len(parts) == 1 else b"".join(parts)


def probe_file(path: Path) -> tuple[ImageProbe, bytes]:
    """Read a file once and probe it (see `probe_image`).

    Args:
        path: The file.

    Returns:
        The probe and the file's bytes, ready to be written elsewhere.

    Raises:
        BadImageFile: The file is not a regular file (FIFO, device, socket, folder), is larger
            than `_MAX_FILE_BYTES` (by its size and by what is read), cannot be read, or fails
            `probe_image` (see `read_regular_file`).
    """
    data = read_regular_file(Path(path), _MAX_FILE_BYTES)
    return probe_image(data, Path(path).name), data


def _lossless_webp(data: bytes) -> bool:
    pos = 12
    while pos + 8 <= len(data):
        fourcc = data[pos : pos + 4]
        if fourcc == b"VP8L":
            return True
        (length,) = struct.unpack_from("<I", data, pos + 4)
        pos += 8 + length + (length & 1)
    return False


def strip_metadata(data: bytes, file_type: str) -> bytes:
    """Return the image without metadata (text, EXIF, XMP, comments), e.g. for export.

    PNG keeps its pixel data byte for byte (`strip_png_metadata`). Other formats are re-saved
    by Pillow with only their ICC profile and animation settings: JPEG with its own
    quantisation tables and subsampling, WebP lossless if the source was lossless, else at
    quality 95.

    Args:
        data: The file's bytes.
        file_type: The expected type as a file extension: png, jpg/jpeg, webp, gif, bmp,
            tif/tiff (case and a leading dot are ignored).

    Returns:
        The new file's bytes, in the same format.

    Raises:
        BadImageFile: `data` is not a readable image of `file_type`.
        ValueError: `file_type` is not one of the above.
    """
    kind = file_type.lower().lstrip(".")
    if kind == "png":
        return strip_png_metadata(data)
    from PIL import Image, ImageSequence, JpegImagePlugin

    if kind not in _FILE_TYPES:
        raise ValueError(f"Cannot strip metadata from {file_type!r} files")
    pillow_format = _FILE_TYPES[kind]
    keep = ("icc_profile", "transparency", "duration", "loop", "background", "disposal", "dpi")
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_open_formats()) as image:
                if _PILLOW_FORMATS[image.format or ""] != _PILLOW_FORMATS.get(pillow_format):
                    raise BadImageFile(f"The image is not a {kind} file.")
                options: dict[str, object] = {}
                if pillow_format == "JPEG":
                    # Same tables and subsampling as the source, like Pillow's quality="keep".
                    options["qtables"] = getattr(image, "quantization", None)
                    options["subsampling"] = JpegImagePlugin.get_sampling(image)
                elif pillow_format == "WEBP":
                    options["lossless"] = _lossless_webp(data)
                    options["quality"] = 100 if options["lossless"] else 95
                frames = []
                for frame in ImageSequence.Iterator(image):
                    # copy() gives a plain Image: no TIFF tags or EXIF ride along.
                    clean = frame.copy()
                    clean.info = {k: v for k, v in frame.info.items() if k in keep}
                    frames.append(clean)
                if len(frames) > 1 and pillow_format != "JPEG":  # MPO extras are not pictures
                    options.update(save_all=True, append_images=frames[1:])
                out = io.BytesIO()
                frames[0].save(out, format=pillow_format, **options)
    except BadImageFile:
        raise
    except (Image.DecompressionBombError, *_PILLOW_ERRORS) as exc:
        raise BadImageFile(f"The {kind} image cannot be read: {_describe(exc)}.") from exc
    return out.getvalue()
