"""The gallery: a project's images as a grid, with search, sort, favourites, trash and DnD.

`GalleryWidget` is what the main window embeds. It owns the model, the view and the thumbnail
loader; the work that must not run on the GUI thread goes to lanes of the task runner it is
given: catalog writes and file copies on `writer` (one thread, so writes stay in order),
imports on `imports` (so a long import does not hold up a favourite toggle), counts on `reads`.
It is created once and told `set_library(library | None)`; with no library it shows an
"Opening the library…" notice. Call `shutdown()` before the library closes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QPoint,
    QSignalBlocker,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from dlx_art.errors import DlxError, NotFound
from dlx_art.gui.gallery.actions import ZOOM_STEP, GalleryActions
from dlx_art.gui.gallery.delegate import DEFAULT_TILE, MAX_TILE, MIN_TILE
from dlx_art.gui.gallery.helpers import (
    _plural,
    ask_import_paths,
    import_summary,
)
from dlx_art.gui.gallery.model import GalleryModel, GalleryQuery, Role
from dlx_art.gui.gallery.thumbnails import ThumbnailLoader
from dlx_art.gui.gallery.trash import TrashCommands
from dlx_art.gui.gallery.view import GalleryView
from dlx_art.gui.tasks import TaskRunner, default_runner

if TYPE_CHECKING:
    from dlx_art.library.models import AssetInfo
    from dlx_art.library.service import ImportReport, Library


__all__ = ["GalleryModel", "GalleryView", "GalleryWidget", "Role", "ThumbnailLoader",
           "import_summary"]

log = logging.getLogger("dlx_art.gui.gallery")

SEARCH_DEBOUNCE_MS = 250
SELECT_FETCH_LIMIT = 5_000  # rows `select_asset` may page in (GUI thread) to find an image
FAVORITES_STYLE = (
    "QToolButton#galleryFavoritesFilter { border: 1px solid palette(mid); border-radius: 4px;"
    " padding: 3px 8px; }"
    "QToolButton#galleryFavoritesFilter:checked { background: #f5c542; color: #1d1d1d;"
    " border-color: #b8901f; font-weight: 600; }"
)
ORDER_LABELS = {"newest": "Newest first", "oldest": "Oldest first",
                "favorites": "Favorites first"}


class _ImportProgress(QObject):
    """Carries progress from the import thread to the GUI thread (queued)."""

    progress = Signal(int, int)


class GalleryWidget(GalleryActions, QWidget):
    """The active project's images.

    Signals:
        current_changed(object): the current `AssetInfo`, or None.
        open_in_canvas(object): an `AssetInfo` to edit (double-click, Enter, "Edit / Refine").
        upscale_requested(object): "Upscale…" on an `AssetInfo`.
        reuse_parameters(object): an `AssetInfo` whose parameters should fill the prompt panel.
        more_like_this(object): queue variations of an `AssetInfo` ("More like this").
        import_finished(object): the `ImportReport` of a finished import.
        status_message(str): a line for the status bar.
        trash_shown(bool): the trash view was opened or closed.
        lineage_requested(object): "Show lineage" on an `AssetInfo`.
        thumbnail_size_changed(int): the tile size changed (to remember it).
    """

    current_changed = Signal(object)
    open_in_canvas = Signal(object)
    upscale_requested = Signal(object)
    reuse_parameters = Signal(object)
    more_like_this = Signal(object)
    import_finished = Signal(object)
    status_message = Signal(str)
    trash_shown = Signal(bool)
    lineage_requested = Signal(object)
    thumbnail_size_changed = Signal(int)

    def __init__(self, library: Library | None = None, parent: QWidget | None = None, *,
                 runner: TaskRunner | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("gallery")
        runner = runner or default_runner()
        self._runner = runner
        self._library = library
        self._query = GalleryQuery()
        self._closed = False
        self._imports_running = 0
        self._stop_imports = False
        self._lineage_dialog: QDialog | None = None
        self._person_picks = 0  # current-image changes the person made (not show_results)
        self._auto_select = False
        #: Show "Show lineage" in a small dialog of our own; the window may set this to
        #: False and handle `lineage_requested` itself.
        self.lineage_in_dialog = True

        self.loader = ThumbnailLoader(library, self, runner=runner)
        self.model = GalleryModel(library, self.loader, self, count_lane=runner.reads)
        self.view = GalleryView(self.loader, self)
        self.view.setModel(self.model)
        self._writer = runner.writer
        self._imports = runner.imports
        self._import_progress = _ImportProgress(self)
        self._import_progress.progress.connect(self._on_import_progress)

        self._build_header()
        self._build_trash_bar()
        self.trash_commands = TrashCommands(self)  # Undo of the last Delete, Empty Trash
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self._build_hidden_bar()
        layout.addWidget(self._header)
        layout.addWidget(self._trash_bar)
        layout.addWidget(self._hidden_bar)
        layout.addWidget(self.trash_commands.bar)
        layout.addWidget(self.view, 1)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self._apply_search)

        self.view.selectionModel().currentChanged.connect(self._on_view_current_changed)
        self.view.selectionModel().selectionChanged.connect(self._update_actions)
        self.view.doubleClicked.connect(self._on_view_double_clicked)
        self.view.key_action.connect(self._on_view_key_action)
        self.view.zoom_requested.connect(self._on_view_zoom_requested)
        self.view.customContextMenuRequested.connect(self._on_view_context_menu)
        self.model.files_dropped.connect(self.import_files)
        self.model.total_changed.connect(self._on_model_total_changed)
        self.model.dataChanged.connect(self._on_model_data_changed)
        self.set_thumbnail_size(DEFAULT_TILE)
        self._update_empty_text()
        self._update_actions()

    # --- construction -------------------------------------------------------------------------

    def _build_header(self) -> None:
        self._header = QFrame(self)
        self._header.setObjectName("galleryHeader")
        row = QHBoxLayout(self._header)
        row.setContentsMargins(8, 6, 8, 6)
        row.setSpacing(8)
        self.search_edit = QLineEdit(self._header)
        self.search_edit.setObjectName("gallerySearch")
        self.search_edit.setPlaceholderText("Search prompts  (model:  negative:  seed:)")
        self.search_edit.setToolTip(
            "Finds any part of a word in the prompt (Chinese and Japanese text too).\n"
            "Narrow with fields: negative:blurry  model:dreamshaper  seed:1234\n"
            "(quote values with spaces: model:\"dream shaper\")")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMinimumWidth(160)
        self.search_edit.textChanged.connect(self._on_search_text_changed)
        self.search_edit.returnPressed.connect(self._apply_search)
        self.favorites_button = QToolButton(self._header)
        self.favorites_button.setObjectName("galleryFavoritesFilter")
        self.favorites_button.setText("★ Favorites")
        self.favorites_button.setCheckable(True)
        self.favorites_button.setToolTip("Show only favorites")
        # on and off must look different at a glance: a filled accent when on
        self.favorites_button.setStyleSheet(FAVORITES_STYLE)
        self.favorites_button.setAccessibleName("Favorites filter")
        self.favorites_button.toggled.connect(self._on_favorites_toggled)
        self.order_combo = QComboBox(self._header)
        self.order_combo.setObjectName("galleryOrder")
        for key, label in ORDER_LABELS.items():
            self.order_combo.addItem(label, key)
        self.order_combo.currentIndexChanged.connect(self._on_order_changed)
        self.count_label = QLabel(self._header)
        self.count_label.setObjectName("galleryCount")
        self.count_label.setEnabled(False)  # muted text colour from the palette
        self.size_slider = QSlider(Qt.Orientation.Horizontal, self._header)
        self.size_slider.setObjectName("gallerySizeSlider")
        self.size_slider.setRange(MIN_TILE, MAX_TILE)
        self.size_slider.setSingleStep(ZOOM_STEP)
        self.size_slider.setPageStep(ZOOM_STEP * 2)
        self.size_slider.setFixedWidth(110)
        self.size_slider.setToolTip("Thumbnail size (Ctrl+wheel)")
        self.size_slider.valueChanged.connect(self.set_thumbnail_size)
        row.addWidget(self.search_edit, 1)
        row.addWidget(self.favorites_button)
        row.addWidget(self.order_combo)
        row.addStretch(0)
        row.addWidget(self.count_label)
        row.addWidget(self.size_slider)

    def _build_hidden_bar(self) -> None:
        self._hidden_bar = QFrame(self)
        self._hidden_bar.setObjectName("galleryHiddenResults")
        self._hidden_bar.setFrameShape(QFrame.Shape.StyledPanel)
        row = QHBoxLayout(self._hidden_bar)
        row.setContentsMargins(10, 4, 8, 4)
        self.hidden_label = QLabel(self._hidden_bar)
        self.hidden_label.setWordWrap(True)
        self.show_hidden_button = QPushButton("Show", self._hidden_bar)
        self.show_hidden_button.setObjectName("galleryShowHiddenButton")
        self.show_hidden_button.setToolTip("Clear the search and the favorites filter and "
                                           "show the new image")
        self.show_hidden_button.clicked.connect(self.show_hidden_results)
        dismiss = QToolButton(self._hidden_bar)
        dismiss.setText("✕")
        dismiss.setToolTip("Dismiss")
        dismiss.clicked.connect(self._hidden_bar.hide)
        row.addWidget(self.hidden_label, 1)
        row.addWidget(self.show_hidden_button)
        row.addWidget(dismiss)
        self._hidden_bar.hide()
        self._hidden_ids: list[str] = []

    def _build_trash_bar(self) -> None:
        self._trash_bar = QFrame(self)
        self._trash_bar.setObjectName("galleryTrashBar")
        self._trash_bar.setFrameShape(QFrame.Shape.StyledPanel)
        row = QHBoxLayout(self._trash_bar)
        row.setContentsMargins(10, 4, 8, 4)
        label = QLabel("Trash: images here are kept until the trash is emptied.",
                       self._trash_bar)
        self.restore_button = QPushButton("Restore", self._trash_bar)
        self.restore_button.setObjectName("galleryRestoreButton")
        self.restore_button.clicked.connect(self.restore_selected)
        close = QPushButton("Back to images", self._trash_bar)
        close.setObjectName("galleryTrashClose")
        close.clicked.connect(lambda: self.show_trash(False))
        self.empty_trash_button = QPushButton("Empty Trash…", self._trash_bar)
        self.empty_trash_button.setObjectName("galleryEmptyTrashButton")
        self.empty_trash_button.clicked.connect(lambda: self.empty_trash())
        row.addWidget(label, 1)
        row.addWidget(self.restore_button)
        row.addWidget(self.empty_trash_button)
        row.addWidget(close)
        self._trash_bar.hide()

    # --- public API ---------------------------------------------------------------------------

    @property
    def library(self) -> Library | None:
        return self._library

    def set_library(self, library: Library | None) -> None:
        """Show another library (None: "Opening the library…"); no project is shown yet."""
        self._search_timer.stop()
        self._stop_imports = True  # an import into the old library stops at its next file
        for lane in (self._writer, self._imports, self._runner.reads):
            lane.cancel(self.model if lane is self._runner.reads else self)
        self._library = library
        self.trash_commands.forget()
        self._stop_imports = False
        self._closed = False
        if self._lineage_dialog is not None:
            self._lineage_dialog.close()
            self._lineage_dialog.lineage_view.set_library(library)  # type: ignore[attr-defined]
        self.loader.set_library(library)
        was_trash = self._query.trashed
        self._query = GalleryQuery(None, self._query.order, self._query.favorites,
                                   self._query.search, False)
        self.model.set_library(library)
        if was_trash:
            self._trash_bar.hide()
            self.trash_shown.emit(False)
        self._update_empty_text()
        self._update_actions()
        self.current_changed.emit(None)

    @property
    def project_id(self) -> str | None:
        return self._query.project_id

    def set_project(self, project_id: str | None) -> None:
        """Show another project (None: nothing). The first page is read at once."""
        self._search_timer.stop()
        self.loader.cancel_pending()
        was_trash = self._query.trashed
        self._set_query(GalleryQuery(project_id, self._query.order, self._query.favorites,
                                     self._query.search, False))
        if was_trash:
            self._trash_bar.hide()
            self.trash_shown.emit(False)

    def add_assets(self, assets: list[AssetInfo]) -> None:
        """New images (a finished job, an import): shown at the top if they match."""
        self.model.add_assets(assets)
        self._update_empty_text()

    def remove_assets(self, ids: list[str]) -> None:
        """Images gone from the catalog (deleted elsewhere): their rows go, if shown."""
        for asset_id in ids:
            self.loader.forget(asset_id)
        if self.model.remove_ids(ids):
            self._update_empty_text()

    @property
    def person_picks(self) -> int:
        """How many times the person chose the current image (clicks, keys); see show_results."""
        return self._person_picks

    def show_results(self, assets: list[AssetInfo], picks_before: int | None = None) -> None:
        """A job's results: add them, make the newest current, say so if a filter hides them.

        The newest becomes current unless the person picked another image since
        `picks_before` (the `person_picks` when the job started; None: only if nothing is
        current).
        """
        if not assets:
            return
        self.add_assets(assets)
        newest = max(assets, key=lambda a: (a.createdAt, assets.index(a)))
        hidden = [a for a in assets if self.model.row_of(a.id) < 0]
        if hidden:
            self._hidden_ids = [a.id for a in sorted(hidden, key=lambda a: a.createdAt,
                                                     reverse=True)]
            what = "The new image is" if len(hidden) == 1 else \
                f"{len(hidden)} new images are"
            self.hidden_label.setText(f"{what} hidden by the "
                                      f"{self._filter_description()}.")
            self._hidden_bar.show()
            self.status_message.emit(self.hidden_label.text())
        picked = (self._person_picks != picks_before) if picks_before is not None \
            else self.current_asset() is not None
        if picked:
            return
        shown = [a for a in assets if self.model.row_of(a.id) >= 0]
        if shown:
            target = newest if newest in shown else max(shown, key=lambda a: a.createdAt)
            self._select_automatically(target.id)

    def show_hidden_results(self) -> None:
        """Clear the search and the favorites filter, then show the newest hidden result."""
        ids = self._hidden_ids
        self._hidden_bar.hide()
        self._hidden_ids = []
        with QSignalBlocker(self.search_edit), QSignalBlocker(self.favorites_button):
            self.search_edit.clear()
            self.favorites_button.setChecked(False)
        q = self._query
        self._set_query(GalleryQuery(q.project_id, q.order, False, "", False))
        if q.trashed:
            self._trash_bar.hide()
            self.trash_shown.emit(False)
        if ids:
            self._select_automatically(ids[0])

    def _filter_description(self) -> str:
        q = self._query
        if q.trashed:
            return "trash view"
        parts = []
        if q.search:
            parts.append(f"search “{q.search}”")
        if q.favorites:
            parts.append("favorites filter")
        return " and the ".join(parts) or "current view"

    def _select_automatically(self, asset_id: str) -> None:
        self._auto_select = True
        try:
            self.select_asset(asset_id)
        finally:
            self._auto_select = False

    def step_current(self, delta: int) -> AssetInfo | None:
        """Make the previous (-1) or next (+1) image current (the viewer's arrows)."""
        index = self.view.currentIndex()
        row = (index.row() if index.isValid() else -1) + delta
        if row >= self.model.rowCount() and self.model.canFetchMore():
            self.model.fetchMore()
        if not 0 <= row < self.model.rowCount():
            return None
        target = self.model.index(row, 0)
        self.view.selectionModel().setCurrentIndex(
            target, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.view.scrollTo(target)
        return target.data(Role.asset)

    def current_asset(self) -> AssetInfo | None:
        index = self.view.currentIndex()
        return index.data(Role.asset) if index.isValid() else None

    def selected_assets(self) -> list[AssetInfo]:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedIndexes())
        return [a for a in (self.model.asset_at(r) for r in rows) if a is not None]

    def select_asset(self, asset_id: str) -> bool:
        """Make an image current and selected, paging it in if needed; False if not shown."""
        row = self.model.row_of(asset_id)
        if row < 0:
            if self._library is None:
                return False
            try:
                asset = self._library.get_asset(asset_id)
            except (NotFound, DlxError):
                return False
            if not self.model.accepts(asset):
                return False
            limit = self.model.rowCount() + SELECT_FETCH_LIMIT
            row = self.model.fetch_all_loaded_until(asset_id, limit)
            if row < 0:
                return False
        index = self.model.index(row, 0)
        self.view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.view.scrollTo(index, GalleryView.ScrollHint.PositionAtCenter)
        return True

    def refresh(self) -> None:
        """Read the catalog again, keeping the selection and the scroll position."""
        current = self.current_asset()
        selected = [a.id for a in self.selected_assets()]
        scroll = self.view.verticalScrollBar().value()
        self.model.refresh()
        self._restore_selection(selected, current.id if current else None)
        self.view.verticalScrollBar().setValue(scroll)
        self._update_empty_text()

    def show_trash(self, on: bool) -> None:
        if on == self._query.trashed:
            return
        self._search_timer.stop()
        self.loader.cancel_pending()
        self._set_query(GalleryQuery(self._query.project_id, self._query.order,
                                     self._query.favorites, self._query.search, on))
        self._trash_bar.setVisible(on)
        self.trash_shown.emit(on)

    def is_showing_trash(self) -> bool:
        return self._query.trashed

    def set_thumbnail_size(self, px: int) -> None:
        px = max(MIN_TILE, min(MAX_TILE, int(px)))
        with QSignalBlocker(self.size_slider):
            self.size_slider.setValue(px)
        if px != self.view.tile_size or not self.view.gridSize().isValid():
            self.view.set_tile_size(px)
            self.thumbnail_size_changed.emit(px)

    def thumbnail_size(self) -> int:
        return self.view.tile_size

    def import_files(self, paths: list[str]) -> None:
        """Import files and folders into the shown project, in the background."""
        project_id = self._query.project_id
        if project_id is None:
            self.status_message.emit("Choose a project before importing images.")
            return
        paths = [str(p) for p in paths if str(p)]
        if not paths:
            return
        if self._library is None:
            self.status_message.emit("Wait for the library to open first.")
            return
        self._imports_running += 1
        self.status_message.emit(f"Importing {_plural(len(paths), 'item')}…")
        progress = self._import_progress.progress
        self._imports.run(self._library.import_paths, project_id, paths,
                          on_progress=lambda done, total: progress.emit(done, total),
                          should_stop=lambda: self._stop_imports, owner=self,
                          on_done=lambda report: self._on_import_done(project_id, report),
                          on_error=self._on_import_failed)

    def is_importing(self) -> bool:
        return self._imports_running > 0

    def is_busy(self) -> bool:
        """Background work still running (imports, writes); thumbnails not included."""
        return self._imports_running > 0 or self._writer.active(self) > 0

    def shutdown(self, timeout_ms: int = 10_000) -> None:
        """Stop background work and wait for it (call before the library closes)."""
        self._closed = True
        self._stop_imports = True
        self._search_timer.stop()
        self.loader.shutdown(timeout_ms)
        # queued writes are still made (a favourite toggled just before closing is kept)
        self._imports.wait(timeout_ms, self)
        self._writer.wait(timeout_ms, self)
        self._runner.reads.cancel(self.model)
        self._runner.reads.wait(timeout_ms, self.model)
        if self._lineage_dialog is not None:
            self._lineage_dialog.close()

    # --- internals ----------------------------------------------------------------------------

    def _set_query(self, query: GalleryQuery) -> None:
        self._query = query
        self.model.set_query(query)
        self.view.scrollToTop()
        self._update_empty_text()
        self._update_actions()
        self.current_changed.emit(None)

    def _restore_selection(self, ids: list[str], current_id: str | None) -> None:
        selection = self.view.selectionModel()
        for asset_id in ids:
            index = self.model.index_of(asset_id)
            if index.isValid():
                selection.select(index, QItemSelectionModel.SelectionFlag.Select)
        if current_id is not None:
            index = self.model.index_of(current_id)
            if index.isValid():
                selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)
                self.current_changed.emit(index.data(Role.asset))
                return
        self.current_changed.emit(None)

    def _remove_rows_keep_position(self, ids: list[str]) -> None:
        """Remove rows and select what took the place of the current one (Del, Del, ...)."""
        current_row = self.view.currentIndex().row()
        for asset_id in ids:
            self.loader.forget(asset_id)
        self.model.remove_ids(ids)
        count = self.model.rowCount()
        if count and current_row >= 0:
            index = self.model.index(min(current_row, count - 1), 0)
            self.view.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        elif not count:
            self.current_changed.emit(None)
        self._update_empty_text()

    def _run_io(self, fn: Callable[[], Any], on_done: Callable[[Any], None]) -> None:
        def done(result: Any) -> None:
            if isValid(self) and not self._closed:
                on_done(result)

        self._writer.run(fn, owner=self, on_done=done, on_error=self._on_io_failed)

    def _on_io_failed(self, exc: BaseException) -> None:
        if not isValid(self) or self._closed:
            return
        message = exc.user_message if isinstance(exc, DlxError) else \
            "Something went wrong; see the log for details."
        self.status_message.emit(message)
        self.refresh()  # show the catalog as it really is

    def _on_favorites_saved(self, assets: list[AssetInfo]) -> None:
        for asset in assets:
            self.model.update_asset(asset)

    def _emit_for_current(self, signal: Any) -> None:
        asset = self.current_asset()
        if asset is not None:
            signal.emit(asset)

    def _import_with_dialog(self) -> None:
        paths = ask_import_paths(self)
        if paths:
            self.import_files(paths)

    def _update_empty_text(self) -> None:
        q = self._query
        if self._library is None:
            text = "Opening the library…"
        elif q.project_id is None:
            text = "No project selected.\nCreate or choose a project to see its images."
        elif self.model.rowCount():
            text = ""
        elif q.trashed:
            text = "The trash is empty."
        elif q.search or q.favorites:
            text = "No images match the search or the favorites filter."
        else:
            text = ("No images in this project yet.\nGenerate one, or drop image files or "
                    "folders here to import them.")
        self.view.empty_text = text
        self.view.viewport().update()
        self._update_count_label()

    @Slot()
    def _update_actions(self, *_: object) -> None:
        selected = len(self.view.selectionModel().selectedIndexes())
        self.restore_button.setEnabled(bool(selected) and self._query.trashed)
        self._update_count_label(selected)

    def _update_count_label(self, selected: int | None = None) -> None:
        """"64 images", or "3 of 64 selected" when more than one is selected."""
        if selected is None:
            selected = len(self.view.selectionModel().selectedIndexes())
        q = self._query
        total = self.model.total
        if q.project_id is None:
            text = ""
        elif selected > 1:
            known = f"{total:,}" if self.model.total_known else f"{total:,}+"
            text = f"{selected:,} of {known} selected"
        elif not self.model.total_known:
            text = f"{total:,}+ images"  # counting in the background
        elif q.trashed:
            text = f"{_plural(total, 'image')} in the trash"
        else:
            text = _plural(total, "image")
        self.count_label.setText(text)
        self.count_label.setEnabled(selected > 1)  # muted unless it says something new

    # --- slots --------------------------------------------------------------------------------

    @Slot(QModelIndex, QModelIndex)
    def _on_view_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not self._auto_select and current.isValid():
            self._person_picks += 1
        self.current_changed.emit(current.data(Role.asset) if current.isValid() else None)

    @Slot(QModelIndex, QModelIndex, list)
    def _on_model_data_changed(self, top: QModelIndex, bottom: QModelIndex,
                               roles: list[int]) -> None:
        if roles:  # thumbnails only
            return
        current = self.view.currentIndex()
        if current.isValid() and top.row() <= current.row() <= bottom.row():
            self.current_changed.emit(current.data(Role.asset))

    @Slot(int)
    def _on_model_total_changed(self, _total: int) -> None:
        self._update_empty_text()

    @Slot(QModelIndex)
    def _on_view_double_clicked(self, index: QModelIndex) -> None:
        asset = index.data(Role.asset)
        if asset is not None and not self._query.trashed:
            self.open_in_canvas.emit(asset)

    @Slot(str)
    def _on_view_key_action(self, action: str) -> None:
        if action == "open":
            if not self._query.trashed:
                self._emit_for_current(self.open_in_canvas)
        elif action == "favorite":
            self.toggle_favorite()
        elif action == "trash":
            self.trash_selected()
        elif action == "copy":
            self.copy_selected()

    @Slot(int)
    def _on_view_zoom_requested(self, steps: int) -> None:
        self.zoom(steps)

    @Slot(QPoint)
    def _on_view_context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        selection = self.view.selectionModel()
        if index.isValid() and not selection.isSelected(index):
            selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        elif not index.isValid():
            selection.clearSelection()
        menu = self.build_context_menu()
        menu.exec(self.view.viewport().mapToGlobal(pos))
        menu.deleteLater()

    @Slot(str)
    def _on_search_text_changed(self, _text: str) -> None:
        self._search_timer.start()

    @Slot()
    def _apply_search(self) -> None:
        self._search_timer.stop()
        text = self.search_edit.text().strip()
        if text != self._query.search:
            q = self._query
            self._set_query(GalleryQuery(q.project_id, q.order, q.favorites, text, q.trashed))

    @Slot(bool)
    def _on_favorites_toggled(self, on: bool) -> None:
        q = self._query
        self._set_query(GalleryQuery(q.project_id, q.order, on, q.search, q.trashed))

    @Slot(int)
    def _on_order_changed(self, _index: int) -> None:
        q = self._query
        order = self.order_combo.currentData() or "newest"
        self._set_query(GalleryQuery(q.project_id, order, q.favorites, q.search, q.trashed))

    def set_order(self, order: str) -> None:
        index = self.order_combo.findData(order)
        if index < 0:
            raise ValueError(f"unknown order {order!r}")
        self.order_combo.setCurrentIndex(index)

    def set_favorites_only(self, on: bool) -> None:
        self.favorites_button.setChecked(on)

    def set_search(self, text: str) -> None:
        """Search now (as if typed and the debounce ran out)."""
        self.search_edit.setText(text)
        self._apply_search()

    @Slot(int, int)
    def _on_import_progress(self, done: int, total: int) -> None:
        if isValid(self) and not self._closed:
            self.status_message.emit(f"Importing… {done:,} of {total:,} files")

    def _on_import_done(self, project_id: str, report: ImportReport) -> None:
        if not isValid(self):
            return
        self._imports_running -= 1
        if self._closed:
            return
        if project_id == self._query.project_id:
            self.add_assets(report.imported)
        message = import_summary(report)
        log.info("import: %s", message)
        self.status_message.emit(message)
        self.import_finished.emit(report)

    def _on_import_failed(self, exc: BaseException) -> None:
        if not isValid(self):
            return
        self._imports_running -= 1
        if self._closed:
            return
        message = exc.user_message if isinstance(exc, DlxError) else \
            "The import failed; see the log for details."
        self.status_message.emit(message)
        self.refresh()

    def _on_lineage_open_asset(self, asset: AssetInfo) -> None:
        if not self.select_asset(asset.id):
            self.status_message.emit("That image is not shown here (other project, filter "
                                     "or trash).")
