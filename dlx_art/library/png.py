"""PNG files at the chunk level: walking, writing, the IHDR header and text chunks.

The one place the studio reads and writes PNG structure (the catalog's content hash, the
thumbnail fast path, image validation, metadata edits, the A1111 client's size check and the
canvas's mask encoder all use it). Only `struct` and `zlib`: cheap to import anywhere, and
nothing here decodes pixels.

Text chunks (tEXt, zTXt, iTXt) are read within `MAX_TEXT_CHUNK` per chunk and `MAX_TEXT_TOTAL`
per file, so a compressed bomb costs at most those bytes (tests/unit/test_hostile_input.py).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

from dlx_art.errors import BadImageFile

__all__ = [
    "BIT_DEPTHS",
    "INFLATE_MARKER",
    "MAX_TEXT_CHUNK",
    "MAX_TEXT_TOTAL",
    "PNG_SIGNATURE",
    "TEXT_TYPES",
    "Chunk",
    "Ihdr",
    "check_keyword",
    "decode_text_chunk",
    "ihdr_size",
    "make_chunk",
    "png_text_parts",
    "read_png_text",
    "scan_chunks",
    "set_png_text",
    "strip_png_metadata",
    "text_from_chunks",
    "walk_chunks",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The 8 bytes every PNG file starts with."""

TEXT_TYPES = frozenset({b"tEXt", b"zTXt", b"iTXt"})
STRIPPED_TYPES = TEXT_TYPES | {b"eXIf", b"tIME"}
MAX_TEXT_CHUNK = 1024 * 1024
"""Most bytes one compressed text chunk (zTXt, compressed iTXt) is inflated to, like Pillow's
`PngImagePlugin.MAX_TEXT_CHUNK`. A chunk that inflates further (a zip bomb: a few kilobytes
that would become gigabytes) keeps its first `MAX_TEXT_CHUNK` bytes, followed by
`INFLATE_MARKER`; inflating stops there."""

MAX_TEXT_TOTAL = 16 * 1024 * 1024
"""Most bytes all compressed text chunks of one file are inflated to together (Pillow:
`MAX_TEXT_MEMORY`, 64 MiB). Chunks past the budget are cut the same way, or skipped."""

INFLATE_MARKER = "\n[cut by DLX Art Studio: this compressed text is longer than {limit:,} bytes]"
"""Appended to the kept start of a compressed text chunk that inflates past its limit."""
CHUNK_HEAD = struct.Struct(">I4s")
_U32 = struct.Struct(">I")
IHDR = struct.Struct(">IIBBBBB")
# PNG spec table 11.1: allowed bit depths for each colour type.
BIT_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
_SIZE = struct.Struct(">II")

class Ihdr(NamedTuple):
    """The image header's fields (PNG spec 11.2.2)."""

    width: int
    height: int
    depth: int
    colour: int
    compression: int
    filtering: int
    interlace: int

    def pack(self) -> bytes:
        """The 13-byte IHDR chunk body."""
        return IHDR.pack(*self)

    @classmethod
    def unpack(cls, data: bytes, offset: int = 0) -> Ihdr:
        """Read the 13 bytes at `offset` (a chunk body)."""
        return cls(*IHDR.unpack_from(data, offset))


def ihdr_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's first chunk (IHDR), without decoding anything.

    Returns None when `data` does not start with the PNG signature followed by an IHDR chunk
    (values are not checked: see `metadata.probe_image` for that).
    """
    if len(data) >= 24 and data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR":
        width, height = _SIZE.unpack_from(data, 16)
        return int(width), int(height)
    return None


def walk_chunks(data: bytes | memoryview) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset of the length field, body length) of each chunk, up to IEND, leniently.

    Nothing is checked: the walk reads chunk headers after the signature (the caller checks
    it) while eight bytes are left, and stops after IEND. A body may run past the end of
    `data`; callers that slice it get what is there. Use `scan_chunks` to validate.
    """
    size = len(data)
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= size:
        length, ctype = CHUNK_HEAD.unpack_from(data, pos)
        yield ctype, pos, length
        if ctype == b"IEND":
            return
        pos += 12 + length



class Chunk(NamedTuple):
    type: bytes
    start: int  # offset of the length field
    end: int  # offset just after the CRC

    def body(self, data: bytes) -> bytes:
        return data[self.start + 8 : self.end - 4]


