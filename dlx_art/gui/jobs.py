"""The studio's job list and queue: the library's durable jobs, with progress and cancel.

Every job is a row of the library's durable queue (`dlx_art.library.jobs`), whoever queued it
(this window, `dlx-art generate`, `dlx-art serve`). `JobController.submit(request)` queues one
for the window; while the window holds the library's runner lock it runs the queue in order,
one `gui.job_runner.RunnerStep` at a time on the task runner's one-thread `jobs` lane (live
previews are decoded into `QImage`s there so the GUI thread only turns them into pixmaps).
When another process is the runner (`dlx-art serve`), the window's jobs are queued and
followed through the catalog's change feed (`follow`). `JobListModel` is what the job panel
shows: every job of the library, newest first.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
)
from PySide6.QtGui import QImage, QPixmap

from dlx_art.generation.types import CancelToken, GenerationRequest, Kind
from dlx_art.gui.hires_group import hires_size
from dlx_art.gui.job_runner import ORIGIN_LABELS

log = logging.getLogger("dlx_art.gui.jobs")

PREVIEW_SIZE = 256  # longest side of a decoded live preview / result thumbnail
FINISHED_KEPT = 200  # finished jobs kept in the list before the oldest are dropped
GENERIC_FAILURE = "Unexpected error while generating; the details are in the log."


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"
    #: stopped twice while it ran (its runner quit or died): not started again
    interrupted = "interrupted"

    @property
    def finished(self) -> bool:
        return self in (JobState.done, JobState.failed, JobState.cancelled,
                        JobState.interrupted)


STATE_LABELS = {
    JobState.queued: "Queued",
    JobState.running: "Running",
    JobState.done: "Done",
    JobState.failed: "Failed",
    JobState.cancelled: "Cancelled",
    JobState.interrupted: "Interrupted",
}

BACKEND_NAMES = {"a1111": "AUTOMATIC1111", "hf": "Hugging Face"}
KIND_NAMES = {Kind.txt2img: "Text to image", Kind.img2img: "Refine", Kind.inpaint: "Inpaint",
              Kind.upscale: "Upscale", Kind.outpaint: "Expand canvas"}

_ids = itertools.count(1)


@dataclass(eq=False)
class Job:
    """One queued generation and everything the job panel shows about it (GUI thread only)."""

    id: str
    request: GenerationRequest
    origin: str = "prompt"  # "prompt" | "canvas"
    state: JobState = JobState.queued
    fraction: float = 0.0
    step: int | None = None
    steps: int | None = None
    eta_seconds: float | None = None
    job_no: int | None = None
    job_count: int | None = None
    message: str = ""
    error: str = ""
    error_kind: str = ""
    preview: QImage | None = None
    pixmap: QPixmap | None = None
    assets: list[Any] = field(default_factory=list)
    backend: str = ""
    backend_label: str = ""
    fallback_reason: str | None = None
    cancel: CancelToken = field(default_factory=CancelToken)
    cancel_requested: bool = False
    submitted_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    finished_at: float | None = None
    #: who queued it: "window", "cli" (a command) or "service" (`dlx-art serve`)
    source: str = "window"
    #: queued by this window now: its results become the current image, its progress shows
    mine: bool = True
    #: its row in the library's durable queue (None until it is written)
    row_id: str | None = None
    #: where it stands when not plain: "Interrupted; runs again", "Running in 123@host"
    note: str = ""

    @property
    def origin_label(self) -> str:
        return ORIGIN_LABELS.get(self.source, self.source)

    @property
    def title(self) -> str:
        text = " ".join(self.request.prompt.split())
        return text or "(no prompt)"

    @property
    def summary(self) -> str:
        r = self.request
        kind = KIND_NAMES.get(Kind(r.kind), str(r.kind))
        size = f"{r.width}×{r.height}"
        if r.enable_hr:  # the row names what the job makes, the first pass beside it
            width, height = hires_size(r.width, r.height, r.hr_scale)
            size += f" → {width}×{height}"
        parts = [kind, size] if r.kind == Kind.upscale else [kind, size, f"{r.steps} steps"]
        if r.image_count > 1:
            parts.append(f"{r.image_count} images")
        if r.seed >= 0:
            parts.append(f"seed {r.seed}")
        return " · ".join(parts)

    @property
    def status_text(self) -> str:
        """One line for the panel: what is happening or how it ended."""
        if self.state is JobState.queued:
            return self.note or "Queued"
        if self.state is JobState.running:
            if self.cancel_requested:
                return "Cancelling…"
            if self.note and self.step is None:
                return self.note
            parts = []
            if self.job_count and self.job_count > 1 and self.job_no:
                parts.append(f"Image {self.job_no}/{self.job_count}")
            if self.step is not None and self.steps:
                parts.append(f"Step {self.step}/{self.steps}")
            if self.eta_seconds is not None and self.eta_seconds >= 0.5:
                parts.append(f"{format_eta(self.eta_seconds)} left")
            if not parts:
                parts.append(self.message or "Starting…")
            return " · ".join(parts)
        if self.state is JobState.done:
            count = len(self.assets)
            first = self.assets[0] if self.assets else None
            width = getattr(first, "width", None) or self.request.width
            height = getattr(first, "height", None) or self.request.height
            parts = [f"{count} image{'s' if count != 1 else ''}", f"{width}×{height}"]
            if self.elapsed is not None:
                parts.append(f"{self.elapsed:.1f} s")
            if self.backend:
                name = BACKEND_NAMES.get(self.backend, self.backend)
                parts.append(f"{name} (fallback)" if self.fallback_reason else name)
            return " · ".join(parts)
        if self.state in (JobState.failed, JobState.interrupted):
            return self.error or STATE_LABELS[self.state]
        return "Cancelled"

    @property
    def elapsed(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else time.monotonic()
        return end - self.started_at


def format_eta(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


# --- router provider --------------------------------------------------------------------------


class RouterProvider:
    """Builds the backend router lazily in whichever pool thread needs it first.

    Building it imports the HTTP clients (and `huggingface_hub`), which is too slow for the GUI
    thread; `update(settings)` drops it so the next job or status poll uses the new settings.
    Thread-safe.
    """

    def __init__(self, settings: Any) -> None:
        self._settings = settings
        self._router: Any = None
        self._lock = threading.Lock()

    def update(self, settings: Any) -> None:
        with self._lock:
            self._settings = settings
            self._router = None

    def get(self) -> Any:
        with self._lock:
            if self._router is None:
                from dlx_art.generation.router import BackendRouter

                self._router = BackendRouter.from_settings(self._settings)
            return self._router


class _Flag:
    """A bool shared with worker threads."""

    def __init__(self, value: bool = False) -> None:
        self._event = threading.Event()
        self.set(value)

    def set(self, value: bool) -> None:
        if value:
            self._event.set()
        else:
            self._event.clear()

    def __call__(self) -> bool:
        return self._event.is_set()


# --- worker -----------------------------------------------------------------------------------


def decode_preview(data: bytes | None, size: int = PREVIEW_SIZE) -> QImage | None:
    """Decode encoded image bytes into a QImage no larger than `size` (any thread)."""
    if not data:
        return None
    image = QImage()
    if not image.loadFromData(data):
        return None
    if image.width() > size or image.height() > size:
        image = image.scaled(QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image


def make_thumbnail(library: Any, asset: Any) -> None:
    """Make the asset's cached thumbnail if it has none; any thread. Never raises."""
    try:
        library.make_thumbnail(asset)
    except Exception:  # a thumbnail is a cache: never fail a finished job for it
        log.warning("thumbnail for %s failed", getattr(asset, "id", "?"), exc_info=True)


