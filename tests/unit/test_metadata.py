"""Tests for dlx_art.library.metadata: infotext, PNG chunks, image validation."""

from __future__ import annotations

import io
import json
import random
import re
import struct
import warnings
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, PngImagePlugin

from dlx_art.errors import BadImageFile
from dlx_art.library import metadata
from dlx_art.library.metadata import (
    DLX_CHUNK,
    MAX_PIXELS,
    PNG_SIGNATURE,
    DlxIds,
    ImageProbe,
    Infotext,
    build_params,
    decode_dlx_ids,
    encode_dlx_ids,
    format_infotext,
    parse_infotext,
    probe_file,
    probe_image,
    quote,
    read_png_text,
    set_png_text,
    strip_metadata,
    strip_png_metadata,
)

# No example database: the checkout is shared and .hypothesis/ would be written into it.
fuzz = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])

REFERENCE_INFOTEXT = (
    "a cat in a hat\n"
    "Negative prompt: blurry\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.0, Seed: 42, "
    "Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1"
)
# A1111's own pair regex, to tell which generated lines are ambiguous.
A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


# --- helpers --------------------------------------------------------------------------------------


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def chunks_of(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, body) of every chunk, parsed independently of the module under test."""
    assert data[:8] == PNG_SIGNATURE
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def idat_bytes(data: bytes) -> bytes:
    return b"".join(body for ctype, body in chunks_of(data) if ctype == b"IDAT")


def noise_image(width: int = 64, height: int = 48, mode: str = "RGB") -> Image.Image:
    rng = random.Random(width * 1000 + height)
    return Image.frombytes(mode, (width, height), rng.randbytes(width * height * len(mode)))


def png_bytes(
    image: Image.Image | None = None, pnginfo: PngImagePlugin.PngInfo | None = None
) -> bytes:
    out = io.BytesIO()
    (image or noise_image()).save(out, "PNG", pnginfo=pnginfo)
    return out.getvalue()


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def piexif_user_comment_exif(text: str) -> bytes:
    """EXIF as A1111 writes it with piexif: big-endian TIFF, UserComment "UNICODE\\0" + UTF-16BE."""
    comment = b"UNICODE\0" + text.encode("utf-16-be")
    exif_ifd = 8 + 2 + 12 + 4
    data_at = exif_ifd + 2 + 12 + 4
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += struct.pack(">HHHII", 1, 0x8769, 4, 1, exif_ifd) + struct.pack(">I", 0)
    tiff += struct.pack(">HHHII", 1, 0x9286, 7, len(comment), data_at) + struct.pack(">I", 0)
    return b"Exif\x00\x00" + tiff + comment


def pillow_user_comment_exif(raw_comment: bytes) -> bytes:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = raw_comment
    return exif.tobytes()


def hand_made_png(width: int, height: int, *, idat: bytes | None = None) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = idat if idat is not None else zlib.compress(b"\0" * 16)
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


# --- quote / format -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("DPM++ 2M", "DPM++ 2M"),
        (7.0, "7.0"),
        (42, "42"),
        (True, "True"),
        ("add_detail: 7c6bad76eb54", '"add_detail: 7c6bad76eb54"'),
        ("a, b", '"a, b"'),
        ("two\nlines", '"two\\nlines"'),
        ('say "hi": now', '"say \\"hi\\": now"'),
        ("猫: ねこ", '"猫: ねこ"'),
        ("", ""),
    ],
)
def test_quote_matches_a1111(value: object, expected: str) -> None:
    assert quote(value) == expected


def test_format_reference_example() -> None:
    params = build_params(
        steps=20,
        sampler="DPM++ 2M",
        scheduler_label="Karras",
        cfg_scale=7.0,
        seed=42,
        width=512,
        height=512,
        model_hash="6ce0161689",
        model="v1-5-pruned-emaonly",
        version="v1.10.1",
    )
    assert format_infotext("a cat in a hat", "blurry", params) == REFERENCE_INFOTEXT


def test_format_leaves_out_empty_negative_and_strips() -> None:
    params = {"Steps": 20, "Sampler": "Euler", "Seed": 1}
    assert format_infotext("  cat  ", "", params) == "cat  \nSteps: 20, Sampler: Euler, Seed: 1"
    assert format_infotext("", "", params) == "Steps: 20, Sampler: Euler, Seed: 1"
    assert format_infotext("", "ugly", params) == (
        "Negative prompt: ugly\nSteps: 20, Sampler: Euler, Seed: 1"
    )


def test_format_skips_none_and_writes_flags_bare() -> None:
    params = {"Steps": 20, "Clip skip": None, "Tiling": "Tiling", "CFG scale": 7.5, "Seed": -1}
    assert format_infotext("p", "", params) == "p\nSteps: 20, Tiling, CFG scale: 7.5, Seed: -1"


def test_build_params_order_extra_and_version() -> None:
    params = build_params(
        version="dlx-0.1",
        extra={
            "Mask blur": 4,
            "Inpaint area": "Only masked",
            "Masked area padding": 32,
            "Masked content": "original",
            "Backend": "a1111",
            "Skipped": None,
        },
        denoising_strength=0.75,
        model="m",
        model_hash="abc",
        height=768,
        width=512,
        seed=7,
        cfg_scale=7.0,
        scheduler_label="Automatic",
        sampler="Euler a",
        steps=30,
    )
    assert list(params) == [
        "Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Model hash", "Model",
        "Denoising strength", "Mask blur", "Inpaint area", "Masked area padding",
        "Masked content", "Backend", "Version",
    ]  # fmt: skip
    assert params["Size"] == "512x768"
    assert params["CFG scale"] == 7.0


def test_build_params_omits_none_and_half_sizes() -> None:
    assert build_params() == {}
    assert build_params(width=512, seed=0) == {"Seed": 0}


# --- parse ----------------------------------------------------------------------------------------


def test_parse_reference_example() -> None:
    info = parse_infotext(REFERENCE_INFOTEXT)
    assert info.prompt == "a cat in a hat"
    assert info.negative == "blurry"
    assert info.params["Size"] == "512x512"
    assert (info.params["Size-1"], info.params["Size-2"]) == ("512", "512")
    assert info.steps == 20
    assert info.sampler == "DPM++ 2M"
    assert info.scheduler == "Karras"
    assert info.cfg_scale == 7.0
    assert info.seed == 42
    assert (info.width, info.height) == (512, 512)
    assert info.model_hash == "6ce0161689"
    assert info.model == "v1-5-pruned-emaonly"
    assert info.denoising_strength is None
    assert info.params["Version"] == "v1.10.1"


def test_parse_a1111_inpaint_infotext_with_quoted_values() -> None:
    text = (
        "masterpiece, 1girl, <lora:add_detail:0.5>\n"
        "reading a book\n"
        "Negative prompt: lowres, bad hands\n"
        "worst quality\n"
        "Steps: 28, Sampler: Euler a, Schedule type: Automatic, CFG scale: 6.5, Seed: 3735928559, "
        "Size: 512x768, Model hash: 7f96a1a9ca, Model: anything-v5, Denoising strength: 0.6, "
        "Mask blur: 4, Inpaint area: Only masked, Masked area padding: 32, "
        'Lora hashes: "add_detail: 7c6bad76eb54", TI hashes: "a: 1, b: 2", Hires fix, '
        "Version: v1.10.1"
    )
    info = parse_infotext(text)
    assert info.prompt == "masterpiece, 1girl, <lora:add_detail:0.5>\nreading a book"
    assert info.negative == "lowres, bad hands\nworst quality"
    assert info.params["Lora hashes"] == "add_detail: 7c6bad76eb54"
    assert info.params["TI hashes"] == "a: 1, b: 2"
    assert info.params["Inpaint area"] == "Only masked"
    assert "Hires fix" not in info.params  # bare flags are not recovered (A1111 too)
    assert info.seed == 3735928559
    assert info.denoising_strength == 0.6
    assert (info.width, info.height) == (512, 768)


def test_cjk_emoji_multiline_round_trip() -> None:
    prompt = "一只猫 🐱, 桜の木の下で\n두 번째 줄 ✨"
    negative = "低质量\n😡 ugly"
    params = build_params(
        steps=20, sampler="Euler", cfg_scale=7.0, seed=1, width=512, height=512,
        extra={"Lora hashes": "add_detail: 7c6bad76eb54", "Note": "猫, 犬: 🐶\nzwei"},
    )  # fmt: skip
    text = format_infotext(prompt, negative, params)
    assert '"猫, 犬: 🐶\\nzwei"' in text  # JSON quoting keeps non-ASCII as is
    info = parse_infotext(text)
    assert (info.prompt, info.negative) == (prompt, negative)
    assert info.params["Note"] == "猫, 犬: 🐶\nzwei"
    assert info.params["Lora hashes"] == "add_detail: 7c6bad76eb54"


def test_parse_text_without_parameter_line_is_all_prompt() -> None:
    info = parse_infotext("just a prompt\nSteps: 20, Seed: 1")  # only 2 pairs
    assert info.prompt == "just a prompt\nSteps: 20, Seed: 1"
    assert info.params == {}
    assert parse_infotext("") == Infotext("", "", {})


def test_documented_ambiguity_prompt_line_that_looks_like_parameters() -> None:
    # Same answer as A1111: with no parameter line, such a last prompt line is read as params.
    info = parse_infotext("portrait\nlighting: soft, lens: 85mm, film: kodak")
    assert info.prompt == "portrait"
    assert info.params == {"lighting": "soft", "lens": "85mm", "film": "kodak"}


def test_parse_strips_lines_and_negative_prefix_like_a1111() -> None:
    info = parse_infotext("  a  \n\n b \nNegative prompt:   n1 \n n2\nSteps: 1, Seed: 2, Size: 8x8")
    assert info.prompt == "a\n\nb"
    assert info.negative == "n1\nn2"


def test_parse_keeps_raw_value_when_quotes_are_not_json() -> None:
    info = parse_infotext('p\nSteps: 1, Seed: 2, Odd: "not \\json"')
    assert info.params["Odd"] == '"not \\json"'


def test_properties_are_tolerant_of_bad_values() -> None:
    info = Infotext(
        "p", "", {"Steps": "many", "CFG scale": "nan", "Seed": "12.0", "Size": "big",
                  "Denoising strength": "", "Size-1": "-3"},
    )  # fmt: skip
    assert info.steps is None
    assert info.cfg_scale is None
    assert info.seed == 12
    assert info.width is None
    assert info.height is None
    assert info.denoising_strength is None
    assert info.sampler is None
    assert Infotext("p", "", {"Size": "640x480"}).width == 640


# --- infotext round-trip (hypothesis) -------------------------------------------------------------

_line = (
    st.text(max_size=30)
    .map(lambda s: s.replace("\n", " ").strip())
    .filter(lambda s: not s.startswith("Negative prompt:"))
)
# Lines as A1111 keeps them: stripped, no leading or trailing empty lines.
_prompt = st.lists(_line, max_size=4).map("\n".join).filter(lambda s: s == s.strip())
_key = st.from_regex(r"[A-Za-z][A-Za-z0-9 \-/]{0,15}[A-Za-z0-9]", fullmatch=True).filter(
    lambda k: not re.search(r"-[12]$", k)
)


def _round_trippable(value: object) -> bool:
    text = str(value)
    # A raw value with outer quotes is JSON-decoded by A1111; surrounding space is eaten.
    quoted_raw = len(text) >= 2 and text[0] == text[-1] == '"' and quote(text) == text
    return text == text.strip() and not quoted_raw


_value = st.one_of(
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
).filter(_round_trippable)
_params = st.dictionaries(_key, _value, min_size=3, max_size=8).filter(
    lambda d: all(k != v for k, v in d.items())
)


@fuzz
@given(prompt=_prompt, negative=_prompt, params=_params)
def test_infotext_round_trip(prompt: str, negative: str, params: dict[str, object]) -> None:
    info = parse_infotext(format_infotext(prompt, negative, params))
    assert info.prompt == prompt
    assert info.negative == negative
    for key, value in params.items():
        assert info.params[key] == str(value)
    extra = set(info.params) - set(params)
    assert all(re.fullmatch(r".+-[12]", k) and k[:-2] in params for k in extra)


@fuzz
@given(prompt=_prompt, negative=_prompt)
def test_infotext_round_trip_without_parameters(prompt: str, negative: str) -> None:
    text = format_infotext(prompt, negative, {})
    assume(len(A1111_PARAM.findall(text.split("\n")[-1])) < 3)  # the documented ambiguity
    info = parse_infotext(text)
    assert (info.prompt, info.negative, info.params) == (prompt, negative, {})


@fuzz
@given(st.text())
def test_parse_never_raises(text: str) -> None:
    assert isinstance(parse_infotext(text), Infotext)


# --- PNG text chunks ------------------------------------------------------------------------------


def test_read_png_text_reads_text_ztxt_and_itxt() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "plain latin-1 é")
    info.add_text("zipped", "z" * 500, zip=True)
    info.add_itxt("utf", "猫 🐱", lang="ja", tkey="ねこ")
    info.add_itxt("utfzip", "圧縮 " * 50, zip=True)
    assert read_png_text(png_bytes(pnginfo=info)) == {
        "parameters": "plain latin-1 é",
        "zipped": "z" * 500,
        "utf": "猫 🐱",
        "utfzip": "圧縮 " * 50,
    }


def test_read_png_text_finds_chunks_after_idat_and_skips_broken_ones() -> None:
    base = png_bytes()
    iend = base.rindex(b"IEND") - 4
    tail = (
        chunk(b"tEXt", b"late\0after IDAT")
        + chunk(b"zTXt", b"badzip\0\0not zlib")
        + chunk(b"tEXt", b"no separator")
        + chunk(b"iTXt", b"badutf\0\0\0\0\0\xff\xfe")
    )
    data = base[:iend] + tail + base[iend:]
    assert read_png_text(data) == {"late": "after IDAT"}


def test_read_png_text_rejects_non_png() -> None:
    with pytest.raises(BadImageFile):
        read_png_text(b"GIF89a....")


def test_set_png_text_is_read_by_pillow_and_keeps_idat() -> None:
    original = png_bytes()
    text = "一只猫 🐱\nNegative prompt: 低质量\nSteps: 20, Sampler: Euler, Seed: 1"
    out = set_png_text(original, {"parameters": text, "latin": "café"})
    with Image.open(io.BytesIO(out)) as image:
        assert image.info["parameters"] == text
        assert image.info["latin"] == "café"
        image.load()
        with Image.open(io.BytesIO(original)) as before:
            assert image.tobytes() == before.tobytes()
    assert idat_bytes(out) == idat_bytes(original)
    types = [ctype for ctype, _ in chunks_of(out)]
    assert types[:3] == [b"IHDR", b"iTXt", b"tEXt"]  # non-Latin-1 -> iTXt, right after IHDR
    itxt = chunks_of(out)[1][1]
    assert itxt == b"parameters\0\0\0\0\0" + text.encode("utf-8")  # uncompressed, empty tags
    probe_image(out)  # every CRC is right


def test_set_png_text_replaces_all_chunk_kinds_of_a_keyword_and_keeps_others() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "old tEXt")
    info.add_text("parameters", "old zTXt", zip=True)
    info.add_itxt("parameters", "old iTXt 猫")
    info.add_text("Software", "other tool")
    info.add_text(DLX_CHUNK, "stale")
    original = png_bytes(pnginfo=info)
    out = set_png_text(original, {"parameters": "new", DLX_CHUNK: None})
    assert read_png_text(out) == {"parameters": "new", "Software": "other tool"}
    assert sum(1 for t, _ in chunks_of(out) if t in (b"tEXt", b"zTXt", b"iTXt")) == 2
    assert idat_bytes(out) == idat_bytes(original)


def test_set_png_text_keeps_bytes_after_iend() -> None:
    original = png_bytes() + b"trailing"
    assert set_png_text(original, {"k": "v"}).endswith(b"IEND\xaeB`\x82trailing")


@pytest.mark.parametrize("data", [b"", b"hello", b"\xff\xd8\xff\xe0JFIF", PNG_SIGNATURE + b"\0\0"])
def test_set_png_text_rejects_non_png_and_broken_png(data: bytes) -> None:
    with pytest.raises(BadImageFile):
        set_png_text(data, {"parameters": "x"})


@pytest.mark.parametrize("key", ["", " lead", "trail ", "two  spaces", "x" * 80, "nul\0", "猫"])
def test_set_png_text_rejects_invalid_keywords(key: str) -> None:
    with pytest.raises(ValueError):
        set_png_text(png_bytes(), {key: "v"})


_latin1_printable = [chr(c) for c in [*range(32, 127), *range(161, 256)]]
_keyword = st.text(st.sampled_from(_latin1_printable), min_size=1, max_size=79).filter(
    lambda k: k == k.strip(" ") and "  " not in k
)
_BASE_INFO = PngImagePlugin.PngInfo()
_BASE_INFO.add_text("parameters", "base params")
_BASE_INFO.add_text("Software", "base", zip=True)
_BASE_PNG = png_bytes(noise_image(8, 8), _BASE_INFO)


@fuzz
@given(st.dictionaries(_keyword, st.one_of(st.none(), st.text()), max_size=5))
def test_set_read_png_text_round_trip(changes: dict[str, str | None]) -> None:
    out = set_png_text(_BASE_PNG, changes)
    expected = {"parameters": "base params", "Software": "base"}
    for key, value in changes.items():
        expected.pop(key, None)
        if value is not None:
            expected[key] = value
    assert read_png_text(out) == expected
    assert idat_bytes(out) == idat_bytes(_BASE_PNG)
    probe_image(out)


def test_strip_png_metadata() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "secret prompt")
    info.add_itxt("utf", "猫", zip=True)
    original = png_bytes(noise_image(mode="RGBA"), pnginfo=info)
    iend = original.rindex(b"IEND") - 4
    extra = (
        chunk(b"eXIf", b"MM\0*")
        + chunk(b"tIME", bytes(7))
        + chunk(b"zTXt", b"z\0\0" + zlib.compress(b"x"))
    )
    data = set_png_text(original[:iend] + extra + original[iend:] + b"junk", {DLX_CHUNK: "{}"})
    out = strip_png_metadata(data)
    assert read_png_text(out) == {}
    assert [t for t, _ in chunks_of(out)] == [b"IHDR", b"IDAT", b"IEND"]
    assert idat_bytes(out) == idat_bytes(original)
    assert probe_image(out).width == 64
    assert strip_metadata(data, "PNG") == out


# --- dlx ids --------------------------------------------------------------------------------------


def test_dlx_ids_round_trip() -> None:
    text = encode_dlx_ids("a1", "p1", None)
    assert text == '{"v":1,"assetId":"a1","projectId":"p1","parentId":null}'
    assert decode_dlx_ids(text) == DlxIds("a1", "p1", None)
    assert decode_dlx_ids(encode_dlx_ids("猫", None, "parent")) == DlxIds("猫", None, "parent")
    assert encode_dlx_ids("猫", None, None).isascii()


@pytest.mark.parametrize(
    "text",
    [
        "", "null", "[]", "{}", "not json", '{"v":2,"assetId":"a"}', '{"v":true,"assetId":"a"}',
        '{"v":1}', '{"v":1,"assetId":""}', '{"v":1,"assetId":5}',
        '{"v":1,"assetId":"a","projectId":3}', '{"v":1,"assetId":"a","parentId":[]}',
        "[" * 100_000,
    ],
)  # fmt: skip
def test_decode_dlx_ids_rejects_malformed(text: str) -> None:
    assert decode_dlx_ids(text) is None


@fuzz
@given(st.one_of(st.text(), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
).map(json.dumps)))  # fmt: skip
def test_decode_dlx_ids_never_raises(text: str) -> None:
    result = decode_dlx_ids(text)
    assert result is None or isinstance(result, DlxIds)


def test_probe_reads_dlx_ids_and_parameters_from_png() -> None:
    data = set_png_text(png_bytes(), {"parameters": "p\nSteps: 1, Seed: 2, Size: 3x4",
                                      DLX_CHUNK: encode_dlx_ids("a", "p", "q")})  # fmt: skip
    probe = probe_image(data, "x.png")
    assert probe == ImageProbe("png", 64, 48, probe.text)
    assert probe.parameters == "p\nSteps: 1, Seed: 2, Size: 3x4"
    assert probe.dlx_ids == DlxIds("a", "p", "q")
    assert probe_image(png_bytes()).dlx_ids is None
    assert probe_image(png_bytes()).parameters is None


# --- probe: valid images --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "1", "I;16"])
def test_probe_valid_png_modes(mode: str) -> None:
    image = noise_image(33, 17).convert(mode)
    probe = probe_image(png_bytes(image), "m.png")
    assert (probe.format, probe.width, probe.height) == ("png", 33, 17)


def test_probe_interlaced_png() -> None:
    data = encoded(noise_image(), "PNG", interlace=1)
    assert probe_image(data).format == "png"


def test_probe_jpeg_with_a1111_user_comment() -> None:
    text = "一只猫 🐱\nSteps: 20, Sampler: Euler, Seed: 1"
    data = encoded(noise_image(), "JPEG", exif=piexif_user_comment_exif(text))
    probe = probe_image(data, "a.jpg")
    assert (probe.format, probe.width, probe.height) == ("jpg", 64, 48)
    assert probe.parameters == text
    assert parse_infotext(probe.parameters).seed == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"UNICODE\0" + "little endian 猫".encode("utf-16-le"), "little endian 猫"),
        (b"UNICODE\0" + "big endian".encode("utf-16-be"), "big endian"),
        (b"UNICODE\0" + "\ufeffwith bom".encode("utf-16-le"), "with bom"),
        (b"ASCII\0\0\0Steps: 20, Seed: 1", "Steps: 20, Seed: 1"),
        (b"ASCII\0\0\0utf8 \xc3\xa9\0", "utf8 é"),
    ],
)
def test_probe_webp_and_jpeg_user_comment_encodings(raw: bytes, expected: str) -> None:
    for fmt in ("WEBP", "JPEG"):
        data = encoded(noise_image(), fmt, exif=pillow_user_comment_exif(raw))
        assert probe_image(data).parameters == expected


def test_probe_webp_gif_bmp_tiff() -> None:
    image = noise_image()
    webp = probe_image(encoded(image, "WEBP", exif=piexif_user_comment_exif("w: 1, x: 2")))
    assert (webp.format, webp.parameters) == ("webp", "w: 1, x: 2")
    gif = probe_image(encoded(image, "GIF", comment="Steps: 20, Seed: 1, CFG scale: 7"))
    assert (gif.format, gif.parameters) == ("gif", "Steps: 20, Seed: 1, CFG scale: 7")
    assert probe_image(encoded(image, "BMP")) == ImageProbe("bmp", 64, 48, {})
    assert probe_image(encoded(image, "TIFF")) == ImageProbe("tiff", 64, 48, {})


def test_probe_file_returns_bytes(tmp_path: Path) -> None:
    path = tmp_path / "ok.png"
    path.write_bytes(png_bytes())
    probe, data = probe_file(path)
    assert data == path.read_bytes()
    assert probe.format == "png"


# --- probe: rejected files ------------------------------------------------------------------------


def rejected(data: bytes, name: str = "bad.png") -> str:
    with pytest.raises(BadImageFile) as info:
        probe_image(data, name)
    message = info.value.user_message
    assert name in message
    assert "\n" not in message
    return message


def test_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(BadImageFile, match=r"'empty\.png' is empty"):
        probe_file(path)


def test_text_file_renamed_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("these are my notes, not a picture\n", encoding="utf-8")
    with pytest.raises(BadImageFile, match=r"'notes\.png' is not an image"):
        probe_file(path)


def test_unsupported_pillow_format_is_not_an_image() -> None:
    assert "is not an image" in rejected(encoded(noise_image(), "PPM"), "x.ppm")


def test_truncated_png_is_always_rejected() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "x" * 50)
    data = png_bytes(noise_image(), info)
    offsets = {*range(1, len(data), 97), *range(len(data) - 40, len(data))}
    for offset in sorted(offsets):
        message = rejected(data[:offset], "cut.png")
        assert "damaged or incomplete" in message, (offset, message)
    probe_image(data)


def test_flipped_byte_in_idat_is_rejected() -> None:
    data = bytearray(png_bytes())
    idat = data.index(b"IDAT")
    data[idat + 100] ^= 0x01
    message = rejected(bytes(data), "flip.png")
    assert "checksum of chunk IDAT" in message


def test_bad_crc_on_a_text_chunk_is_rejected() -> None:
    data = bytearray(set_png_text(png_bytes(), {"parameters": "hello"}))
    data[data.index(b"hello")] = ord("j")
    assert "checksum of chunk tEXt" in rejected(bytes(data))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (PNG_SIGNATURE + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b""), "IHDR"),
        (hand_made_png(4, 4)[: -12] + chunk(b"tEXt", b"a\0b"), "IEND"),
        (PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
         + chunk(b"IEND", b""), "IDAT"),
        (hand_made_png(0, 4), "IHDR"),
        (PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 3, 2, 0, 0, 0))
         + chunk(b"IDAT", b"x") + chunk(b"IEND", b""), "IHDR"),
        (PNG_SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 3, 0, 0, 0))
         + chunk(b"IDAT", b"x") + chunk(b"IEND", b""), "PLTE"),
        (PNG_SIGNATURE + b"\0\0\0\0I#DR" + b"\0" * 8, "chunk header"),
    ],
)  # fmt: skip
def test_structurally_broken_png_is_rejected(data: bytes, problem: str) -> None:
    message = rejected(data)
    assert "damaged or incomplete" in message
    assert problem in message


def test_png_bomb_rejected_from_ihdr_without_decoding() -> None:
    data = hand_made_png(20000, 20000)
    message = rejected(data, "bomb.png")
    assert "too large" in message
    assert "20000x20000" in message
    assert MAX_PIXELS < 20000 * 20000


def test_png_just_under_the_limit_passes_without_decoding() -> None:
    # IDAT is nonsense for this size: accepted because PNG pixels are never decoded.
    assert probe_image(hand_made_png(13000, 13000)).width == 13000


def test_truncated_and_corrupted_jpeg_are_rejected() -> None:
    data = encoded(noise_image(), "JPEG", quality=90)
    for offset in (2, 20, len(data) // 2, len(data) - 2):
        rejected(data[:offset], "cut.jpg")
    rejected(encoded(noise_image(), "WEBP")[:100], "cut.webp")


def _jpeg_with_size(width: int, height: int) -> bytes:
    data = bytearray(encoded(noise_image(16, 16), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_jpeg_bomb_rejected_from_header() -> None:
    assert "too large" in rejected(_jpeg_with_size(20000, 20000), "bomb.jpg")


def test_own_limit_is_checked_before_pillow_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encoded(noise_image(16, 16), "JPEG")
    monkeypatch.setattr(metadata, "MAX_PIXELS", 100)
    loads: list[object] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self))
    assert "too large" in rejected(data, "x.jpg")
    assert loads == []


def test_no_decompression_bomb_warning_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encoded(noise_image(16, 16), "JPEG")  # 256 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200)  # Pillow warns, does not fail
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert probe_image(data).width == 16
    assert [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)] == []
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow raises
    assert "too large" in rejected(data, "x.jpg")


def test_probe_file_refuses_huge_file_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    with path.open("wb") as file:
        file.truncate(512 * 1024 * 1024 + 1)  # sparse
    with pytest.raises(BadImageFile, match=r"'huge\.png' is too big"):
        probe_file(path)


def test_probe_file_unreadable(tmp_path: Path) -> None:
    with pytest.raises(BadImageFile, match=r"'missing\.png' cannot be read"):
        probe_file(tmp_path / "missing.png")


def test_default_name_and_one_line_message_for_odd_names() -> None:
    with pytest.raises(BadImageFile, match="'image' is empty"):
        probe_image(b"")
    with pytest.raises(BadImageFile) as info:
        probe_image(b"", "two\nlines.png")
    assert info.value.user_message == "'two\\nlines.png' is empty."


# --- strip_metadata (other formats) ---------------------------------------------------------------


def test_strip_metadata_jpeg_drops_exif_and_keeps_size() -> None:
    data = encoded(noise_image(), "JPEG", exif=piexif_user_comment_exif("secret"), comment=b"c")
    assert probe_image(data).parameters == "secret"
    out = strip_metadata(data, ".JPG")
    with Image.open(io.BytesIO(out)) as image:
        assert image.format == "JPEG"
        assert image.size == (64, 48)
        assert "exif" not in image.info
        assert "comment" not in image.info
    assert probe_image(out).parameters is None


def test_strip_metadata_webp_and_gif() -> None:
    webp = encoded(noise_image(), "WEBP", lossless=True, exif=piexif_user_comment_exif("s"))
    out = strip_metadata(webp, "webp")
    assert probe_image(out).parameters is None
    with Image.open(io.BytesIO(out)) as a, Image.open(io.BytesIO(webp)) as b:
        assert a.tobytes() == b.tobytes()  # lossless stays lossless
    gif = encoded(noise_image(), "GIF", comment="secret")
    assert probe_image(strip_metadata(gif, "gif")).parameters is None


def test_strip_metadata_rejects_mismatch_and_unknown_types() -> None:
    with pytest.raises(BadImageFile):
        strip_metadata(encoded(noise_image(), "GIF"), "jpg")
    with pytest.raises(BadImageFile):
        strip_metadata(b"nope", "png")
    with pytest.raises(ValueError):
        strip_metadata(b"nope", "psd")
