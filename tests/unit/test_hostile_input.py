"""Hostile or huge input from files: every parser is linear in its input and bounded in memory,
only regular files are read, outside text is capped, and generation values are checked before
anything is sent. Property-based where it fits."""

from __future__ import annotations

import math
import os
import socket
import stat
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlx_art.errors import BadImageFile, UsageError
from dlx_art.generation import types
from dlx_art.generation.types import GenerationRequest, stored_seed
from dlx_art.library import infotext, metadata, staging
from dlx_art.library.metadata import (
    MAX_KEPT_TEXT,
    MAX_TEXT_CHUNK,
    MAX_TEXT_TOTAL,
    cap_text,
    parse_infotext,
    probe_file,
    read_png_text,
    read_regular_file,
)
from tests.support.images import png_bytes

# Generous: linear parsing of a megabyte takes well under a second; quadratic takes hours.
GUARD = 10.0


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def with_chunks(*chunks: bytes) -> bytes:
    data = png_bytes(8, 8)
    return data[:33] + b"".join(chunks) + data[33:]  # right after IHDR


def ztxt(key: bytes, text: bytes, level: int = 9) -> bytes:
    return chunk(b"zTXt", key + b"\0\0" + zlib.compress(text, level))


def itxt_compressed(key: bytes, text: bytes) -> bytes:
    return chunk(b"iTXt", key + b"\0\1\0\0\0" + zlib.compress(text, 9))


# --- infotext: linear and equal to A1111's regex ------------------------------------------------

_ALPHABET = st.sampled_from(list('ab1 :,"\\-/\t\r_é中') + [", ", ": ", '\\"', "Steps"])


@settings(max_examples=3000, deadline=None)
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_pairs_are_exactly_a1111s_regex(line: str) -> None:
    # the regex is A1111's specification; on short lines its backtracking does not matter
    assert infotext._param_pairs(line) == infotext._RE_PARAM.findall(line)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_pairs_equal_the_regex_on_any_text(line: str) -> None:
    line = line.replace("\n", " ")
    assert infotext._param_pairs(line) == infotext._RE_PARAM.findall(line)


ADVERSARIAL = {
    "words without a colon": "a " * 500_000,
    "unclosed quotes": 'k: "x, ' * 150_000,
    "backslashes": "\\" * 1_000_000,
    "colons": "a:" * 500_000,
    "quotes": '"' * 1_000_000,
    "escaped quotes": 'k: "\\' * 200_000,
    "dashes": "a-/ " * 250_000,
    "one long key": "a" * 1_000_000 + ": v, b: c, d: e",
    "huge size": "Steps: 1, Seed: 2, Size: " + "9" * 100_000 + "x" + "9" * 100_000,
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_a_megabyte_line_parses_quickly(name: str) -> None:
    text = "prompt\n" + ADVERSARIAL[name]
    started = time.perf_counter()
    info = parse_infotext(text)
    for attribute in ("steps", "seed", "width", "height", "cfg_scale", "denoising_strength"):
        getattr(info, attribute)  # never raises, even for 100,000-digit numbers
    assert time.perf_counter() - started < GUARD


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["Steps", "Seed", "Size", "CFG scale", "Size-1",
                                        "Denoising strength"]),
                       st.one_of(st.integers().map(str), st.text(max_size=20),
                                 st.integers(0, 10**6).map(lambda n: "9" * (n % 9000) + "x5")),
                       min_size=3))
def test_infotext_fields_never_raise(params: dict[str, str]) -> None:
    info = metadata.Infotext("p", "", params)
    for attribute in ("steps", "seed", "width", "height", "cfg_scale", "denoising_strength"):
        value = getattr(info, attribute)
        assert value is None or isinstance(value, int | float)


# --- capped text ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3 * MAX_KEPT_TEXT))
def test_cap_text_keeps_at_most_the_limit_and_says_so(length: int) -> None:
    text = "x" * length
    kept = cap_text(text)
    assert kept is not None
    if kept != text:
        assert kept.startswith("x" * MAX_KEPT_TEXT)
        assert kept.endswith(f"{MAX_KEPT_TEXT:,} of {length:,} characters are kept]")
    assert len(kept) <= MAX_KEPT_TEXT + 200
    assert cap_text(kept) == kept  # idempotent


def test_rows_from_a_huge_infotext_are_capped_and_marked() -> None:
    prompt = "word " * 300_000
    values = staging.values_from_parameters(
        prompt + "\nSteps: 20, Sampler: Euler, Seed: 42, Size: 64x64")
    assert values["seed"] == 42 and values["steps"] == 20  # parsed from the whole text
    for key in ("infotext", "prompt"):
        assert len(values[key]) <= MAX_KEPT_TEXT + 200
        assert "cut by DLX Art Studio" in values[key]


# --- compressed text chunks ----------------------------------------------------------------------


@pytest.mark.parametrize("make", [ztxt, itxt_compressed])
def test_a_compressed_text_bomb_is_inflated_only_up_to_its_cap(make) -> None:
    bomb = make(b"parameters", b"a" * (64 * 2**20))  # 64 MiB in about 64 KiB
    assert len(bomb) < 2**20
    text = read_png_text(with_chunks(bomb))["parameters"]
    assert text.startswith("a" * 1000)
    assert len(text) <= MAX_TEXT_CHUNK + 200
    assert "cut by DLX Art Studio" in text


