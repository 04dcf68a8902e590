"""The gallery's actions on the selection: favourite, trash, restore, copy, export, lineage,
and the context menu that offers them. A mixin of `GalleryWidget` (kept apart so each module
stays readable); it uses the widget's model, view, library and task runner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    Qt,
    QUrl,
)
from PySide6.QtGui import QAction, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QMenu,
    QVBoxLayout,
)

from dlx_art.gui.gallery.helpers import (
    _plural,
    ask_export_target,
    open_url,
)
from dlx_art.gui.gallery.mime import clipboard_mime

if TYPE_CHECKING:
    from dlx_art.library.models import AssetInfo



log = logging.getLogger("dlx_art.gui.gallery")
ZOOM_STEP = 16  # thumbnail px per zoom notch


class GalleryActions:
    """Mixin: what the gallery does with the selected images (see the module docstring)."""

    def _targets(self) -> list[AssetInfo]:
        selected = self.selected_assets()
        if selected:
            return selected
        current = self.current_asset()
        return [current] if current is not None else []

    def toggle_favorite(self) -> None:
        assets = self._targets()
        if not assets or self._query.trashed:
            return
        on = not all(a.isFavorite for a in assets)
        for asset in assets:
            self.model.set_favorite_local(asset.id, on)
        ids = [a.id for a in assets]

        def save() -> list[AssetInfo]:
            return [self._library.set_favorite(i, on) for i in ids]

        self._run_io(save, self._on_favorites_saved)
        self.status_message.emit(
            f"{'Added' if on else 'Removed'} {_plural(len(ids), 'image')} "
            f"{'to' if on else 'from'} favorites.")

    def trash_selected(self) -> None:
        assets = self._targets()
        if not assets:
            return
        if self._query.trashed:
            self.status_message.emit("These images are already in the trash; use Restore.")
            return
        if not self.trash_commands.confirm(assets):  # favourites ask first
            return
        ids = [a.id for a in assets]
        self._remove_rows_keep_position(ids)

        def move() -> int:
            for asset_id in ids:
                self._library.trash(asset_id)
            return len(ids)

        def done(n: int) -> None:
            self.trash_commands.trashed(ids)
            self.status_message.emit(f"Moved {_plural(n, 'image')} to the trash.")

        self._run_io(move, done)

    def undo_trash(self) -> None:
        """Bring back the images the last Delete moved to the trash (Ctrl+Z)."""
        self.trash_commands.undo()

    def empty_trash(self) -> None:
        """Ask (with the count) and delete every image in the trash for good."""
        self.trash_commands.empty()

    def restore_selected(self) -> None:
        assets = self._targets()
        if not assets or not self._query.trashed:
            return
        ids = [a.id for a in assets]
        self._remove_rows_keep_position(ids)

        def restore() -> list[AssetInfo]:
            return [self._library.restore(i) for i in ids]

        def done(restored: list[AssetInfo]) -> None:
            for asset in restored:
                self.loader.forget(asset.id)
            self.status_message.emit(f"Restored {_plural(len(restored), 'image')}.")

        self._run_io(restore, done)

    favorite_selected = toggle_favorite  # the main window's Edit menu looks for `<name>_selected`

    def zoom(self, steps: int) -> None:
        """Bigger (+) or smaller (-) thumbnails by `steps` notches."""
        self.set_thumbnail_size(self.view.tile_size + steps * ZOOM_STEP)

    def copy_selected(self) -> None:
        """Image data of the first and the file URLs of all, to the clipboard."""
        assets = self._targets()
        if not assets:
            return
        paths = [self._library.path_of(a) for a in assets]

        def load() -> QImage:
            return QImage(str(paths[0]))  # QImage is safe to make in a pool thread

        def done(image: QImage) -> None:
            QGuiApplication.clipboard().setMimeData(clipboard_mime(paths, image))
            what = "image" if len(paths) == 1 else _plural(len(paths), "image")
            self.status_message.emit(f"Copied {what} to the clipboard.")

        self._run_io(load, done)

    def export_selected(self) -> None:
        assets = self._targets()
        if not assets:
            return
        target = ask_export_target(self, assets, self._library)
        if not target:
            return
        ids = [a.id for a in assets]

        def export() -> list[Path]:
            # one file: the save dialog already asked before replacing an existing one
            return [self._library.export(i, target, force=len(ids) == 1) for i in ids]

        def done(paths: list[Path]) -> None:
            where = paths[0] if len(paths) == 1 else Path(target)
            self.status_message.emit(f"Exported {_plural(len(paths), 'image')} to {where}.")

        self._run_io(export, done)

    def show_in_file_manager(self) -> None:
        asset = self.current_asset()
        if asset is not None:
            # Selecting the file is not portable on Linux: open its folder.
            open_url(QUrl.fromLocalFile(str(self._library.path_of(asset).parent)))

    def show_lineage(self, asset: AssetInfo | None = None) -> None:
        asset = asset or self.current_asset()
        if asset is None:
            return
        self.lineage_requested.emit(asset)
        if not self.lineage_in_dialog:
            return
        if self._lineage_dialog is None:
            from dlx_art.gui.lineage_view import LineageView

            dialog = QDialog(self)
            dialog.setObjectName("lineageDialog")
            dialog.setWindowTitle("Lineage")
            dialog.resize(420, 520)
            view = LineageView(self._library, dialog, runner=self._runner)
            view.open_asset.connect(self._on_lineage_open_asset)
            box = QVBoxLayout(dialog)
            box.setContentsMargins(0, 0, 0, 0)
            box.addWidget(view)
            dialog.lineage_view = view  # type: ignore[attr-defined]
            self._lineage_dialog = dialog
        self._lineage_dialog.lineage_view.show_lineage(asset.id)  # type: ignore[attr-defined]
        self._lineage_dialog.show()
        self._lineage_dialog.raise_()

    def build_context_menu(self) -> QMenu:
        """The menu for the selection (or for the empty grid)."""
        menu = QMenu(self)
        assets = self._targets()
        single = assets[0] if len(assets) == 1 else None

        def add(text: str, slot: Callable[[], Any], shortcut: str | None = None,
                enabled: bool = True, name: str = "") -> QAction:
            action = menu.addAction(text)
            action.setObjectName(name)
            if shortcut:
                # Shown as a hint only; the view handles the keys itself.
                action.setShortcut(QKeySequence(shortcut))
                action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            action.setEnabled(enabled)
            action.triggered.connect(slot)
            return action

        if not assets:
            add("Import images…", self._import_with_dialog, name="importAction",
                enabled=self._query.project_id is not None and not self._query.trashed)
            return menu
        trashed = self._query.trashed
        if not trashed:
            add("Edit / Refine", lambda: self._emit_for_current(self.open_in_canvas), "Return",
                single is not None, "editAction")
            add("Reuse parameters", lambda: self._emit_for_current(self.reuse_parameters),
                enabled=single is not None, name="reuseAction")
            add("More like this", lambda: self._emit_for_current(self.more_like_this),
                enabled=single is not None, name="moreLikeThisAction")
            add("Show lineage", lambda: self.show_lineage(single), enabled=single is not None,
                name="lineageAction")
            add("Upscale… (A1111)", lambda: self._emit_for_current(self.upscale_requested),
                enabled=single is not None, name="upscaleAction")
            menu.addSeparator()
            all_favorite = all(a.isFavorite for a in assets)
            add("Remove from favorites" if all_favorite else "Add to favorites",
                self.toggle_favorite, "F", name="favoriteAction")
        add("Copy image", self.copy_selected, "Ctrl+C", name="copyAction")
        add("Export…", self.export_selected, name="exportAction")
        add("Show in file manager", self.show_in_file_manager, enabled=single is not None,
            name="showInFolderAction")
        menu.addSeparator()
        if trashed:
            add("Restore", self.restore_selected, name="restoreAction")
        else:
            add("Move to trash", self.trash_selected, "Del", name="trashAction")
        return menu