def load_thumbnail(library: Any, asset: Any, size: int = PREVIEW_SIZE) -> QImage | None:
    """The asset's thumbnail (made now if the cache has none) as a QImage; any thread."""
    try:
        path = library.make_thumbnail(asset)
        image = QImage(str(path))
    except Exception:  # a missing thumbnail is not worth failing a finished job for
        log.info("no thumbnail for %s", getattr(asset, "id", "?"), exc_info=True)
        return None
    if image.isNull():
        return None
    if image.width() > size or image.height() > size:
        image = image.scaled(QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image


# --- model ------------------------------------------------------------------------------------


class JobRole(IntEnum):
    job = Qt.ItemDataRole.UserRole + 1
    job_id = Qt.ItemDataRole.UserRole + 2
    state = Qt.ItemDataRole.UserRole + 3
    fraction = Qt.ItemDataRole.UserRole + 4
    status_text = Qt.ItemDataRole.UserRole + 5
    error = Qt.ItemDataRole.UserRole + 6
    summary = Qt.ItemDataRole.UserRole + 7
    origin = Qt.ItemDataRole.UserRole + 8


class JobListModel(QAbstractListModel):
    """Jobs, newest first. Rows hold `Job` objects owned by the controller."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs: list[Job] = []

    # Qt overrides
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._jobs)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._jobs):
            return None
        job = self._jobs[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return job.title
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [job.request.prompt.strip() or "(no prompt)", job.summary,
                     f"{STATE_LABELS[job.state]}: {job.status_text}",
                     f"Queued by: {job.origin_label}"]
            if job.backend_label:
                lines.append(f"Made by {job.backend_label}")
            if job.fallback_reason:
                lines.append(job.fallback_reason)
            return "\n".join(lines)
        if role == Qt.ItemDataRole.DecorationRole:
            return job.pixmap
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return (f"{job.title}. {STATE_LABELS[job.state]}. {job.status_text}. "
                    f"Queued by: {job.origin_label}")
        if role == JobRole.job:
            return job
        if role == JobRole.job_id:
            return job.id
        if role == JobRole.state:
            return job.state.value
        if role == JobRole.fraction:
            return job.fraction
        if role == JobRole.status_text:
            return job.status_text
        if role == JobRole.error:
            return job.error
        if role == JobRole.summary:
            return job.summary
        if role == JobRole.origin:
            return job.source
        return None

    def roleNames(self) -> dict[int, bytes]:  # noqa: N802
        names = super().roleNames()
        names.update({int(r): r.name.encode() for r in JobRole})
        return names

    # API
    def jobs(self) -> list[Job]:
        return list(self._jobs)

    def job(self, job_id: str) -> Job | None:
        for job in self._jobs:
            if job.id == job_id:
                return job
        return None

    def row_of(self, job_id: str) -> int:
        for row, job in enumerate(self._jobs):
            if job.id == job_id:
                return row
        return -1

    def add(self, job: Job) -> None:
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._jobs.insert(0, job)
        self.endInsertRows()
        self._trim()

    def changed(self, job: Job) -> None:
        row = self.row_of(job.id)
        if row >= 0:
            index = self.index(row, 0)
            self.dataChanged.emit(index, index)

    def remove(self, job_id: str) -> None:
        row = self.row_of(job_id)
        if row < 0:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._jobs[row]
        self.endRemoveRows()

    def insert_at(self, row: int, job: Job) -> None:
        row = max(0, min(row, len(self._jobs)))
        self.beginInsertRows(QModelIndex(), row, row)
        self._jobs.insert(row, job)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._jobs.clear()
        self.endResetModel()

    def remove_finished(self) -> int:
        removed = 0
        for row in range(len(self._jobs) - 1, -1, -1):
            if self._jobs[row].state.finished:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._jobs[row]
                self.endRemoveRows()
                removed += 1
        return removed

    def _trim(self) -> None:
        finished = [i for i, j in enumerate(self._jobs) if j.state.finished]
        while len(finished) > FINISHED_KEPT:
            row = finished.pop()
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._jobs[row]
            self.endRemoveRows()



# the controller lives in its own module; imported from here as it always was
from dlx_art.gui.job_controller import JobController  # noqa: E402

__all__ = ["JobController"]