def scan_chunks(data: bytes, *, check_crc: bool) -> tuple[list[Chunk], int, str | None]:
    """Walk the chunk headers after the signature, skipping bodies by offset.

    Returns the chunks up to and including IEND, the offset after IEND (or where the walk
    stopped), and a description of the first structural problem or None.
    """
    chunks: list[Chunk] = []
    view = memoryview(data)
    size = len(data)
    pos = len(PNG_SIGNATURE)
    while True:
        if pos == size:
            return chunks, pos, "the file ends before the PNG end marker (IEND)"
        if pos + 12 > size:
            return chunks, pos, "the file is cut off inside a chunk"
        length, ctype = CHUNK_HEAD.unpack_from(data, pos)
        if length > 0x7FFF_FFFF or not ctype.isalpha():
            return chunks, pos, "a chunk header is corrupted"
        end = pos + 12 + length
        if end > size:
            return chunks, pos, "the file is cut off inside a chunk"
        if check_crc and zlib.crc32(view[pos + 4 : end - 4]) != _U32.unpack_from(data, end - 4)[0]:
            name = ctype.decode("ascii")
            return chunks, pos, f"the checksum of chunk {name} at byte {pos} does not match"
        chunks.append(Chunk(ctype, pos, end))
        pos = end
        if ctype == b"IEND":
            return chunks, pos, None


def _inflate(data: bytes, limit: int) -> tuple[bytes, bool] | None:
    """Inflate at most `limit` bytes: (bytes, True if there was more), None if not zlib data.

    `max_length` makes zlib stop there, so a bomb costs `limit` bytes and the time to make
    them, never more.
    """
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit)
        if inflater.unconsumed_tail or not inflater.eof:
            # More input is left, or zlib holds more output: one byte more tells which.
            more = inflater.decompress(inflater.unconsumed_tail, 1)
            if more or inflater.unconsumed_tail:
                return out, True
    except zlib.error:
        return None
    return out, False


def _inflate_text(data: bytes, budget: list[int]) -> tuple[bytes, str] | None:
    """Inflate a compressed text within `MAX_TEXT_CHUNK` and what is left of `budget[0]`.

    Returns the bytes and the marker to add after their decoded text ("" when whole), or None
    when the data is not zlib, or nothing of it fits the budget.
    """
    limit = min(MAX_TEXT_CHUNK, budget[0])
    if limit <= 0:  # zlib reads a max_length of 0 as "no limit"
        return None
    inflated = _inflate(data, limit)
    if inflated is None:
        return None
    out, cut = inflated
    budget[0] -= len(out)
    if cut and not out:
        return None
    return out, INFLATE_MARKER.format(limit=limit) if cut else ""


def decode_text_chunk(ctype: bytes, body: bytes,
                       budget: list[int] | None = None) -> tuple[str, str] | None:
    """Return (keyword, text) of a tEXt / zTXt / iTXt body, or None if it is malformed.

    `budget` is a one-item list: the bytes compressed chunks may still inflate to (shared by
    the chunks of one file); a fresh `MAX_TEXT_TOTAL` when None.
    """
    budget = [MAX_TEXT_TOTAL] if budget is None else budget
    raw_key, sep, rest = body.partition(b"\0")
    if not sep or not raw_key:
        return None
    key = raw_key.decode("latin-1")
    if ctype == b"tEXt":
        return key, rest.decode("latin-1")
    if ctype == b"zTXt":
        if not rest or rest[0] != 0:
            return None
        inflated = _inflate_text(rest[1:], budget)
        return None if inflated is None else (key, inflated[0].decode("latin-1") + inflated[1])
    # iTXt: compression flag, method, language tag \0, translated keyword \0, UTF-8 text.
    if len(rest) < 2:
        return None
    compressed, method = rest[0], rest[1]
    _language, sep1, rest = rest[2:].partition(b"\0")
    _translated, sep2, raw_text = rest.partition(b"\0")
    if not sep1 or not sep2:
        return None
    marker = ""
    if compressed:
        if method != 0:
            return None
        inflated = _inflate_text(raw_text, budget)
        if inflated is None:
            return None
        raw_text, marker = inflated
    try:
        # A cut may fall inside a UTF-8 sequence: drop that partial character only.
        return key, raw_text.decode("utf-8", errors="ignore" if marker else "strict") + marker
    except UnicodeDecodeError:
        return None


def text_from_chunks(data: bytes, chunks: Iterable[Chunk]) -> dict[str, str]:
    text: dict[str, str] = {}
    budget = [MAX_TEXT_TOTAL]  # inflated bytes left for this file's compressed chunks
    for chunk in chunks:
        if chunk.type in TEXT_TYPES:
            decoded = decode_text_chunk(chunk.type, chunk.body(data), budget)
            if decoded is not None:
                text[decoded[0]] = decoded[1]
    return text


def chunk_keyword(data: bytes, chunk: Chunk) -> str:
    body_start = chunk.start + 8
    nul = data.find(b"\0", body_start, chunk.end - 4)
    return data[body_start : nul if nul >= 0 else body_start].decode("latin-1")


def _require_png(data: bytes) -> None:
    if not data.startswith(PNG_SIGNATURE):
        raise BadImageFile("The image is not a PNG file.")


