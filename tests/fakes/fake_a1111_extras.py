"""The fake A1111's extras: `POST /sdapi/v1/extra-single-image`, and the inpainting overlay.

Kept apart from `fake_a1111` (which registers these) so that module stays readable. Both follow
`/work/shared/reference/a1111-api.md` ("POST /extra-single-image", "Outpainting with img2img")
and A1111 v1.10.1's `modules/api/models.py` (`ExtrasSingleImageRequest`),
`scripts/postprocessing_upscale.py` and `modules/upscaler.py`:

* Fields in the model's order, none nullable (``null`` -> 422 ``none is not an allowed value``),
  ranges checked like pydantic 1 (``upscaling_resize`` > 0, visibilities 0..1, sizes >= 1,
  ``resize_mode`` 0 or 1).
* A missing, empty or undecodable ``image`` -> 500 ``Invalid encoded image`` (decoded before the
  queue lock); an unknown upscaler -> 500 ``AssertionError`` ``could not find upscaler named X``
  (inside the lock, as the job runs).
* The size is ``floor(side * factor / 8) * 8``; resize mode 1 scales by ``max(W/w, H/h)`` and with
  ``upscaling_crop`` centres the result on a black WxH canvas.
* The PNG keeps the source's text chunks (``parameters`` included) and gains ``postprocessing``;
  ``html_info`` is the same text in ``<p>...</p>``. RGBA stays RGBA, other modes become RGB.
* The job takes the server's queue lock and shows on ``/progress`` as job ``extras``.

Knobs on the fake: ``upscale_time`` (seconds the upscale takes, default 0),
``upscalers`` (when a list of ``{"name": ...}`` dicts, as ``GET /upscalers`` sends them, those
are the known names; else `DEFAULT_UPSCALERS`). Record: ``upscales`` (count of finished ones).
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageFilter, ImageOps
from PIL.PngImagePlugin import PngInfo

if TYPE_CHECKING:
    from tests.fakes.fake_a1111 import FakeA1111, _Handler, _Reply

#: `shared.sd_upscalers` names of a stock v1.10.1 install (GET /upscalers), "None" included.
DEFAULT_UPSCALERS = ["None", "Lanczos", "Nearest", "DAT x2", "DAT x3", "DAT x4", "ESRGAN_4x",
                     "LDSR", "R-ESRGAN 4x+", "R-ESRGAN 4x+ Anime6B", "ScuNET", "ScuNET PSNR",
                     "SwinIR_4x"]

# (name, type, nullable, default) as `fake_a1111.validate_body` takes them
EXTRAS_FIELDS: list[tuple[str, str, bool, Any]] = [
    ("resize_mode", "int", False, 0),
    ("show_extras_results", "bool", False, True),
    ("gfpgan_visibility", "float", False, 0),
    ("codeformer_visibility", "float", False, 0),
    ("codeformer_weight", "float", False, 0),
    ("upscaling_resize", "float", False, 2),
    ("upscaling_resize_w", "int", False, 512),
    ("upscaling_resize_h", "int", False, 512),
    ("upscaling_crop", "bool", False, True),
    ("upscaler_1", "str", False, "None"),
    ("upscaler_2", "str", False, "None"),
    ("extras_upscaler_2_visibility", "float", False, 0),
    ("upscale_first", "bool", False, False),
    ("image", "str", False, ""),
]
_RANGES: dict[str, tuple[str, float]] = {  # name -> (constraint, limit), pydantic 1 wording
    "upscaling_resize": ("gt", 0),
    "upscaling_resize_w": ("ge", 1),
    "upscaling_resize_h": ("ge", 1),
    "gfpgan_visibility": ("ge", 0),
    "codeformer_visibility": ("ge", 0),
    "codeformer_weight": ("ge", 0),
    "extras_upscaler_2_visibility": ("ge", 0),
}
_AT_MOST_ONE = ("gfpgan_visibility", "codeformer_visibility", "codeformer_weight",
                "extras_upscaler_2_visibility")
_WORDS = {"gt": "greater than", "ge": "greater than or equal to", "le": "less than or equal to"}


def _range_error(name: str, kind: str, limit: float) -> dict[str, Any]:
    shown = int(limit) if float(limit).is_integer() else limit
    return {"loc": ["body", name], "msg": f"ensure this value is {_WORDS[kind]} {shown}",
            "type": f"value_error.number.not_{kind}", "ctx": {"limit_value": shown}}


def _check_ranges(body: dict[str, Any], values: dict[str, Any]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for name, *_ in EXTRAS_FIELDS:
        if name not in body:
            continue  # pydantic 1 does not validate defaults
        value = values[name]
        if name == "resize_mode" and value not in (0, 1):
            errors.append({"loc": ["body", name], "msg": "unexpected value; permitted: 0, 1",
                           "type": "value_error.const",
                           "ctx": {"given": body[name], "permitted": [0, 1]}})
        if name in _RANGES:
            kind, limit = _RANGES[name]
            if (kind == "gt" and not value > limit) or (kind == "ge" and not value >= limit):
                errors.append(_range_error(name, kind, limit))
        if name in _AT_MOST_ONE and value > 1:
            errors.append(_range_error(name, "le", 1))
    return errors


def _names(fake: FakeA1111) -> list[str]:
    listed = getattr(fake, "upscalers", None)
    if isinstance(listed, list) and listed and all(isinstance(x, dict) for x in listed):
        names = [str(x.get("name")) for x in listed]
        return names if "None" in names else ["None", *names]
    return list(DEFAULT_UPSCALERS)


def _factor_text(body: dict[str, Any], value: float) -> str:
    # the default (int 2) is not validated by pydantic 1, so it reads "2"; a sent value is a float
    return str(float(value)) if "upscaling_resize" in body else str(value)


def _scaled(image: Image.Image, factor: float, name: str) -> Image.Image:
    """`Upscaler.upscale`: to floor(side * factor / 8) * 8 (Pillow refuses a side of 0)."""
    size = (int((image.width * factor) // 8 * 8), int((image.height * factor) // 8 * 8))
    resample = Image.Resampling.NEAREST if name == "Nearest" else Image.Resampling.LANCZOS
    return image.resize(size, resample=resample)


def _upscale(image: Image.Image, body: dict[str, Any], v: dict[str, Any], name: str,
             info: dict[str, str]) -> Image.Image:
    if v["resize_mode"] == 1:
        width, height = int(v["upscaling_resize_w"]), int(v["upscaling_resize_h"])
        factor = max(width / image.width, height / image.height)
        info["Postprocess upscale to"] = f"{width}x{height}"
    else:
        factor = float(v["upscaling_resize"])
        info["Postprocess upscale by"] = _factor_text(body, v["upscaling_resize"])
    result = _scaled(image, factor, name)
    if v["resize_mode"] == 1 and v["upscaling_crop"]:
        cropped = Image.new("RGB", (width, height))
        cropped.paste(result, box=(width // 2 - result.width // 2,
                                   height // 2 - result.height // 2))
        result = cropped
        info["Postprocess crop to"] = f"{result.width}x{result.height}"
    return result


def extra_single_image(fake: FakeA1111, h: _Handler, body: bytes) -> _Reply:
    """The route: validation, decoding, then the upscale under the queue lock."""
    from tests.fakes.fake_a1111 import _a1111_error, _Reply, validate_body

    req, error = fake._as_dict_body(h, body)
    if error is not None or req is None:
        return error or _Reply(500)
    values, errors, unknown = validate_body(EXTRAS_FIELDS, req)
    if not errors:
        errors = _check_ranges(req, values)
    if errors:
        return _Reply(422, {"detail": errors})
    with fake._counter_lock:
        fake.unknown_keys.extend(unknown)
    source = fake._decode_image(values["image"]) if values["image"] else None
    if source is None:
        return _a1111_error(500, "HTTPException", "Invalid encoded image")
    if not fake._queue_lock.acquire(fake._stop):
        return _Reply(0, action="drop")
    state = fake._state
    try:
        state.begin("extras")
        with state.lock:
            state.job_count = 1
        seconds = float(getattr(fake, "upscale_time", 0.0) or 0.0)
        if seconds:
            fake._stop.wait(seconds)
        return _run(fake, req, values, source)
    finally:
        state.end()
        fake._queue_lock.release()


def _run(fake: FakeA1111, body: dict[str, Any], v: dict[str, Any],
         source: Image.Image) -> _Reply:
    from tests.fakes.fake_a1111 import _a1111_error, _Reply

    text = {k: val for k, val in source.info.items() if isinstance(k, str) and isinstance(val, str)}
    image = source.convert("RGBA" if source.mode == "RGBA" else "RGB")
    names = _names(fake)
    info: dict[str, str] = {}
    first = None if v["upscaler_1"] == "None" else v["upscaler_1"]
    if first is not None and first not in names:
        return _a1111_error(500, "AssertionError", "", f"could not find upscaler named {first}")
    if first is not None:
        second = None if v["upscaler_2"] == "None" else v["upscaler_2"]
        if second is not None and second not in names:
            return _a1111_error(500, "AssertionError", "",
                                f"could not find upscaler named {second}")
        try:
            upscaled = _upscale(image, body, v, first, info)
            info["Postprocess upscaler"] = first
            visibility = float(v["extras_upscaler_2_visibility"])
            if second is not None and visibility > 0:
                other = _upscale(image, body, v, second, {})
                if other.mode != upscaled.mode:
                    other = other.convert(upscaled.mode)
                upscaled = Image.blend(upscaled, other, visibility)
                info["Postprocess upscaler 2"] = second
        except ValueError as exc:  # a factor that leaves a side of 0 pixels
            return _a1111_error(500, "ValueError", "", str(exc))
        image = upscaled
    infotext = ", ".join(f"{k}: {val}" for k, val in info.items())
    text["postprocessing"] = infotext
    pnginfo = PngInfo()
    for key, value in text.items():
        pnginfo.add_text(key, value)
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=pnginfo, compress_level=1)
    with fake._counter_lock:
        fake.upscales = getattr(fake, "upscales", 0) + 1
    return _Reply(200, {"html_info": f"<p>{infotext}</p>",
                        "image": base64.b64encode(out.getvalue()).decode("ascii")})


# --- img2img with a mask: A1111's overlay ------------------------------------------------------


def _binary_mask(mask: Image.Image) -> Image.Image:
    """`processing.create_binary_mask`: a painted RGBA mask counts by its alpha."""
    if mask.mode == "RGBA" and mask.getextrema()[-1] != (255, 255):
        return mask.split()[-1].point(lambda x: 255 if x > 128 else 0)
    return mask.convert("L")


def inpaint_result_png(size: tuple[int, int], colour: tuple[int, int, int], infotext: str | None,
                       init: Image.Image, mask: Image.Image, v: dict[str, Any]) -> bytes:
    """A generated image with A1111's overlay: where the mask is black (away from its blurred
    edge) the init image's pixels come back unchanged, the rest is the "generated" colour."""
    painted = Image.new("RGB", size, colour)
    base = init.convert("RGB")
    if base.size != size:
        base = base.resize(size, Image.Resampling.LANCZOS)  # "just resize"
    weight = _binary_mask(mask)
    if weight.size != size:
        weight = weight.resize(size, Image.Resampling.LANCZOS)
    if v.get("inpainting_mask_invert"):
        weight = ImageOps.invert(weight)
    blur = v.get("mask_blur")
    blur = int(v.get("mask_blur_x") or 0) if blur is None else int(blur)
    if blur > 0:
        weight = weight.filter(ImageFilter.GaussianBlur(blur))
    result = Image.composite(painted, base, weight)
    pnginfo = None
    if infotext is not None:
        pnginfo = PngInfo()
        pnginfo.add_text("parameters", infotext)  # as `fake_a1111.make_png` writes it
    out = io.BytesIO()
    result.save(out, format="PNG", pnginfo=pnginfo, compress_level=1)
    return out.getvalue()

__all__ = ["DEFAULT_UPSCALERS", "EXTRAS_FIELDS", "extra_single_image", "inpaint_result_png"]
