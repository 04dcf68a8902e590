"""The studio window: project bar, prompt panel, gallery / canvas, details, job queue, status.

The window builds its widgets once and wires them to its `Session`, which owns the library,
the jobs, the backend monitor and every background thread (its task runner's lanes). When the
session opens, switches or moves the library, the widgets are told `set_library(...)`; the
window never waits for a thread itself (`Session.shutdown` does). Pixmaps are only made on the
GUI thread; everything slow runs on the session's lanes.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QEvent, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from dlx_art import APP_NAME
from dlx_art.errors import UsageError
from dlx_art.gui import theme
from dlx_art.gui.canvas_link import CanvasLink, load_image_file, png_size  # noqa: F401
from dlx_art.gui.details_panel import DetailsPanel
from dlx_art.gui.first_paint import after_first_paint
from dlx_art.gui.gallery import GalleryWidget
from dlx_art.gui.job_panel import JobPanel, JobProgressBar, finished_message
from dlx_art.gui.jobs import Job, JobState
from dlx_art.gui.library_commands import LibraryCommands
from dlx_art.gui.live_updates import LiveUpdates
from dlx_art.gui.project_bar import ProjectBar
from dlx_art.gui.prompt_link import PromptLink
from dlx_art.gui.prompt_panel import PromptPanel
from dlx_art.gui.state import UiState
from dlx_art.gui.status import NO_BACKEND_HINT, BackendStatusWidget, catalogue, usable
from dlx_art.gui.status_bar import StudioStatusBar
from dlx_art.gui.upscale import UpscaleLink
from dlx_art.gui.viewer import ImageViewer
from dlx_art.gui.window_menus import WindowActions, build_actions, build_menus
from dlx_art.gui.window_parts import (
    Banner,
    EmptyStatePage,
    ask_quit_while_busy,
    show_about_box,
)
from dlx_art.gui.window_room import CanvasRoom, fit_to_screen
from dlx_art.library.lock import LOCK_FILE, LibraryLock  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from dlx_art.config import Context
    from dlx_art.gui.jobs import JobController, RouterProvider
    from dlx_art.gui.session import Session
    from dlx_art.gui.status import BackendMonitor
    from dlx_art.library.service import Library

log = logging.getLogger("dlx_art.gui.main_window")

STATE_VERSION = 1
SHUTDOWN_WAIT_MS = 15_000
STATUS_TIMEOUT_MS = 8000


class MainWindow(QMainWindow, WindowActions):
    """The studio window on a `Session`.

    If the session has no library yet, the window asks it to open one and shows at once
    ("Opening the library…"); `library_ready` / `library_failed` follow.

    Args:
        session: the application's `Session` (context, library, lock, jobs, lanes).
        start_background: start the backend monitor and the start-up checks (tests of pure
            widgets can turn it off).

    Signals:
        closed(): the window closed and the session shut down (threads ended or timed out).
        library_ready(): a library is open and shown (projects listed, gallery filled).
        library_failed(str): the library could not be opened (message for the person).
    """

    closed = Signal()
    library_ready = Signal()
    library_failed = Signal(str)

    def __init__(self, session: Session, *, start_background: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.session = session
        if session.parent() is None:
            session.setParent(self)
        self.state = UiState(self.context.paths.config_dir)
        self._shut_down = False
        self._force_quit = False
        self._statuses: list[Any] | None = None
        self._startup_report: str | None = None
        self._ready = False
        self._background = start_background
        self._monitor_started = False

        self._build_widgets()
        build_actions(self)
        build_menus(self)
        self._connect()
        self.setWindowTitle(APP_NAME)
        self.resize(1360, 860)
        self._restore_state()
        fit_to_screen(self)
        if session.library is not None:
            self._on_session_library_opened(session.library)
        else:
            self._update_project_ui()
            # the catalog opens once the window is on screen: importing the database layer
            # before would compete with the first frame for the GIL
            after_first_paint(self, self._open_library_in_background)
        if start_background:
            if session.library is not None:
                QTimer.singleShot(0, self._start_monitor)
            else:  # first the catalog: both imports compete for the same CPU and GIL
                self.library_ready.connect(self._start_monitor,
                                           Qt.ConnectionType.SingleShotConnection)
                self.library_failed.connect(self._start_monitor,
                                            Qt.ConnectionType.SingleShotConnection)

    # --- the session's parts --------------------------------------------------------------

    @property
    def context(self) -> Context:
        return self.session.context

    @property
    def library(self) -> Library | None:
        return self.session.library

    @property
    def lock(self) -> LibraryLock | None:
        return self.session.lock

    @property
    def jobs(self) -> JobController:
        return self.session.jobs

    @property
    def monitor(self) -> BackendMonitor:
        return self.session.monitor

    @property
    def routers(self) -> RouterProvider:
        return self.session.routers

    # --- construction -------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        runner = self.session.runner
        self.project_bar = ProjectBar(self.library, runner=runner)
        self.toolbar = QToolBar("Project")
        self.toolbar.setObjectName("mainToolbar")
        self.toolbar.setMovable(False)
        self.toolbar.setFloatable(False)
        self.toolbar.addWidget(self.project_bar)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)

        self.prompt_panel = PromptPanel()
        self.prompt_dock = self._dock("Generate", "promptDock", self.prompt_panel,
                                      Qt.DockWidgetArea.LeftDockWidgetArea)

        # created once; they show "Opening the library…" until `set_library`
        self.gallery = GalleryWidget(None, runner=runner)
        self.details = DetailsPanel(None, runner=runner)
        self.details_dock = self._dock("Details", "detailsDock", self.details,
                                       Qt.DockWidgetArea.RightDockWidgetArea)
        self.viewer = ImageViewer(None, self, runner=runner)  # laid over the window when open
        self._picks_at_start: dict[str, int] = {}  # job id -> gallery.person_picks at start

        self.job_panel = JobPanel(self.jobs)
        self.jobs_dock = self._dock("Jobs", "jobsDock", self.job_panel,
                                    Qt.DockWidgetArea.RightDockWidgetArea)
        self.splitDockWidget(self.details_dock, self.jobs_dock, Qt.Orientation.Vertical)
        self.resizeDocks([self.prompt_dock], [330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.details_dock], [330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.details_dock, self.jobs_dock], [460, 300], Qt.Orientation.Vertical)

        # the canvas is built the first time it is needed (it is not on the start-up path)
        self.canvas_link = CanvasLink(self)
        self.library_commands = LibraryCommands(self)
        self.canvas_placeholder = QWidget()
        self.canvas_placeholder.setObjectName("canvasPlaceholder")
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.gallery, "Gallery")
        self.tabs.addTab(self.canvas_placeholder, "Canvas")

        self.banner = Banner()
        self.banner.hide()
        workspace = QWidget()
        workspace.setObjectName("workspace")
        layout = QVBoxLayout(workspace)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)

        self.empty_page = EmptyStatePage()
        self.central = QStackedWidget()
        self.central.setObjectName("centralStack")
        self.central.addWidget(self.empty_page)
        self.central.addWidget(workspace)
        self.workspace = workspace
        self.setCentralWidget(self.central)

        self.backend_status = BackendStatusWidget()
        self.progress_bar = JobProgressBar()
        self.setStatusBar(StudioStatusBar())  # messages never run into the permanent widgets
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

    def _connect(self) -> None:
        # what other processes add or change shows up here (issue 13, live across processes)
        self.live_updates = LiveUpdates(self.session, self.gallery, self.project_bar, self)
        pb = self.project_bar
        pb.project_changed.connect(self._on_project_bar_project_changed)
        pb.message.connect(self.show_message)
        self.empty_page.button.clicked.connect(pb.prompt_new_project)
        self.prompt_panel.generate_requested.connect(self.generate)
        self.prompt_panel.refresh_requested.connect(self.refresh_backends)
        self.prompt_panel.watch_jobs(self.jobs)  # Interrupt / Skip / "Add to Queue"
        self.banner.retry_button.clicked.connect(self.refresh_backends)
        self.banner.settings_button.clicked.connect(lambda: self.open_settings("a1111"))

        self.jobs.job_started.connect(self.progress_bar.start)
        self.jobs.job_progress.connect(self._on_jobs_job_progress)
        self.jobs.job_finished.connect(self._on_jobs_job_finished)
        self.jobs.busy_changed.connect(self._on_jobs_busy_changed)
        self.job_panel.show_assets.connect(self._on_job_panel_show_assets)

        self.monitor.statuses_changed.connect(self._on_monitor_statuses_changed)
        self.monitor.checking_changed.connect(self.backend_status.set_checking)

        s = self.session
        s.library_opening.connect(self._on_session_library_opening)
        s.library_opened.connect(self._on_session_library_opened)
        s.library_failed.connect(self._on_session_library_failed)
        s.checks_done.connect(self._on_startup_checks_done)
        s.checks_failed.connect(self._on_startup_checks_failed)

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
        self.upscale_link = UpscaleLink(self)  # "Upscale…" in the details and the gallery
        d.upscale_requested.connect(self.upscale_link.ask)
        g.upscale_requested.connect(self.upscale_link.ask)
        d.jump_to.connect(self._on_details_jump_to)
        d.status_message.connect(self.show_message)
        d.reuse_prompt.connect(self._on_details_reuse_prompt)
        d.reuse_seed.connect(self._on_details_reuse_seed)
        d.open_viewer.connect(self.open_viewer)
        self.viewer.step_requested.connect(self._on_viewer_step_requested)
        self.jobs.job_started.connect(self._on_jobs_job_started)
        for widget in (self.gallery, self.details):
            # Space opens the viewer from the gallery and the details, never from a text field
            # (they take Space themselves) nor the canvas (where Space pans)
            space = QShortcut(QKeySequence(Qt.Key.Key_Space), widget)
            space.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            space.activated.connect(self.toggle_viewer)

        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.canvas_room = CanvasRoom(self)  # the side panels step aside in the canvas
        self.jobs_dock.visibilityChanged.connect(self._update_preview_wanted)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._on_app_focus_changed)
        # toolbox browsers, A1111-only warning, prompt history, "More like this"
        self.prompt_link = PromptLink(self)

    @property
    def canvas(self) -> Any:
        """The refinement canvas, built on first use."""
        return self.canvas_link.canvas()

    @Slot(int)
    def _on_tabs_current_changed(self, _index: int) -> None:
        if self.tabs.currentWidget() is self.canvas_placeholder:
            self.tabs.setCurrentWidget(self.canvas)
        # one prompt source per mode: in the canvas, Inpaint and Refine use the canvas prompt
        in_canvas = self.tabs.currentWidget() is self.canvas_link.built
        self.prompt_dock.setWindowTitle("Generate (new images)"
                                        if in_canvas else "Generate")
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
        self.canvas_room.come_back()  # the layout to start with is the gallery's
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

    # --- the library (opened, switched and moved by the session) ------------------------------

    def _open_library_in_background(self) -> None:
        if not self._shut_down and self.session.library is None:
            self.session.open()

    @Slot(object)
    def _on_session_library_opening(self, _path: Path) -> None:
        self._ready = False
        self._update_project_ui()

    @Slot(object)
    def _on_session_library_opened(self, library: Library | None) -> None:
        """Show `library` (None: let go of the old one): gallery, details, projects."""
        self.details.set_library(library)
        self.gallery.set_library(library)
        self.viewer.set_library(library)
        self.trash_view_action.setChecked(False)
        if library is None:
            self._ready = False
            self.project_bar.set_library(None)
            self._update_project_ui()
            return
        size = self.state.get_int("gallery/thumbnail_size", 0)
        if size:
            self.gallery.set_thumbnail_size(size)
        self._ready = True
        if getattr(library, "recovery", None):
            self.show_message(library.recovery, 0)
        self.project_bar.set_library(
            library, select_id=self.state.get_str("session/last_project") or None)
        self._update_project_ui()
        if self._background:
            self.session.run_startup_checks()
        self.library_ready.emit()

    @Slot(str)
    def _on_session_library_failed(self, message: str) -> None:
        self.gallery.view.empty_text = message
        self.gallery.view.viewport().update()
        self.show_message(message, 0)
        self.library_failed.emit(message)

    def _on_startup_checks_done(self, summary: str | None) -> None:
        self._startup_report = summary
        if summary and not self._shut_down:
            self.show_message(f"Library check: {summary}", 0)
            self.gallery.refresh()

    def _on_startup_checks_failed(self, message: str) -> None:
        self.show_message(f"The library check failed: {message}", 0)

    def move_library(self, target: Path) -> bool:
        """Start moving the library to `target` (see `LibraryCommands.move`)."""
        return self.library_commands.move(target)

    def switch_library(self, folder: Path) -> bool:
        """Start using the library in `folder` (see `LibraryCommands.switch`)."""
        return self.library_commands.switch(folder)

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
    def _on_jobs_job_progress(self, job: Job) -> None:
        self.progress_bar.show_job(job)
        self.canvas_link.on_job_progress(job)
        picked = self.gallery.person_picks != self._picks_at_start.get(job.id)
        if job.preview is not None and job.id not in self.canvas_link.jobs and not picked:
            # the live preview large, where the current image is (not only in the job row),
            # until the person picks an image to look at
            step = f" · step {job.step} of {job.steps}" if job.step and job.steps else ""
            self.details.show_live_preview(job.preview, f"Generating…{step}")

    @Slot(object)
    def _on_jobs_job_started(self, job: Job) -> None:
        self._picks_at_start[job.id] = self.gallery.person_picks

    @Slot(object)
    def _on_jobs_job_finished(self, job: Job) -> None:
        canvas_job = job.id in self.canvas_link.jobs
        if job.state is JobState.done:
            self.backend_status.set_last_job(job.backend_label, job.fallback_reason)
            project = self.current_project()
            mine = [a for a in job.assets if project is not None and a.projectId == project.id]
            if mine:
                # the newest becomes current unless the person picked another meanwhile
                picks = None if canvas_job else self._picks_at_start.get(job.id)
                self.gallery.show_results(mine, picks)
            if job.assets and not canvas_job:
                self.prompt_panel.set_last_seed(job.assets[-1].seed)
        self._picks_at_start.pop(job.id, None)
        self.details.end_live_preview()  # the result (or the image the person picked)
        if (message := finished_message(job)) is not None:
            self.show_message(*message)
        self.canvas_link.on_job_finished(job)

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
            or self.tabs.currentWidget() in (self.canvas_link.built, self.canvas_placeholder)
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

    @Slot(object)
    def _on_details_reuse_prompt(self, asset: Any) -> None:
        self.prompt_panel.apply_asset(asset, part="prompt")
        self.prompt_dock.show()
        self.show_message("Prompt copied to the prompt panel.")

    @Slot(object)
    def _on_details_reuse_seed(self, asset: Any) -> None:
        self.prompt_panel.apply_asset(asset, part="seed")
        self.prompt_dock.show()
        self.show_message(f"Seed {asset.seed} set in the prompt panel.")

    @Slot(object)
    def open_viewer(self, asset: Any | None = None) -> None:
        """Show an image (default: the current one) full size over the window."""
        asset = asset or self.gallery.current_asset()
        if asset is not None:
            self.viewer.open_asset(asset)

    @Slot()
    def toggle_viewer(self) -> None:
        if self.viewer.isVisible():
            self.viewer.close_viewer()
        else:
            self.open_viewer()

    @Slot(int)
    def _on_viewer_step_requested(self, delta: int) -> None:
        asset = self.gallery.step_current(delta)
        if asset is not None:
            self.viewer.show_asset(asset)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.viewer.isVisible():
            self.viewer.setGeometry(self.rect())

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
        if (asset := self.gallery.current_asset()) is not None:
            self.reuse_parameters(asset)

    @Slot()
    def _on_open_canvas_triggered(self) -> None:
        if (asset := self.gallery.current_asset()) is not None:
            self.open_in_canvas(asset)

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
        self.canvas_link.open(asset)

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
                                tab=tab if isinstance(tab, str) else None,
                                runner=self.session.runner)
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
        self.session.apply_settings(settings)
        if settings.theme != old_theme:
            app = QApplication.instance()
            if isinstance(app, QApplication):
                theme.apply_theme(app, settings.theme)
            if settings.theme in self.theme_actions:
                self.theme_actions[settings.theme].setChecked(True)
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

    # --- help ---------------------------------------------------------------------------------

    @Slot()
    def show_about(self) -> None:
        backends = [f"{status.label}: {status.state}" for status in self._statuses or []]
        show_about_box(self, backends, self.library_root(), self.context.paths)

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

    def error_box(self, title: str, text: str) -> None:
        if QApplication.platformName() in ("offscreen", "minimal"):
            log.warning("%s: %s", title, text)
            self.show_message(text, 0)
            return
        QMessageBox.warning(self, title, text)

    @Slot(QWidget, QWidget)
    def _on_app_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        # Ctrl+Enter means Inpaint inside the canvas (its own shortcut); everywhere else it
        # generates. Two active shortcuts on one key would cancel each other out.
        canvas = self.canvas_link.built
        in_canvas = new is not None and canvas is not None and canvas.isAncestorOf(new)
        wanted = [] if in_canvas else self._generate_shortcuts
        if self.generate_action.shortcuts() != wanted:
            self.generate_action.setShortcuts(wanted)

    # --- closing ------------------------------------------------------------------------------

    def confirm_quit(self) -> bool:
        """Ask before quitting while a job runs. Returns True to quit."""
        # jobs another program runs (dlx-art serve) go on without the window: nothing to ask
        if self._force_quit or not self.jobs.own_active_count() or \
                self.jobs.is_runner is False:
            return True
        return ask_quit_while_busy(self, self.jobs.own_active_count())

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
        """Save state, let the views go and shut the session down (it waits, bounded)."""
        if self._shut_down:
            return True
        self._shut_down = True
        self.save_state()
        self.show_message("Stopping…")
        self.gallery.shutdown(0)  # stop imports, drop queued reads; the session waits
        self.details.shutdown(0)
        self.viewer.shutdown(0)
        ok = self.session.shutdown(timeout_ms)
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
