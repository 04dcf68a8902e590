"""Upscale and outpaint as requests: their fields, checks and sizes, the outpaint canvas and
mask, and their round trip through a job row."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from dlx_art.errors import BadImageFile, UsageError
from dlx_art.generation.outpaint import SEAM, expanded_size, outpaint_canvas
from dlx_art.generation.request_builder import build_request
from dlx_art.generation.types import GenerationRequest, InpaintArea, Kind, MaskedContent
from tests.support.images import png_bytes
from tests.unit.test_request_builder import Parent


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- requests -----------------------------------------------------------------------------------


def test_upscale_request_takes_its_defaults_and_the_parent_and_knows_its_final_size() -> None:
    parent = Parent(width=64, height=48)
    request = GenerationRequest.from_params(Kind.upscale, "p1", {}, parent=parent,
                                            init_image=png_bytes(64, 48))
    assert request.kind is Kind.upscale
    assert (request.upscaling_resize, request.upscaler_1, request.upscaler_2,
            request.upscaler_2_visibility) == (2.0, "Lanczos", "None", 0.0)
    assert request.parent_id == parent.id
    assert request.model == parent.model and request.prompt == parent.prompt
    assert (request.width, request.height) == (128, 96)
    assert request.init_image == png_bytes(64, 48)


def test_upscale_size_is_rounded_down_to_8_as_a1111_does() -> None:
    request = build_request("upscale", "p1", {"upscaling_resize": 2}, init_image=png_bytes(50, 30))
    assert (request.width, request.height) == (96, 56)  # the contract's example
    request = build_request("upscale", "p1", {"upscaling_resize": "1.5", "upscaler_1": "ESRGAN_4x",
                                              "upscaler_2": "Nearest",
                                              "upscaler_2_visibility": "0.25"},
                            init_image=png_bytes(64, 64))
    assert (request.width, request.upscaler_1, request.upscaler_2,
            request.upscaler_2_visibility) == (96, "ESRGAN_4x", "Nearest", 0.25)


@pytest.mark.parametrize(("params", "words"), [
    ({"upscaling_resize": 0}, "above 0"),
    ({"upscaling_resize": -1}, "above 0"),
    ({"upscaling_resize": 9}, "at most 8"),
    ({"upscaling_resize": "nan"}, "finite"),
    ({"upscaler_1": ""}, "upscaler"),
    ({"upscaler_2_visibility": 1.5}, "from 0 to 1"),
    ({"upscaler_2_visibility": -0.1}, "from 0 to 1"),
    ({"upscaling_resize": 0.05}, "leaves nothing"),
])
def test_bad_upscale_settings_are_usage_errors(params: dict[str, object], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        build_request("upscale", "p1", params, init_image=png_bytes(64, 64))


def test_upscale_and_outpaint_need_a_source_image_and_no_mask() -> None:
    for kind in ("upscale", "outpaint"):
        with pytest.raises(UsageError, match="source image"):
            build_request(kind, "p1", {"expand_left": 8})
        with pytest.raises(UsageError, match="mask"):
            build_request(kind, "p1", {"expand_left": 8}, init_image=png_bytes(),
                          mask=png_bytes())


def test_outpaint_request_has_the_contract_defaults_and_the_canvas_size() -> None:
    parent = Parent(width=64, height=64)
    request = GenerationRequest.from_params(Kind.outpaint, "p1", {"expand_right": 64},
                                            parent=parent, init_image=png_bytes(64, 64))
    assert request.kind is Kind.outpaint
    assert (request.width, request.height) == (128, 64)
    assert request.denoising_strength == 0.9
    assert request.masked_content is MaskedContent.noise
    assert request.inpaint_area is InpaintArea.whole
    assert request.mask_blur == 4
    assert request.prompt == parent.prompt and request.parent_id == parent.id
    assert request.mask is None  # made from the source when the job runs
    own = build_request("outpaint", "p1", {"expand_top": 8, "denoising_strength": 0.5,
                                           "masked_content": "fill", "prompt": "sky"},
                        init_image=png_bytes(64, 64))
    assert (own.denoising_strength, own.masked_content, own.prompt) == (0.5, MaskedContent.fill,
                                                                        "sky")


@pytest.mark.parametrize(("params", "words"), [
    ({}, "at least one side"),
    ({"expand_left": 0, "expand_right": 0}, "at least one side"),
    ({"expand_left": 12}, "multiple of 8"),
    ({"expand_top": -8}, "from 0 to"),
    ({"expand_bottom": 8192}, "from 0 to"),
    ({"expand_right": "wide"}, "whole number"),
    ({"expand_right": 8, "denoising_strength": 2}, "denoising"),
])
def test_bad_margins_are_usage_errors(params: dict[str, object], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        build_request("outpaint", "p1", params, init_image=png_bytes(64, 64))


def test_a_request_made_directly_is_checked_too() -> None:
    with pytest.raises(UsageError, match="at least one side"):
        GenerationRequest(project_id="p", prompt="", kind=Kind.outpaint)
    with pytest.raises(UsageError, match="multiple of 8"):
        GenerationRequest(project_id="p", prompt="", kind=Kind.outpaint, expand_left=3)
    with pytest.raises(UsageError, match="upscale factor"):
        GenerationRequest(project_id="p", prompt="", kind=Kind.upscale, upscaling_resize=0)


# --- the outpaint canvas ------------------------------------------------------------------------


def test_expanded_size_adds_the_margins_and_rounds_up_to_8() -> None:
    assert expanded_size(64, 64, 0, 64, 0, 0) == (128, 64)
    assert expanded_size(64, 48, 8, 8, 16, 0) == (80, 64)
    assert expanded_size(500, 300, 64, 0, 0, 0) == (568, 304)  # an odd import keeps its pixels


def test_canvas_keeps_the_picture_at_its_offset_and_fills_the_new_area_from_its_edges() -> None:
    source = png_bytes(64, 48, noise=True, seed=3)
    canvas_png, mask_png = outpaint_canvas(source, 16, 32, 8, 0)
    canvas, mask, picture = _open(canvas_png), _open(mask_png), _open(source).convert("RGB")
    assert canvas.size == mask.size == (112, 56)
    assert canvas.mode == "RGB" and mask.mode == "L"
    assert canvas.crop((16, 8, 80, 56)).tobytes() == picture.tobytes()
    # the new area is not one flat colour: it comes from the picture's edges
    strip = canvas.crop((0, 8, 16, 56)).tobytes()
    assert len({strip[i:i + 3] for i in range(0, len(strip), 3)}) > 8


def test_mask_is_white_on_the_new_area_and_a_seam_black_on_the_kept_picture() -> None:
    _canvas, mask_png = outpaint_canvas(png_bytes(64, 64), 0, 64, 0, 0)
    mask = _open(mask_png)
    assert mask.size == (128, 64)
    assert mask.getpixel((64 + 10, 30)) == 255  # new area
    assert mask.getpixel((64 - SEAM, 30)) == 255  # the seam reaches into the picture
    assert mask.getpixel((64 - SEAM - 1, 30)) == 0
    assert mask.getpixel((0, 0)) == 0  # the sides that do not grow stay kept to the edge
    assert mask.getpixel((0, 63)) == 0
    assert set(mask.tobytes()) == {0, 255}


def test_rounding_pixels_go_to_the_right_and_bottom_as_new_area() -> None:
    canvas_png, mask_png = outpaint_canvas(png_bytes(60, 60), 8, 0, 0, 0)
    canvas, mask = _open(canvas_png), _open(mask_png)
    assert canvas.size == (72, 64)
    assert mask.getpixel((71, 10)) == 255 and mask.getpixel((10, 63)) == 255
    assert canvas.crop((8, 0, 68, 60)).tobytes() == _open(png_bytes(60, 60)).tobytes()


def test_transparent_pictures_are_flattened_and_garbage_is_refused() -> None:
    buf = io.BytesIO()
    Image.new("RGBA", (16, 16), (0, 0, 0, 0)).save(buf, "PNG")
    canvas, _mask = outpaint_canvas(buf.getvalue(), 8, 0, 0, 0)
    assert _open(canvas).getpixel((12, 8)) == (255, 255, 255)
    with pytest.raises(BadImageFile):
        outpaint_canvas(b"not an image", 8, 0, 0, 0)


# --- job rows -----------------------------------------------------------------------------------


def test_upscale_and_outpaint_fields_survive_a_job_row() -> None:
    from dlx_art.generation.runner import request_to_json

    upscale = build_request("upscale", "p1", {"upscaling_resize": 3, "upscaler_1": "ESRGAN_4x",
                                              "upscaler_2": "Nearest",
                                              "upscaler_2_visibility": 0.5},
                            init_image=png_bytes(64, 64))
    data = request_to_json(upscale)
    assert (data["kind"], data["upscalingResize"], data["upscaler1"], data["upscaler2"],
            data["upscaler2Visibility"]) == ("upscale", 3.0, "ESRGAN_4x", "Nearest", 0.5)
    outpaint = build_request("outpaint", "p1", {"expand_left": 8, "expand_bottom": 64},
                             init_image=png_bytes(64, 64))
    data = request_to_json(outpaint)
    assert (data["kind"], data["expandLeft"], data["expandRight"], data["expandTop"],
            data["expandBottom"], data["width"], data["height"]) == (
        "outpaint", 8, 0, 0, 64, 72, 128)
