"""The studio window: project bar, prompt panel, gallery / canvas, details, job queue, status.

Everything slow runs off the GUI thread: generations on the job controller's pool, backend
status polls on the monitor's pool, start-up checks, imports and image loads on the window's
`io_pool`. Results come back as signals; pixmaps are only made here, on the GUI thread.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QSignalBlocker,
    Qt,
    QThreadPool,
    QTimer,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDesktopServices,
    QImage,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QProgressDialog,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from dlx_art import APP_NAME, __version__
from dlx_art.errors import DlxError, LibraryLocked, UsageError
from dlx_art.generation.types import GenerationRequest, InpaintArea, Kind, MaskedContent
from dlx_art.gui import theme
from dlx_art.gui.job_panel import JobPanel
from dlx_art.gui.jobs import Job, JobController, JobState, RouterProvider, format_eta
from dlx_art.gui.project_bar import ProjectBar
from dlx_art.gui.prompt_panel import PromptPanel, round8
from dlx_art.gui.state import UiState
from dlx_art.gui.status import (
    NO_BACKEND_HINT,
    NO_BACKEND_TITLE,
    BackendMonitor,
    BackendStatusWidget,
    catalogue,
    usable,
)
from dlx_art.gui.tasks import run_task
from dlx_art.library import png
from dlx_art.library.lock import LOCK_FILE, LibraryLock  # noqa: F401 - LOCK_FILE re-exported

log = logging.getLogger("dlx_art.gui.main_window")

STATE_VERSION = 1
SHUTDOWN_WAIT_MS = 15_000
STATUS_TIMEOUT_MS = 8000


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, without decoding the image."""
    return png.ihdr_size(data)


def load_image_file(path: Path) -> QImage:
    """Decode an image file into a QImage (pool thread)."""
    image = QImage(str(path))
    if image.isNull():
        raise DlxError(f"Could not read the image {path.name}.")
    return image


class _EmptyStatePage(QWidget):
    """Shown when the library has no project yet: says exactly what to do."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        title = QLabel("Welcome to DLX Art Studio")
        title.setProperty("role", "title")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel("Images live in projects. Create your first project, write a prompt on the "
                      "left and press Generate (Ctrl+Enter).")
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setProperty("role", "hint")
        text.setFixedWidth(440)
        text.setMinimumHeight(text.heightForWidth(440))
        self.button = QPushButton("Create Your First Project")
        self.button.setObjectName("createFirstProjectButton")
        self.button.setProperty("role", "primary")
        self.button.setMinimumHeight(36)
        box = QVBoxLayout()
        box.setSpacing(14)
        for widget in (title, text, self.button):
            row = QHBoxLayout()
            row.addStretch(1)
            row.addWidget(widget)
            row.addStretch(1)
            box.addLayout(row)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addLayout(box)
        layout.addStretch(3)


class _Banner(QFrame):
    """A one-line notice above the gallery with action buttons (e.g. no backend reachable)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("backendBanner")
        self.setProperty("role", "banner")
        self.title = QLabel(NO_BACKEND_TITLE)
        self.title.setObjectName("backendBannerTitle")
        self.title.setStyleSheet("font-weight: 600;")
        self.label = QLabel()
        self.label.setObjectName("backendBannerText")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.title)
        text.addWidget(self.label)
        self.retry_button = QPushButton("Check Again")
        self.retry_button.setObjectName("bannerRetryButton")
        self.settings_button = QPushButton("Settings…")
        self.settings_button.setObjectName("bannerSettingsButton")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.setSpacing(8)
        layout.addLayout(text, 1)
        layout.addWidget(self.retry_button)
        layout.addWidget(self.settings_button)


