"""Render the app icon master (`dlx-art.svg`) into every format the platforms need.

    python resources/icons/make_icons.py

Writes next to this script: `dlx-art-<size>.png` for each size in SIZES, `dlx-art.ico` (Windows,
16-256 px) and `dlx-art.icns` (macOS, 16-1024 px). The SVG is rasterised with QtSvg offscreen;
Pillow packs the renders into .ico/.icns so every entry is a real render, not a downscale.
The outputs are committed: a build never needs to run this script.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PIL import Image  # noqa: E402
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

HERE = Path(__file__).resolve().parent
MASTER = HERE / "dlx-art.svg"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # 256 is the largest an .ico entry may be
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)  # the sizes Pillow's .icns writer knows


def render(renderer: QSvgRenderer, size: int) -> Image.Image:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise RuntimeError(f"could not encode the {size} px render")
    buffer.close()
    return Image.open(io.BytesIO(bytes(data))).convert("RGBA")


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841
    renderer = QSvgRenderer(str(MASTER))
    if not renderer.isValid():
        print(f"make_icons: {MASTER} is not a valid SVG", file=sys.stderr)
        return 1
    renders = {size: render(renderer, size) for size in SIZES}
    for size, image in renders.items():
        image.save(HERE / f"dlx-art-{size}.png", optimize=True)

    largest_ico = renders[max(ICO_SIZES)]
    largest_ico.save(
        HERE / "dlx-art.ico",
        format="ICO",
        sizes=[(s, s) for s in ICO_SIZES],
        append_images=[renders[s] for s in ICO_SIZES if s != max(ICO_SIZES)],
    )
    renders[1024].save(
        HERE / "dlx-art.icns",
        format="ICNS",
        append_images=[renders[s] for s in ICNS_SIZES if s != 1024],
    )
    print(f"make_icons: wrote {len(SIZES)} PNGs, dlx-art.ico and dlx-art.icns in {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
