"""The one place that turns parameters into a `GenerationRequest`.

The prompt form, the canvas, the command line (and later the service API) all describe a job
as a mapping of `GenerationRequest` field names to values (numbers may be text, as a form or a
JSON body sends them). `build_request` applies one set of rules to every caller:

* **Sizes**: rounded down to a multiple of 8, at least 64 (`snap_size`): what AUTOMATIC1111
  itself does with a width or height (it generates `width // 8 * 8`), so the request, the
  Hugging Face call and the stored image all agree with what A1111 makes. A caller that takes a
  size typed by a person word for word (`exact_size=True`, the command line's `--width`) refuses
  a size that is not a multiple of 8 instead of changing it.
* **Refinements** take what they are not told from the image they refine (`parent`): prompt,
  negative prompt, model, sampler, scheduler, steps, CFG scale and size.
* **Validation**: every value is checked and converted with the `check_*` functions of
  `dlx_art.generation.types`, and the request's own `__post_init__` checks the whole; anything
  unusable raises `UsageError` with a plain sentence before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol, TypeVar

from dlx_art.errors import UsageError
from dlx_art.generation.types import (
    BackendChoice,
    GenerationRequest,
    InpaintArea,
    Kind,
    MaskedContent,
    check_cfg_scale,
    check_denoise,
    check_hr_scale,
    check_hr_steps,
    check_image_count,
    check_mask_blur,
    check_name,
    check_padding,
    check_seed,
    check_side,
    check_steps,
    check_styles,
    check_variation_seed,
    check_variation_strength,
)

__all__ = ["PARAMETERS", "ParentImage", "build_request", "snap_size"]

MIN_SNAPPED_SIZE = 64
"""The smallest side a request asks for (A1111's own minimum in its UI and API examples)."""

DEFAULT_SIZE = 512

PARAMETERS = frozenset({
    "prompt", "negative", "model", "sampler", "scheduler", "steps", "cfg_scale", "seed",
    "width", "height", "batch_count", "batch_size", "backend", "parent_id",
    "denoising_strength", "mask_blur", "masked_content", "inpaint_area", "padding",
    "invert_mask", "keep_partial",
    "styles", "enable_hr", "hr_scale", "hr_upscaler", "hr_second_pass_steps", "subseed",
    "subseed_strength",
})
"""The keys `build_request` accepts (`GenerationRequest` field names, the images excepted)."""

E = TypeVar("E", bound=StrEnum)


class ParentImage(Protocol):
    """The image a refinement starts from, as the catalog describes it (`AssetInfo`)."""

    @property
    def id(self) -> str: ...
    @property
    def prompt(self) -> str: ...
    @property
    def negative(self) -> str | None: ...
    @property
    def model(self) -> str: ...
    @property
    def sampler(self) -> str | None: ...
    @property
    def scheduler(self) -> str | None: ...
    @property
    def steps(self) -> int | None: ...
    @property
    def cfgScale(self) -> float | None: ...  # the catalog's column name
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...


def snap_size(value: int) -> int:
    """A side as A1111 makes it: rounded down to a multiple of 8, at least 64."""
    return max(MIN_SNAPPED_SIZE, int(value) // 8 * 8)


def build_request(kind: Kind | str, project_id: str, params: Mapping[str, object], *,
                  parent: ParentImage | None = None, init_image: bytes | None = None,
                  mask: bytes | None = None, exact_size: bool = False) -> GenerationRequest:
    """A checked `GenerationRequest` from parameters.

    Args:
        kind: txt2img, img2img or inpaint.
        project_id: the project the images go to.
        params: `PARAMETERS` keys; a missing key or None means "not given" (the parent's
            value for a refinement, else the request's default). Numbers may be text.
        parent: the image a refinement starts from; fills what `params` leaves out, and its
            id is the new images' parent unless `params["parent_id"]` says otherwise.
        init_image: the encoded pixels to refine (img2img and inpaint only).
        mask: the inpainting mask, the init image's size, white = repaint (inpaint only).
        exact_size: refuse a width or height that is not a multiple of 8 rather than round it.

    Raises:
        UsageError: an unknown key, a value out of range or of the wrong kind, or images that
            do not fit the kind (a refinement without pixels, an inpaint without a mask).
    """
    unknown = sorted(set(params) - PARAMETERS)
    if unknown:
        raise UsageError(f"Unknown generation setting: {', '.join(unknown)}.")
    job = _enum(Kind, kind, "kind")
    if job is Kind.import_:
        raise UsageError("An import is not a generation.")
    refinement = job in (Kind.img2img, Kind.inpaint)
    if not refinement and (init_image is not None or mask is not None or parent is not None):
        raise UsageError("A text-to-image job starts from no image.")
    if refinement and not init_image:
        raise UsageError("Image-to-image and inpainting need a source image.")
    if job is Kind.inpaint and not mask:
        raise UsageError("Inpainting needs a mask (white = repaint).")
    if job is not Kind.inpaint and mask is not None:
        raise UsageError("A mask is only used for inpainting.")

    def given(name: str) -> object | None:
        return params.get(name)

    def text(name: str, inherited: str | None, default: str) -> str:
        value = given(name)
        if value is None:
            return inherited if inherited is not None else default
        if not isinstance(value, str):
            raise UsageError(f"The {name} must be text.")
        return value

    def name_or_none(name: str, inherited: str | None) -> str | None:
        value = text(name, inherited, "")
        return value.strip() or None

    def side(name: str, inherited: int | None) -> int:
        value = given(name)
        if value is None:
            return snap_size(inherited) if inherited else DEFAULT_SIZE
        number = check_side(value, f"The {name}")
        if exact_size and number % 8:
            raise UsageError("Width and height must be multiples of 8 (e.g. 512, 768, 1024).")
        return snap_size(number)

    steps, cfg = given("steps"), given("cfg_scale")
    inherited_steps = parent.steps if parent else None
    inherited_cfg = parent.cfgScale if parent else None
    parent_id = given("parent_id")
    if parent_id is not None and not isinstance(parent_id, str):
        raise UsageError("The parent image id must be text.")
    return GenerationRequest(
        project_id=project_id,
        kind=job,
        prompt=text("prompt", parent.prompt if parent else None, ""),
        negative=text("negative", parent.negative if parent else None, ""),
        model=name_or_none("model", parent.model if parent else None),
        sampler=name_or_none("sampler", parent.sampler if parent else None),
        scheduler=name_or_none("scheduler", parent.scheduler if parent else None),
        steps=check_steps(steps) if steps is not None else inherited_steps or 20,
        cfg_scale=check_cfg_scale(cfg) if cfg is not None else inherited_cfg or 7.0,
        seed=check_seed(_or(given("seed"), -1)),
        width=side("width", parent.width if parent else None),
        height=side("height", parent.height if parent else None),
        batch_count=check_image_count(_or(given("batch_count"), 1), "The batch count"),
        batch_size=check_image_count(_or(given("batch_size"), 1), "The batch size"),
        backend=_enum(BackendChoice, _or(given("backend"), BackendChoice.auto), "backend"),
        parent_id=parent_id or (parent.id if parent else None),
        init_image=init_image if refinement else None,
        mask=mask,
        denoising_strength=check_denoise(_or(given("denoising_strength"), 0.75)),
        mask_blur=check_mask_blur(_or(given("mask_blur"), 4)),
        masked_content=_enum(MaskedContent, _or(given("masked_content"), MaskedContent.original),
                             "masked content"),
        inpaint_area=_enum(InpaintArea, _or(given("inpaint_area"), InpaintArea.whole),
                           "inpaint area"),
        padding=check_padding(_or(given("padding"), 32)),
        invert_mask=_flag(given("invert_mask"), "invert_mask"),
        keep_partial=_flag(given("keep_partial"), "keep_partial"),
        styles=check_styles(given("styles")),
        enable_hr=_flag(given("enable_hr"), "enable_hr"),
        hr_scale=check_hr_scale(_or(given("hr_scale"), 2.0)),
        hr_upscaler=check_name(_or(given("hr_upscaler"), "Latent"), "hires upscaler"),
        hr_second_pass_steps=check_hr_steps(_or(given("hr_second_pass_steps"), 0)),
        subseed=check_variation_seed(_or(given("subseed"), -1)),
        subseed_strength=check_variation_strength(_or(given("subseed_strength"), 0.0)),
    )


def _or(value: object | None, default: object) -> object:
    return default if value is None else value


def _enum(cls: type[E], value: object, what: str) -> E:
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        try:
            return cls(value.strip())
        except ValueError:
            pass
    choices = ", ".join(member.value for member in cls)
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:39] + "…"
    raise UsageError(f"The {what} must be one of {choices}, not {shown}.")


def _flag(value: object | None, name: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise UsageError(f"{name} must be true or false, not {value!r}.")
