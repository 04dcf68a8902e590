"""One place builds a `GenerationRequest` from parameters: one rounding rule for sizes (A1111's:
down to a multiple of 8), one validation (junk in any setting is a `UsageError`, nothing else),
refinements inherit what they are not told from the parent image. Property-based."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlx_art.errors import UsageError
from dlx_art.generation.a1111_payloads import base_payload
from dlx_art.generation.request_builder import PARAMETERS, build_request, snap_size
from dlx_art.generation.types import (
    MAX_PIXELS,
    MAX_SIDE,
    BackendChoice,
    GenerationRequest,
    InpaintArea,
    Kind,
    MaskedContent,
)
from tests.support.images import png_bytes

PNG = png_bytes(8, 8)


@dataclass(frozen=True)
class Parent:
    """An image as the catalog describes it (the fields `AssetInfo` has)."""

    id: str = "parent-1"
    prompt: str = "a red fox"
    negative: str | None = "blurry"
    model: str = "sd15.safetensors"
    sampler: str | None = "Euler a"
    scheduler: str | None = "karras"
    steps: int | None = 33
    cfgScale: float | None = 5.5  # noqa: N815 - the catalog's column name
    width: int | None = 1005
    height: int | None = 771


sides = st.integers(min_value=1, max_value=MAX_SIDE)


@settings(max_examples=300, deadline=None)
@given(width=sides, height=sides)
def test_every_size_is_rounded_down_to_a_multiple_of_8_as_a1111_does(width, height):
    try:
        request = build_request(Kind.txt2img, "p", {"width": width, "height": height})
    except UsageError as exc:  # only the pixel limit may refuse a size in range
        assert snap_size(width) * snap_size(height) > MAX_PIXELS, exc
        return
    for asked, got in ((width, request.width), (height, request.height)):
        assert got % 8 == 0 and got >= 64
        assert got == max(64, asked // 8 * 8)
    # what A1111 is sent is exactly the request's size: no second rule further down
    payload = base_payload(request)
    assert (payload["width"], payload["height"]) == (request.width, request.height)


@settings(max_examples=100, deadline=None)
@given(width=st.integers(min_value=8, max_value=4096), height=st.integers(8, 4096))
def test_exact_size_refuses_what_it_would_otherwise_round(width, height):
    params = {"width": width, "height": height}
    if width % 8 or height % 8:
        with pytest.raises(UsageError, match="multiples of 8"):
            build_request(Kind.txt2img, "p", params, exact_size=True)
    else:
        request = build_request(Kind.txt2img, "p", params, exact_size=True)
        assert (request.width, request.height) == (max(64, width), max(64, height))


junk = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.binary(max_size=4), st.lists(st.integers(), max_size=2),
    st.sampled_from(["20", " 7.5 ", "1e400", "nan", "-1", "0x10", "512", "whole", "auto"]),
)


@settings(max_examples=500, deadline=None)
@given(params=st.dictionaries(st.sampled_from(sorted(PARAMETERS)), junk, max_size=6),
       kind=st.sampled_from([Kind.txt2img, Kind.img2img, Kind.inpaint]))
def test_any_junk_is_a_usage_error_or_a_valid_request(params, kind):
    images = {} if kind is Kind.txt2img else {"init_image": PNG}
    if kind is Kind.inpaint:
        images["mask"] = PNG
    try:
        request = build_request(kind, "p", params, **images)
    except UsageError as exc:
        assert exc.user_message and "Traceback" not in exc.user_message
        return
    # every value has its declared type (text numbers were converted), and is in range
    assert isinstance(request.steps, int) and not isinstance(request.steps, bool)
    assert isinstance(request.seed, int) and isinstance(request.cfg_scale, float | int)
    assert math.isfinite(request.cfg_scale) and math.isfinite(request.denoising_strength)
    assert isinstance(request.width, int) and request.width % 8 == 0
    assert isinstance(request.backend, BackendChoice)
    assert isinstance(request.masked_content, MaskedContent)
    assert isinstance(request.inpaint_area, InpaintArea)
    assert isinstance(request.invert_mask, bool) and isinstance(request.keep_partial, bool)
    # and the request survives being made again from its own values
    assert GenerationRequest(**{f: getattr(request, f) for f in request.__dataclass_fields__})


def test_text_numbers_are_converted_like_a_form_or_json_body_sends_them():
    request = build_request("txt2img", "p", {"prompt": "x", "steps": "30", "cfg_scale": "6.5",
                                             "seed": "42", "width": "768", "backend": "a1111"})
    assert (request.steps, request.cfg_scale, request.seed, request.width) == (30, 6.5, 42, 768)
    assert request.backend is BackendChoice.a1111


def test_unknown_settings_and_wrong_enums_are_refused_in_words():
    with pytest.raises(UsageError, match="Unknown generation setting: stepz"):
        build_request(Kind.txt2img, "p", {"stepz": 20})
    with pytest.raises(UsageError, match="masked content must be one of fill, original"):
        build_request(Kind.inpaint, "p", {"masked_content": "blue"}, init_image=PNG, mask=PNG)


def test_a_refinement_inherits_what_it_is_not_told_from_its_parent():
    parent = Parent()
    request = build_request(Kind.img2img, "p", {"seed": 7}, parent=parent, init_image=PNG)
    assert (request.prompt, request.negative, request.model, request.sampler,
            request.scheduler, request.steps, request.cfg_scale) == (
        "a red fox", "blurry", "sd15.safetensors", "Euler a", "karras", 33, 5.5)
    assert (request.width, request.height) == (1000, 768)  # the same rule as typed sizes
    assert request.parent_id == "parent-1" and request.seed == 7
    told = build_request(Kind.img2img, "p", {"prompt": "a blue fox", "negative": "",
                                             "steps": 12}, parent=parent, init_image=PNG)
    assert (told.prompt, told.negative, told.steps) == ("a blue fox", "", 12)
    bare = Parent(negative=None, model="", sampler=None, steps=None, cfgScale=None,
                  width=None, height=None)
    defaults = build_request(Kind.img2img, "p", {}, parent=bare, init_image=PNG)
    assert (defaults.negative, defaults.model, defaults.steps, defaults.cfg_scale,
            defaults.width, defaults.height) == ("", None, 20, 7.0, 512, 512)


def test_the_images_must_fit_the_kind():
    with pytest.raises(UsageError, match="need a source image"):
        build_request(Kind.img2img, "p", {})
    with pytest.raises(UsageError, match="needs a mask"):
        build_request(Kind.inpaint, "p", {}, init_image=PNG)
    with pytest.raises(UsageError, match="only used for inpainting"):
        build_request(Kind.img2img, "p", {}, init_image=PNG, mask=PNG)
    with pytest.raises(UsageError, match="starts from no image"):
        build_request(Kind.txt2img, "p", {}, init_image=PNG)
    with pytest.raises(UsageError, match="not a generation"):
        build_request(Kind.import_, "p", {})
    inpaint = build_request(Kind.inpaint, "p", {"parent_id": "a"}, init_image=PNG, mask=PNG)
    assert inpaint.mask == PNG and inpaint.init_image == PNG and inpaint.parent_id == "a"


def test_from_params_is_the_same_builder():
    params = {"prompt": "x", "width": 1001, "batch_count": 3}
    assert GenerationRequest.from_params(Kind.txt2img, "p", params) == \
        build_request(Kind.txt2img, "p", params)
