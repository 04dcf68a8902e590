"""Thumbnail cache: sizes, modes, broken sources, bombs, the cache folder, the thread pool."""

from __future__ import annotations

import io
import os
import shutil
import struct
import threading
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from dlx_art.errors import BadImageFile, StorageError
from dlx_art.library import thumbnails
from dlx_art.library.thumbnails import BACKGROUND, THUMB_SIZE, ThumbnailCache, render_thumbnail

ASSET = "0f8fad5b-d9cb-469f-a165-70867728950e"


def save(path: Path, im: Image.Image, **params) -> Path:
    im.save(path, **params)
    return path


def gradient(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    base = Image.linear_gradient("L").resize(size)
    rgb = Image.merge("RGB", (base, base.transpose(Image.Transpose.ROTATE_90).resize(size), base))
    return rgb.convert(mode)


def thumb_of(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        assert im.format == "JPEG"
        return im


@pytest.fixture
def cache(tmp_path) -> ThumbnailCache:
    return ThumbnailCache(tmp_path / "root")


@pytest.mark.parametrize(
    ("size", "fmt", "expected"),
    [
        ((1024, 512), "PNG", (256, 128)),  # landscape, reduced by 4 exactly
        ((512, 1024), "PNG", (128, 256)),  # portrait
        ((768, 512), "PNG", (256, 171)),  # reduce(2) then a bicubic step
        ((3000, 2000), "JPEG", (256, 171)),  # draft (DCT scaling) then resample
        ((1000, 10), "PNG", (256, 3)),
        ((10, 1000), "JPEG", (3, 256)),
        ((5000, 1), "PNG", (256, 1)),
        ((256, 256), "PNG", (256, 256)),
        ((40, 30), "PNG", (40, 30)),  # tiny images are not enlarged
        ((1, 1), "PNG", (1, 1)),
    ],
)
def test_dimensions(cache, tmp_path, size, fmt, expected):
    src = save(tmp_path / f"src.{fmt.lower()}", gradient(size), format=fmt)
    path = cache.make(ASSET, src)
    assert path == cache.path_for(ASSET)
    assert thumb_of(path).size == expected
    assert thumb_of(path).mode == "RGB"


def test_layout_of_the_cache(cache, tmp_path):
    path = cache.path_for(ASSET)
    assert path == tmp_path / "root" / ".thumbnails" / "0f" / f"{ASSET}-{THUMB_SIZE}.jpg"
    assert ThumbnailCache(tmp_path, size=128).path_for("abc").name == "abc-128.jpg"


@pytest.mark.parametrize("bad_id", ["", "../x", "a/b", "a\\b", "..", "x.jpg", "a b", "\x00"])
def test_asset_ids_cannot_escape(cache, bad_id):
    with pytest.raises(StorageError):
        cache.path_for(bad_id)
    cache.remove(bad_id)  # nothing to remove, no error


def test_rgba_is_composited_on_the_background(cache, tmp_path):
    im = Image.new("RGBA", (600, 300), (255, 0, 0, 255))
    im.paste((0, 0, 0, 0), (300, 0, 600, 300))  # right half transparent
    path = cache.make(ASSET, save(tmp_path / "a.png", im))
    thumb = thumb_of(path)
    assert thumb.size == (256, 128)
    left, right = thumb.getpixel((40, 64)), thumb.getpixel((216, 64))
    assert left[0] > 230 and left[1] < 30 and left[2] < 30
    assert all(abs(c - b) <= 4 for c, b in zip(right, BACKGROUND, strict=True))


def test_palette_with_transparency(cache, tmp_path):
    im = Image.new("P", (300, 300), 1)
    im.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    im.paste(0, (0, 0, 150, 300))
    path = cache.make(ASSET, save(tmp_path / "p.png", im, transparency=0))
    thumb = thumb_of(path)
    assert thumb.size == (256, 256)
    assert all(abs(c - b) <= 4 for c, b in zip(thumb.getpixel((20, 128)), BACKGROUND, strict=True))
    assert thumb.getpixel((236, 128))[1] > 230


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("P", "GIF"),
        ("L", "PNG"),
        ("LA", "PNG"),
        ("1", "PNG"),
        ("I;16", "PNG"),
        ("CMYK", "JPEG"),
        ("RGB", "WEBP"),
        ("RGBA", "WEBP"),
        ("RGB", "BMP"),
        ("RGB", "TIFF"),
        ("F", "TIFF"),
    ],
)
def test_other_modes_and_formats(cache, tmp_path, mode, fmt):
    if mode == "I;16":
        im = Image.linear_gradient("L").resize((400, 300)).convert("I").point(lambda v: v * 256)
        im = im.convert("I;16")
    elif mode == "F":
        im = Image.linear_gradient("L").resize((400, 300)).convert("F")
    else:
        im = gradient((400, 300), mode)
    path = cache.make(ASSET, save(tmp_path / f"src.{fmt.lower()}", im, format=fmt))
    thumb = thumb_of(path)
    assert thumb.size == (256, 192)
    if mode == "I;16":  # 16-bit values are scaled to 8 bits, not clipped to white
        assert thumb.convert("L").getextrema()[0] < 40


