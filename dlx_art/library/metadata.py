"""Image metadata: A1111 infotext, PNG text chunks and fast image validation.

Three parts, all Qt-free:

* **Infotext.** `format_infotext` / `parse_infotext` write and read the `parameters` text the
  way AUTOMATIC1111 v1.10.1 does (`processing.create_infotext`,
  `infotext_utils.parse_generation_parameters`), so our files and A1111's read each other.
* **PNG chunks.** `read_png_text` / `set_png_text` / `strip_png_metadata` work on the chunk
  stream directly. Pixel data (IDAT) is copied byte for byte and never decoded or re-encoded.
* **Validation.** `probe_image` / `probe_file` reject empty, foreign, truncated, corrupted and
  oversized images with a one-line message naming the file. PNG is checked structurally
  (chunk lengths, every CRC, IHDR, IDAT, IEND) without decoding pixels, which keeps bulk import
  about as fast as copying; other formats are decoded once by Pillow.
"""

from __future__ import annotations

import bisect
import functools
import io
import json
import math
import os
import re
import stat
import struct
import threading
import warnings
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from PIL import Image, ImageSequence, JpegImagePlugin, UnidentifiedImageError

from dlx_art.errors import BadImageFile

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

# --- A1111 infotext -------------------------------------------------------------------------------

# Both regexes are A1111 v1.10.1's own (`infotext_utils.re_param_code`, `re_imagesize`).
# `_RE_PARAM` is kept as the specification only: run with findall on a long line it backtracks
# quadratically (a megabyte of "a a a ..." never ends), so `_param_pairs` gives the same pairs
# in linear time (tests/unit/test_hostile_input.py compares the two on random lines).
_RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_RE_IMAGESIZE = re.compile(r"^(\d+)x(\d+)$")
_NEGATIVE_PREFIX = "Negative prompt:"
# Pieces of `_RE_PARAM` that cannot backtrack: each is matched once at a known position.
_RE_SPACES = re.compile(r"\s*")
_RE_WORD = re.compile(r"\w")
_RE_KEY_REST = re.compile(r"[\w \-/]*")
_RE_BACKSLASHES = re.compile(r"\\*")
_RE_UNTIL_COMMA = re.compile(r"[^,]*")

MAX_KEPT_TEXT = 64 * 1024
"""Most characters of an infotext, prompt or negative prompt that the catalog keeps from a file
or a server. Longer text is cut and ends with `TRUNCATION_MARKER`; the file keeps it whole.
(A text at most a marker's length longer than the limit is kept as is.)"""

TRUNCATION_MARKER = "\n[cut by DLX Art Studio: the first {kept:,} of {total:,} characters are kept]"
"""Appended to text cut by `cap_text` (on a line of its own, so it never reads as parameters)."""


def cap_text(text: str | None, limit: int = MAX_KEPT_TEXT) -> str | None:
    """Cut `text` to `limit` characters plus a `TRUNCATION_MARKER` saying so.

    Args:
        text: Text from outside (an infotext, a prompt), or None.
        limit: The most characters to keep before the marker.

    Returns:
        `text` unchanged when it is short enough (or None), else its first `limit` characters
        and the marker. Cutting an already cut text again gives the same text.
    """
    # The slack lets a cut text (limit + marker) pass unchanged a second time.
    if text is None or len(text) <= limit + len(TRUNCATION_MARKER) + 40:
        return text
    return text[:limit] + TRUNCATION_MARKER.format(kept=limit, total=len(text))


def quote(value: object) -> str:
    """Quote one infotext value the way A1111's `infotext_utils.quote` does.

    Args:
        value: Any value; it is turned into text with `str()`.

    Returns:
        The text unchanged unless it contains `,`, `:` or a newline; then a JSON string
        (double quotes, backslash escapes, non-ASCII kept as is).
    """
    text = str(value)
    if "," not in text and ":" not in text and "\n" not in text:
        return text
    # A1111 dumps the original object; dumping its text keeps non-str values parseable.
    return json.dumps(text, ensure_ascii=False)


def format_infotext(prompt: str, negative: str, params: Mapping[str, object]) -> str:
    """Build an A1111 infotext (the PNG `parameters` text).

    Args:
        prompt: The prompt; may span several lines. Written as is, never quoted.
        negative: The negative prompt; its `Negative prompt:` line is left out when empty.
        params: Parameter pairs in the order to write them (see `build_params`). Pairs whose
            value is None are skipped; a pair whose value equals its key is written as the
            bare key, as A1111 does for flags.

    Returns:
        `prompt`, the optional negative prompt line and the parameter line, `.strip()`ped.
    """
    pairs = ", ".join(
        key if key == value else f"{key}: {quote(value)}"
        for key, value in params.items()
        if value is not None
    )
    negative_text = f"\n{_NEGATIVE_PREFIX} {negative}" if negative else ""
    return f"{prompt}{negative_text}\n{pairs}".strip()


