"""Drag-and-drop and clipboard payloads of the gallery.

Dragging images out hands over the catalogued files themselves (`text/uri-list` of file URLs),
so the receiving application gets the original bytes with their metadata intact. Applications
that want pixels instead get the first image as image data, decoded only if a target actually
asks for it. Our own asset ids travel in a private format, which lets the gallery recognise
(and ignore) drops that come from itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QImage, QStandardItemModel

ASSET_IDS_MIME = "application/x-dlx-art-asset-ids"
URI_LIST_MIME = "text/uri-list"
QT_IMAGE_MIME = "application/x-qt-image"


class AssetMimeData(QMimeData):
    """File URLs of images, plus the first one as image data, decoded on demand."""

    def __init__(self, paths: Sequence[Path], asset_ids: Sequence[str] = (),
                 image: QImage | None = None) -> None:
        super().__init__()
        self.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
        if asset_ids:
            self.setData(ASSET_IDS_MIME, "\n".join(asset_ids).encode("utf-8"))
        self._image_path = Path(paths[0]) if paths else None
        self._image = image

    # QMimeData asks these virtuals before it converts data for another application
    def formats(self) -> list[str]:
        formats = list(super().formats())
        if self._image_path is not None and QT_IMAGE_MIME not in formats:
            formats.append(QT_IMAGE_MIME)
        return formats

    def hasFormat(self, mimetype: str) -> bool:  # noqa: N802 - Qt override
        if mimetype == QT_IMAGE_MIME and self._image_path is not None:
            return True
        return super().hasFormat(mimetype)

    def retrieveData(self, mimetype: str, preferred_type: object) -> object:  # noqa: N802
        if mimetype == QT_IMAGE_MIME and self._image_path is not None:
            if self._image is None:
                # Only when a drop target asks for pixels; dragging itself never decodes.
                self._image = QImage(str(self._image_path))
            return self._image
        return super().retrieveData(mimetype, preferred_type)


def clipboard_mime(paths: Sequence[Path], image: QImage | None) -> QMimeData:
    """File URLs plus decoded pixels, for the clipboard.

    The clipboard keeps its data until the application object is destroyed, which PySide
    does during interpreter shutdown. A QMimeData created from Python would then call back
    into a finalising interpreter and crash the process on exit; one created by Qt does not.
    So the object is made by C++ (an item model's `mimeData`, emptied) and filled here.
    """
    model = QStandardItemModel(1, 1)
    data = model.mimeData([model.index(0, 0)])
    for mimetype in data.formats():
        data.removeFormat(mimetype)
    data.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    if image is not None and not image.isNull():
        data.setImageData(image)
    return data


def asset_ids(mime: QMimeData) -> list[str]:
    """Our asset ids carried by `mime` (empty when it did not come from a gallery)."""
    if not mime.hasFormat(ASSET_IDS_MIME):
        return []
    raw = bytes(mime.data(ASSET_IDS_MIME).data()).decode("utf-8", "replace")
    return [line for line in raw.splitlines() if line]


def local_paths(mime: QMimeData) -> list[str]:
    """The local files and folders named by `mime`'s URLs (other URLs are ignored)."""
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


def is_from_gallery(mime: QMimeData) -> bool:
    return mime.hasFormat(ASSET_IDS_MIME)
