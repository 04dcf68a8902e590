"""The one PNG module: chunk writing, walking, IHDR and the content hash built on them."""

from __future__ import annotations

import hashlib
import struct
import zlib

from hypothesis import given
from hypothesis import strategies as st

from dlx_art.library import png, staging

_kinds = st.sampled_from([b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"tEXt", b"zTXt", b"iTXt",
                          b"gAMA", b"IEND"])


def _old_content_hash(data: bytes) -> str:
    """The content hash as staging computed it before png.py (catalog hashes must not change)."""
    if not data.startswith(png.PNG_SIGNATURE):
        return hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    view = memoryview(data)
    offset = len(png.PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length = int.from_bytes(data[offset:offset + 4], "big")
        kind = data[offset + 4:offset + 8]
        if kind in (b"IHDR", b"PLTE", b"tRNS", b"IDAT"):
            digest.update(view[offset + 4:offset + 8 + length])
        if kind == b"IEND":
            break
        offset += 12 + length
    return digest.hexdigest()


@given(_kinds, st.binary(max_size=300))
def test_a_chunk_has_length_type_body_and_the_crc_of_type_and_body(kind, body) -> None:
    chunk = png.make_chunk(kind, body)
    assert chunk[:4] == struct.pack(">I", len(body))
    assert chunk[4:8] == kind and chunk[8:-4] == body
    assert chunk[-4:] == struct.pack(">I", zlib.crc32(kind + body))
    assert png.make_chunk(kind, memoryview(body)) == chunk


@given(st.lists(st.tuples(_kinds, st.binary(max_size=64)), max_size=8), st.integers(0, 40))
def test_walking_finds_every_written_chunk_up_to_iend(chunks, cut) -> None:
    data = png.PNG_SIGNATURE + b"".join(png.make_chunk(k, b) for k, b in chunks)
    walked = list(png.walk_chunks(data))
    expected = []
    offset = len(png.PNG_SIGNATURE)
    for kind, body in chunks:
        expected.append((kind, offset, len(body)))
        if kind == b"IEND":
            break
        offset += 12 + len(body)
    assert walked == expected
    # A cut file ends the walk early and never raises.
    truncated = data[: max(len(png.PNG_SIGNATURE), len(data) - cut)]
    assert list(png.walk_chunks(truncated)) == [w for w in walked if w[1] + 8 <= len(truncated)]


@given(st.binary(max_size=400))
def test_content_hash_is_unchanged_on_any_bytes(tail) -> None:
    for data in (tail, png.PNG_SIGNATURE + tail):
        assert staging.content_hash(data) == _old_content_hash(data)


@given(st.lists(st.tuples(_kinds, st.binary(max_size=40)), max_size=6))
def test_content_hash_is_unchanged_on_chunk_streams(chunks) -> None:
    data = png.PNG_SIGNATURE + b"".join(png.make_chunk(k, b) for k, b in chunks)
    assert staging.content_hash(data) == _old_content_hash(data)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 255))
def test_ihdr_size_reads_what_ihdr_pack_wrote(width, height, depth) -> None:
    header = png.Ihdr(width, height, depth, 2, 0, 0, 0)
    data = png.PNG_SIGNATURE + png.make_chunk(b"IHDR", header.pack())
    assert png.ihdr_size(data) == (width, height)
    assert png.Ihdr.unpack(data, 16) == header
    assert png.ihdr_size(data[:23]) is None
    assert png.ihdr_size(b"\x89PNF" + data[4:]) is None
    assert png.ihdr_size(data.replace(b"IHDR", b"IDAT")) is None