def build_params(
    *,
    steps: int | None = None,
    sampler: str | None = None,
    scheduler_label: str | None = None,
    cfg_scale: float | None = None,
    seed: int | None = None,
    width: int | None = None,
    height: int | None = None,
    model_hash: str | None = None,
    model: str | None = None,
    denoising_strength: float | None = None,
    extra: Mapping[str, object] | None = None,
    version: str | None = None,
) -> dict[str, object]:
    """Collect generation parameters in A1111's fixed infotext key order.

    Args:
        steps: Sampling steps (`Steps`).
        sampler: Sampler name (`Sampler`).
        scheduler_label: Scheduler label actually used, e.g. `Karras` (`Schedule type`).
        cfg_scale: CFG scale (`CFG scale`); floats keep their `.0` like A1111's API.
        seed: The resolved seed (`Seed`).
        width: Requested width; `Size` is written only when width and height are both given.
        height: Requested height.
        model_hash: Short checkpoint hash (`Model hash`).
        model: Checkpoint name (`Model`).
        denoising_strength: img2img / inpaint strength (`Denoising strength`).
        extra: Further pairs in their own order, e.g. `Mask blur`, `Inpaint area`,
            `Masked area padding`, `Masked content`, `Backend`. A key that is already present
            takes the new value but keeps its place.
        version: Generator version, written last (`Version`).

    Returns:
        A new dict; arguments that are None are left out.
    """
    size = f"{width}x{height}" if width is not None and height is not None else None
    fixed: dict[str, object | None] = {
        "Steps": steps,
        "Sampler": sampler,
        "Schedule type": scheduler_label,
        "CFG scale": cfg_scale,
        "Seed": seed,
        "Size": size,
        "Model hash": model_hash,
        "Model": model,
        "Denoising strength": denoising_strength,
    }
    params: dict[str, object] = {key: value for key, value in fixed.items() if value is not None}
    for key, value in (extra or {}).items():
        if value is not None:
            params[key] = value
    if version is not None:
        params["Version"] = version
    return params


def _to_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        number = _to_float(text)
        return int(number) if number is not None and number.is_integer() else None


def _to_float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Infotext:
    """A parsed infotext.

    Attributes:
        prompt: The prompt (lines joined with `\\n`).
        negative: The negative prompt, `""` when there is none.
        params: Every parameter as text, in file order. Quoted values are already decoded.
            A `WxH` value such as `Size: 512x768` is also split into `Size-1` / `Size-2`, as
            A1111 does.
    """

    prompt: str
    negative: str
    params: dict[str, str]

    def _get(self, key: str) -> str | None:
        return self.params.get(key)

    @property
    def steps(self) -> int | None:
        return _to_int(self._get("Steps"))

    @property
    def sampler(self) -> str | None:
        return self._get("Sampler")

    @property
    def scheduler(self) -> str | None:
        return self._get("Schedule type")

    @property
    def cfg_scale(self) -> float | None:
        return _to_float(self._get("CFG scale"))

    @property
    def seed(self) -> int | None:
        return _to_int(self._get("Seed"))

    def _size(self, index: int) -> int | None:
        value = _to_int(self._get(f"Size-{index}"))
        if value is None:
            match = _RE_IMAGESIZE.match(self._get("Size") or "")
            # _to_int: int() refuses more than 4,300 digits (ValueError), a file may hold more
            value = _to_int(match.group(index)) if match else None
        return value if value is not None and value > 0 else None

    @property
    def width(self) -> int | None:
        return self._size(1)

    @property
    def height(self) -> int | None:
        return self._size(2)

    @property
    def model(self) -> str | None:
        return self._get("Model")

    @property
    def model_hash(self) -> str | None:
        return self._get("Model hash")

    @property
    def denoising_strength(self) -> float | None:
        return _to_float(self._get("Denoising strength"))


def _unquote(text: str) -> str:
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str) else text


def _unescaped_quotes(line: str) -> list[int]:
    """Offsets of the `"` in `line` preceded by an even run of backslashes (sorted)."""
    found = []
    at = line.find('"')
    while at >= 0:
        run = 0
        while at - run - 1 >= 0 and line[at - run - 1] == "\\":  # runs are disjoint: O(n)
            run += 1
        if run % 2 == 0:
            found.append(at)
        at = line.find('"', at + 1)
    return found


def _closing_quote(line: str, start: int, quotes: list[int]) -> int:
    """Where `"(?:\\.|[^\\"])+"` opened just before `start` closes; -1 if it does not."""
    run_end = _RE_BACKSLASHES.match(line, start).end()
    if run_end < len(line) and line[run_end] == '"':
        if run_end == start:
            return -1  # `""`: the pattern needs at least one character
        if (run_end - start) % 2 == 0:
            return run_end
    # Past the backslashes that start the value, escapes pair up as in the whole line.
    index = bisect.bisect_right(quotes, run_end)
    return quotes[index] if index < len(quotes) else -1


