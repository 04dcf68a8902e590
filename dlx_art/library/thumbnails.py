"""The thumbnail cache: small JPEGs under ``<root>/.thumbnails/``, safe to delete at any time.

A thumbnail is ``.thumbnails/<first 2 chars of the id>/<asset id>-<size>.jpg``: the longest side
is `THUMB_SIZE` pixels (smaller images keep their size), transparency is flattened onto the
gallery's background colour, and EXIF orientation is applied so photos stand upright.

Decoding is tuned for the gallery: JPEGs are decoded at a reduced scale (`Image.draft`), large
images are first shrunk by an integer factor (`Image.reduce`) before the final resample, and
`make_many` works on worker processes for large batches, else threads; `RenderProcesses` makes
single thumbnails in worker processes for a window (see `workers`).

PNG, the format every generated image comes in, spends about two thirds of its decoding time
in zlib's inflate. When ISA-L (`isal`) is installed, the image data is inflated by it instead,
about 2.5 times faster, and handed to Pillow as uncompressed ("stored") deflate blocks, so
Pillow still does all the PNG work itself (filters, bit depths, palettes, interlacing). Any
problem on that path falls back to Pillow's own decoding, which reports broken files.

No Qt here; the GUI turns the files into pixmaps itself.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import logging
import os
import re
import shutil
import stat
import struct
import threading
import warnings
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import (
    BrokenExecutor,
    CancelledError,
    Executor,
    ThreadPoolExecutor,
    as_completed,
)
from pathlib import Path
from types import ModuleType

from PIL import Image, ImageFile

from dlx_art.errors import BadImageFile, DlxError, StorageError
from dlx_art.library import png, storage
from dlx_art.library.workers import (
    lower_process_priority,
    process_pool,
    processes_allowed,
    worker_count,
)

_fast_zlib: ModuleType | None
try:
    from isal import isal_zlib as _fast_zlib
except ImportError:  # pragma: no cover - isal is a dependency; without it, zlib's speed
    _fast_zlib = None

__all__ = ["BACKGROUND", "JPEG_QUALITY", "THUMB_SIZE", "RenderProcesses", "ThumbnailCache",
           "render_thumbnail"]

log = logging.getLogger(__name__)

THUMB_SIZE = 256
JPEG_QUALITY = 85
#: The gallery background (#202225) that transparent pixels are composited onto.
BACKGROUND = (0x20, 0x22, 0x25)
#: Pillow's own default limit (about 9460 x 9460); used when Pillow's limit is switched off.
_DEFAULT_MAX_PIXELS = 89_478_485
_FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
_ASSET_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
# What Pillow raises for files that are broken, truncated or hostile.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)
# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# `warnings.catch_warnings` swaps process-wide state, so threads must not interleave it. Only
# the cheap header read runs under this lock; decoding runs in parallel.
_OPEN_LOCK = threading.Lock()

# --- rendering ----------------------------------------------------------------------------------


def _max_pixels() -> int:
    limit = Image.MAX_IMAGE_PIXELS
    return int(limit) if limit else _DEFAULT_MAX_PIXELS


@functools.cache
def _formats() -> list[str]:
    """The formats we open, registering only their plugins.

    `Image.init()` would import every Pillow plugin (about 40 modules, 0.2 s of Python holding
    the GIL) the first time a thumbnail is made, a hitch a scrolling gallery feels.
    """
    for module in ("PngImagePlugin", "JpegImagePlugin", "MpoImagePlugin", "WebPImagePlugin",
                   "GifImagePlugin", "BmpImagePlugin", "TiffImagePlugin", "AvifImagePlugin"):
        try:
            importlib.import_module(f"PIL.{module}")
        except ImportError:  # a Pillow built without that format
            continue
    return [name for name in _FORMATS if name in Image.OPEN]


def _fit(width: int, height: int, size: int) -> tuple[int, int]:
    """The thumbnail size: longest side `size`, aspect kept, never enlarged."""
    longest = max(width, height)
    if longest <= size:
        return width, height
    scale = size / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _orientation(im: Image.Image) -> int:
    # A PNG's getexif() decodes the whole image to look for a late eXIf chunk: skip it, PNGs
    # from generators carry no orientation.
    if im.format == "PNG" and "exif" not in im.info:
        return 1
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - corrupt EXIF must not cost the thumbnail
        return 1
    return value if isinstance(value, int) else 1


def _open(fp: io.BufferedReader, name: str) -> tuple[ImageFile.ImageFile, int]:
    """Read the header (no pixels yet) with Pillow's warnings caught, not leaked."""
    with _OPEN_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        im = Image.open(fp, formats=_formats())
        orientation = _orientation(im)
    for warning in caught:
        if issubclass(warning.category, Image.DecompressionBombWarning):
            im.close()
            raise BadImageFile(f"{name} is too large to show ({im.width} x {im.height} pixels).")
        log.debug("while opening %s: %s", name, warning.message)
    return im, orientation


