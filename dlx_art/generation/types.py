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


MAX_STYLES = 50
MAX_NAME_LENGTH = 500
MIN_HR_SCALE = 1.0
MAX_HR_SCALE = 8.0


def check_hr_scale(value: object) -> float:
    """Hires fix upscale factor: a finite number from 1 to `MAX_HR_SCALE`."""
    number = _number("The hires fix scale", value)
    if not MIN_HR_SCALE <= number <= MAX_HR_SCALE:
        raise UsageError(f"The hires fix scale must be from {MIN_HR_SCALE:g} to "
                         f"{MAX_HR_SCALE:g}, not {number:g}.")
    return number


def check_hr_steps(value: object) -> int:
    """Hires fix second-pass steps: 0 (= the same as the first pass) to `MAX_STEPS`."""
    return _whole_in("The hires steps", value, 0, MAX_STEPS)


def check_variation_strength(value: object) -> float:
    """Variation strength (A1111 `subseed_strength`): a finite number from 0 to 1."""
    number = _number("The variation strength", value)
    if not 0.0 <= number <= 1.0:
        raise UsageError(f"The variation strength must be from 0 to 1, not {number:g}.")
    return number


def check_variation_seed(value: object) -> int:
    """A variation seed (A1111 `subseed`): -1 (random) or 0 to `SEED_MAX`."""
    seed = _whole("The variation seed", value)
    if seed != -1 and not 0 <= seed <= SEED_MAX:
        raise UsageError(f"The variation seed must be -1 (random) or from 0 to {SEED_MAX}, "
                         f"not {seed}.")
    return seed


def check_name(value: object, what: str) -> str:
    """A non-empty single-line name (a style, an upscaler), stripped."""
    if not isinstance(value, str):
        raise UsageError(f"The {what} must be text, not {_show(value)}.")
    name = value.strip()
    if not name:
        raise UsageError(f"The {what} cannot be empty.")
    if len(name) > MAX_NAME_LENGTH or "\n" in name or "\r" in name:
        raise UsageError(f"The {what} {_show(name)} is not a valid name.")
    return name


def check_styles(value: object) -> tuple[str, ...]:
    """Style names (A1111 `styles`): a list of names, at most `MAX_STYLES`, duplicates dropped."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise UsageError(f"The styles must be a list of style names, not {_show(value)}.")
    names: list[str] = []
    for item in value:
        name = check_name(item, "style name")
        if name not in names:
            names.append(name)
    if len(names) > MAX_STYLES:
        raise UsageError(f"At most {MAX_STYLES} styles can be used at once, not {len(names)}.")
    return tuple(names)


def lora_tag(name: str, weight: float = 1.0) -> str:
    """The prompt tag that applies a LoRA: `<lora:NAME:WEIGHT>` (weight written like 0.8, 1).

    Raises `UsageError` for a name that cannot be written in a tag or a weight that is not a
    finite number.
    """
    clean = check_name(name, "LoRA name")
    if any(c in clean for c in "<>:"):
        raise UsageError(f"The LoRA name {_show(clean)} cannot be written in a tag.")
    number = _number("The LoRA weight", weight)
    text = f"{round(number, 4):g}" if abs(number) < 1e6 else f"{number:g}"
    return f"<lora:{clean}:{text}>"


def hf_cannot_do(features: list[str]) -> str:
    """The sentence for a job Hugging Face cannot run (`a1111_only_features`): names them."""
    if len(features) == 1:
        named, them = features[0], "it"
    else:
        named, them = ", ".join(features[:-1]) + " or " + features[-1], "them"
    return f"Hugging Face cannot do {named}; start the A1111 server or remove {them}."


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


class InpaintModel(StrEnum):
    """Setting `a1111_inpaint_model`: which checkpoint a masked refinement uses on A1111."""

    auto = "auto"  # the image's model's inpainting partner when the server has one
    off = "off"  # always the image's own model


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
    # A1111-only features (Hugging Face cannot do them: see `a1111_only_features`)
    styles: tuple[str, ...] = ()  # A1111 `styles`: saved style names, merged by the server
    enable_hr: bool = False  # hires fix; its denoise is `denoising_strength`
    hr_scale: float = 2.0
    hr_upscaler: str = "Latent"
    hr_second_pass_steps: int = 0  # 0 = as many as `steps`
    subseed: int = -1  # variation seed; -1 = random
    subseed_strength: float = 0.0  # 0 = no variation

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
        # a list from a caller becomes a tuple: the request stays hashable and immutable
        object.__setattr__(self, "styles", check_styles(self.styles))
        if not isinstance(self.enable_hr, bool):
            raise UsageError(f"enable_hr must be true or false, not {self.enable_hr!r}.")
        check_hr_scale(self.hr_scale)
        check_name(self.hr_upscaler, "hires upscaler")
        check_hr_steps(self.hr_second_pass_steps)
        check_variation_seed(self.subseed)
        check_variation_strength(self.subseed_strength)
        if self.enable_hr and self.kind != Kind.txt2img:
            raise UsageError("The hires fix is for text-to-image jobs only.")
        if self.enable_hr:
            final = (int(self.width * self.hr_scale), int(self.height * self.hr_scale))
            if max(final) > MAX_SIDE or final[0] * final[1] > MAX_PIXELS:
                raise UsageError(f"The hires fix would make {final[0]}x{final[1]} images, "
                                 f"too large: at most {MAX_PIXELS:,} pixels.")

    def a1111_only_features(self) -> list[str]:
        """Plain names of the features in use that Hugging Face cannot do.

        "hires fix", "styles", "LoRAs" (a `<lora:` tag in the prompt or negative prompt),
        "variations" and "upscale" (an upscale job), in that order; empty when none is used.
        """
        found: list[str] = []
        if self.enable_hr:
            found.append("hires fix")
        if self.styles:
            found.append("styles")
        if "<lora:" in self.prompt.lower() or "<lora:" in self.negative.lower():
            found.append("LoRAs")
        if self.subseed_strength > 0:
            found.append("variations")
        if str(self.kind) == "upscale":
            found.append("upscale")
        return found

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


@dataclass(frozen=True)
class LoraInfo:
    """A LoRA the server offers (`GET /sdapi/v1/loras`). `name` is the file name without
    folder and extension, `alias` its metadata's output name (else `name`); both work in a tag."""

    name: str
    alias: str
    path: str = ""
    metadata: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class EmbeddingInfo:
    """A textual-inversion embedding (`GET /sdapi/v1/embeddings`); used by writing its name in
    the prompt. `skipped` = it does not fit the loaded checkpoint (e.g. an SD 2 embedding)."""

    name: str
    shape: int | None = None
    vectors: int | None = None
    skipped: bool = False


@dataclass(frozen=True)
class StyleInfo:
    """A saved style (`GET /sdapi/v1/prompt-styles`): text merged into the prompts by the server
    (`{prompt}` marks where the prompt goes; otherwise the text is appended)."""

    name: str
    prompt: str = ""
    negative_prompt: str = ""


@dataclass(frozen=True)
class Toolbox:
    """What an A1111 server offers beyond checkpoints: LoRAs, embeddings, styles, upscalers
    (`GET /upscalers` names) and latent upscale modes (for the hires fix)."""

    loras: list[LoraInfo]
    embeddings: list[EmbeddingInfo]
    styles: list[StyleInfo]
    upscalers: list[str]
    latent_modes: list[str]

    @property
    def hires_upscalers(self) -> list[str]:
        """Names the hires fix takes: the latent modes, then the upscalers ("None" left out)."""
        return self.latent_modes + [u for u in self.upscalers if u != "None"]


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
