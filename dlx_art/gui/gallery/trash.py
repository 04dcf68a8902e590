"""Undoable trash: favourites ask first, Undo (Ctrl+Z and a button) restores, Empty Trash asks.

`TrashCommands` belongs to a `GalleryWidget`: it remembers the images the last Delete moved to
the trash, shows "Moved 3 images to the trash. [Undo]" above the grid, and brings them back on
Undo (`Library.restore`, on the writer lane). Empty Trash counts the trashed images (reads lane),
asks with that count and deletes them for good (`Library.empty_trash`, writer lane).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget
from shiboken6 import isValid

from dlx_art.gui.gallery.helpers import _plural

if TYPE_CHECKING:
    from dlx_art.gui.gallery import GalleryWidget
    from dlx_art.library.models import AssetInfo

UNDO_SHOWN_MS = 20_000  # how long the Undo notice stays (Ctrl+Z works until the next Delete)


def ask(parent: QWidget, title: str, text: str, ok: str) -> bool:
    """A Cancel / `ok` question; Cancel is the default (Enter does not destroy anything)."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Cancel,
                      parent)
    box.setObjectName("trashConfirm")
    yes = box.addButton(ok, QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is yes


class UndoBar(QFrame):
    """"Moved 3 images to the trash. [Undo] [×]" above the grid."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("galleryUndoBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 4, 8, 4)
        self.label = QLabel(self)
        self.label.setObjectName("galleryUndoText")
        self.label.setWordWrap(True)
        self.undo_button = QPushButton("Undo", self)
        self.undo_button.setObjectName("galleryUndoButton")
        self.undo_button.setToolTip("Bring the images back from the trash (Ctrl+Z)")
        self.close_button = QPushButton("Dismiss", self)
        self.close_button.setObjectName("galleryUndoClose")
        self.close_button.clicked.connect(self.hide)
        row.addWidget(self.label, 1)
        row.addWidget(self.undo_button)
        row.addWidget(self.close_button)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(UNDO_SHOWN_MS)
        self.timer.timeout.connect(self.hide)
        self.hide()

    def show_text(self, text: str) -> None:
        self.label.setText(text)
        self.show()
        self.timer.start()


class TrashCommands(QObject):
    """The gallery's undo of its last Delete and its Empty Trash."""

    def __init__(self, gallery: GalleryWidget) -> None:
        super().__init__(gallery)
        self._gallery = gallery
        self._last: list[str] = []
        self.bar = UndoBar(gallery)
        self.bar.undo_button.clicked.connect(self.undo)
        self.undo_action = QAction("&Undo Move to Trash", gallery)
        self.undo_action.setObjectName("undoTrashAction")
        self.undo_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Undo))
        # only where the images are: Ctrl+Z in a text field or the canvas keeps its own meaning
        self.undo_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.undo_action.setEnabled(False)
        self.undo_action.triggered.connect(self.undo)
        gallery.addAction(self.undo_action)
        self.empty_action = QAction("&Empty Trash…", gallery)
        self.empty_action.setObjectName("emptyTrashAction")
        self.empty_action.setToolTip("Delete every image in the trash for good")
        self.empty_action.triggered.connect(self.empty)

    # --- Delete -------------------------------------------------------------------------------

    def confirm(self, assets: list[AssetInfo]) -> bool:
        """True to go on trashing `assets`: favourites among them ask first."""
        favorites = sum(1 for a in assets if a.isFavorite)
        if not favorites:
            return True
        what = ("a favorite" if favorites == 1 and len(assets) == 1 else
                f"{_plural(len(assets), 'image')}, {favorites} of them "
                f"favorite{'s' if favorites != 1 else ''}")
        return ask(self._gallery, "Move to Trash",
                   f"Move {what} to the trash?\n\nYou can bring "
                   f"{'it' if len(assets) == 1 else 'them'} back with Undo (Ctrl+Z) or from "
                   "the trash until it is emptied.", "Move to Trash")

    def trashed(self, ids: list[str]) -> None:
        """`ids` went to the trash: offer Undo."""
        self._last = list(ids)
        self.undo_action.setEnabled(True)
        self.bar.show_text(f"Moved {_plural(len(ids), 'image')} to the trash.")

    def forget(self) -> None:
        """Another project or library: the last Delete can no longer be undone from here."""
        self._last = []
        self.undo_action.setEnabled(False)
        self.bar.hide()

    # --- Undo ---------------------------------------------------------------------------------

    @Slot()
    def undo(self) -> None:
        """Restore the images the last Delete moved to the trash."""
        gallery = self._gallery
        ids, self._last = self._last, []
        self.undo_action.setEnabled(False)
        self.bar.hide()
        library = gallery.library
        if not ids or library is None:
            return

        def restore() -> list[AssetInfo]:
            return [library.restore(i) for i in ids]

        def done(restored: list[AssetInfo]) -> None:
            for asset in restored:
                gallery.loader.forget(asset.id)
            gallery.refresh()
            if restored:
                gallery.select_asset(restored[0].id)
            gallery.status_message.emit(
                f"Brought back {_plural(len(restored), 'image')} from the trash.")

        self._run(gallery._writer, restore, done)

    # --- Empty Trash --------------------------------------------------------------------------

    @Slot()
    def empty(self) -> None:
        """Count the trash, ask with the count, then delete its images for good."""
        gallery = self._gallery
        library = gallery.library
        if library is None:
            return

        def counted(count: int) -> None:
            if not count:
                gallery.status_message.emit("The trash is already empty.")
                return
            if not ask(gallery, "Empty Trash",
                       f"Delete the {_plural(count, 'image')} in the trash for good?\n\n"
                       "This cannot be undone.", f"Delete {_plural(count, 'Image')}"):
                return
            self._run(gallery._writer, library.empty_trash, emptied)

        def emptied(count: int) -> None:
            self.forget()
            if gallery.is_showing_trash():
                gallery.refresh()
            gallery.status_message.emit(f"Deleted {_plural(count, 'image')} for good.")

        self._run(gallery._runner.reads, lambda: library.count_assets(None, trashed=True),
                  counted)

    def _run(self, lane: Any, fn: Callable[[], Any], on_done: Callable[[Any], None]) -> None:
        gallery = self._gallery

        def done(result: Any) -> None:
            if isValid(gallery) and not gallery._closed:
                on_done(result)

        lane.run(fn, owner=gallery, on_done=done, on_error=gallery._on_io_failed)