def test_many_bombs_share_one_budget() -> None:
    bombs = [ztxt(f"k{i}".encode(), b"b" * (2 * MAX_TEXT_CHUNK)) for i in range(40)]
    texts = read_png_text(with_chunks(*bombs))
    assert sum(len(t) for t in texts.values()) <= MAX_TEXT_TOTAL + 40 * 200


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3 * MAX_TEXT_CHUNK), st.booleans())
def test_compressed_text_is_whole_below_the_cap_and_cut_above(size: int, itxt: bool) -> None:
    make = itxt_compressed if itxt else ztxt
    text = read_png_text(with_chunks(make(b"note", b"z" * size))).get("note")
    assert text is not None
    if size <= MAX_TEXT_CHUNK:
        assert text == "z" * size
    else:
        assert text.startswith("z" * MAX_TEXT_CHUNK) and "cut by DLX Art Studio" in text
        assert len(text) <= MAX_TEXT_CHUNK + 200


def test_probe_keeps_working_on_a_bomb_and_a_megabyte_parameter_line() -> None:
    line = "a " * 500_000
    data = with_chunks(chunk(b"tEXt", b"parameters\0" + line.encode()),
                       ztxt(b"Comment", b"c" * (64 * 2**20)))
    started = time.perf_counter()
    probe = metadata.probe_image(data, "x.png")
    values = staging.values_from_parameters(probe.parameters)
    assert time.perf_counter() - started < GUARD
    assert len(values["infotext"]) <= MAX_KEPT_TEXT + 200
    assert len(probe.text["Comment"]) <= MAX_TEXT_CHUNK + 200


# --- only regular files --------------------------------------------------------------------------


def _finishes(function, *args, timeout: float = 20.0):
    """Run `function` in a thread: a blocking open must fail the test, not hang the suite."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = function(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{function.__name__}{args} blocked"
    return box


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    box = _finishes(probe_file, fifo)
    assert isinstance(box.get("error"), BadImageFile)
    assert "named pipe" in box["error"].user_message


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_refused_without_reading(device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    box = _finishes(probe_file, Path(device))
    assert isinstance(box.get("error"), BadImageFile)
    assert "device" in box["error"].user_message


def test_a_folder_and_a_socket_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BadImageFile, match="folder"):
        probe_file(tmp_path)
    if not hasattr(socket, "AF_UNIX"):
        return
    path = tmp_path / "s.png"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        box = _finishes(probe_file, path)
    assert isinstance(box.get("error"), BadImageFile)
    assert "socket" in box["error"].user_message


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_size_is_checked_by_what_is_read_not_by_stat() -> None:
    path = Path("/proc/self/maps")  # a regular file whose stat size is 0
    assert os.stat(path).st_size == 0
    assert len(read_regular_file(path, 10 * 2**20)) > 100
    with pytest.raises(BadImageFile, match="too big"):
        read_regular_file(path, 100)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 5000), st.integers(1, 5000))
def test_read_regular_file_reads_exactly_up_to_its_limit(tmp_path_factory, size: int,
                                                         limit: int) -> None:
    path = tmp_path_factory.mktemp("r") / "f"
    path.write_bytes(os.urandom(size))
    if size <= limit:
        assert read_regular_file(path, limit) == path.read_bytes()
    else:
        with pytest.raises(BadImageFile, match="too big"):
            read_regular_file(path, limit)


# --- generation values ---------------------------------------------------------------------------


@given(st.one_of(st.integers(-(2**70), 2**70), st.integers(-3, 3),
                 st.integers(2**32 - 3, 2**32 + 3)))
def test_seed_range_is_a1111s(seed: int) -> None:
    valid = seed == -1 or 0 <= seed <= 2**32 - 1
    if valid:
        assert GenerationRequest(project_id="p", prompt="x", seed=seed).seed == seed
        assert types.check_seed(str(seed)) == seed
    else:
        with pytest.raises(UsageError, match="seed"):
            GenerationRequest(project_id="p", prompt="x", seed=seed)
        with pytest.raises(UsageError):
            types.check_seed(str(seed))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_cfg_scale_must_be_finite_and_in_range(cfg: float) -> None:
    if math.isfinite(cfg) and 0 <= cfg <= types.MAX_CFG_SCALE:
        GenerationRequest(project_id="p", prompt="x", cfg_scale=cfg)
    else:
        with pytest.raises(UsageError, match="CFG"):
            GenerationRequest(project_id="p", prompt="x", cfg_scale=cfg)


@pytest.mark.parametrize("field, value", [
    ("padding", -1), ("mask_blur", -1), ("steps", 0), ("steps", 10**6), ("width", 0),
    ("height", -8), ("denoising_strength", math.nan), ("denoising_strength", 1.01),
    ("batch_count", 0), ("batch_size", 1000), ("cfg_scale", math.inf), ("seed", -2),
    ("width", 16384),  # with height 16384: more pixels than any image may have
    ("height", 65536),
])
def test_bad_values_are_usage_errors(field: str, value: object) -> None:
    extra = {"height": 16384} if (field, value) == ("width", 16384) else {}
    with pytest.raises(UsageError):
        GenerationRequest(project_id="p", prompt="x", **{field: value, **extra})


@given(st.one_of(st.integers(-(2**80), 2**80), st.floats(allow_nan=True), st.text(max_size=5),
                 st.none(), st.booleans()))
def test_stored_seed_is_an_a1111_seed_or_none(value: object) -> None:
    kept = stored_seed(value)
    assert kept is None or (type(kept) is int and 0 <= kept <= 2**32 - 1 and kept == value)