def test_exif_orientation_is_applied(cache, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    src = save(tmp_path / "photo.jpg", gradient((800, 400)), format="JPEG", exif=exif)
    assert thumb_of(cache.make(ASSET, src)).size == (128, 256)


def test_first_frame_of_an_animation(cache, tmp_path):
    frames = [Image.new("RGB", (300, 300), c) for c in ("red", "blue")]
    src = tmp_path / "anim.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:])
    thumb = thumb_of(cache.make(ASSET, src))
    assert thumb.getpixel((128, 128))[0] > 200


def broken_sources(tmp_path: Path) -> dict[str, Path]:
    png = io.BytesIO()
    gradient((300, 300)).save(png, format="PNG")
    jpeg = io.BytesIO()
    gradient((300, 300)).save(jpeg, format="JPEG")
    files = {
        "empty.png": b"",
        "text.png": b"hello, this is not an image\n" * 10,
        "truncated.png": png.getvalue()[: len(png.getvalue()) // 2],
        "header-only.png": png.getvalue()[:60],
        "truncated.jpg": jpeg.getvalue()[:300],
        "garbage.jpg": b"\xff\xd8\xff" + os.urandom(2000),
        "html.png": b"<html><body>404 Not Found</body></html>",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in files}


def test_broken_sources_raise_bad_image_file(cache, tmp_path):
    for name, path in broken_sources(tmp_path).items():
        with pytest.raises(BadImageFile) as info:
            cache.make(ASSET, path)
        assert name in info.value.user_message
        assert cache.get(ASSET) is None
    assert not any(p.is_file() for p in (tmp_path / "root").rglob("*"))


def test_missing_source_is_a_storage_error(cache, tmp_path):
    with pytest.raises(StorageError, match="missing"):
        cache.make(ASSET, tmp_path / "nope.png")


def test_decompression_bomb_is_refused_without_warnings(cache, tmp_path, monkeypatch, recwarn):
    src = save(tmp_path / "big.png", Image.new("L", (400, 300)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # warning range: 100k .. 200k
    with pytest.raises(BadImageFile, match="too large"):
        cache.make(ASSET, src)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)  # error range: above 2 x limit
    with pytest.raises(BadImageFile):
        cache.make(ASSET, src)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # Pillow's check off: ours remains
    monkeypatch.setattr(thumbnails, "_DEFAULT_MAX_PIXELS", 100_000)
    with pytest.raises(BadImageFile, match="too large"):
        cache.make(ASSET, src)
    assert len(recwarn) == 0


def test_cache_hit_get_and_remake(cache, tmp_path):
    assert cache.get(ASSET) is None
    src = save(tmp_path / "a.png", gradient((512, 512)))
    path = cache.make(ASSET, src)
    assert cache.get(ASSET) == path
    before = path.read_bytes()
    save(src, Image.new("RGB", (512, 512), "white"))
    assert cache.get(ASSET) == path and path.read_bytes() == before  # a hit: not remade
    cache.make(ASSET, src)
    assert path.read_bytes() != before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left


def test_empty_cached_file_is_not_a_hit(cache):
    path = cache.path_for(ASSET)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    assert cache.get(ASSET) is None


def test_remove_deletes_every_size_of_one_asset_only(tmp_path):
    src = save(tmp_path / "a.png", gradient((300, 300)))
    small, large = ThumbnailCache(tmp_path / "root", 64), ThumbnailCache(tmp_path / "root", 128)
    for c in (small, large):
        c.make("abc", src)
        c.make("abc-def", src)
    large.remove("abc")
    assert small.get("abc") is None and large.get("abc") is None
    assert small.get("abc-def") is not None and large.get("abc-def") is not None
    large.remove("never-made")


def test_clear(cache, tmp_path):
    cache.make(ASSET, save(tmp_path / "a.png", gradient((50, 50))))
    cache.clear()
    assert not cache.folder.exists()
    assert cache.get(ASSET) is None
    cache.clear()  # nothing there: fine
    cache.make(ASSET, tmp_path / "a.png")
    assert cache.get(ASSET) is not None


@pytest.mark.skipif(os.name != "posix", reason="symlinks need privileges on Windows")
def test_thumbnail_folder_symlinked_outside_is_refused(cache, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    cache.root.mkdir()
    cache.folder.symlink_to(outside, target_is_directory=True)
    with pytest.raises(StorageError, match="outside"):
        cache.make(ASSET, save(tmp_path / "a.png", gradient((50, 50))))
    assert list(outside.iterdir()) == []
    cache.clear()  # removes the link, not the target
    assert outside.is_dir() and not cache.folder.exists()


def test_make_many_with_a_broken_one(cache, tmp_path):
    items = []
    for i in range(12):
        items.append((f"good-{i:02d}", save(tmp_path / f"g{i}.png", gradient((300 + i, 200)))))
    items.insert(5, ("broken", tmp_path / "bad.png"))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    items.append(("missing", tmp_path / "missing.png"))
    results: dict[str, tuple[Path | None, str | None]] = {}
    callers = set()

    def on_done(asset_id, path, error):
        callers.add(threading.get_ident())
        results[asset_id] = (path, error)

    made = cache.make_many(items, workers=3, on_done=on_done)
    assert made == 12
    assert set(results) == {asset_id for asset_id, _ in items}
    assert callers == {threading.get_ident()}  # callbacks run in the calling thread
    for i in range(12):
        path, error = results[f"good-{i:02d}"]
        assert error is None and path == cache.get(f"good-{i:02d}")
        assert thumb_of(path).size[0] == 256
    assert results["broken"][0] is None and "bad.png" in results["broken"][1]
    assert results["missing"][0] is None and "missing" in results["missing"][1]


def test_make_many_without_items_or_callback(cache, tmp_path):
    assert cache.make_many([]) == 0
    src = save(tmp_path / "a.png", gradient((64, 64)))
    assert cache.make_many((f"id{i}", src) for i in range(5)) == 5


def test_make_many_reports_bugs_as_a_generic_message(cache, tmp_path, monkeypatch, caplog):
    def boom(source, size):
        raise RuntimeError("bug")

    monkeypatch.setattr(thumbnails, "render_thumbnail", boom)
    errors = []
    made = cache.make_many([("a", tmp_path / "a.png")], on_done=lambda *r: errors.append(r[2]))
    assert made == 0
    assert errors and "Unexpected error" in errors[0]
    assert "bug" in caplog.text


def test_render_thumbnail_returns_jpeg_bytes(tmp_path):
    data = render_thumbnail(save(tmp_path / "a.png", gradient((512, 384))), 100)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG" and im.size == (100, 75)


def test_cache_folder_deleted_behind_our_back(cache, tmp_path):
    src = save(tmp_path / "a.png", gradient((50, 50)))
    cache.make(ASSET, src)
    shutil.rmtree(cache.folder)
    assert cache.get(ASSET) is None
    assert cache.make(ASSET, src) == cache.get(ASSET)


# --- the fast PNG path (ISA-L inflate) and worker processes --------------------------------------


def _interlaced_png(path: Path, size: tuple[int, int] = (37, 23)) -> Path:
    """An Adam7-interlaced RGB PNG, built by hand: Pillow cannot write one."""
    w, h = size
    px = Image.merge("RGB", [Image.effect_noise(size, 50) for _ in range(3)]).load()
    raw = bytearray()
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                           (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
        xs, ys = range(x0, w, dx), range(y0, h, dy)
        for y in ys if len(xs) else ():
            raw.append(0)
            for x in xs:
                raw.extend(px[x, y])

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (len(body).to_bytes(4, "big") + kind + body
                + zlib.crc32(kind + body).to_bytes(4, "big"))

    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1))
                     + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))
    return path


def _png_variants(tmp_path: Path) -> list[Path]:
    """PNGs of every kind the fast path must decode exactly as Pillow does."""
    noisy = Image.merge("RGB", [Image.effect_noise((300, 200), 40) for _ in range(3)])
    palette = gradient((300, 200)).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.info["transparency"] = 3
    rgba = gradient((300, 200), "RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((300, 200)))
    return [
        save(tmp_path / "rgb.png", noisy),
        save(tmp_path / "rgba.png", rgba),
        save(tmp_path / "palette.png", palette, transparency=3),
        save(tmp_path / "grey.png", gradient((300, 200), "L")),
        save(tmp_path / "grey16.png", gradient((300, 200), "L").convert("I;16")),
        save(tmp_path / "optimised.png", noisy, optimize=True),
        save(tmp_path / "one-bit.png", gradient((300, 200), "1")),
        save(tmp_path / "tiny.png", gradient((5, 3))),
        _interlaced_png(tmp_path / "interlaced.png"),
    ]


@pytest.mark.skipif(thumbnails._fast_zlib is None, reason="isal is not installed")
def test_fast_png_path_gives_the_same_thumbnails_as_pillow(tmp_path, monkeypatch):
    sources = _png_variants(tmp_path)
    fast = {p.name: render_thumbnail(p) for p in sources}
    for path in sources:  # the fast path really was taken
        with open(path, "rb") as fp:
            assert thumbnails._decode_png_fast(fp, path.name) is not None, path.name
    monkeypatch.setattr(thumbnails, "_fast_zlib", None)
    plain = {p.name: render_thumbnail(p) for p in sources}
    assert fast == plain  # same pixels in, same JPEG bytes out


def test_a_png_with_damaged_image_data_is_still_reported_as_broken(tmp_path):
    path = save(tmp_path / "good.png", Image.merge(
        "RGB", [Image.effect_noise((200, 200), 40) for _ in range(3)]))
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 4
    data[start + 100:start + 400] = bytes(300)  # inside the compressed stream
    (tmp_path / "bad.png").write_bytes(bytes(data))
    with pytest.raises(BadImageFile, match="bad.png"):
        render_thumbnail(tmp_path / "bad.png")


def test_very_large_pngs_take_pillows_own_path(tmp_path, monkeypatch):
    monkeypatch.setattr(thumbnails, "_FAST_PNG_MAX_PIXELS", 100)
    calls = []
    monkeypatch.setattr(thumbnails, "_stored_png", lambda data: calls.append(1))
    render_thumbnail(save(tmp_path / "a.png", gradient((64, 64))))
    assert calls == []


def test_make_many_uses_worker_processes_for_a_large_batch(cache, tmp_path, monkeypatch):
    pools = []
    real = thumbnails.process_pool

    def spy(*args, **kwargs):
        pools.append(kwargs.get("workers"))
        return real(*args, **kwargs)

    monkeypatch.setattr(thumbnails, "PROCESS_MIN", 10)
    monkeypatch.setattr(thumbnails, "process_pool", spy)
    items = [(f"p{i:02d}", save(tmp_path / f"p{i}.png", gradient((300 + i, 200))))
             for i in range(20)]
    items.append(("broken", tmp_path / "broken.png"))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    results = {}
    made = cache.make_many(items, workers=2,
                           on_done=lambda asset_id, path, error: results.update(
                               {asset_id: (path, error)}))
    assert pools == [2] and made == 20
    assert set(results) == {asset_id for asset_id, _ in items}
    for i in range(20):
        path, error = results[f"p{i:02d}"]
        assert error is None and path == cache.get(f"p{i:02d}")
        assert thumb_of(path).size == (256, round(200 * 256 / (300 + i)))
    assert results["broken"][0] is None and "broken.png" in results["broken"][1]


def test_render_processes_make_thumbnails_and_report_broken_files(cache, tmp_path, monkeypatch):
    renderer = thumbnails.RenderProcesses(workers=1)
    try:
        source = save(tmp_path / "a.png", gradient((512, 256)))
        path = renderer.make(cache, ASSET, source)
        assert path == cache.get(ASSET) and thumb_of(path).size == (256, 128)
        (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
        with pytest.raises(BadImageFile, match="bad.png"):
            renderer.make(cache, "bad-one", tmp_path / "bad.png")
        with pytest.raises(StorageError, match="missing"):
            renderer.make(cache, "gone", tmp_path / "gone.png")
        pid = renderer._acquire().submit(os.getpid).result()
        renderer._release()
        assert pid != os.getpid()  # really another process
    finally:
        renderer.close()
    with pytest.raises(StorageError, match="closed"):
        renderer.make(cache, "late", tmp_path / "a.png")


def test_render_processes_fall_back_to_threads_when_disabled(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("DLX_ART_WORKER_PROCESSES", "0")
    renderer = thumbnails.RenderProcesses()
    path = renderer.make(cache, ASSET, save(tmp_path / "a.png", gradient((64, 64))))
    assert path == cache.get(ASSET) and renderer._pool is None


def test_render_processes_stop_when_idle_and_start_again(cache, tmp_path):
    renderer = thumbnails.RenderProcesses(workers=1, idle_seconds=0.2)
    try:
        source = save(tmp_path / "a.png", gradient((64, 64)))
        renderer.make(cache, "first", source)
        assert renderer.running
        deadline = time.monotonic() + 10
        while renderer.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not renderer.running  # idle: the processes are gone
        assert renderer.make(cache, "second", source) == cache.get("second")
        assert renderer.running
    finally:
        renderer.close()