def _normalise_mode(im: Image.Image) -> Image.Image:
    """Bring any Pillow mode to RGB, RGBA (when there is transparency) or L."""
    mode = im.mode
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        return im.convert("RGBA")
    if mode in ("RGB", "L"):
        return im
    if mode.startswith("I"):  # 16/32-bit greyscale: scale to 8 bits instead of clipping
        return im.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if mode == "F":
        return im.convert("L")
    return im.convert("RGB")


def _shrink(im: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Box-reduce by the largest integer factor that stays at or above `target`, then resample.

    `reduce` averages whole blocks (a good anti-aliasing filter and very fast); the remaining
    step is less than 2x, where bicubic resampling is cheap and sharp.
    """
    if im.size == target:
        return im
    factor = min(im.width // target[0], im.height // target[1])
    if factor >= 2:
        im = im.reduce(factor)
    if im.size != target:
        im = im.resize(target, Image.Resampling.BICUBIC)
    return im


def _flatten(im: Image.Image) -> Image.Image:
    if im.mode == "RGBA":
        background = Image.new("RGB", im.size, BACKGROUND)
        background.paste(im, mask=im.getchannel("A"))
        return background
    return im if im.mode == "RGB" else im.convert("RGB")


def render_thumbnail(source: Path, size: int = THUMB_SIZE) -> bytes:
    """Decode `source` and return the JPEG bytes of its thumbnail (nothing is written).

    Args:
        source: An image file (PNG, JPEG, WebP, GIF, BMP, TIFF; the first frame of animations).
        size: The longest side in pixels; smaller images keep their size.

    Raises:
        StorageError: If the file cannot be read (missing, no permission).
        BadImageFile: If it is not a usable image: broken, truncated, unsupported, or so large
            that decoding it could exhaust memory (Pillow's decompression-bomb limit).
    """
    source = Path(source)
    try:
        fp = open(source, "rb")  # noqa: SIM115 - closed below; Pillow reads it lazily
    except FileNotFoundError as exc:
        raise StorageError(f"The image file {source.name} is missing ({source}).") from exc
    except OSError as exc:
        raise StorageError(f"Cannot read {source}: {exc.strerror or exc}.") from exc
    with fp:
        try:
            return _render(fp, source.name, size)
        except _DECODE_ERRORS as exc:
            raise BadImageFile(f"{source.name} is not a readable image ({exc}).") from exc


#: Chunks Pillow needs to decode the pixels; the rest (text, colour profiles) is left out.
_PIXEL_CHUNKS = (b"IHDR", b"PLTE", b"tRNS")
#: Larger PNGs take Pillow's own path: the fast one holds the pixels three times over at once.
_FAST_PNG_MAX_PIXELS = 4096 * 4096


def _stored_png(data: bytes) -> bytes | None:
    """The same PNG with its image data inflated by ISA-L and stored uncompressed.

    Returns None when ISA-L is missing or the file is not a plain PNG this can rewrite (the
    caller then lets Pillow decode the original, which reports what is wrong).
    """
    if _fast_zlib is None or not data.startswith(png.PNG_SIGNATURE):
        return None
    view = memoryview(data)
    kept: list[bytes] = []
    idat: list[memoryview] = []
    for kind, pos, length in png.walk_chunks(data):
        if pos + 12 > len(data):  # a chunk without its CRC: the file ends here
            break
        body = view[pos + 8 : pos + 8 + length]
        if len(body) != length:
            return None
        if kind == b"IDAT":
            idat.append(body)
        elif kind in _PIXEL_CHUNKS:
            kept.append(bytes(view[pos : pos + 12 + length]))
    if not idat or not kept or kept[0][4:8] != b"IHDR":
        return None
    try:
        raw = _fast_zlib.decompress(b"".join(idat))
    except Exception:  # noqa: BLE001 - whatever ISA-L rejects, Pillow explains
        return None
    stored = zlib.compress(raw, 0)  # a copy plus adler32: Pillow's inflate is then a copy too
    return b"".join((png.PNG_SIGNATURE, *kept, png.make_chunk(b"IDAT", stored),
                     png.make_chunk(b"IEND", b"")))


def _decode_png_fast(fp: io.BufferedReader, name: str) -> Image.Image | None:
    """Decode a PNG through `_stored_png`; None to let Pillow decode the original instead."""
    fp.seek(0)
    stored = _stored_png(fp.read())
    if stored is None:
        return None
    try:
        fast = Image.open(io.BytesIO(stored), formats=["PNG"])
        fast.load()
    except _DECODE_ERRORS as exc:
        log.debug("fast PNG decoding of %s failed (%s); decoding it with Pillow", name, exc)
        return None
    return fast


def _render(fp: io.BufferedReader, name: str, size: int) -> bytes:
    im, orientation = _open(fp, name)
    with im:
        width, height = im.size
        if width < 1 or height < 1:
            raise BadImageFile(f"{name} is an empty image.")
        if width * height > _max_pixels():  # checked before any pixel is decoded
            raise BadImageFile(f"{name} is too large to show ({width} x {height} pixels).")
        target = _fit(width, height, size)
        if im.format in ("JPEG", "MPO") and target != im.size:
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale, still at least `target`.
            im.draft("RGB", target)
        pixels = None
        if im.format == "PNG" and width * height <= _FAST_PNG_MAX_PIXELS:
            pixels = _decode_png_fast(fp, name)
        if pixels is None:
            im.load()
            pixels = im
        thumb = _flatten(_shrink(_normalise_mode(pixels), target))
    transpose = _ORIENTATION.get(orientation)
    if transpose is not None:
        thumb = thumb.transpose(transpose)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


# --- the cache ----------------------------------------------------------------------------------


#: From this many thumbnails, `make_many` runs worker processes (see `workers`) instead of threads.
PROCESS_MIN = 64

_caches: dict[tuple[Path, int], ThumbnailCache] = {}  # see _worker_cache


def _make_chunk(root: Path, size: int, jobs: list[tuple[str, Path]]
                ) -> list[tuple[str, Path | None, str | None]]:
    """Make thumbnails for `make_many`, in a worker thread or process."""
    cache = _worker_cache(root, size)
    return [(asset_id, *cache._make_reporting(asset_id, source)) for asset_id, source in jobs]


def _worker_cache(root: Path, size: int) -> ThumbnailCache:
    """One cache per root and size in a worker (it remembers the shard folders it made)."""
    cache = _caches.get((root, size))
    if cache is None:
        cache = _caches.setdefault((root, size), ThumbnailCache(root, size))
    return cache


class ThumbnailCache:
    """Thumbnails of one storage root, keyed by asset id.

    Thread-safe: any number of threads may call `make` at once (files are written atomically,
    and the last writer of the same thumbnail wins).

    Attributes:
        root: The storage root.
        size: The longest side of the thumbnails in pixels.
        folder: ``<root>/.thumbnails``.
    """

    def __init__(self, root: Path, size: int = THUMB_SIZE) -> None:
        if size < 1:
            raise ValueError(f"thumbnail size must be positive, not {size}")
        self.root = Path(root)
        self.size = size
        self.folder = self.root / storage.THUMBNAILS_DIR
        self._ready: set[Path] = set()  # shard folders known to exist inside the root

    def path_for(self, asset_id: str) -> Path:
        """Where the thumbnail of `asset_id` is (or would be) cached.

        Raises:
            StorageError: If `asset_id` is not a plain id (letters, digits, ``-``, ``_``).
        """
        if not isinstance(asset_id, str) or not _ASSET_ID.fullmatch(asset_id):
            raise StorageError(f"Invalid asset id {asset_id!r} for a thumbnail.")
        return self.folder / asset_id[:2] / f"{asset_id}-{self.size}.jpg"

    def get(self, asset_id: str) -> Path | None:
        """The cached thumbnail of `asset_id`, or None if there is none (or it is empty)."""
        path = self.path_for(asset_id)
        try:
            info = path.stat()
        except OSError:
            return None
        return path if stat.S_ISREG(info.st_mode) and info.st_size > 0 else None

    def make(self, asset_id: str, source: Path) -> Path:
        """Make (or remake) the thumbnail of `asset_id` from the image file `source`.

        Returns:
            The thumbnail's path.

        Raises:
            BadImageFile: If `source` is not a usable image.
            StorageError: If `source` cannot be read or the cache cannot be written.
        """
        path = self.path_for(asset_id)
        data = render_thumbnail(source, self.size)
        self._prepare(path.parent)
        try:
            # A cache: no fsync (a thumbnail lost in a power cut is simply made again).
            storage.atomic_write(path, data, overwrite=True, durable=False)
        except StorageError:
            if path.parent.is_dir():
                raise
            self._ready.discard(path.parent)  # the cache was deleted meanwhile: once more
            self._prepare(path.parent)
            storage.atomic_write(path, data, overwrite=True, durable=False)
        return path

    def _prepare(self, shard: Path) -> None:
        """Create a shard folder, checking once that it does not lead outside the root."""
        if shard in self._ready:
            return
        if not storage.is_inside(self.root, shard):
            raise StorageError(
                f"The thumbnail folder {shard} is outside the library folder {self.root}."
            )
        storage.ensure_dir(shard)
        self._ready.add(shard)

    def make_many(
        self,
        items: Iterable[tuple[str, Path]],
        workers: int | None = None,
        on_done: Callable[[str, Path | None, str | None], None] | None = None,
    ) -> int:
        """Make many thumbnails: in worker processes for a large batch, else on threads.

        Args:
            items: ``(asset_id, source)`` pairs. Existing thumbnails are remade; filter with
                `get` first to fill only the gaps.
            workers: Processes or threads to use; default: the CPUs available (at most 4).
            on_done: Called once per item as it finishes, in the calling thread, with
                ``(asset_id, thumbnail_path, None)`` or ``(asset_id, None, message)``.

        Returns:
            How many thumbnails were made.
        """
        jobs = [(asset_id, Path(source)) for asset_id, source in items]
        if not jobs:
            return 0
        count = max(1, min(workers or worker_count(), len(jobs)))
        processes = len(jobs) >= PROCESS_MIN and processes_allowed()
        chunk = 8 if processes else 1  # items per task: fewer round trips to a process
        pool: Executor = process_pool(lower_process_priority, workers=count) if processes else \
            ThreadPoolExecutor(max_workers=count, thread_name_prefix="dlx-thumbnails")
        made = 0
        with pool:
            futures = [pool.submit(_make_chunk, self.root, self.size, jobs[i:i + chunk])
                       for i in range(0, len(jobs), chunk)]
            try:
                for future in as_completed(futures):
                    for asset_id, path, error in future.result():
                        made += path is not None
                        if on_done is not None:
                            on_done(asset_id, path, error)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return made

    def _make_reporting(self, asset_id: str, source: Path) -> tuple[Path | None, str | None]:
        try:
            return self.make(asset_id, source), None
        except DlxError as exc:
            log.info("no thumbnail for %s: %s", asset_id, exc.user_message)
            return None, exc.user_message
        except Exception:
            log.exception("thumbnail of %s (%s) failed", asset_id, source)
            return None, f"Unexpected error while making the thumbnail of {source.name}."

    def remove(self, asset_id: str) -> None:
        """Delete every cached size of `asset_id`'s thumbnail; missing ones are fine."""
        if not isinstance(asset_id, str) or not _ASSET_ID.fullmatch(asset_id):
            return
        shard = self.folder / asset_id[:2]
        pattern = re.compile(re.escape(asset_id) + r"-\d+\.jpg")
        try:
            names = os.listdir(shard)
        except OSError:
            return
        for name in names:
            if pattern.fullmatch(name):
                try:
                    os.unlink(shard / name)
                except OSError as exc:
                    log.info("cannot remove thumbnail %s: %s", shard / name, exc)

    def clear(self) -> None:
        """Delete the whole cache folder (it is made again on demand).

        Raises:
            StorageError: If the folder cannot be deleted.
        """
        self._ready.clear()
        try:
            if self.folder.is_symlink():
                self.folder.unlink()
            elif self.folder.exists():
                shutil.rmtree(self.folder)
        except OSError as exc:
            raise StorageError(
                f"Cannot clear the thumbnail cache {self.folder}: {exc.strerror or exc}."
            ) from exc


# --- rendering in worker processes, for a window -------------------------------------------------


def _make_in_worker(root: Path, size: int, asset_id: str, source: Path) -> Path:
    return _worker_cache(root, size).make(asset_id, source)


class RenderProcesses:
    """Makes thumbnails in two worker processes, for an app whose window must stay smooth.

    Making a thumbnail is mostly C (decoding, resizing), but the Python around it, run on
    threads, holds the GIL often enough that a window painting its grid at the same time
    waits for it. In worker processes it never competes with the window; and an image that
    crashes the decoder costs a worker process, not the app.

    The processes stop after `idle_seconds` without work (they hold some 35 MB each) and
    start again on demand. Thread-safe. `make` blocks its calling (worker) thread until the
    thumbnail is written.
    """

    def __init__(self, workers: int = 2, idle_seconds: float = 60.0) -> None:
        self._workers = workers
        self._idle_seconds = idle_seconds
        self._pool: Executor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._unavailable = False  # processes cannot be started here: threads it is
        self._busy = 0  # makes in flight
        self._idle_timer: threading.Timer | None = None

    def start(self) -> None:
        """Start the processes now (a fraction of a second: call it off the GUI thread)."""
        if processes_allowed() and not self._unavailable:
            with contextlib.suppress(OSError, StorageError):
                self._acquire()
                self._release()

    def _acquire(self) -> Executor:
        """The pool, started if need be, counted busy until `_release` (so it is not stopped
        for idleness in between)."""
        with self._lock:
            if self._closed:
                raise StorageError("Thumbnails are not being made any more: the window closed.")
            if self._pool is None:
                try:
                    self._pool = process_pool(lower_process_priority, workers=self._workers)
                except OSError:
                    log.warning("cannot start thumbnail processes; making them on threads",
                                exc_info=True)
                    self._unavailable = True
                    raise
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
            self._busy += 1
            return self._pool

    def _release(self) -> None:
        with self._lock:
            self._busy -= 1
            if self._busy or self._closed or self._pool is None:
                return
            self._idle_timer = threading.Timer(self._idle_seconds, self._stop_if_idle)
            self._idle_timer.daemon = True
            self._idle_timer.start()

    def make(self, cache: ThumbnailCache, asset_id: str, source: Path) -> Path:
        """`cache.make(asset_id, source)`, in a worker process when they are allowed."""
        if self._unavailable or not processes_allowed():
            return cache.make(asset_id, source)
        try:
            pool = self._acquire()
        except OSError:
            return cache.make(asset_id, source)
        try:
            return pool.submit(_make_in_worker, cache.root, cache.size, asset_id,
                               Path(source)).result()
        except BrokenExecutor as exc:
            with self._lock:
                if self._pool is pool:
                    self._pool = None  # a new one for the next thumbnail
            pool.shutdown(wait=False)
            raise BadImageFile(f"{Path(source).name} stopped the image decoder; it is "
                               "skipped.") from exc
        except CancelledError as exc:
            raise StorageError("Thumbnails are not being made any more: the window "
                               "closed.") from exc
        finally:
            self._release()

    def _stop_if_idle(self) -> None:
        with self._lock:
            if self._busy or self._pool is None:
                return
            pool, self._pool = self._pool, None
        log.debug("thumbnail processes idle for %g s: stopped", self._idle_seconds)
        pool.shutdown(wait=False)

    @property
    def running(self) -> bool:
        """Whether the worker processes are up."""
        return self._pool is not None

    def close(self) -> None:
        """Stop the processes; thumbnails not started yet are cancelled."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            if self._idle_timer is not None:
                self._idle_timer.cancel()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
