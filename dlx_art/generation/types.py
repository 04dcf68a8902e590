"""Plain data passed between the GUI, the command line, the backends and the library."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from dlx_art.errors import Cancelled, UsageError

if TYPE_CHECKING:
    from dlx_art.generation.request_builder import ParentImage

# --- value limits ---------------------------------------------------------------------------
# Checked when a `GenerationRequest` is made, so a bad value is a usage error before any request
# is sent (the command line's argparse types call the same checks: exit code 2).

SEED_MAX = 2**32 - 1
"""Largest seed A1111 takes (numpy seeds are 32-bit unsigned); -1 means random."""
MAX_STEPS = 1000
MAX_SIDE = 65535
"""Largest width or height in pixels (PNG and A1111 need no more; any image the library holds
fits); width x height must also stay within `MAX_PIXELS`."""
MAX_PIXELS = 178_956_970  # the largest image the library accepts (metadata.MAX_PIXELS)
MAX_IMAGES = 100
"""Most images one job may ask for (batch count x batch size)."""
MAX_CFG_SCALE = 100.0
MAX_MASK_BLUR = 256
MAX_PADDING = 4096
MAX_UPSCALE = 8.0
"""Largest upscale factor (A1111's own slider stops at 8)."""
MAX_EXPAND = 4096
"""Most pixels an outpaint adds on one side."""


def _whole(name: str, value: object) -> int:
    """`value` as an int (from an int or its text); UsageError for anything else."""
    if isinstance(value, bool):
        raise UsageError(f"{name} must be a whole number, not {value!r}.")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if len(text) <= 40:  # int() of thousands of digits is slow; no limit needs them
            try:
                return int(text)
            except ValueError:
                pass
    raise UsageError(f"{name} must be a whole number, not {_show(value)}.")


def _number(name: str, value: object) -> float:
    """`value` as a finite float (from a number or its text); UsageError otherwise."""
    if isinstance(value, bool):
        raise UsageError(f"{name} must be a number, not {value!r}.")
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value) if not isinstance(value, int) or abs(value) < 2**53 else math.inf
    elif isinstance(value, str) and len(value) <= 40:
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise UsageError(f"{name} must be a finite number, not {_show(value)}.")
    return number


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _whole_in(name: str, value: object, low: int, high: int) -> int:
    number = _whole(name, value)
    if not low <= number <= high:
        raise UsageError(f"{name} must be from {low} to {high}, not {number}.")
    return number


def check_seed(value: object) -> int:
    """A seed: -1 (random) or 0 to `SEED_MAX`. Raises UsageError otherwise."""
    seed = _whole("The seed", value)
    if seed != -1 and not 0 <= seed <= SEED_MAX:
        raise UsageError(f"The seed must be -1 (random) or from 0 to {SEED_MAX}, not {seed}.")
    return seed


def check_steps(value: object) -> int:
    """Sampling steps: 1 to `MAX_STEPS`."""
    return _whole_in("Steps", value, 1, MAX_STEPS)


def check_cfg_scale(value: object) -> float:
    """CFG scale: a finite number from 0 to `MAX_CFG_SCALE` (NaN and infinity refused)."""
    number = _number("The CFG scale", value)
    if not 0.0 <= number <= MAX_CFG_SCALE:
        raise UsageError(f"The CFG scale must be from 0 to {MAX_CFG_SCALE:g}, not {number:g}.")
    return number


def check_side(value: object, name: str = "Width and height") -> int:
    """A width or height: 1 to `MAX_SIDE` pixels."""
    return _whole_in(name, value, 1, MAX_SIDE)


def check_image_count(value: object, name: str = "The number of images") -> int:
    """Images per job (or one of its factors): 1 to `MAX_IMAGES`."""
    return _whole_in(name, value, 1, MAX_IMAGES)


def check_denoise(value: object) -> float:
    """Denoising strength: a finite number from 0 to 1."""
    number = _number("The denoising strength", value)
    if not 0.0 <= number <= 1.0:
        raise UsageError(f"The denoising strength must be from 0 to 1, not {number:g}.")
    return number


def check_mask_blur(value: object) -> int:
    """Mask blur in pixels: 0 to `MAX_MASK_BLUR`."""
    return _whole_in("The mask blur", value, 0, MAX_MASK_BLUR)


def check_padding(value: object) -> int:
    """Padding around the mask in pixels: 0 to `MAX_PADDING`."""
    return _whole_in("The padding", value, 0, MAX_PADDING)


def check_upscale_factor(value: object) -> float:
    """An upscale factor: above 0, at most `MAX_UPSCALE`."""
    number = _number("The upscale factor", value)
    if not 0.0 < number <= MAX_UPSCALE:
        raise UsageError(f"The upscale factor must be above 0 and at most {MAX_UPSCALE:g}, "
                         f"not {number:g}.")
    return number


def check_visibility(value: object) -> float:
    """How much of the second upscaler shows: a number from 0 to 1."""
    number = _number("The second upscaler's visibility", value)
    if not 0.0 <= number <= 1.0:
        raise UsageError(f"The second upscaler's visibility must be from 0 to 1, not {number:g}.")
    return number


