"""The job queue panel: queued / running / finished jobs with progress, preview and retry."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QModelIndex, QPoint, QRect, QSize, Qt, Signal, Slot
from PySide6.QtGui import QAction, QColor, QGuiApplication, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QProgressBar,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from dlx_art.gui import theme
from dlx_art.gui.jobs import STATE_LABELS, Job, JobController, JobRole, JobState, format_eta

log = logging.getLogger("dlx_art.gui.job_panel")

ROW_HEIGHT = 64
THUMB = 48
STATE_COLORS = {state: theme.JOB_STATE_COLORS[state.value] for state in JobState}


class JobDelegate(QStyledItemDelegate):
    """Paints a job: preview thumbnail, prompt, state badge, progress bar and status line."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        # the view gives every row its whole width; a wider hint (the width the view had
        # before its scroll bar appeared) would clip the badge behind a horizontal scroll bar
        return QSize(200, ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        job: Job | None = index.data(JobRole.job)
        if job is None:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette: QPalette = option.palette
        rect: QRect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver) and not selected
        # colours from the theme, where a test holds every text of the row to WCAG AA
        back = theme.job_row_background(palette, selected, hovered)
        if selected or hovered:
            painter.fillRect(rect, back)
        # separator
        painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 1))
        painter.drawLine(rect.left() + 8, rect.bottom(), rect.right() - 8, rect.bottom())

        pad = 8
        thumb_rect = QRect(rect.left() + pad, rect.top() + (rect.height() - THUMB) // 2,
                           THUMB, THUMB)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.Base))
        painter.drawRoundedRect(thumb_rect, 4, 4)
        if job.pixmap is not None and not job.pixmap.isNull():
            scaled = job.pixmap.scaled(thumb_rect.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation)
            x = thumb_rect.left() + (THUMB - scaled.width()) // 2
            y = thumb_rect.top() + (THUMB - scaled.height()) // 2
            painter.drawPixmap(x, y, scaled)
        else:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            glyph = {JobState.queued: "…", JobState.running: "◔", JobState.failed: "!",
                     JobState.cancelled: "×", JobState.done: "✓",
                     JobState.interrupted: "⏸"}[job.state]
            painter.drawText(thumb_rect, Qt.AlignmentFlag.AlignCenter, glyph)

        text_left = thumb_rect.right() + 10
        text_right = rect.right() - pad
        fm = option.fontMetrics
        line_h = fm.height()

        # state badge (right-aligned on the first line)
        badge = STATE_LABELS[job.state]
        badge_font = painter.font()
        badge_font.setPointSizeF(max(7.0, badge_font.pointSizeF() * 0.85))
        badge_font.setBold(True)
        painter.setFont(badge_font)
        bfm = painter.fontMetrics()
        badge_w = bfm.horizontalAdvance(badge) + 12
        badge_rect = QRect(text_right - badge_w, rect.top() + 7, badge_w, bfm.height() + 2)
        fill, badge_text = theme.job_badge_colors(QColor(STATE_COLORS[job.state]), back)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(badge_rect, badge_rect.height() / 2, badge_rect.height() / 2)
        painter.setPen(badge_text)
        painter.drawText(badge_rect, Qt.AlignmentFlag.AlignCenter, badge)

        # who queued it (this window, a command, the service), muted, left of the badge
        origin_font = painter.font()
        origin_font.setBold(False)
        painter.setFont(origin_font)
        origin = job.origin_label
        origin_w = painter.fontMetrics().horizontalAdvance(origin)
        origin_rect = QRect(badge_rect.left() - 8 - origin_w, badge_rect.top(), origin_w,
                            badge_rect.height())
        painter.setPen(theme.readable(palette.color(QPalette.ColorRole.PlaceholderText), back))
        painter.drawText(origin_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                         origin)
        painter.setFont(option.font)

        # title (prompt)
        title_rect = QRect(text_left, rect.top() + 6, origin_rect.left() - 8 - text_left, line_h)
        painter.setPen(theme.job_row_title(palette, selected, hovered))
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(job.title, Qt.TextElideMode.ElideRight, title_rect.width()))

        # progress bar (running) or summary line
        mid_y = title_rect.bottom() + 5
        if job.state is JobState.running:
            bar = QRect(text_left, mid_y + 2, text_right - text_left, 5)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Base))
            painter.drawRoundedRect(bar, 2.5, 2.5)
            if job.fraction > 0:
                done = QRect(bar)
                done.setWidth(max(5, int(bar.width() * job.fraction)))
                painter.setBrush(QColor(STATE_COLORS[JobState.running]))
                painter.drawRoundedRect(done, 2.5, 2.5)
            status_top = bar.bottom() + 4
        else:
            status_top = mid_y
        secondary = palette.color(QPalette.ColorRole.PlaceholderText)
        if job.state in (JobState.failed, JobState.interrupted):
            secondary = QColor(STATE_COLORS[job.state])
        painter.setPen(theme.readable(secondary, back))
        small = painter.font()
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.92))
        painter.setFont(small)
        sfm = painter.fontMetrics()
        if job.state in (JobState.running, JobState.failed, JobState.done,
                         JobState.interrupted):
            line = job.status_text
        elif job.note:  # waiting with something to say ("Interrupted; runs again once")
            line = f"{job.note} · {job.summary}"
        else:
            line = job.summary
        status_rect = QRect(text_left, status_top, text_right - text_left, sfm.height())
        painter.drawText(status_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         sfm.elidedText(line, Qt.TextElideMode.ElideRight, status_rect.width()))
        painter.restore()


