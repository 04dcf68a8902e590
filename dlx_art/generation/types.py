"""Plain data passed between the GUI, the command line, the backends and the library."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from dlx_art.errors import Cancelled


class Kind(StrEnum):
    txt2img = "txt2img"
    img2img = "img2img"
    inpaint = "inpaint"
    import_ = "import"


class InpaintArea(StrEnum):
    whole = "whole"  # A1111 "Whole picture" (inpaint_full_res = false)
    masked = "masked"  # A1111 "Only masked" (inpaint_full_res = true)


class MaskedContent(StrEnum):
    fill = "fill"
    original = "original"
    noise = "noise"  # latent noise
    nothing = "nothing"  # latent nothing

    @property
    def a1111_value(self) -> int:
        return ["fill", "original", "noise", "nothing"].index(self.value)


class BackendChoice(StrEnum):
    auto = "auto"
    a1111 = "a1111"
    hf = "hf"


@dataclass(frozen=True)
class GenerationRequest:
    """Everything one job needs. Refinements (img2img / inpaint) carry the parent's pixels.

    `seed` -1 means random. `init_image` and `mask` are encoded image files (PNG bytes); the mask
    has the init image's size, white = repaint.
    """

    project_id: str
    prompt: str
    kind: Kind = Kind.txt2img
    negative: str = ""
    model: str | None = None
    sampler: str | None = None
    scheduler: str | None = None
    steps: int = 20
    cfg_scale: float = 7.0
    seed: int = -1
    width: int = 512
    height: int = 512
    batch_count: int = 1  # A1111 n_iter
    batch_size: int = 1
    backend: BackendChoice = BackendChoice.auto
    # refinement
    parent_id: str | None = None
    init_image: bytes | None = None
    mask: bytes | None = None
    denoising_strength: float = 0.75
    mask_blur: int = 4
    masked_content: MaskedContent = MaskedContent.original
    inpaint_area: InpaintArea = InpaintArea.whole
    padding: int = 32
    invert_mask: bool = False
    keep_partial: bool = False  # save the partial image of a cancelled job

    @property
    def image_count(self) -> int:
        return self.batch_count * self.batch_size


@dataclass(frozen=True)
class Progress:
    """A progress report. `fraction` is 0..1; `preview` is encoded image bytes or None."""

    fraction: float
    step: int | None = None
    steps: int | None = None
    eta_seconds: float | None = None
    job_no: int | None = None
    job_count: int | None = None
    preview: bytes | None = None
    message: str = ""


@dataclass(frozen=True)
class GeneratedImage:
    """One image as the backend produced it. `data` is the encoded file, saved unchanged."""

    data: bytes
    seed: int | None
    infotext: str | None
    width: int
    height: int
    file_type: str = "png"


@dataclass(frozen=True)
class BackendResult:
    images: list[GeneratedImage]
    backend: str  # "a1111" | "hf"
    backend_label: str  # e.g. "A1111 at http://127.0.0.1:7860" or "Hugging Face <model>"
    model: str | None = None
    sampler: str | None = None
    scheduler: str | None = None
    approximate: bool = False  # inpainting done as img2img + local composite (Hugging Face)
    interrupted: bool = False  # the person cancelled; images are partial


ProgressCallback = Callable[[Progress], None]


class CancelToken:
    """Cooperative cancellation shared between a job's caller and the thread running it.

    `on_cancel` callbacks run once, in the thread that calls `cancel()`; a client registers one
    to interrupt the server and to stop waiting for an open request.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a failing hook must not stop the others
                import logging

                logging.getLogger("dlx_art.generation").exception("cancel hook failed")

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Register `callback`; returns a function that unregisters it. Runs now if cancelled."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._remove(callback)
        callback()
        return lambda: None

    def _remove(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds; True if cancelled meanwhile."""
        return self._event.wait(timeout)


@dataclass
class BackendStatus:
    """What `backends` reports for one configured backend."""

    name: str  # "a1111" | "hf"
    label: str
    state: str  # "up" | "busy" | "api-off" | "down" | "auth-failed" | "available" | "unavailable"
    detail: str = ""
    models: list[str] = field(default_factory=list)
    samplers: list[str] = field(default_factory=list)
    schedulers: list[str] = field(default_factory=list)
    current_model: str | None = None