def check_expand(value: object, side: str = "a side") -> int:
    """Pixels an outpaint adds on one side: 0 to `MAX_EXPAND`, a multiple of 8."""
    number = _whole_in(f"The expansion of {side}", value, 0, MAX_EXPAND)
    if number % 8:
        raise UsageError(f"The expansion of {side} must be a multiple of 8 pixels "
                         f"(e.g. 64, 128), not {number}.")
    return number


def check_upscaler(value: object, what: str = "The upscaler") -> str:
    """An upscaler name as the server lists it (not empty)."""
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise UsageError(f"{what} must be a name such as Lanczos or R-ESRGAN 4x+.")
    return value.strip()


def stored_seed(value: object) -> int | None:
    """A seed a server reported, as the catalog keeps it: an int in 0..`SEED_MAX`, else None.

    A server may send anything (2**40, -5, a string, NaN); the image is kept either way, its
    seed column is then empty and the server's own text stays in the infotext.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= SEED_MAX else None


class Kind(StrEnum):
    txt2img = "txt2img"
    img2img = "img2img"
    inpaint = "inpaint"
    import_ = "import"
    upscale = "upscale"  # A1111 extras: a bigger copy of an image (`generation.a1111_extras`)
    outpaint = "outpaint"  # inpainting of a larger canvas (`generation.outpaint`)


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
    # upscale (A1111 extra-single-image); width/height then hold the final size
    upscaling_resize: float = 2.0
    upscaler_1: str = "Lanczos"
    upscaler_2: str = "None"
    upscaler_2_visibility: float = 0.0
    # outpaint: pixels added on each side (multiples of 8); width/height hold the canvas size
    expand_left: int = 0
    expand_right: int = 0
    expand_top: int = 0
    expand_bottom: int = 0

    def __post_init__(self) -> None:
        """Refuse values no backend can take (raises `UsageError`), before anything is sent."""
        check_seed(self.seed)
        check_steps(self.steps)
        check_cfg_scale(self.cfg_scale)
        check_side(self.width, "The width")
        check_side(self.height, "The height")
        if self.width * self.height > MAX_PIXELS:
            raise UsageError(f"{self.width}x{self.height} is too large: at most "
                             f"{MAX_PIXELS:,} pixels.")
        check_image_count(self.batch_count, "The batch count")
        check_image_count(self.batch_size, "The batch size")
        check_image_count(self.image_count)
        check_denoise(self.denoising_strength)
        check_mask_blur(self.mask_blur)
        check_padding(self.padding)
        for name in ("prompt", "negative"):
            if not isinstance(getattr(self, name), str):
                raise UsageError(f"The {name} must be text.")
        self._check_upscale_outpaint()

    def _check_upscale_outpaint(self) -> None:
        check_upscale_factor(self.upscaling_resize)
        check_upscaler(self.upscaler_1)
        check_upscaler(self.upscaler_2, "The second upscaler")
        check_visibility(self.upscaler_2_visibility)
        margins = [check_expand(getattr(self, f"expand_{side}"), f"the {side} side")
                   for side in ("left", "right", "top", "bottom")]
        if self.kind == Kind.outpaint and not any(margins):
            raise UsageError("Outpainting needs at least one side to grow (e.g. 128 pixels on "
                             "the right).")

    @property
    def image_count(self) -> int:
        return self.batch_count * self.batch_size

    @classmethod
    def from_params(cls, kind: Kind | str, project_id: str, params: Mapping[str, object], *,
                    parent: ParentImage | None = None, init_image: bytes | None = None,
                    mask: bytes | None = None, exact_size: bool = False) -> GenerationRequest:
        """A checked request from parameters: `request_builder.build_request`, the one place
        requests are built (one rounding rule for sizes, one validation)."""
        from dlx_art.generation.request_builder import build_request

        return build_request(kind, project_id, params, parent=parent, init_image=init_image,
                             mask=mask, exact_size=exact_size)


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
        self._skip_hooks: list[Callable[[], None]] = []

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

    # Skip: end the image being made now and go on with the next one of the batch (A1111's
    # /skip). A backend that can skip registers a hook while its job runs; others ignore it.

    def skip(self) -> bool:
        """Ask the running backend to skip its current image; False if none can skip now.

        The hooks may do network I/O: call this from a worker thread, not the GUI thread.
        """
        with self._lock:
            hooks = list(self._skip_hooks)
        for hook in hooks:
            try:
                hook()
            except Exception:  # a failing skip leaves the job running: nothing is lost
                import logging

                logging.getLogger("dlx_art.generation").warning("skip failed", exc_info=True)
                return False
        return bool(hooks)

    def on_skip(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Register a skip hook (while a job runs); returns a function that unregisters it."""
        with self._lock:
            self._skip_hooks.append(hook)

        def remove() -> None:
            with self._lock:
                if hook in self._skip_hooks:
                    self._skip_hooks.remove(hook)

        return remove


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