class JobPanel(QWidget):
    """Every job of the library (whoever queued it) plus Cancel / Cancel all / Retry / Clear.

    Signals:
        show_assets(object): the person double-clicked a finished job (list of AssetInfo).
    """

    show_assets = Signal(object)

    def __init__(self, controller: JobController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("jobPanel")
        self.controller = controller

        self.view = QListView()
        self.view.setObjectName("jobList")
        self.view.setModel(controller.model)
        self.view.setItemDelegate(JobDelegate(self.view))
        self.view.setUniformItemSizes(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setMouseTracking(True)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.setAccessibleName("Jobs")
        self.view.customContextMenuRequested.connect(self._on_view_context_menu)
        self.view.doubleClicked.connect(self._on_view_double_clicked)

        # who runs the library's jobs, when it is not this window (`dlx-art serve`, a command)
        self.runner_label = QLabel()
        self.runner_label.setObjectName("jobRunnerLabel")
        self.runner_label.setProperty("role", "hint")
        self.runner_label.setWordWrap(True)
        self.runner_label.setContentsMargins(10, 6, 10, 0)
        self.runner_label.hide()

        self.empty_label = QLabel("No jobs yet. Write a prompt and press Generate (Ctrl+Enter).")
        self.empty_label.setObjectName("jobsEmpty")
        self.empty_label.setProperty("role", "hint")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        # the selected failed job's whole error, wrapped: the row has room for one line only
        self.error_label = QLabel()
        self.error_label.setObjectName("jobError")
        self.error_label.setProperty("role", "error")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setContentsMargins(10, 6, 10, 0)
        self.error_label.hide()

        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Cancel the selected or running job (Esc in this panel)")
        self.cancel_all_button = QPushButton("Cancel All")
        self.cancel_all_button.setObjectName("cancelAllButton")
        self.cancel_all_button.setToolTip("Cancel every running and queued job of the list, "
                                          "whoever queued it")
        self.retry_button = QPushButton("Retry")
        self.retry_button.setObjectName("retryButton")
        self.retry_button.setToolTip("Run the selected job again")
        self.clear_button = QPushButton("Clear Finished")
        self.clear_button.setObjectName("clearJobsButton")
        self.clear_button.setToolTip("Remove finished, failed and cancelled jobs from the list")
        for button in (self.cancel_button, self.cancel_all_button, self.retry_button,
                       self.clear_button):
            button.setAutoDefault(False)

        buttons = QHBoxLayout()
        buttons.setContentsMargins(8, 6, 8, 8)
        buttons.setSpacing(6)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.cancel_all_button)
        buttons.addStretch(1)
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.clear_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.runner_label)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.empty_label, 1)
        layout.addWidget(self.error_label)
        layout.addLayout(buttons)

        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.cancel_all_button.clicked.connect(self._on_cancel_all_clicked)
        self.retry_button.clicked.connect(self._on_retry_clicked)
        self.clear_button.clicked.connect(self._on_clear_clicked)
        model = controller.model
        model.rowsInserted.connect(self._update)
        model.rowsRemoved.connect(self._update)
        model.dataChanged.connect(self._update)
        self.view.selectionModel().currentChanged.connect(self._update)
        controller.busy_changed.connect(self._update)
        controller.jobs_changed.connect(self._update)
        controller.runner_changed.connect(self._on_controller_runner_changed)
        self._update()

    # --- queries ------------------------------------------------------------------------------

    def selected_job(self) -> Job | None:
        index = self.view.currentIndex()
        return index.data(JobRole.job) if index.isValid() else None

    def select_job(self, job_id: str) -> None:
        row = self.controller.model.row_of(job_id)
        if row >= 0:
            self.view.setCurrentIndex(self.controller.model.index(row, 0))

    # --- slots --------------------------------------------------------------------------------

    @Slot()
    def _update(self, *_args: Any) -> None:
        has_jobs = self.controller.model.rowCount() > 0
        self.view.setVisible(has_jobs)
        self.empty_label.setVisible(not has_jobs)
        selected = self.selected_job()
        target = selected if selected is not None and not selected.state.finished else None
        self.cancel_button.setEnabled(target is not None or self.controller.running_job is not None)
        self.cancel_all_button.setEnabled(any(not j.state.finished
                                              for j in self.controller.model.jobs()))
        self.retry_button.setEnabled(selected is not None and selected.state.finished)
        self.retry_button.setText("Run Again" if selected is not None
                                  and selected.state is JobState.done else "Retry")
        self.clear_button.setEnabled(any(j.state.finished for j in self.controller.model.jobs()))
        error = selected.error if selected is not None and selected.state in \
            (JobState.failed, JobState.interrupted) else ""
        label = "Interrupted" if selected is not None and \
            selected.state is JobState.interrupted else "Error"
        text = f"{label}: {error}" if error else ""
        if text != self.error_label.text():
            self.error_label.setText(text)
        self.error_label.setVisible(bool(error))

    @Slot(bool, object)
    def _on_controller_runner_changed(self, is_runner: bool, holder: Any) -> None:
        if is_runner or not holder:
            self.runner_label.hide()
            return
        self.runner_label.setText(f"Another program runs this library's jobs ({holder}, "
                                  "for example dlx-art serve). Jobs from this window wait "
                                  "in its queue; their progress shows here.")
        self.runner_label.setToolTip("Only one program runs a library's jobs at a time. This "
                                     "window takes over when that program stops.")
        self.runner_label.show()

    @Slot()
    def _on_cancel_clicked(self) -> None:
        job = self.selected_job()
        if job is not None and not job.state.finished:
            self.controller.cancel(job.id)
        else:
            self.controller.cancel_running()

    @Slot()
    def _on_cancel_all_clicked(self) -> None:
        self.controller.cancel_all()

    @Slot()
    def _on_retry_clicked(self) -> None:
        job = self.selected_job()
        if job is not None:
            new = self.controller.retry(job.id)
            if new is not None:
                self.select_job(new.id)

    @Slot()
    def _on_clear_clicked(self) -> None:
        self.controller.clear_finished()

    @Slot(QModelIndex)
    def _on_view_double_clicked(self, index: QModelIndex) -> None:
        job: Job | None = index.data(JobRole.job)
        if job is not None and job.state is JobState.done and job.assets:
            self.show_assets.emit(list(job.assets))

    @Slot(QPoint)
    def _on_view_context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        job: Job | None = index.data(JobRole.job) if index.isValid() else None
        if job is None:
            return
        self.view.setCurrentIndex(index)
        menu = QMenu(self)
        if not job.state.finished:
            menu.addAction("Cancel", lambda: self.controller.cancel(job.id))
        else:
            menu.addAction("Retry" if job.state is not JobState.done else "Run Again",
                           lambda: self.controller.retry(job.id))
            if job.state is JobState.done and job.assets:
                menu.addAction("Show in Gallery", lambda: self.show_assets.emit(list(job.assets)))
            menu.addAction("Remove from List", lambda: self.controller.remove(job.id))
        menu.addSeparator()
        copy_prompt = QAction("Copy Prompt", menu)
        copy_prompt.triggered.connect(
            lambda: QGuiApplication.clipboard().setText(job.request.prompt))
        menu.addAction(copy_prompt)
        if job.error:
            menu.addAction("Copy Error Message",
                           lambda: QGuiApplication.clipboard().setText(job.error))
        menu.exec(self.view.viewport().mapToGlobal(pos))



