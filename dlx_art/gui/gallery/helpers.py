"""The gallery's small helpers: the import summary line and the file dialogs it opens.

The gallery package re-exports them (tests replace `dlx_art.gui.gallery.ask_export_target`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QWidget

if TYPE_CHECKING:
    from dlx_art.library.models import AssetInfo
    from dlx_art.library.service import ImportReport, Library

NAMES_IN_SUMMARY = 5


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def import_summary(report: ImportReport) -> str:
    """One line for the status bar naming every file that was skipped (up to a few)."""
    parts = [f"Imported {_plural(len(report.imported), 'image')}"]
    if report.duplicates:
        parts.append(f"{len(report.duplicates):,} already in the project")
    text = "; ".join(parts) + "."
    if report.rejected:
        names = [Path(path).name for path, _ in report.rejected]
        shown = ", ".join(names[:NAMES_IN_SUMMARY])
        more = len(names) - NAMES_IN_SUMMARY
        if more > 0:
            shown += f" and {more:,} more"
        text += f" Skipped {_plural(len(names), 'unusable file')}: {shown}."
    return text


def ask_export_target(parent: QWidget, assets: Sequence[AssetInfo], library: Library) \
        -> str | None:
    """Ask where to export (a file for one image, a folder for several); None if cancelled."""
    if len(assets) == 1:
        source = library.path_of(assets[0])
        path, _ = QFileDialog.getSaveFileName(
            parent, "Export image", str(Path.home() / source.name),
            f"Images (*{source.suffix});;All files (*)")
        return path or None
    folder = QFileDialog.getExistingDirectory(
        parent, f"Export {len(assets)} images to folder", str(Path.home()))
    return folder or None


def ask_import_paths(parent: QWidget) -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(
        parent, "Import images", str(Path.home()),
        "Images (*.png *.jpg *.jpeg *.webp *.gif *.bmp *.tif *.tiff);;All files (*)")
    return list(paths)


def open_url(url: QUrl) -> bool:
    return QDesktopServices.openUrl(url)