class _LoadingGallery(QLabel):
    """Stands in for the gallery until the library is open (same no-op API)."""

    def __init__(self, text: str = "Opening the library…") -> None:
        super().__init__(text)
        self.setObjectName("libraryLoading")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setProperty("role", "hint")

    def current_asset(self) -> None:
        return None

    def selected_assets(self) -> list[Any]:
        return []

    def select_asset(self, _asset_id: str) -> bool:
        return False

    def thumbnail_size(self) -> int:
        return 0

    def _noop(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    set_project = add_assets = refresh = show_trash = zoom = shutdown = _noop
    set_thumbnail_size = import_files = show_asset = _noop
    copy_selected = favorite_selected = trash_selected = _noop


class MainWindow(QMainWindow):
    """The studio window.

    Args:
        context: the loaded `dlx_art.config.Context` (paths and settings).
        library: the open `Library`, or None to let the window open `context`'s library in
            the background (the window shows at once; `library_ready` / `library_failed`
            follow). The window does not close it; the caller does, using `window.library`,
            which changes when the person moves the library.
        lock: the `LibraryLock` held for `library`, replaced when the library moves.
        start_background: start the backend monitor and the start-up checks (tests of pure
            widgets can turn it off).

    Signals:
        closed(): the window closed and every background thread has ended (or timed out).
        library_ready(): the library is open and shown (projects listed, gallery filled).
        library_failed(str): the library could not be opened (message for the person).
    """

    closed = Signal()
    library_ready = Signal()
    library_failed = Signal(str)

    def __init__(self, context: Any, library: Any = None, *, lock: LibraryLock | None = None,
                 start_background: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.context = context
        self.library = library
        self.lock = lock
        self.state = UiState(context.paths.config_dir)
        self._shut_down = False
        self._force_quit = False
        self._statuses: list[Any] | None = None
        self._canvas_project_id: str | None = None
        self._canvas_jobs: set[str] = set()
        self._startup_report: str | None = None
        self._ready = False
        self._background = start_background
        self._monitor_started = False

        self.io_pool = QThreadPool(self)
        self.io_pool.setObjectName("ioPool")
        self.io_pool.setMaxThreadCount(2)
        self.routers = RouterProvider(context.effective)
        self.jobs = JobController(library, self.routers, self)
        self.monitor = BackendMonitor(self.routers, self)

        self._build_widgets()
        self._build_actions()
        self._build_menus()
        self._connect()
        self.setWindowTitle(APP_NAME)
        self.resize(1360, 860)
        self._restore_state()
        if library is not None:
            self._use_library(library)
        else:
            self._update_project_ui()
            QTimer.singleShot(0, self._open_library_in_background)
        if start_background:
            if library is not None:
                QTimer.singleShot(0, self._start_monitor)
            else:  # first the catalog: both imports compete for the same CPU and GIL
                self.library_ready.connect(self._start_monitor,
                                           Qt.ConnectionType.SingleShotConnection)
                self.library_failed.connect(self._start_monitor,
                                            Qt.ConnectionType.SingleShotConnection)

    # --- construction -------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.project_bar = ProjectBar(self.library)
        self.toolbar = QToolBar("Project")
        self.toolbar.setObjectName("mainToolbar")
        self.toolbar.setMovable(False)
        self.toolbar.setFloatable(False)
        self.toolbar.addWidget(self.project_bar)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)

        self.prompt_panel = PromptPanel()
        self.prompt_dock = self._dock("Generate", "promptDock", self.prompt_panel,
                                      Qt.DockWidgetArea.LeftDockWidgetArea)

        self.gallery: Any = _LoadingGallery()
        self.details: Any = _LoadingGallery("")
        self.details_dock = self._dock("Details", "detailsDock", self.details,
                                       Qt.DockWidgetArea.RightDockWidgetArea)

        self.job_panel = JobPanel(self.jobs)
        self.jobs_dock = self._dock("Jobs", "jobsDock", self.job_panel,
                                    Qt.DockWidgetArea.RightDockWidgetArea)
        self.splitDockWidget(self.details_dock, self.jobs_dock, Qt.Orientation.Vertical)
        self.resizeDocks([self.prompt_dock], [330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.details_dock], [330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.details_dock, self.jobs_dock], [460, 300], Qt.Orientation.Vertical)

        # the canvas is built the first time it is needed (it is not on the start-up path)
        self._canvas: Any = None
        self._canvas_placeholder = QWidget()
        self._canvas_placeholder.setObjectName("canvasPlaceholder")
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.gallery, "Gallery")
        self.tabs.addTab(self._canvas_placeholder, "Canvas")

        self.banner = _Banner()
        self.banner.hide()
        workspace = QWidget()
        workspace.setObjectName("workspace")
        layout = QVBoxLayout(workspace)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)

        self.empty_page = _EmptyStatePage()
        self.central = QStackedWidget()
        self.central.setObjectName("centralStack")
        self.central.addWidget(self.empty_page)
        self.central.addWidget(workspace)
        self.workspace = workspace
        self.setCentralWidget(self.central)

        self.backend_status = BackendStatusWidget()
        self.progress_bar = QProgressBar()
        self.progress_bar.setObjectName("jobProgress")
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setFixedWidth(180)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.hide()
        status = self.statusBar()
        status.setObjectName("statusBar")
        status.setSizeGripEnabled(True)
        self.backend_status.setMaximumWidth(640)
        status.addPermanentWidget(self.progress_bar)
        status.addPermanentWidget(self.backend_status)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, name: str, slot: Any = None, shortcut: Any = None, *,
                checkable: bool = False, tip: str = "") -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if shortcut is not None:
            if isinstance(shortcut, list):
                action.setShortcuts(shortcut)
            else:
                action.setShortcut(shortcut)
        action.setCheckable(checkable)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        if slot is not None:
            action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        key = QKeySequence.StandardKey
        pb = self.project_bar
        pb.new_action.setShortcuts(QKeySequence.keyBindings(key.New))
        self.import_action = self._action("&Import Images…", "importAction", self.prompt_import,
                                          "Ctrl+I", tip="Copy image files into the active project")
        prefs = QKeySequence.keyBindings(key.Preferences) or [QKeySequence("Ctrl+,")]
        self.settings_action = self._action("&Settings…", "settingsAction", self.open_settings,
                                            prefs)
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.quit_action = self._action("&Quit", "quitAction", self.close,
                                        QKeySequence.keyBindings(key.Quit)
                                        or [QKeySequence("Ctrl+Q")])
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        # Edit: the gallery view handles these keys itself when it has the focus; the menu
        # entries show them and work from the menu (no window-wide single-key shortcuts that
        # would fire while typing in a combo box).
        self.copy_action = self._action("&Copy Image", "copyAction", self._on_copy_triggered)
        self.favorite_action = self._action("&Favorite", "favoriteAction",
                                            self._on_favorite_triggered)
        self.trash_action = self._action("Move to &Trash", "trashAction", self._on_trash_triggered)
        for action, seq in ((self.copy_action, QKeySequence(key.Copy)),
                            (self.favorite_action, QKeySequence("F")),
                            (self.trash_action, QKeySequence(key.Delete))):
            action.setShortcut(seq)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.removeAction(action)  # added to the gallery in _wire_gallery
        self.reuse_action = self._action("&Reuse Parameters", "reuseAction",
                                         self._on_reuse_triggered, "Ctrl+R",
                                         tip="Fill the prompt panel with the selected image's "
                                             "parameters")
        self.canvas_action = self._action("Open in &Canvas", "openCanvasAction",
                                          self._on_open_canvas_triggered, "Ctrl+E",
                                          tip="Refine the selected image: inpaint or img2img")

        # Generate
        self.generate_action = self._action(
            "&Generate", "generateAction", self.generate,
            [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.generate_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self._generate_shortcuts = self.generate_action.shortcuts()
        self.cancel_action = self._action("&Cancel Running Job", "cancelAction",
                                          self._on_cancel_triggered, QKeySequence(key.Cancel)
                                          if not QKeySequence(key.Cancel).isEmpty()
                                          else "Esc")
        self.cancel_all_action = self._action("Cancel &All Jobs", "cancelAllAction",
                                              self.jobs.cancel_all)
        self.refresh_action = self._action("&Check Backends", "refreshBackendsAction",
                                           self.refresh_backends,
                                           QKeySequence.keyBindings(key.Refresh) or "F5")

        # View
        self.theme_group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for name, label in theme.THEME_LABELS.items():
            action = self._action(label, f"theme_{name}", checkable=True)
            action.setData(name)
            self.theme_group.addAction(action)
            self.theme_actions[name] = action
        current = self.theme_actions.get(self.context.settings.theme, self.theme_actions["dark"])
        current.setChecked(True)
        self.theme_group.triggered.connect(self._on_theme_group_triggered)
        self.prompt_dock_action = self.prompt_dock.toggleViewAction()
        self.prompt_dock_action.setText("&Generate Panel")
        self.prompt_dock_action.setShortcut("Ctrl+1")
        self.jobs_dock_action = self.jobs_dock.toggleViewAction()
        self.jobs_dock_action.setText("&Jobs Panel")
        self.jobs_dock_action.setShortcut("Ctrl+2")
        self.details_dock_action = self.details_dock.toggleViewAction()
        self.details_dock_action.setText("&Details Panel")
        self.details_dock_action.setShortcut("Ctrl+3")
        self.zoom_in_action = self._action("&Larger Thumbnails", "zoomInAction",
                                           lambda: self._zoom(1))
        self.zoom_out_action = self._action("&Smaller Thumbnails", "zoomOutAction",
                                            lambda: self._zoom(-1))
        for action, seq in ((self.zoom_in_action, key.ZoomIn), (self.zoom_out_action, key.ZoomOut)):
            action.setShortcut(QKeySequence(seq))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.removeAction(action)  # added to the gallery in _wire_gallery
        self.trash_view_action = self._action("Show &Trash", "showTrashAction",
                                              self._on_show_trash_toggled, checkable=True)
        self.gallery_tab_action = self._action("&Gallery", "galleryTabAction",
                                               lambda: self.tabs.setCurrentWidget(self.gallery),
                                               "Ctrl+Shift+G")
        self.canvas_tab_action = self._action("Ca&nvas", "canvasTabAction",
                                              lambda: self.tabs.setCurrentWidget(self.canvas),
                                              "Ctrl+Shift+C")

        # Help
        self.about_action = self._action(f"&About {APP_NAME}", "aboutAction", self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.log_folder_action = self._action("Open &Log Folder", "openLogFolderAction",
                                              lambda: self._open_folder(self.context.paths.log_dir))
        self.library_folder_action = self._action(
            "Open Li&brary Folder", "openLibraryFolderAction",
            lambda: self._open_folder(self.library_root()))

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.project_bar.new_action)
        file_menu.addAction(self.project_bar.rename_action)
        file_menu.addAction(self.project_bar.archive_action)
        file_menu.addAction(self.project_bar.show_archived_action)
        file_menu.addSeparator()
        file_menu.addAction(self.import_action)
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.copy_action)
        edit_menu.addAction(self.favorite_action)
        edit_menu.addAction(self.trash_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.reuse_action)
        edit_menu.addAction(self.canvas_action)

        generate_menu = bar.addMenu("&Generate")
        generate_menu.addAction(self.generate_action)
        generate_menu.addAction(self.cancel_action)
        generate_menu.addAction(self.cancel_all_action)
        generate_menu.addSeparator()
        generate_menu.addAction(self.refresh_action)

        view_menu = bar.addMenu("&View")
        theme_menu = view_menu.addMenu("&Theme")
        for action in self.theme_actions.values():
            theme_menu.addAction(action)
        view_menu.addSeparator()
        view_menu.addAction(self.prompt_dock_action)
        view_menu.addAction(self.jobs_dock_action)
        view_menu.addAction(self.details_dock_action)
        view_menu.addSeparator()
        view_menu.addAction(self.gallery_tab_action)
        view_menu.addAction(self.canvas_tab_action)
        view_menu.addSeparator()
        view_menu.addAction(self.zoom_in_action)
        view_menu.addAction(self.zoom_out_action)
        view_menu.addAction(self.trash_view_action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)
        help_menu.addSeparator()
        help_menu.addAction(self.log_folder_action)
        help_menu.addAction(self.library_folder_action)

    def _connect(self) -> None:
        pb = self.project_bar
        pb.project_changed.connect(self._on_project_bar_project_changed)
        pb.message.connect(self.show_message)
        self.empty_page.button.clicked.connect(pb.prompt_new_project)
        self.prompt_panel.generate_requested.connect(self.generate)
        self.prompt_panel.refresh_requested.connect(self.refresh_backends)
        self.banner.retry_button.clicked.connect(self.refresh_backends)
        self.banner.settings_button.clicked.connect(lambda: self.open_settings("a1111"))

        self.jobs.job_started.connect(self._on_jobs_job_started)
        self.jobs.job_progress.connect(self._on_jobs_job_progress)
        self.jobs.job_finished.connect(self._on_jobs_job_finished)
        self.jobs.busy_changed.connect(self._on_jobs_busy_changed)
        self.job_panel.show_assets.connect(self._on_job_panel_show_assets)

        self.monitor.statuses_changed.connect(self._on_monitor_statuses_changed)
        self.monitor.checking_changed.connect(self.backend_status.set_checking)


        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.jobs_dock.visibilityChanged.connect(self._update_preview_wanted)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._on_app_focus_changed)

    def _wire_gallery(self) -> None:
        """Connect the gallery and details panel (again after the library moved)."""
        g = self.gallery
        g.current_changed.connect(self._on_gallery_current_changed)
        g.open_in_canvas.connect(self.open_in_canvas)
        g.reuse_parameters.connect(self.reuse_parameters)
        g.status_message.connect(self.show_message)
        g.import_finished.connect(self._on_gallery_import_finished)
        g.trash_shown.connect(self._on_gallery_trash_shown)
        g.thumbnail_size_changed.connect(self._on_gallery_thumbnail_size_changed)
        for action in (self.copy_action, self.favorite_action, self.trash_action,
                       self.zoom_in_action, self.zoom_out_action):
            g.addAction(action)
        d = self.details
        d.reuse_parameters.connect(self.reuse_parameters)
        d.open_in_canvas.connect(self.open_in_canvas)
        d.jump_to.connect(self._on_details_jump_to)
        d.status_message.connect(self.show_message)

    @property
    def canvas(self) -> Any:
        """The refinement canvas, built on first use."""
        if self._canvas is None:
            from dlx_art.gui.canvas import CanvasWidget

            canvas = CanvasWidget()
            canvas.inpaint_requested.connect(self._on_canvas_inpaint_requested)
            canvas.base_changed.connect(self._on_canvas_base_changed)
            canvas.closed.connect(lambda: self.tabs.setCurrentWidget(self.gallery))
            self._canvas = canvas
            index = self.tabs.indexOf(self._canvas_placeholder)
            show = self.tabs.currentIndex() == index
            with QSignalBlocker(self.tabs):
                self.tabs.removeTab(index)
                self.tabs.insertTab(index, canvas, "Canvas")
                if show:
                    self.tabs.setCurrentIndex(index)
            self._canvas_placeholder.deleteLater()
        return self._canvas

    @Slot(int)
    def _on_tabs_current_changed(self, _index: int) -> None:
        if self.tabs.currentWidget() is self._canvas_placeholder:
            self.tabs.setCurrentWidget(self.canvas)
        self._update_preview_wanted()

    # --- state --------------------------------------------------------------------------------

    def _restore_state(self) -> None:
        geometry = self.state.get_bytes("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        layout = self.state.get_bytes("window/state")
        if layout is not None:
            self.restoreState(layout, STATE_VERSION)
        self.prompt_panel.restore_state(self.state)
        self.project_bar.show_archived_action.setChecked(
            self.state.get_bool("session/show_archived", False))

    def save_state(self) -> None:
        self.state.set("window/geometry", QByteArray(self.saveGeometry()))
        self.state.set("window/state", QByteArray(self.saveState(STATE_VERSION)))
        self.prompt_panel.save_state(self.state)
        project = self.project_bar.current_project()
        if project is not None:
            self.state.set("session/last_project", project.id)
        self.state.set("session/show_archived", self.project_bar.show_archived_action.isChecked())
        self.state.sync()

    # --- background start-up ------------------------------------------------------------------

    @Slot()
    def _start_monitor(self, *_args: Any) -> None:
        if not self._shut_down and not self._monitor_started:
            self._monitor_started = True
            self.monitor.start()

    def _run_startup_checks(self) -> None:
        library = self.library

        def checks() -> str | None:
            report = library.reconcile()
            try:
                library.backup_if_due()
            except DlxError as exc:
                log.warning("catalog backup failed: %s", exc.user_message)
            has_news = (not report.clean or report.adopted or report.cleaned
                        or report.quarantined or report.search_repaired)
            summary = report.summary() if has_news else None
            recovery = getattr(library, "recovery", None)  # the catalog had to be recovered
            if recovery:
                return f"{recovery} {summary}" if summary else recovery
            return summary

        run_task(checks, on_done=self._on_startup_checks_done,
                 on_error=self._on_startup_checks_failed, pool=self.io_pool)

    # --- the library --------------------------------------------------------------------------

    def _open_library_in_background(self) -> None:
        """Open (import, migrate) the catalog off the GUI thread; the window is already up."""
        if self._shut_down:
            return
        run_task(self.context.open_library, on_done=self._on_library_opened,
                 on_error=self._on_library_open_failed, pool=self.io_pool)

    def _on_library_opened(self, library: Any) -> None:
        if self._shut_down:
            library.close()
            return
        self._use_library(library)

    def _on_library_open_failed(self, exc: BaseException) -> None:
        message = exc.user_message if isinstance(exc, DlxError) else (
            f"The library in {self.context.storage_root} could not be opened; see the log.")
        self.gallery.setText(message)
        self.show_message(message, 0)
        self.library_failed.emit(message)

    def _use_library(self, library: Any) -> None:
        """Show `library`: fresh gallery and details, its projects, the last project."""
        self.library = library
        self.jobs.set_library(library)
        old_gallery, old_details = self.gallery, self.details
        self.gallery = _make_gallery(library)
        self.details = _make_details(library)
        size = self.state.get_int("gallery/thumbnail_size", 0)
        if size:
            self.gallery.set_thumbnail_size(size)
        index = self.tabs.indexOf(old_gallery)
        current = self.tabs.currentIndex()
        self.tabs.removeTab(index)
        self.tabs.insertTab(index, self.gallery, "Gallery")
        self.tabs.setCurrentIndex(current)
        self.details_dock.setWidget(self.details)
        old_gallery.deleteLater()
        old_details.deleteLater()
        self._wire_gallery()
        self.trash_view_action.setChecked(False)
        self._ready = True
        if getattr(library, "recovery", None):
            self.show_message(library.recovery, 0)
        self.project_bar.set_library(
            library, select_id=self.state.get_str("session/last_project") or None)
        self._update_project_ui()
        if self._background:
            self._run_startup_checks()
        # Start-up objects (Qt wrappers, modules, the first page) live as long as the window:
        # keep them out of the collector's full scans, which otherwise block the GUI thread
        # for tens of milliseconds at a time (see tests/gui heartbeat tests).
        gc.freeze()
        self.library_ready.emit()

    def _on_startup_checks_done(self, summary: str | None) -> None:
        self._startup_report = summary
        if summary and not self._shut_down:
            self.show_message(f"Library check: {summary}", 0)
            self.gallery.refresh()

    def _on_startup_checks_failed(self, exc: BaseException) -> None:
        message = exc.user_message if isinstance(exc, DlxError) else "see the log"
        self.show_message(f"The library check failed: {message}", 0)

    # --- projects -----------------------------------------------------------------------------

    def current_project(self) -> Any | None:
        return self.project_bar.current_project()

    @Slot(object)
    def _on_project_bar_project_changed(self, project: Any | None) -> None:
        self.gallery.set_project(project.id if project is not None else None)
        self.details.show_asset(None)
        if project is not None:
            self.state.set("session/last_project", project.id)
        self._update_project_ui()

    def _update_project_ui(self) -> None:
        project = self.current_project()
        # "Project — App": Qt appends the application's display name to a title that does not
        # already end with it, so "App — Project" would read "App — Project — App"
        self.setWindowTitle(f"{project.name} — {APP_NAME}" if project is not None else APP_NAME)
        has_projects = bool(self.project_bar.projects()) or not self._ready
        self.central.setCurrentWidget(self.workspace if has_projects else self.empty_page)
        self.project_bar.setEnabled(self._ready)
        self.generate_action.setEnabled(project is not None)
        self.import_action.setEnabled(project is not None)
        self.prompt_panel.generate_button.setEnabled(project is not None)
        self.prompt_panel.generate_button.setToolTip(
            "Generate (Ctrl+Enter)" if project is not None else "Create a project first")
        self._update_selection_actions()

    # --- generation ---------------------------------------------------------------------------

    @Slot()
    def generate(self) -> Job | None:
        """Queue the prompt panel's request for the active project."""
        project = self.current_project()
        if project is None:
            self.show_message("Create a project first: File → New Project.")
            return None
        try:
            request = self.prompt_panel.build_request(project.id)
        except UsageError as exc:
            self.prompt_panel.set_hint(exc.user_message)
            self.show_message(exc.user_message)
            self.prompt_panel.prompt_edit.setFocus()
            return None
        self.prompt_panel.set_hint("")
        self.prompt_panel.save_state(self.state)
        job = self.jobs.submit(request)
        ahead = self.jobs.active_count() - 1
        if ahead > 0:
            self.show_message(f"Queued behind {ahead} job{'s' if ahead != 1 else ''}.")
        return job

    @Slot()
    def refresh_backends(self) -> None:
        self.monitor.refresh()
        self.show_message("Checking the backends…", 3000)

    @Slot()
    def _on_cancel_triggered(self) -> None:
        if self.jobs.cancel_running():
            self.show_message("Cancelling the running job…")

    @Slot(object)
    def _on_jobs_job_started(self, job: Job) -> None:
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        self.progress_bar.show()
        self._update_progress(job)

    @Slot(object)
    def _on_jobs_job_progress(self, job: Job) -> None:
        self._update_progress(job)
        if job.id in self._canvas_jobs and job.state is JobState.running:
            self.canvas.show_progress(job.fraction, job.preview)

    def _update_progress(self, job: Job) -> None:
        self.progress_bar.setValue(int(job.fraction * 1000))
        if job.cancel_requested:
            text = "Cancelling…"
        elif job.step is not None and job.steps:
            text = f"Step {job.step}/{job.steps}"
            if job.eta_seconds is not None and job.eta_seconds >= 0.5:
                text += f" · {format_eta(job.eta_seconds)}"
        else:
            text = f"{int(job.fraction * 100)} %"
        self.progress_bar.setFormat(text)
        self.progress_bar.setToolTip(job.title)

    @Slot(object)
    def _on_jobs_job_finished(self, job: Job) -> None:
        canvas_job = job.id in self._canvas_jobs
        self._canvas_jobs.discard(job.id)
        if job.state is JobState.done:
            self.backend_status.set_last_job(job.backend_label, job.fallback_reason)
            project = self.current_project()
            mine = [a for a in job.assets if project is not None and a.projectId == project.id]
            if mine:
                self.gallery.add_assets(mine)
                if self.gallery.current_asset() is None:  # nothing chosen: show the new one
                    self.gallery.select_asset(mine[0].id)
            if job.assets and not canvas_job:
                self.prompt_panel.set_last_seed(job.assets[-1].seed)
            count = len(job.assets)
            text = f"Generated {count} image{'s' if count != 1 else ''} with {job.backend_label}."
            if job.fallback_reason:
                text += f" {job.fallback_reason}"
            self.show_message(text, 0 if job.fallback_reason else 8000)
            if canvas_job and job.assets:
                self._show_canvas_result(job.assets[0])
        elif job.state is JobState.failed:
            self.show_message(f"Generation failed: {job.error}", 0)
        elif job.state is JobState.cancelled:
            self.show_message("Job cancelled.")
        if canvas_job and not self._canvas_jobs:
            self.canvas.set_busy(False)

    @Slot(bool)
    def _on_jobs_busy_changed(self, busy: bool) -> None:
        self.monitor.set_paused(busy)
        self.backend_status.set_working(busy)
        self.cancel_action.setEnabled(True)
        if not busy:
            self.progress_bar.hide()

    @Slot(object)
    def _on_job_panel_show_assets(self, assets: list[Any]) -> None:
        self.tabs.setCurrentWidget(self.gallery)
        if assets:
            self.gallery.select_asset(assets[0].id)

    @Slot()
    def _update_preview_wanted(self, *_args: Any) -> None:
        visible = (self.jobs_dock.isVisible() and not self.jobs_dock.visibleRegion().isEmpty()) \
            or self.tabs.currentWidget() in (self._canvas, self._canvas_placeholder)
        self.jobs.set_want_preview(bool(visible) or not self.isVisible())

    # --- backends -----------------------------------------------------------------------------

    @Slot(object)
    def _on_monitor_statuses_changed(self, statuses: list[Any]) -> None:
        self._statuses = statuses
        self.backend_status.set_statuses(statuses)
        models, samplers, schedulers, current = catalogue(statuses)
        if models or samplers:
            self.prompt_panel.set_catalogue(models, samplers, schedulers, current)
        if usable(statuses):
            self.banner.hide()
        else:
            self.banner.label.setText(NO_BACKEND_HINT)
            self.banner.show()

    # --- gallery, details, canvas -------------------------------------------------------------

    @Slot(object)
    def _on_gallery_current_changed(self, asset: Any | None) -> None:
        self.details.show_asset(asset)
        self._update_selection_actions()

    def _update_selection_actions(self) -> None:
        has = self.gallery.current_asset() is not None
        for action in (self.copy_action, self.favorite_action, self.trash_action,
                       self.reuse_action, self.canvas_action):
            action.setEnabled(has)

    @Slot(object)
    def reuse_parameters(self, asset: Any) -> None:
        self.prompt_panel.apply_asset(asset)
        self.prompt_dock.show()
        self.show_message("Parameters copied to the prompt panel. Press Ctrl+Enter to generate.")

    @Slot(str)
    def _on_details_jump_to(self, asset_id: str) -> None:
        if not self.gallery.select_asset(asset_id):
            self.show_message("That image is not in this view (another project, the trash, "
                              "or filtered out).")

    @Slot(object)
    def _on_gallery_import_finished(self, report: Any) -> None:
        imported = len(getattr(report, "imported", []) or [])
        rejected = len(getattr(report, "rejected", []) or [])
        text = f"Imported {imported} image{'s' if imported != 1 else ''}"
        if rejected:
            text += f"; {rejected} file{'s' if rejected != 1 else ''} skipped"
        self.show_message(text + ".")

    @Slot()
    def _on_reuse_triggered(self) -> None:
        asset = self.gallery.current_asset()
        if asset is not None:
            self.reuse_parameters(asset)

    @Slot()
    def _on_open_canvas_triggered(self) -> None:
        asset = self.gallery.current_asset()
        if asset is not None:
            self.open_in_canvas(asset)

    @Slot()
    def _on_copy_triggered(self) -> None:
        self._gallery_command("copy")

    @Slot()
    def _on_favorite_triggered(self) -> None:
        self._gallery_command("favorite")

    @Slot()
    def _on_trash_triggered(self) -> None:
        self._gallery_command("trash")

    def _gallery_command(self, name: str) -> None:
        getattr(self.gallery, f"{name}_selected")()

    def _zoom(self, steps: int) -> None:
        self.gallery.zoom(steps)

    @Slot(bool)
    def _on_show_trash_toggled(self, on: bool) -> None:
        self.gallery.show_trash(on)
        self.tabs.setCurrentWidget(self.gallery)

    @Slot(bool)
    def _on_gallery_trash_shown(self, on: bool) -> None:
        if self.trash_view_action.isChecked() != on:
            self.trash_view_action.setChecked(on)

    @Slot(int)
    def _on_gallery_thumbnail_size_changed(self, px: int) -> None:
        self.state.set("gallery/thumbnail_size", px)

    @Slot(object)
    def open_in_canvas(self, asset: Any) -> None:
        if self.library is None:
            return
        try:
            path = self.library.path_of(asset)
        except DlxError as exc:
            self.show_message(exc.user_message)
            return
        self.show_message("Opening the image in the canvas…", 3000)

        def loaded(image: QImage) -> None:
            self._canvas_project_id = asset.projectId
            self.canvas.load_image(image, asset_id=asset.id, prompt=asset.prompt or "",
                                   negative=asset.negative or "",
                                   seed=asset.seed if asset.seed is not None else -1)
            self.tabs.setCurrentWidget(self.canvas)

        run_task(load_image_file, path, on_done=loaded, pool=self.io_pool,
                 on_error=lambda exc: self.show_message(
                     exc.user_message if isinstance(exc, DlxError)
                     else "Could not open the image."))

    @Slot(str)
    def _on_canvas_base_changed(self, _asset_id: str) -> None:
        pass  # same project; the canvas keeps track of its base image

    @Slot(object)
    def _on_canvas_inpaint_requested(self, data: Any) -> None:
        project_id = self._canvas_project_id or (self.current_project().id
                                                 if self.current_project() else None)
        if project_id is None:
            self.show_message("Open an image from a project first.")
            return
        settings = data.settings
        size = png_size(data.image_png) or (self.prompt_panel.width_spin.value(),
                                            self.prompt_panel.height_spin.value())
        panel = self.prompt_panel
        request = GenerationRequest(
            project_id=project_id,
            prompt=settings.prompt.strip(),
            kind=Kind.img2img if data.mask_png is None or settings.whole_image else Kind.inpaint,
            negative=settings.negative.strip(),
            model=panel.model(),
            sampler=panel.sampler(),
            scheduler=panel.scheduler(),
            steps=panel.steps_spin.value(),
            cfg_scale=round(panel.cfg_spin.value(), 2),
            seed=int(settings.seed),
            width=round8(size[0]),
            height=round8(size[1]),
            backend=panel.backend(),
            parent_id=data.asset_id or None,
            init_image=data.image_png,
            mask=None if settings.whole_image else data.mask_png,
            denoising_strength=float(settings.denoising_strength),
            mask_blur=int(settings.mask_blur),
            masked_content=MaskedContent(settings.masked_content),
            inpaint_area=InpaintArea(settings.inpaint_area),
            padding=int(settings.padding),
        )
        job = self.jobs.submit(request, origin="canvas")
        self._canvas_jobs.add(job.id)
        self.canvas.set_busy(True)

    def _show_canvas_result(self, asset: Any) -> None:
        try:
            path = self.library.path_of(asset)
        except DlxError:
            return
        run_task(load_image_file, path, pool=self.io_pool,
                 on_done=lambda image: self.canvas.show_result(image, asset.id),
                 on_error=lambda _exc: self.show_message("Could not open the result image."))

    # --- import -------------------------------------------------------------------------------

    @Slot()
    def prompt_import(self) -> None:
        project = self.current_project()
        if project is None:
            return
        files, _ = QFileDialog.getOpenFileNames(
            self, "Import Images", str(Path.home()),
            "Images (*.png *.jpg *.jpeg *.webp *.gif *.bmp *.tif *.tiff);;All files (*)")
        if files:
            self.import_files(files)

    def import_files(self, paths: list[str]) -> None:
        """Import into the active project in the background (the gallery's importer)."""
        self.gallery.import_files(paths)

    # --- settings -----------------------------------------------------------------------------

    @Slot()
    def open_settings(self, tab: str | None = None) -> bool:
        from dlx_art.gui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.context.settings, self.library_root(), parent=self,
                                tab=tab if isinstance(tab, str) else None)
        accepted = dialog.exec() == SettingsDialog.DialogCode.Accepted
        settings, change = dialog.result_settings, dialog.library_change
        dialog.deleteLater()
        if not accepted or settings is None:
            return False
        self.apply_settings(settings)
        if change is not None:
            action, folder = change
            if action == "move":
                self.move_library(folder)
            else:
                self.switch_library(folder)
        return True

    def apply_settings(self, settings: Any) -> None:
        """Save and use new settings: backends are rebuilt, the theme changes at once."""
        old_theme = self.context.settings.theme
        self.context.save_settings(settings)
        self.routers.update(self.context.effective)
        if settings.theme != old_theme:
            app = QApplication.instance()
            if isinstance(app, QApplication):
                theme.apply_theme(app, settings.theme)
            if settings.theme in self.theme_actions:
                self.theme_actions[settings.theme].setChecked(True)
        self.monitor.refresh()
        self.show_message("Settings saved.")

    @Slot(QAction)
    def _on_theme_group_triggered(self, action: QAction) -> None:
        name = str(action.data())
        if name == self.context.settings.theme:
            return
        import copy

        settings = copy.deepcopy(self.context.settings)
        settings.theme = name
        self.apply_settings(settings)

    # --- moving / switching the library -------------------------------------------------------

    def _library_busy_message(self) -> str | None:
        if not self._ready:
            return "Wait for the library to open first."
        if self.jobs.is_busy():
            return "Wait for the running jobs to finish (or cancel them) first."
        return None

    def move_library(self, target: Path) -> bool:
        """Copy + verify the library into `target`, then use it there (the old copy stays)."""
        from dlx_art.gui.settings_dialog import MoveProgress, copy_library, describe_move

        if (busy := self._library_busy_message()) is not None:
            self.show_message(busy)
            return False
        source = Path(self.library.root)
        new_lock = LibraryLock(target)
        try:
            new_lock.acquire()
        except (LibraryLocked, OSError) as exc:
            self._error_box("Move Library", getattr(exc, "user_message", str(exc)))
            return False
        self._detach_library()
        progress = MoveProgress()
        dialog = QProgressDialog("Moving the library…", "Stop", 0, 1000, self)
        dialog.setObjectName("moveProgressDialog")
        dialog.setWindowTitle("Move Library")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.canceled.connect(progress.stop)
        timer = QTimer(self)
        timer.setInterval(100)

        def tick() -> None:
            dialog.setLabelText(describe_move(progress))
            if progress.total:
                dialog.setValue(int(progress.done * 1000 / progress.total))

        timer.timeout.connect(tick)
        timer.start()
        outcome: dict[str, Any] = {}
        from PySide6.QtCore import QEventLoop

        loop = QEventLoop()

        def finished(value: Any = None, error: BaseException | None = None) -> None:
            outcome["value"], outcome["error"] = value, error
            loop.quit()

        run_task(copy_library, source, target, progress, pool=self.io_pool,
                 on_done=lambda v: finished(v), on_error=lambda e: finished(error=e))
        loop.exec()
        timer.stop()
        timer.deleteLater()
        dialog.reset()
        dialog.deleteLater()
        error = outcome.get("error")
        if error is not None:
            new_lock.release()
            self._attach_library(source, self.lock)
            message = error.user_message if isinstance(error, DlxError) else \
                "The library could not be moved; see the log."
            self._error_box("Move Library", message)
            return False
        old_lock = self.lock
        import copy

        settings = copy.deepcopy(self.context.settings)
        settings.storage_root = str(target)
        self.context.save_settings(settings)
        self._attach_library(target, new_lock)
        if old_lock is not None and old_lock is not new_lock:
            old_lock.release()
        self.show_message(f"The library now lives in {target}. The old folder {source} was "
                          "kept; delete it when you no longer need it.", 0)
        return True

    def switch_library(self, folder: Path) -> bool:
        """Use the library in `folder` (created when empty)."""
        if (busy := self._library_busy_message()) is not None:
            self.show_message(busy)
            return False
        new_lock = LibraryLock(folder)
        try:
            new_lock.acquire()
        except (LibraryLocked, OSError) as exc:
            self._error_box("Use Another Library", getattr(exc, "user_message", str(exc)))
            return False
        old_root, old_lock = Path(self.library.root), self.lock
        self._detach_library()
        try:
            self._attach_library(folder, new_lock)
        except DlxError as exc:
            new_lock.release()
            self._attach_library(old_root, old_lock)
            self._error_box("Use Another Library", exc.user_message)
            return False
        import copy

        settings = copy.deepcopy(self.context.settings)
        settings.storage_root = str(folder)
        self.context.save_settings(settings)
        if old_lock is not None:
            old_lock.release()
        self.show_message(f"Using the library in {folder}.")
        return True

    def _detach_library(self) -> None:
        """Stop everything that reads the library and close it (GUI thread blocks briefly)."""
        self.details.show_asset(None)
        self.gallery.shutdown(SHUTDOWN_WAIT_MS)
        self.details.shutdown(SHUTDOWN_WAIT_MS)
        self.io_pool.waitForDone(SHUTDOWN_WAIT_MS)
        self.library.close()

    def _attach_library(self, root: Path, lock: LibraryLock | None) -> None:
        from dlx_art.library.service import Library

        library = Library.open(root)
        self.lock = lock
        self._use_library(library)

    # --- help ---------------------------------------------------------------------------------

    @Slot()
    def show_about(self) -> None:
        backends = []
        for status in self._statuses or []:
            backends.append(f"{status.label}: {status.state}")
        box = QMessageBox(self)
        box.setObjectName("aboutBox")
        box.setWindowTitle(f"About {APP_NAME}")
        box.setIcon(QMessageBox.Icon.NoIcon)
        if not self.windowIcon().isNull():
            box.setIconPixmap(self.windowIcon().pixmap(64, 64))
        box.setTextFormat(Qt.TextFormat.RichText)
        from html import escape

        rows = "".join(f"<li>{escape(b)}</li>" for b in backends) or "<li>Not checked yet</li>"
        box.setText(
            f"<h3>{APP_NAME} {escape(__version__)}</h3>"
            "<p>A local-first studio for AI image generation with AUTOMATIC1111 and "
            "Hugging Face.</p>"
            f"<p><b>Library:</b> {escape(str(self.library_root()))}<br>"
            f"<b>Settings:</b> {escape(str(self.context.paths.settings_file))}<br>"
            f"<b>Logs:</b> {escape(str(self.context.paths.log_dir))}</p>"
            f"<p><b>Backends:</b></p><ul>{rows}</ul>"
        )
        box.setStandardButtons(QMessageBox.StandardButton.Close)
        box.exec()
        box.deleteLater()

    def _open_folder(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.show_message(f"Could not open a file manager; the folder is {folder}", 0)

    # --- helpers ------------------------------------------------------------------------------

    def library_root(self) -> Path:
        return Path(self.library.root) if self.library is not None else self.context.storage_root

    @Slot(str)
    def show_message(self, text: str, timeout_ms: int = STATUS_TIMEOUT_MS) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def _error_box(self, title: str, text: str) -> None:
        if QApplication.platformName() in ("offscreen", "minimal"):
            log.warning("%s: %s", title, text)
            self.show_message(text, 0)
            return
        QMessageBox.warning(self, title, text)

    @Slot(QWidget, QWidget)
    def _on_app_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        # Ctrl+Enter means Inpaint inside the canvas (its own shortcut); everywhere else it
        # generates. Two active shortcuts on one key would cancel each other out.
        in_canvas = new is not None and self._canvas is not None \
            and self._canvas.isAncestorOf(new)
        wanted = [] if in_canvas else self._generate_shortcuts
        if self.generate_action.shortcuts() != wanted:
            self.generate_action.setShortcuts(wanted)

    # --- closing ------------------------------------------------------------------------------

    def confirm_quit(self) -> bool:
        """Ask before quitting while a job runs. Returns True to quit."""
        if self._force_quit or not self.jobs.is_busy():
            return True
        count = self.jobs.active_count()
        box = QMessageBox(self)
        box.setObjectName("quitWhileBusyBox")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Quit DLX Art Studio")
        box.setText("A job is still running." if count == 1 else
                    f"{count} jobs are running or queued.")
        box.setInformativeText("Quit anyway? The running job is cancelled on the server; "
                               "finished images are already saved.")
        quit_button = box.addButton("Cancel Jobs and Quit", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep Working", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(quit_button)
        box.setStyleSheet("QLabel { min-width: 320px; }")
        box.exec()
        answer = box.clickedButton() is quit_button
        box.deleteLater()
        return answer

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self._shut_down:
            event.accept()
            return
        if not self.confirm_quit():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self, timeout_ms: int = SHUTDOWN_WAIT_MS) -> bool:
        """Save state, cancel jobs, stop polling and wait (bounded) for every thread."""
        if self._shut_down:
            return True
        self._shut_down = True
        self.save_state()
        self.show_message("Stopping…")
        ok = self.jobs.shutdown(timeout_ms)
        ok = self.monitor.stop(timeout_ms) and ok
        ok = self.io_pool.waitForDone(timeout_ms) and ok
        self.gallery.shutdown(timeout_ms)
        self.details.shutdown(timeout_ms)
        ok = self.io_pool.waitForDone(timeout_ms) and ok  # a library still opening
        app = QApplication.instance()
        if isinstance(app, QApplication):
            with contextlib.suppress(RuntimeError, TypeError):
                app.focusChanged.disconnect(self._on_app_focus_changed)
        log.info("window closed (threads ended: %s)", ok)
        self.closed.emit()
        return ok

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.WindowActivate and self._statuses is not None \
                and not usable(self._statuses):
            self.monitor.refresh()  # the person may have just started the server
        return super().event(event)


# --- embedded widgets -------------------------------------------------------------------------


def _make_gallery(library: Any) -> Any:
    from dlx_art.gui.gallery import GalleryWidget

    return GalleryWidget(library)


def _make_details(library: Any) -> Any:
    from dlx_art.gui.details_panel import DetailsPanel

    return DetailsPanel(library)