def _param_pairs(line: str) -> list[tuple[str, str]]:
    """`_RE_PARAM.findall(line)`, in time linear in `len(line)` (up to a log factor).

    Every attempt of the regex is replayed with anchored, non-backtracking steps. An attempt
    that fails on its key fails for every start inside that key too, so the scan jumps past it;
    the closing quote of a quoted value is looked up, not searched for again from each value.
    """
    pairs: list[tuple[str, str]] = []
    quotes: list[int] | None = None
    size = len(line)
    pos = 0
    while pos < size:
        key_start = _RE_SPACES.match(line, pos).end()
        if key_start >= size:
            break
        if not _RE_WORD.match(line, key_start):
            pos = key_start + 1
            continue
        key_end = _RE_KEY_REST.match(line, key_start + 1).end()
        if key_end == key_start + 1 or key_end >= size or line[key_end] != ":":
            pos = key_end
            continue
        value_start = _RE_SPACES.match(line, key_end + 1).end()
        end = -1
        if value_start < size and line[value_start] == '"':
            if quotes is None:
                quotes = _unescaped_quotes(line)
            close = _closing_quote(line, value_start + 1, quotes)
            if close >= 0 and (close + 1 == size or line[close + 1] == ","):
                end = close + 1
        if end < 0:
            end = _RE_UNTIL_COMMA.match(line, value_start).end()
        pairs.append((line[key_start:key_end], line[value_start:end]))
        pos = end + 1 if end < size else end
    return pairs


def parse_infotext(text: str) -> Infotext:
    """Parse an A1111 infotext the way `parse_generation_parameters` (v1.10.1) does.

    The text is split on `\\n`. The last line is the parameter line only if A1111's pair
    regex finds at least three `key: value` pairs in it; otherwise it is a prompt line. Lines
    before the first line starting with `Negative prompt:` form the prompt, the rest the
    negative prompt. Every line is stripped, as in A1111.

    The format is ambiguous, and this parser keeps A1111's answers:

    * a prompt (with no parameter line after it) whose last line looks like `a: b, c: d, e: f`
      is read as parameters;
    * a prompt line starting with `Negative prompt:` starts the negative prompt;
    * a raw value that starts and ends with `"` is JSON-decoded;
    * a bare flag key (written without `: value`) is not recovered.

    One deliberate difference: a pair with an empty value is kept as `""` (A1111 drops it
    through an IndexError).

    Args:
        text: The infotext, e.g. the PNG `parameters` chunk.

    Returns:
        The prompt, negative prompt and parameters. Never raises for any str input, and runs
        in time linear in its length (a megabyte-long line included).
    """
    *lines, last_line = text.strip().split("\n")
    pairs = _param_pairs(last_line)
    if len(pairs) < 3:
        lines.append(last_line)
        pairs = []

    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    done_with_prompt = False
    for raw_line in lines:
        line = raw_line.strip()
        if line.startswith(_NEGATIVE_PREFIX):
            done_with_prompt = True
            line = line[len(_NEGATIVE_PREFIX) :].strip()
        target = negative_lines if done_with_prompt else prompt_lines
        # A1111 skips empty lines only while nothing has been collected yet.
        if target or line:
            target.append(line)

    params: dict[str, str] = {}
    for key, raw_value in pairs:
        value = _unquote(raw_value)
        params[key] = value
        match = _RE_IMAGESIZE.match(value)
        if match is not None:
            params[f"{key}-1"] = match.group(1)
            params[f"{key}-2"] = match.group(2)
    return Infotext("\n".join(prompt_lines), "\n".join(negative_lines), params)


# --- PNG chunks -----------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
"""The 8 bytes every PNG file starts with."""

DLX_CHUNK = "dlx-art"
"""PNG text keyword of our own chunk holding asset / project / parent ids."""

_TEXT_TYPES = frozenset({b"tEXt", b"zTXt", b"iTXt"})
_STRIPPED_TYPES = _TEXT_TYPES | {b"eXIf", b"tIME"}
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
_CHUNK_HEAD = struct.Struct(">I4s")
_U32 = struct.Struct(">I")
_IHDR = struct.Struct(">IIBBBBB")
# PNG spec table 11.1: allowed bit depths for each colour type.
_BIT_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}


class _Chunk(NamedTuple):
    type: bytes
    start: int  # offset of the length field
    end: int  # offset just after the CRC

    def body(self, data: bytes) -> bytes:
        return data[self.start + 8 : self.end - 4]