class JobProgressBar(QProgressBar):
    """The status bar's progress of the running job (objectName `jobProgress`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("jobProgress")
        self.setRange(0, 1000)
        self.setFixedWidth(180)
        self.setTextVisible(True)
        self.hide()

    def start(self, job: Job) -> None:
        self.setValue(0)
        self.setFormat("Starting…")
        self.show()
        self.show_job(job)

    def show_job(self, job: Job) -> None:
        self.setValue(int(job.fraction * 1000))
        if job.cancel_requested:
            text = "Cancelling…"
        elif job.step is not None and job.steps:
            text = f"Step {job.step}/{job.steps}"
            if job.eta_seconds is not None and job.eta_seconds >= 0.5:
                text += f" · {format_eta(job.eta_seconds)}"
        else:
            text = f"{int(job.fraction * 100)} %"
        self.setFormat(text)
        self.setToolTip(job.title)


def finished_message(job: Job) -> tuple[str, int] | None:
    """The status bar's line (and how long it stays, 0: until replaced) for a finished job."""
    if job.state is JobState.done:
        count = len(job.assets)
        text = f"Generated {count} image{'s' if count != 1 else ''} with {job.backend_label}."
        if job.fallback_reason:
            text += f" {job.fallback_reason}"
        return text, 0 if job.fallback_reason else 8000
    if job.state is JobState.failed:
        return f"Generation failed: {job.error}", 0
    if job.state is JobState.cancelled:
        return "Job cancelled.", 8000
    return None
