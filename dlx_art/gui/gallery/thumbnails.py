"""Thumbnails for the gallery: loaded off the GUI thread, kept in a bounded LRU cache.

Only what is painted is asked for. A request names an asset and the box (in device pixels) the
picture must fit; the loader

* answers at once from its cache when it holds a pixmap made for that box,
* de-duplicates requests for an asset that is already queued or being loaded,
* serves the newest requests first (after a fast scroll the rows now on screen go first) and
  skips queued requests whose row has scrolled away (the `still_wanted` callback),
* runs `Library.make_thumbnail` and the JPEG decode into a `QImage` on the task runner's
  `render` lane; a missing thumbnail is rendered (disk + Pillow) in worker processes shared
  by the app's loaders (`RenderProcesses`), so that rendering never competes with the window for
  the GIL; the `QPixmap` is made on the GUI thread in the result slot,
* remembers assets whose file is broken or missing, so they show a "broken" tile and are not
  retried on every paint.

Memory stays bounded by `max_bytes` whatever the size of the project.
"""

from __future__ import annotations

import atexit
import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QImageReader, QPixmap
from shiboken6 import isValid

from dlx_art.errors import BadImageFile, DlxError
from dlx_art.gui.tasks import TaskRunner, default_runner

if TYPE_CHECKING:
    from dlx_art.library.models import AssetInfo
    from dlx_art.library.service import Library
    from dlx_art.library.thumbnails import RenderProcesses

log = logging.getLogger("dlx_art.gui.gallery")

DEFAULT_MAX_BYTES = 48 * 1024 * 1024  # 10+ screens of tiles at any zoom
MAX_BROKEN_REMEMBERED = 10_000


class ThumbState(Enum):
    none = "none"  # never asked for (or evicted)
    loading = "loading"
    ready = "ready"
    broken = "broken"


@dataclass
class _Request:
    asset: AssetInfo
    box: QSize
    still_wanted: Callable[[], bool] | None


def lower_thread_priority() -> None:
    """`dlx_art.library.workers.lower_thread_priority`, imported when first needed (in a lane
    thread, once the library is open): the window builds the gallery before it first paints,
    and that module brings in `concurrent.futures.process`."""
    from dlx_art.library.workers import lower_thread_priority as lower

    lower()


@dataclass
class _Entry:
    pixmap: QPixmap
    box: QSize
    full: bool  # the picture is smaller than the box: no bigger version exists
    cost: int


def prepare(library: Library) -> None:
    """Pool thread: import the thumbnail cache (and PIL.Image), which every load needs."""
    lower_thread_priority()
    library.thumbnails.get("warm-up")
    # Qt loads its JPEG reader plugin on first use (a dlopen): do that now, not for the first
    # thumbnail on screen. No Python-made QIODevice here (nor anywhere in a worker): Qt would
    # call its virtuals, which need the GIL, while holding its plugin-loader lock, and a GUI
    # thread holding the GIL while it loads an icon would then deadlock with us.
    from PIL import Image

    encoded = io.BytesIO()
    Image.new("RGB", (2, 2)).save(encoded, "JPEG")
    QImage.fromData(encoded.getvalue(), "JPEG")


_renderer: RenderProcesses | None = None
_renderer_lock = threading.Lock()


def shared_renderer() -> RenderProcesses:
    """The app's thumbnail-rendering worker processes (started on first use, stopped at exit)."""
    global _renderer
    with _renderer_lock:
        if _renderer is None:
            from dlx_art.library.thumbnails import RenderProcesses

            _renderer = RenderProcesses()
            atexit.register(_renderer.close)
        return _renderer


def warm_up() -> None:
    """Pool thread: start the rendering processes, which the first *new* thumbnail needs
    (only on request: `ThumbnailLoader.warm_up_now`; otherwise they start on first use)."""
    lower_thread_priority()
    shared_renderer().start()