def _scan_chunks(data: bytes, *, check_crc: bool) -> tuple[list[_Chunk], int, str | None]:
    """Walk the chunk headers after the signature, skipping bodies by offset.

    Returns the chunks up to and including IEND, the offset after IEND (or where the walk
    stopped), and a description of the first structural problem or None.
    """
    chunks: list[_Chunk] = []
    view = memoryview(data)
    size = len(data)
    pos = len(PNG_SIGNATURE)
    while True:
        if pos == size:
            return chunks, pos, "the file ends before the PNG end marker (IEND)"
        if pos + 12 > size:
            return chunks, pos, "the file is cut off inside a chunk"
        length, ctype = _CHUNK_HEAD.unpack_from(data, pos)
        if length > 0x7FFF_FFFF or not ctype.isalpha():
            return chunks, pos, "a chunk header is corrupted"
        end = pos + 12 + length
        if end > size:
            return chunks, pos, "the file is cut off inside a chunk"
        if check_crc and zlib.crc32(view[pos + 4 : end - 4]) != _U32.unpack_from(data, end - 4)[0]:
            name = ctype.decode("ascii")
            return chunks, pos, f"the checksum of chunk {name} at byte {pos} does not match"
        chunks.append(_Chunk(ctype, pos, end))
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


def _decode_text_chunk(ctype: bytes, body: bytes,
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


def _text_from_chunks(data: bytes, chunks: Iterable[_Chunk]) -> dict[str, str]:
    text: dict[str, str] = {}
    budget = [MAX_TEXT_TOTAL]  # inflated bytes left for this file's compressed chunks
    for chunk in chunks:
        if chunk.type in _TEXT_TYPES:
            decoded = _decode_text_chunk(chunk.type, chunk.body(data), budget)
            if decoded is not None:
                text[decoded[0]] = decoded[1]
    return text


def _chunk_keyword(data: bytes, chunk: _Chunk) -> str:
    body_start = chunk.start + 8
    nul = data.find(b"\0", body_start, chunk.end - 4)
    return data[body_start : nul if nul >= 0 else body_start].decode("latin-1")


def _require_png(data: bytes) -> None:
    if not data.startswith(PNG_SIGNATURE):
        raise BadImageFile("The image is not a PNG file.")


def _scan_for_edit(data: bytes) -> tuple[list[_Chunk], int]:
    _require_png(data)
    chunks, end, problem = _scan_chunks(data, check_crc=False)
    if problem is None and (not chunks or chunks[0].type != b"IHDR"):
        problem = "the image header (IHDR) is missing"
    if problem is not None:
        raise BadImageFile(f"The PNG image is damaged or incomplete: {problem}.")
    return chunks, end


def _make_chunk(ctype: bytes, body: bytes) -> bytes:
    return _U32.pack(len(body)) + ctype + body + _U32.pack(zlib.crc32(ctype + body))


def _check_keyword(key: str) -> bytes:
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


def _text_chunk(key: bytes, value: str) -> bytes:
    try:
        return _make_chunk(b"tEXt", key + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        # Uncompressed iTXt with empty language tag and translated keyword, like Pillow/A1111.
        return _make_chunk(b"iTXt", key + b"\0\0\0\0\0" + value.encode("utf-8"))


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
    chunks, _end, _problem = _scan_chunks(data, check_crc=False)
    return _text_from_chunks(data, chunks)


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
    keys = {key: _check_keyword(key) for key in chunks}
    new_chunks = [
        _text_chunk(keys[key], value) for key, value in chunks.items() if value is not None
    ]
    found, end = _scan_for_edit(data)
    view = memoryview(data)
    parts: list[bytes | memoryview] = []
    start = 0  # the run of kept bytes not yet added
    for chunk in found:
        if chunk.type in _TEXT_TYPES and _chunk_keyword(data, chunk) in keys:
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
    parts += [view[c.start : c.end] for c in found if c.type not in _STRIPPED_TYPES]
    return b"".join(parts)


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
    if len(data) >= 33 and data[12:16] == b"IHDR":
        width, height = struct.unpack_from(">II", data, 16)
        if width * height > MAX_PIXELS:
            raise _too_large(name, width, height)
    chunks, _end, problem = _scan_chunks(data, check_crc=True)
    if problem is not None:
        raise _damaged(name, problem)
    header = chunks[0]
    if header.type != b"IHDR" or header.end - header.start != 12 + _IHDR.size:
        raise _damaged(name, "the image header (IHDR) is missing")
    width, height, depth, colour, compression, filtering, interlace = _IHDR.unpack_from(
        data, header.start + 8
    )
    valid = (
        0 < width <= 0x7FFF_FFFF
        and 0 < height <= 0x7FFF_FFFF
        and depth in _BIT_DEPTHS.get(colour, ())
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
    return ImageProbe("png", width, height, _text_from_chunks(data, chunks))


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
