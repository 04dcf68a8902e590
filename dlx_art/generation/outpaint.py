"""Outpainting ("expand canvas") as plain inpainting of a larger picture. Qt-free, Pillow only.

A1111 has no outpainting route (its outpainting scripts are UI scripts): the contract's
"Outpainting with img2img" is followed instead. The picture is pasted at its offset on a larger
canvas, the new area is filled with the picture's own edges stretched outwards and blurred (so
"latent noise" or "fill" starts from colours that belong to the picture, not from a flat
colour), and the mask is white over the new area, reaching `SEAM` pixels into the picture so the
join is repainted too, black over the rest of the picture (kept).

Sizes: each margin is a multiple of 8 (checked by `types.check_expand`), but an imported picture
may be any size and A1111 rounds a job's width and height down to a multiple of 8, which would
cut the picture. `expanded_size` therefore rounds the canvas *up* to a multiple of 8, and the few
extra pixels go to the right and bottom margins (they are new area too, masked white).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import replace

from PIL import Image, ImageFilter

from dlx_art.errors import BadImageFile, UsageError
from dlx_art.generation.types import GenerationRequest, Kind

__all__ = ["SEAM", "expanded_size", "image_size", "outpaint_canvas", "outpaint_layout",
           "with_canvas"]

SEAM = 8
"""How far (pixels) the repainted area reaches into the picture on a side that grows."""
_MAX_PIXELS = 178_956_970


def _up8(value: int) -> int:
    return -(-value // 8) * 8


def expanded_size(width: int, height: int, left: int, right: int, top: int,
                  bottom: int) -> tuple[int, int]:
    """The canvas size of an outpaint: the picture plus its margins, rounded up to /8.

    Raises:
        UsageError: For a negative size or margin.
    """
    if min(width, height) < 1 or min(left, right, top, bottom) < 0:
        raise UsageError("An outpaint needs a picture and margins of 0 or more pixels.")
    return _up8(width + left + right), _up8(height + top + bottom)


def outpaint_layout(width: int, height: int, left: int, right: int, top: int,
                    bottom: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) as the canvas really has them: the rounding of
    `expanded_size` added to the right and bottom margins."""
    canvas_w, canvas_h = expanded_size(width, height, left, right, top, bottom)
    return left, canvas_w - width - left, top, canvas_h - height - top


def _open(image_bytes: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            image = Image.open(io.BytesIO(image_bytes))
            if image.width * image.height > _MAX_PIXELS:
                raise BadImageFile("The picture is too large to outpaint.")
            image.load()
        except BadImageFile:
            raise
        except Exception as exc:  # Pillow raises many kinds on a broken file
            raise BadImageFile(f"The picture cannot be read ({exc}).") from None
    return image


def image_size(image_bytes: bytes) -> tuple[int, int]:
    """(width, height) of an encoded image, read from its header."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(image_bytes)) as image:
                return image.size
        except Exception as exc:
            raise BadImageFile(f"The picture cannot be read ({exc}).") from None


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def outpaint_canvas(image_bytes: bytes, left: int, right: int, top: int,
                    bottom: int) -> tuple[bytes, bytes]:
    """The init canvas and the mask (both PNG, the same size) of an outpaint.

    Args:
        image_bytes: the encoded picture (any format Pillow reads).
        left, right, top, bottom: pixels added on each side (0 or more).

    Returns:
        (canvas PNG in RGB, mask PNG in L: 255 = repaint, 0 = keep), `expanded_size` big.

    Raises:
        BadImageFile: If the picture cannot be read.
        UsageError: For negative margins.
    """
    picture = _open(image_bytes)
    if picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P"
                                                 and "transparency" in picture.info):
        # transparent pixels become white, as A1111 flattens an RGBA init image
        flat = Image.new("RGBA", picture.size, (255, 255, 255, 255))
        flat.alpha_composite(picture.convert("RGBA"))
        picture = flat
    picture = picture.convert("RGB")
    w, h = picture.size
    left, right, top, bottom = outpaint_layout(w, h, left, right, top, bottom)
    cw, ch = w + left + right, h + top + bottom

    # the new area: the picture stretched over the whole canvas and blurred (colours of the
    # picture everywhere), then its edge rows and columns stretched outwards on top
    canvas = picture.resize((cw, ch), Image.Resampling.BILINEAR)
    canvas = canvas.filter(ImageFilter.GaussianBlur(max(cw, ch) / 16))
    if left:
        canvas.paste(picture.crop((0, 0, 1, h)).resize((left, h)), (0, top))
    if right:
        canvas.paste(picture.crop((w - 1, 0, w, h)).resize((right, h)), (left + w, top))
    if top:
        canvas.paste(picture.crop((0, 0, w, 1)).resize((w, top)), (left, 0))
    if bottom:
        canvas.paste(picture.crop((0, h - 1, w, h)).resize((w, bottom)), (left, top + h))
    for x, y, cx, cy, box_w, box_h in (
            (0, 0, 0, 0, left, top), (w - 1, 0, left + w, 0, right, top),
            (0, h - 1, 0, top + h, left, bottom), (w - 1, h - 1, left + w, top + h, right, bottom)):
        if box_w and box_h:  # corners: the corner pixel's colour
            corner = picture.crop((x, y, x + 1, y + 1)).resize((box_w, box_h))
            canvas.paste(corner, (cx, cy))
    # soften the streaks of the stretched edges, then put the picture back sharp
    canvas = canvas.filter(ImageFilter.GaussianBlur(4))
    canvas.paste(picture, (left, top))

    # the mask: black over the kept picture, white elsewhere; the black box shrinks by the
    # seam on each side that grows (never to nothing on a tiny picture)
    seam = max(0, min(SEAM, (w - 1) // 2, (h - 1) // 2))
    box = (left + (seam if left else 0), top + (seam if top else 0),
           left + w - (seam if right else 0), top + h - (seam if bottom else 0))
    mask = Image.new("L", (cw, ch), 255)
    mask.paste(0, box)
    return _png(canvas), _png(mask)


def with_canvas(request: GenerationRequest) -> GenerationRequest:
    """An outpaint ready to run as inpainting: `init_image` = the canvas, `mask` = the new area,
    width and height = the canvas size. Other requests, and an outpaint that has its mask
    already (this was done), come back unchanged.

    Raises:
        UsageError: An outpaint without a source image.
        BadImageFile: A source image that cannot be read.
    """
    if request.kind != Kind.outpaint or request.mask is not None:
        return request
    if not request.init_image:
        raise UsageError("An outpaint needs a source image.")
    sides = (request.expand_left, request.expand_right, request.expand_top,
             request.expand_bottom)
    canvas, mask = outpaint_canvas(request.init_image, *sides)
    width, height = expanded_size(*image_size(request.init_image), *sides)
    return replace(request, init_image=canvas, mask=mask, width=width, height=height)
