"""Real image files for tests, made with Pillow."""

from __future__ import annotations

import io
import random

from PIL import Image, PngImagePlugin


def png_bytes(width: int = 64, height: int = 64, *, color: tuple[int, int, int] = (180, 40, 40),
              parameters: str | None = None, noise: bool = False, seed: int = 0) -> bytes:
    image = Image.new("RGB", (width, height), color)
    if noise:
        rng = random.Random(seed)
        image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256))
                       for _ in range(width * height)])
    info = None
    if parameters is not None:
        info = PngImagePlugin.PngInfo()
        info.add_itxt("parameters", parameters) if not _latin1(parameters) else \
            info.add_text("parameters", parameters)
    buf = io.BytesIO()
    image.save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def jpeg_bytes(width: int = 64, height: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 200)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
        return True
    except UnicodeEncodeError:
        return False


A1111_INFOTEXT = (
    "a lighthouse in a storm, dramatic\n"
    "Negative prompt: blurry, low quality\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234567, "
    "Size: 64x64, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1"
)