def _scan_for_edit(data: bytes) -> tuple[list[Chunk], int]:
    _require_png(data)
    chunks, end, problem = scan_chunks(data, check_crc=False)
    if problem is None and (not chunks or chunks[0].type != b"IHDR"):
        problem = "the image header (IHDR) is missing"
    if problem is not None:
        raise BadImageFile(f"The PNG image is damaged or incomplete: {problem}.")
    return chunks, end


def make_chunk(ctype: bytes, body: bytes | memoryview) -> bytes:
    """One chunk: length, type, body and the CRC of type and body (PNG spec 5.3)."""
    crc = zlib.crc32(body, zlib.crc32(ctype))  # same CRC as over ctype + body, without the copy
    return b"".join((_U32.pack(len(body)), ctype, body, _U32.pack(crc)))


def check_keyword(key: str) -> bytes:
    # PNG spec 11.3.4.3: 1-79 printable Latin-1 characters, no leading, trailing or double spaces.
    ok = (
        0 < len(key) < 80
        and all(32 <= ord(c) <= 126 or 161 <= ord(c) <= 255 for c in key)
        and key == key.strip(" ")
        and "  " not in key
    )
    if not ok:
        raise ValueError(f"Not a valid PNG text keyword: {key!r}")
    return key.encode("latin-1")


def text_chunk(key: bytes, value: str) -> bytes:
    try:
        return make_chunk(b"tEXt", key + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        # Uncompressed iTXt with empty language tag and translated keyword, like Pillow/A1111.
        return make_chunk(b"iTXt", key + b"\0\0\0\0\0" + value.encode("utf-8"))


def read_png_text(data: bytes) -> dict[str, str]:
    """Read every PNG text chunk (tEXt, zTXt, iTXt), wherever it sits in the file.

    Chunk bodies other than text are skipped by offset, CRCs are not checked (use
    `probe_image` to validate), and a damaged tail simply ends the walk. Malformed text chunks
    are skipped. When a keyword occurs twice the later chunk wins, as in Pillow.

    Args:
        data: The whole PNG file.

    Returns:
        Keyword to text.

    Raises:
        BadImageFile: `data` does not start with the PNG signature.
    """
    _require_png(data)
    chunks, _end, _problem = scan_chunks(data, check_crc=False)
    return text_from_chunks(data, chunks)


def set_png_text(data: bytes, chunks: Mapping[str, str | None]) -> bytes:
    """Replace PNG text chunks without touching the pixel data.

    For every keyword in `chunks`, all its existing tEXt / zTXt / iTXt chunks are removed; for
    a non-None value one new chunk is inserted right after IHDR (in `chunks` order): tEXt if
    the text is Latin-1, otherwise uncompressed UTF-8 iTXt. Every other chunk, IDAT included,
    and any bytes after IEND are copied unchanged.

    Args:
        data: The whole PNG file.
        chunks: Keyword to new text, or None to only remove that keyword.

    Returns:
        The new PNG file.

    Raises:
        BadImageFile: `data` is not a PNG or its chunk structure is broken.
        ValueError: A keyword is not a valid PNG keyword, or a text cannot be encoded as UTF-8
            (lone surrogates).
    """
    return b"".join(png_text_parts(data, chunks))


def png_text_parts(data: bytes, chunks: Mapping[str, str | None]) -> list[bytes | memoryview]:
    """`set_png_text` as a list of pieces (views into `data` and the new chunks), not joined.

    Writing the pieces one after the other gives the same file without building a second copy
    of it in memory (for an import of thousands of files, that copy costs more than the write).
    """
    keys = {key: check_keyword(key) for key in chunks}
    new_chunks = [
        text_chunk(keys[key], value) for key, value in chunks.items() if value is not None
    ]
    found, end = _scan_for_edit(data)
    view = memoryview(data)
    parts: list[bytes | memoryview] = []
    start = 0  # the run of kept bytes not yet added
    for chunk in found:
        if chunk.type in TEXT_TYPES and chunk_keyword(data, chunk) in keys:
            parts.append(view[start : chunk.start])
            start = chunk.end
        elif chunk.type == b"IHDR":
            parts.append(view[start : chunk.end])
            parts.extend(new_chunks)
            start = chunk.end
    parts.append(view[start:])
    return [part for part in parts if len(part)]


def strip_png_metadata(data: bytes) -> bytes:
    """Remove text, EXIF and timestamp chunks (tEXt, zTXt, iTXt, eXIf, tIME) from a PNG.

    Pixel data and colour chunks (PLTE, tRNS, gAMA, iCCP, ...) are kept byte for byte; anything
    after IEND is dropped.

    Args:
        data: The whole PNG file.

    Returns:
        The new PNG file.

    Raises:
        BadImageFile: `data` is not a PNG or its chunk structure is broken.
    """
    found, _end = _scan_for_edit(data)
    view = memoryview(data)
    parts: list[bytes | memoryview] = [PNG_SIGNATURE]
    parts += [view[c.start : c.end] for c in found if c.type not in STRIPPED_TYPES]
    return b"".join(parts)