def load_thumbnail_image(library: Library, asset: AssetInfo, box: tuple[int, int]) \
        -> tuple[QImage, bool]:
    """Pool thread: make (or find) the cached JPEG and decode it to fit `box`.

    Returns the image and whether it is the thumbnail's full size.
    """
    lower_thread_priority()
    path = library.make_thumbnail(asset, shared_renderer())
    reader = QImageReader(str(path))
    size = reader.size()
    if not size.isValid() or size.isEmpty():
        raise BadImageFile(f"The thumbnail of {asset.id} cannot be read.")
    target = QSize(*box)
    full = size.width() <= target.width() and size.height() <= target.height()
    if not full:
        reader.setScaledSize(size.scaled(target, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        raise BadImageFile(f"The thumbnail of {asset.id} cannot be read: {reader.errorString()}")
    if image.format() != QImage.Format.Format_RGB32:
        image.convertTo(QImage.Format.Format_RGB32)  # JPEG: already RGB32; cheap to upload
    return image, full


class ThumbnailLoader(QObject):
    """Loads thumbnails in the background and caches them as pixmaps.

    Signals:
        thumbnail_ready(str): the asset id whose thumbnail arrived (or turned out broken).
    """

    thumbnail_ready = Signal(str)

    def __init__(self, library: Library | None, parent: QObject | None = None, *,
                 max_bytes: int = DEFAULT_MAX_BYTES, threads: int = 2,
                 runner: TaskRunner | None = None) -> None:
        super().__init__(parent)
        self._library = library
        self._lane = (runner or default_runner()).render
        # Enough queued in the pool that the threads never wait for the GUI thread to hand
        # out the next job; few enough that little is wasted after a fast scroll.
        self._max_in_flight = threads * 6
        self._max_bytes = max_bytes
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._broken: OrderedDict[str, str] = OrderedDict()
        self._queue: OrderedDict[str, _Request] = OrderedDict()
        self._running: dict[str, _Request] = {}
        self._deferred: dict[str, _Request] = {}  # asked again, for another box, while running
        self._closed = False
        self.loads = 0  # finished loads, for tests and the bench
        self._pump_timer = QTimer(self)
        self._pump_timer.setSingleShot(True)
        self._pump_timer.setInterval(0)
        self._pump_timer.timeout.connect(self._pump)
        self.prepared = False
        self.warmed = False
        self._warming = False
        if library is not None:
            self._lane.run(prepare, library, owner=self, on_done=self._on_prepared)
        # No timed warm-up of the rendering processes: they hold ~35 MB each and start on the
        # first thumbnail that must really be rendered (`RenderProcesses` starts them on
        # demand, on the render lane), so a window with nothing to render starts none.

    def set_library(self, library: Library | None) -> None:
        """Load from another library (None: none); forgets everything cached."""
        self._lane.cancel(self)
        self._running.clear()
        self.clear()
        self._library = library
        if library is not None:
            self._lane.run(prepare, library, owner=self, on_done=self._on_prepared)

    def _on_prepared(self, _result: object) -> None:
        if isValid(self):
            self.prepared = True

    def _start_warm_up(self) -> None:
        if not self._closed and not self._warming:
            self._warming = True
            self._lane.run(warm_up, owner=self, on_done=self._on_warmed)

    def warm_up_now(self) -> None:
        """Start the rendering processes now rather than for the first new thumbnail."""
        self._start_warm_up()

    def _on_warmed(self, _result: object) -> None:
        if isValid(self):
            self.warmed = True

    # --- queries ------------------------------------------------------------------------------

    def pixmap(self, asset_id: str) -> QPixmap | None:
        entry = self._cache.get(asset_id)
        if entry is None:
            return None
        self._cache.move_to_end(asset_id)
        return entry.pixmap

    def state(self, asset_id: str) -> ThumbState:
        if asset_id in self._cache:
            return ThumbState.ready
        if asset_id in self._broken:
            return ThumbState.broken
        if asset_id in self._queue or asset_id in self._running:
            return ThumbState.loading
        return ThumbState.none

    def error(self, asset_id: str) -> str | None:
        return self._broken.get(asset_id)

    def is_idle(self) -> bool:
        return not (self._queue or self._running or self._deferred)

    def in_flight(self) -> int:
        return len(self._running)

    @property
    def cache_bytes(self) -> int:
        return self._bytes

    @property
    def cache_count(self) -> int:
        return len(self._cache)

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    # --- requests -----------------------------------------------------------------------------

    def request(self, asset: AssetInfo, box: QSize,
                still_wanted: Callable[[], bool] | None = None) -> None:
        """Ask for `asset`'s thumbnail fitted into `box`; `thumbnail_ready` follows."""
        if self._closed or self._library is None or asset.id in self._broken or box.isEmpty():
            return
        entry = self._cache.get(asset.id)
        if entry is not None and self._fits(entry, box):
            return
        running = self._running.get(asset.id)
        if running is not None:
            if running.box != box:
                self._deferred[asset.id] = _Request(asset, QSize(box), still_wanted)
            return
        self._queue[asset.id] = _Request(asset, QSize(box), still_wanted)
        self._queue.move_to_end(asset.id)  # newest first: the rows on screen now
        # Start the jobs once the paint that asked for them is over: the workers would
        # otherwise compete with that paint for the GIL.
        if not self._pump_timer.isActive():
            self._pump_timer.start()

    @staticmethod
    def _fits(entry: _Entry, box: QSize) -> bool:
        if entry.box == box:
            return True
        size = entry.pixmap.size()
        return entry.full and size.width() <= box.width() and size.height() <= box.height()

    def needs(self, asset_id: str, box: QSize) -> bool:
        """Whether a paint at `box` should ask for a (better) thumbnail."""
        entry = self._cache.get(asset_id)
        return asset_id not in self._broken and (entry is None or not self._fits(entry, box))

    def forget(self, asset_id: str) -> None:
        """Drop what is known about an asset (its file changed, moved or came back)."""
        entry = self._cache.pop(asset_id, None)
        if entry is not None:
            self._bytes -= entry.cost
        self._broken.pop(asset_id, None)
        self._queue.pop(asset_id, None)

    def clear(self) -> None:
        self._cache.clear()
        self._bytes = 0
        self._broken.clear()
        self._queue.clear()
        self._deferred.clear()

    def cancel_pending(self) -> None:
        """Forget queued requests (a new project or filter is shown)."""
        self._queue.clear()
        self._deferred.clear()

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Stop taking requests and wait for the loads in flight."""
        self._closed = True
        self._queue.clear()
        self._deferred.clear()
        self._lane.cancel(self)
        self._lane.wait(timeout_ms, self)

    # --- work ---------------------------------------------------------------------------------

    def _pump(self) -> None:
        while self._queue and len(self._running) < self._max_in_flight:
            asset_id, request = self._queue.popitem(last=True)
            if request.still_wanted is not None:
                try:
                    wanted = request.still_wanted()
                except RuntimeError:  # its view is gone
                    wanted = False
                if not wanted:
                    continue  # scrolled away; the next paint asks again if it comes back
            self._running[asset_id] = request
            box = (request.box.width(), request.box.height())
            self._lane.run(load_thumbnail_image, self._library, request.asset, box, owner=self,
                           on_done=lambda result, r=request: self._on_loaded(r, result),
                           on_error=lambda exc, r=request: self._on_failed(r, exc))

    def _on_loaded(self, request: _Request, result: tuple[QImage, bool]) -> None:
        if not isValid(self):
            return
        asset_id = request.asset.id
        self._running.pop(asset_id, None)
        self.loads += 1
        if not self._closed:
            image, full = result
            self._store(asset_id, _Entry(QPixmap.fromImage(image), request.box, full, 0))
            self.thumbnail_ready.emit(asset_id)
        self._after(asset_id)

    def _on_failed(self, request: _Request, exc: BaseException) -> None:
        if not isValid(self):
            return
        asset_id = request.asset.id
        self._running.pop(asset_id, None)
        self._deferred.pop(asset_id, None)
        message = exc.user_message if isinstance(exc, DlxError) else \
            "Unexpected error while loading the thumbnail (see the log)."
        log.info("no thumbnail for %s: %s", asset_id, message)
        if not self._closed:
            self._broken[asset_id] = message
            while len(self._broken) > MAX_BROKEN_REMEMBERED:
                self._broken.popitem(last=False)
            self.thumbnail_ready.emit(asset_id)
        self._after(asset_id)

    def _after(self, asset_id: str) -> None:
        again = self._deferred.pop(asset_id, None)
        if again is not None and not self._closed:
            self.request(again.asset, again.box, again.still_wanted)
        self._pump()

    def _store(self, asset_id: str, entry: _Entry) -> None:
        old = self._cache.pop(asset_id, None)
        if old is not None:
            self._bytes -= old.cost
        size = entry.pixmap.size()
        entry.cost = max(1, size.width() * size.height() * max(1, entry.pixmap.depth() // 8))
        self._cache[asset_id] = entry
        self._bytes += entry.cost
        while self._bytes > self._max_bytes and len(self._cache) > 1:
            _, evicted = self._cache.popitem(last=False)
            self._bytes -= evicted.cost
