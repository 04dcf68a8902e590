"""The studio's job queue: one generation at a time, in a worker thread, with progress and cancel.

`JobController.submit(request)` queues a job; the controller starts the oldest queued job when
nothing runs. A `GenerationWorker` (a QRunnable on the task runner's one-thread `jobs` lane) calls
`pipeline.run` and reports through signals; previews are decoded into `QImage`s in the worker
so the GUI thread only turns them into pixmaps. `JobListModel` is what the job panel shows.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRunnable,
    QSize,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QImage, QPixmap

from dlx_art.errors import Cancelled, DlxError
from dlx_art.generation.types import CancelToken, GenerationRequest, Kind, Progress
from dlx_art.gui.tasks import TaskRunner, default_runner

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

    @property
    def finished(self) -> bool:
        return self in (JobState.done, JobState.failed, JobState.cancelled)


STATE_LABELS = {
    JobState.queued: "Queued",
    JobState.running: "Running",
    JobState.done: "Done",
    JobState.failed: "Failed",
    JobState.cancelled: "Cancelled",
}

BACKEND_NAMES = {"a1111": "AUTOMATIC1111", "hf": "Hugging Face"}

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

    @property
    def title(self) -> str:
        text = " ".join(self.request.prompt.split())
        return text or "(no prompt)"

    @property
    def summary(self) -> str:
        r = self.request
        kind = {Kind.txt2img: "Text to image", Kind.img2img: "Refine", Kind.inpaint: "Inpaint"}.get(
            Kind(r.kind), str(r.kind))
        parts = [kind, f"{r.width}×{r.height}", f"{r.steps} steps"]
        if r.image_count > 1:
            parts.append(f"{r.image_count} images")
        if r.seed >= 0:
            parts.append(f"seed {r.seed}")
        return " · ".join(parts)

    @property
    def status_text(self) -> str:
        """One line for the panel: what is happening or how it ended."""
        if self.state is JobState.queued:
            return "Queued"
        if self.state is JobState.running:
            if self.cancel_requested:
                return "Cancelling…"
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
            parts = [f"{count} image{'s' if count != 1 else ''}",
                     f"{self.request.width}×{self.request.height}"]
            if self.elapsed is not None:
                parts.append(f"{self.elapsed:.1f} s")
            if self.backend:
                name = BACKEND_NAMES.get(self.backend, self.backend)
                parts.append(f"{name} (fallback)" if self.fallback_reason else name)
            return " · ".join(parts)
        if self.state is JobState.failed:
            return self.error or "Failed"
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


class WorkerSignals(QObject):
    """Signals of one `GenerationWorker`.

    Signals:
        progress(str, object, object): job id, `Progress` (preview bytes dropped), QImage|None.
        finished(str, object, object): job id, `JobOutcome`, QImage|None (first thumbnail).
        failed(str, str, str): job id, message for the person, error class name.
        cancelled(str): job id.
    """

    progress = Signal(str, object, object)
    finished = Signal(str, object, object)
    failed = Signal(str, str, str)
    cancelled = Signal(str)


class GenerationWorker(QRunnable):
    """Runs one job through `pipeline.run` in a pool thread. Never touches widgets."""

    def __init__(self, job_id: str, request: GenerationRequest, routers: RouterProvider,
                 library: Any, cancel: CancelToken, want_preview: _Flag) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the controller holds it until its last signal arrived
        self.signals = WorkerSignals()
        self._job_id = job_id
        self._request = request
        self._routers = routers
        self._library = library
        self._cancel = cancel
        self._want_preview = want_preview

    def run(self) -> None:  # pool thread
        from dlx_art.generation import pipeline

        try:
            self._cancel.raise_if_cancelled()
            router = self._routers.get()
            outcome = pipeline.run(self._request, router, self._library,
                                   on_progress=self._on_progress, cancel=self._cancel,
                                   want_preview=self._want_preview)
            # The thumbnails are made here, after the job's files and rows are saved (the
            # pipeline does not wait for them): the tiles find them ready.
            thumb = load_thumbnail(self._library, outcome.assets[0]) if outcome.assets else None
            for asset in outcome.assets[1:]:
                make_thumbnail(self._library, asset)
        except Cancelled:
            self.signals.cancelled.emit(self._job_id)
        except DlxError as exc:
            if self._cancel.cancelled:  # a cancel can surface as a dropped connection
                self.signals.cancelled.emit(self._job_id)
            else:
                log.info("job %s failed: %s: %s", self._job_id, type(exc).__name__,
                         exc.user_message)
                self.signals.failed.emit(self._job_id, exc.user_message, type(exc).__name__)
        except Exception:
            log.exception("job %s crashed", self._job_id)
            self.signals.failed.emit(self._job_id, GENERIC_FAILURE, "Bug")
        else:
            self.signals.finished.emit(self._job_id, outcome, thumb)

    def _on_progress(self, progress: Progress) -> None:  # pool thread
        image = decode_preview(progress.preview) if progress.preview else None
        self.signals.progress.emit(self._job_id, replace(progress, preview=None), image)


# --- model ------------------------------------------------------------------------------------


class JobRole(IntEnum):
    job = Qt.ItemDataRole.UserRole + 1
    job_id = Qt.ItemDataRole.UserRole + 2
    state = Qt.ItemDataRole.UserRole + 3
    fraction = Qt.ItemDataRole.UserRole + 4
    status_text = Qt.ItemDataRole.UserRole + 5
    error = Qt.ItemDataRole.UserRole + 6
    summary = Qt.ItemDataRole.UserRole + 7


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
                     f"{STATE_LABELS[job.state]}: {job.status_text}"]
            if job.backend_label:
                lines.append(f"Made by {job.backend_label}")
            if job.fallback_reason:
                lines.append(job.fallback_reason)
            return "\n".join(lines)
        if role == Qt.ItemDataRole.DecorationRole:
            return job.pixmap
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{job.title}. {STATE_LABELS[job.state]}. {job.status_text}"
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


# --- controller -------------------------------------------------------------------------------


class JobController(QObject):
    """The queue: submit, cancel, retry; one job runs at a time on the runner's `jobs` lane.

    Signals:
        job_added(object): a `Job` was queued.
        job_started(object): a `Job` started running.
        job_progress(object): a running `Job` has new progress (and maybe a new `preview`).
        job_finished(object): a `Job` ended; look at `job.state` (done / failed / cancelled).
        busy_changed(bool): whether a job is queued or running.
    """

    job_added = Signal(object)
    job_started = Signal(object)
    job_progress = Signal(object)
    job_finished = Signal(object)
    busy_changed = Signal(bool)

    def __init__(self, library: Any, routers: RouterProvider,
                 parent: QObject | None = None, *, runner: TaskRunner | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.routers = routers
        self.model = JobListModel(self)
        self._runner = runner or default_runner()
        self.pool = self._runner.jobs.pool  # one job at a time
        self._want_preview = _Flag(True)
        self._workers: dict[str, GenerationWorker] = {}
        self._running: Job | None = None
        self._busy = False
        self._accepting = True

    # --- queries ------------------------------------------------------------------------------

    @property
    def running_job(self) -> Job | None:
        return self._running

    def queued_jobs(self) -> list[Job]:
        return [j for j in reversed(self.model.jobs()) if j.state is JobState.queued]

    def is_busy(self) -> bool:
        return self._running is not None or bool(self.queued_jobs())

    def active_count(self) -> int:
        return len(self.queued_jobs()) + (1 if self._running is not None else 0)

    def job(self, job_id: str) -> Job | None:
        return self.model.job(job_id)

    # --- commands -----------------------------------------------------------------------------

    def set_want_preview(self, on: bool) -> None:
        """Ask servers for live previews only while someone can see them."""
        self._want_preview.set(on)

    def set_library(self, library: Any) -> None:
        if self.is_busy():
            raise RuntimeError("cannot switch the library while jobs run")
        self.library = library

    def submit(self, request: GenerationRequest, *, origin: str = "prompt") -> Job:
        if not self._accepting:
            raise RuntimeError("the job queue is shut down")
        job = Job(id=f"job-{next(_ids)}", request=request, origin=origin)
        self.model.add(job)
        log.info("queued %s: %s %dx%d x%d", job.id, request.kind, request.width, request.height,
                 request.image_count)
        self.job_added.emit(job)
        self._start_next()
        self._update_busy()
        return job

    def retry(self, job_id: str) -> Job | None:
        job = self.job(job_id)
        if job is None or not job.state.finished:
            return None
        return self.submit(job.request, origin=job.origin)

    def cancel(self, job_id: str) -> bool:
        job = self.job(job_id)
        if job is None or job.state.finished:
            return False
        if job.state is JobState.queued:
            self._finish(job, JobState.cancelled)
            return True
        if not job.cancel_requested:
            job.cancel_requested = True
            job.cancel.cancel()  # hooks only wake the worker; it interrupts the server itself
            log.info("cancel requested for %s", job.id)
            self.model.changed(job)
            self.job_progress.emit(job)
        return True

    def cancel_running(self) -> bool:
        return self._running is not None and self.cancel(self._running.id)

    def skip_running(self) -> bool:
        """Skip the image the running job makes now (A1111 keeps it and goes on with the batch).

        The request goes out on the `backends` lane (idle while a job runs), never on the GUI
        thread. False when no job runs.
        """
        job = self._running
        if job is None or job.cancel_requested:
            return False
        log.info("skip requested for %s", job.id)
        self._runner.backends.run(job.cancel.skip, owner=self)
        return True

    def cancel_all(self) -> int:
        count = 0
        for job in self.queued_jobs():
            count += self.cancel(job.id)
        if self._running is not None:
            count += self.cancel(self._running.id)
        return count

    def remove(self, job_id: str) -> None:
        job = self.job(job_id)
        if job is not None and job.state.finished:
            self.model.remove(job_id)

    def clear_finished(self) -> int:
        return self.model.remove_finished()

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Cancel everything and wait (bounded) for the worker thread. True when it ended."""
        self._accepting = False
        self.cancel_all()
        done = self.pool.waitForDone(timeout_ms)
        if not done:
            log.warning("a generation did not stop within %d ms", timeout_ms)
        return done

    # --- internals ----------------------------------------------------------------------------

    def _start_next(self) -> None:
        if self._running is not None:
            return
        queued = self.queued_jobs()
        if not queued:
            return
        job = queued[0]
        job.state = JobState.running
        job.started_at = time.monotonic()
        self._running = job
        worker = GenerationWorker(job.id, job.request, self.routers, self.library, job.cancel,
                                  self._want_preview)
        worker.signals.progress.connect(self._on_worker_progress)
        worker.signals.finished.connect(self._on_worker_finished)
        worker.signals.failed.connect(self._on_worker_failed)
        worker.signals.cancelled.connect(self._on_worker_cancelled)
        self._workers[job.id] = worker
        self.pool.start(worker)
        log.info("started %s", job.id)
        self.model.changed(job)
        self.job_started.emit(job)

    def _finish(self, job: Job, state: JobState) -> None:
        job.state = state
        job.finished_at = time.monotonic()
        if state is not JobState.done:
            job.eta_seconds = None
        if self._running is job:
            self._running = None
        self._workers.pop(job.id, None)
        self.model.changed(job)
        self.job_finished.emit(job)
        if self._accepting:
            self._start_next()
        self._update_busy()

    def _update_busy(self) -> None:
        busy = self.is_busy()
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    @Slot(str, object, object)
    def _on_worker_progress(self, job_id: str, progress: Progress, preview: QImage | None) -> None:
        job = self.job(job_id)
        if job is None or job.state is not JobState.running:
            return
        job.fraction = max(0.0, min(1.0, progress.fraction))
        job.step, job.steps = progress.step, progress.steps
        job.eta_seconds = progress.eta_seconds
        job.job_no, job.job_count = progress.job_no, progress.job_count
        job.message = progress.message
        if preview is not None and not preview.isNull():
            job.preview = preview
            job.pixmap = QPixmap.fromImage(preview)
        self.model.changed(job)
        self.job_progress.emit(job)

    @Slot(str, object, object)
    def _on_worker_finished(self, job_id: str, outcome: Any, thumb: QImage | None) -> None:
        job = self.job(job_id)
        if job is None:
            return
        job.assets = list(outcome.assets)
        job.backend = outcome.backend
        job.backend_label = outcome.backend_label
        job.fallback_reason = outcome.fallback_reason
        job.fraction = 1.0
        job.eta_seconds = None
        if thumb is not None and not thumb.isNull():
            job.preview = thumb
            job.pixmap = QPixmap.fromImage(thumb)
        log.info("%s done: %d image(s) from %s", job.id, len(job.assets), job.backend_label)
        self._finish(job, JobState.done)

    @Slot(str, str, str)
    def _on_worker_failed(self, job_id: str, message: str, kind: str) -> None:
        job = self.job(job_id)
        if job is None:
            return
        job.error, job.error_kind = message, kind
        self._finish(job, JobState.failed)

    @Slot(str)
    def _on_worker_cancelled(self, job_id: str) -> None:
        job = self.job(job_id)
        if job is None:
            return
        log.info("%s cancelled", job.id)
        self._finish(job, JobState.cancelled)
