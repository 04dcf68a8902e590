"""The job controller: the library's durable jobs in the window (see `dlx_art.gui.jobs`)."""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QImage, QPixmap

from dlx_art.errors import DlxError
from dlx_art.generation.types import CancelToken, GenerationRequest, Progress
from dlx_art.gui import job_runner as rows
from dlx_art.gui.job_runner import RunnerShared, RunnerStep
from dlx_art.gui.jobs import (
    BACKEND_NAMES,
    Job,
    JobListModel,
    JobState,
    RouterProvider,
    _Flag,
    _ids,
)
from dlx_art.gui.tasks import TaskRunner, default_runner
from dlx_art.library.jobs import JobInfo, JobQueue

log = logging.getLogger("dlx_art.gui.jobs")

# --- controller -------------------------------------------------------------------------------

#: How often a window that is not its library's runner looks whether it can be (a file lock).
RUNNER_RETRY_MS = 1000


def _since(moment: Any) -> float | None:
    """A row's UTC timestamp as a `time.monotonic()` value (for the elapsed time shown)."""
    if moment is None:
        return None
    from datetime import UTC, datetime

    try:
        return time.monotonic() - max(0.0, (datetime.now(UTC) - moment).total_seconds())
    except TypeError:  # a naive timestamp written by another program
        return None


class JobController(QObject):
    """The library's jobs: submit, cancel, retry; the window runs them while it is the runner.

    Signals (job_* only for the jobs this window queued, `mine`):
        job_added(object): a `Job` was queued.
        job_started(object): a `Job` started running.
        job_progress(object): a running `Job` has new progress (and maybe a new `preview`).
        job_finished(object): a `Job` ended; look at `job.state` (done / failed / cancelled).
        busy_changed(bool): whether a job of this window is queued or running, or a job runs
            in this window.
        jobs_changed(): any job of the list changed (another program's included).
        runner_changed(bool, object): whether this window runs the library's jobs; if not,
            who does (``pid@host``) or None.
    """

    job_added = Signal(object)
    job_started = Signal(object)
    job_progress = Signal(object)
    job_finished = Signal(object)
    busy_changed = Signal(bool)
    jobs_changed = Signal()
    runner_changed = Signal(bool, object)

    def __init__(self, library: Any, routers: RouterProvider,
                 parent: QObject | None = None, *, runner: TaskRunner | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.routers = routers
        self.model = JobListModel(self)
        self._runner = runner or default_runner()
        self.pool = self._runner.jobs.pool  # one job at a time
        self._want_preview = _Flag(True)
        self._shared: RunnerShared | None = None
        self._queue: JobQueue | None = None  # the GUI's reads and writes (reads, writer lanes)
        self._step: RunnerStep | None = None
        self._steps: list[RunnerStep] = []  # kept until their thread surely left them
        self._here: Job | None = None  # the job running in this window
        self._fast: Job | None = None  # the window's job started at once, not claimed yet
        #: the `_fast` job for the next runner step (written and claimed by it)
        self._pending: tuple[str, GenerationRequest, CancelToken, bool] | None = None
        #: the window's jobs queued after `_fast` before its row was written (then written)
        self._deferred: list[tuple[Job, bool]] = []
        self._by_row: dict[str, Job] = {}
        self._hidden: set[str] = set()  # rows removed from the list by the person
        self._busy = False
        self._accepting = True
        #: True while this window runs the library's jobs; None until known.
        self.is_runner: bool | None = None
        self.runner_holder: str | None = None
        self._retry = QTimer(self)
        self._retry.setInterval(RUNNER_RETRY_MS)
        self._retry.timeout.connect(self._on_retry_timeout)
        if library is not None:
            self._attach(library)

    # --- queries ------------------------------------------------------------------------------

    @property
    def running_job(self) -> Job | None:
        """The job running in this window, else this window's job running elsewhere."""
        if self._here is not None and not self._here.state.finished:
            return self._here
        if self._fast is not None and self._fast.state is JobState.running:
            return self._fast
        return next((j for j in self.model.jobs() if j.mine and j.state is JobState.running),
                    None)

    def queued_jobs(self) -> list[Job]:
        """Jobs waiting in the library's queue (whoever queued them), oldest first."""
        return [j for j in reversed(self.model.jobs()) if j.state is JobState.queued]

    def is_busy(self) -> bool:
        return self._here is not None or any(j.mine and not j.state.finished
                                             for j in self.model.jobs())

    def active_count(self) -> int:
        """Jobs a job queued now waits for: the waiting ones and the running one(s)."""
        running = sum(1 for j in self.model.jobs() if j.state is JobState.running)
        return len(self.queued_jobs()) + max(running, 1 if self.running_job else 0)

    def own_active_count(self) -> int:
        """This window's jobs that are queued or running."""
        return sum(1 for j in self.model.jobs() if j.mine and not j.state.finished)

    def job(self, job_id: str) -> Job | None:
        return self.model.job(job_id)

    # --- commands -----------------------------------------------------------------------------

    def set_want_preview(self, on: bool) -> None:
        """Ask servers for live previews only while someone can see them."""
        self._want_preview.set(on)

    def set_library(self, library: Any) -> None:
        if self.is_busy():
            raise RuntimeError("cannot switch the library while jobs run")
        if library is self.library and self._shared is not None:
            return
        closer = self._detach()
        if closer is not None:  # nobody waits for it: after the step that may be running
            self._runner.jobs.run(closer)
        self.library = library
        if library is not None:
            self._attach(library)

    def release_library(self) -> Any:
        """Let the library go; returns a function that closes this controller's connections
        to its catalog and gives the runner lock up (call it once the `jobs` and `reads`
        lanes are idle, before the library closes: an open connection would keep the
        catalog's write-ahead log from being folded in), or None."""
        if self.is_busy():
            raise RuntimeError("cannot switch the library while jobs run")
        closer = self._detach()
        self.library = None
        return closer

    def submit(self, request: GenerationRequest, *, origin: str = "prompt") -> Job:
        if not self._accepting:
            raise RuntimeError("the job queue is shut down")
        job = Job(id=f"job-{next(_ids)}", request=request, origin=origin)
        self.model.add(job)
        log.info("queued %s: %s %dx%d x%d", job.id, request.kind, request.width, request.height,
                 request.image_count)
        self.job_added.emit(job)
        with_init = origin == "canvas"  # the canvas's pixels are not any stored image's
        if self._shared is None:
            job.error, job.error_kind = "The library is not open yet.", "StorageError"
            self._finish(job, JobState.failed)
            return job
        if self._here is None and self._fast is None and self.is_runner is not False and \
                not any(j.state is JobState.queued for j in self.model.jobs() if j is not job):
            # an idle queue: start at once (the next runner step writes its row and runs it)
            job.state = JobState.running
            job.started_at = time.monotonic()
            self._fast = job
            self._pending = (job.id, request, job.cancel, with_init)
            self._kick()
            self.model.changed(job)
            self.job_started.emit(job)
        elif self._fast is not None and self._fast.row_id is None:
            # after the job started at once, whose row its step writes: in submission order
            self._deferred.append((job, with_init))
        else:
            self._enqueue(job, with_init)
        self._update_busy()
        self.jobs_changed.emit()
        return job

    def retry(self, job_id: str) -> Job | None:
        """Queue a finished job's request again as this window's job (any job of the list)."""
        job = self.job(job_id)
        if job is None or not job.state.finished:
            return None
        return self.submit(job.request, origin=job.origin if job.mine else "prompt")

    def cancel(self, job_id: str) -> bool:
        """Cancel a job of the list: at once when waiting, through its runner when running."""
        job = self.job(job_id)
        if job is None or job.state.finished:
            return False
        if job.state is JobState.queued:
            job.cancel.cancel()  # a step that claims it meanwhile stops it at once
            if job.row_id is not None:
                self._request_cancel(job.row_id)
            self._finish(job, JobState.cancelled)
            return True
        if not job.cancel_requested:
            job.cancel_requested = True
            if job is self._here or job is self._fast:
                job.cancel.cancel()  # hooks only wake the runner; it interrupts the server
            elif job.row_id is not None:  # another program runs it: ask through its row
                self._request_cancel(job.row_id)
            log.info("cancel requested for %s", job.id)
            self.model.changed(job)
            if job.mine:
                self.job_progress.emit(job)
            self.jobs_changed.emit()
        return True

    def cancel_running(self) -> bool:
        job = self.running_job
        return job is not None and self.cancel(job.id)

    def skip_running(self) -> bool:
        """Skip the image the running job makes now (A1111 keeps it and goes on with the batch).

        The request goes out on the `backends` lane (idle while a job runs), never on the GUI
        thread. False when no job runs in this window.
        """
        job = self._here or self._fast
        if job is None or job.cancel_requested or job.state is not JobState.running:
            return False
        log.info("skip requested for %s", job.id)
        self._runner.backends.run(job.cancel.skip, owner=self)
        return True

    def cancel_all(self) -> int:
        """Cancel every waiting and running job of the list (oldest first)."""
        count = 0
        for job in self.queued_jobs():
            count += self.cancel(job.id)
        for job in self.model.jobs():
            if job.state is JobState.running:
                count += self.cancel(job.id)
        return count

    def remove(self, job_id: str) -> None:
        job = self.job(job_id)
        if job is not None and job.state.finished:
            if job.row_id is not None:
                self._hidden.add(job.row_id)
            self.model.remove(job_id)

    def clear_finished(self) -> int:
        self._hidden.update(j.row_id for j in self.model.jobs()
                            if j.state.finished and j.row_id is not None)
        return self.model.remove_finished()

    def follow(self, changes: Any) -> None:
        """Bring the list up to date with a `library.changes.Changes` (any process's jobs)."""
        if self._shared is None or not self._accepting:
            return
        if changes.reset:
            self._load_rows(None)
        elif changes.jobs:
            here = self._here.row_id if self._here is not None else None
            # the job running here reports itself (with previews): its own progress writes
            # are not read back
            ids = [i for i in changes.jobs if i not in self._hidden and i != here]
            if ids:
                self._load_rows(ids)
        if (changes.reset or changes.jobs) and self.is_runner is not False:
            self._kick()  # something was queued: the runner looks now

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Stop: the running job is stopped on the server and recorded as interrupted (it runs
        again on the next start); queued jobs stay queued. Waits (bounded) for the runner."""
        self._accepting = False
        self._retry.stop()
        shared = self._shared
        if shared is not None:
            shared.stopping.set()
            # rows not written yet are written now, in order: they run on the next start
            self._write_on_exit(shared)
        for job in (self._here, self._fast):
            if job is not None:
                job.cancel.cancel()
        done = self.pool.waitForDone(timeout_ms)
        if not done:
            log.warning("a generation did not stop within %d ms", timeout_ms)
        elif shared is not None:
            shared.release()
        return done

    def _write_on_exit(self, shared: RunnerShared) -> None:
        waiting = []
        if self._pending is not None:
            local, request, token, with_init = self._pending
            waiting.append((local, request, token, with_init))
        waiting += [(j.id, j.request, j.cancel, w) for j, w in self._deferred
                    if j.state is not JobState.cancelled]
        self._pending = None
        self._deferred = []
        if not waiting:
            return

        def write() -> None:  # jobs lane, after the step that may be running
            from dlx_art.generation.runner import request_to_json

            for local, request, token, with_init in waiting:
                if token.cancelled:
                    continue
                with shared.writing:
                    info = shared.queue.enqueue(
                        request.kind.value, request_to_json(request, with_init_image=with_init),
                        project_id=request.project_id, origin="window")
                    shared.own(info.id, local, token, request)

        self._runner.jobs.run(write)

    def close(self) -> None:
        """Close the GUI's catalog connection (after the lanes that use it have ended)."""
        if self._queue is not None:
            self._queue.close()

    # --- internals: the library ---------------------------------------------------------------

    def _attach(self, library: Any) -> None:
        self._shared = RunnerShared(library, self.routers, self._want_preview)
        self._queue = JobQueue(library.db_path)
        self._load_rows(None)
        if self._accepting:
            self._kick()
            self._retry.start()

    def _detach(self) -> Any:
        shared, queue = self._shared, self._queue
        self._shared = self._queue = None
        self._by_row.clear()
        self._hidden.clear()
        self._deferred.clear()
        self.model.clear()
        self.is_runner, self.runner_holder = None, None
        if shared is None:
            return None
        shared.stopping.set()

        def close() -> None:
            shared.release()
            if queue is not None:
                queue.close()

        return close

    # --- internals: the runner ----------------------------------------------------------------

    def _kick(self) -> None:
        """Start a runner step unless one runs (it takes the lock if free, runs the next job)."""
        if self._accepting and self._shared is not None and self._step is None:
            first, self._pending = self._pending, None
            self._start_step(first)

    def _start_step(self, first: tuple[str, GenerationRequest, CancelToken, bool] | None) -> None:
        assert self._shared is not None
        step = RunnerStep(self._shared, first)
        step.signals.enqueued.connect(self._on_step_enqueued)
        step.signals.claimed.connect(self._on_step_claimed)
        step.signals.progress.connect(self._on_step_progress)
        step.signals.ended.connect(self._on_step_ended)
        step.signals.idle.connect(self._on_step_idle)
        self._step = step
        self._steps = [*self._steps[-3:], step]
        self.pool.start(step)

    def _on_retry_timeout(self) -> None:
        if self.is_runner is not True:
            self._kick()

    def _set_runner(self, is_runner: bool, holder: Any) -> None:
        if (is_runner, holder) != (self.is_runner, self.runner_holder):
            self.is_runner, self.runner_holder = is_runner, holder
            self.runner_changed.emit(is_runner, holder)

    @Slot(str, object)
    def _on_step_enqueued(self, local_id: str, info: JobInfo) -> None:
        job = self.job(local_id)
        if job is not None:
            job.row_id = info.id
            self._by_row[info.id] = job
        self._flush_deferred()

    def _flush_deferred(self) -> None:
        deferred, self._deferred = self._deferred, []
        for job, with_init in deferred:
            if job.state is JobState.cancelled:
                continue  # cancelled before its row was written: nothing to write
            self._enqueue(job, with_init)

    def _job_of_row(self, row_id: str) -> Job | None:
        """The list's job of a row; the window's own is known before its write is reported."""
        job = self._by_row.get(row_id)
        if job is None and self._shared is not None:
            local = self._shared.local_id(row_id)
            job = self.model.job(local) if local is not None else None
            if job is not None:
                job.row_id = row_id
                self._by_row[row_id] = job
        return job

    @Slot(object, object)
    def _on_step_claimed(self, info: JobInfo, token: CancelToken) -> None:
        self._set_runner(True, None)
        job = self._job_of_row(info.id)
        if job is None:
            job = self._add_row(info, [], None)
        self._here = job
        if job is self._fast:
            self._fast = None
        elif self._fast is not None and self._fast.state is JobState.running:
            fast = self._fast  # a job queued before it runs first
            fast.state = JobState.queued
            fast.started_at = None
            self.model.changed(fast)
            if self._pending is not None:  # written now, in order, not after this job
                _local, _request, _token, with_init = self._pending
                self._pending = None
                self._fast = None
                self._enqueue(fast, with_init)
                self._flush_deferred()
        job.cancel = token
        if job.state.finished:  # cancelled here meanwhile: the token stops it at once
            token.cancel()
            return
        was_running = job.state is JobState.running
        job.state = JobState.running
        job.note = ""
        if not was_running:
            job.started_at = time.monotonic()
            if job.mine:
                self.job_started.emit(job)
        log.info("started %s (row %s, from %s)", job.id, info.id, info.origin)
        self.model.changed(job)
        self._update_busy()
        self.jobs_changed.emit()

    @Slot(str, object, object)
    def _on_step_progress(self, row_id: str, progress: Progress, preview: QImage | None) -> None:
        job = self._by_row.get(row_id)
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
        if job.mine:
            self.job_progress.emit(job)

    @Slot(object, object, object)
    def _on_step_ended(self, info: JobInfo, outcome: Any, thumb: QImage | None) -> None:
        self._step = None
        job = self._by_row.get(info.id)
        if self._here is job:
            self._here = None
        if job is not None and not job.state.finished:
            if outcome is not None:
                job.assets = list(outcome.assets)
                job.backend = outcome.backend
                job.backend_label = outcome.backend_label
                job.fallback_reason = outcome.fallback_reason
            self._apply_final(job, info, thumb)
        else:
            self._update_busy()
        self._kick()

    @Slot(bool, object)
    def _on_step_idle(self, is_runner: bool, holder: Any) -> None:
        self._step = None
        self._set_runner(is_runner, holder)
        if self._pending is not None:  # the window's job waits for its step
            self._kick()
            return
        fast, self._fast = self._fast, None
        if fast is not None and fast.state is JobState.running:
            # another program runs the library's jobs: this one waits there, followed
            fast.state = JobState.queued
            fast.started_at = None
            self.model.changed(fast)
            self.jobs_changed.emit()
        self._update_busy()

    # --- internals: rows ----------------------------------------------------------------------

    def _enqueue(self, job: Job, with_init: bool) -> None:
        queue, shared = self._queue, self._shared
        assert queue is not None and shared is not None
        request, token = job.request, job.cancel

        def enqueue() -> JobInfo:  # writer lane
            from dlx_art.generation.runner import request_to_json

            data = request_to_json(request, with_init_image=with_init)
            with shared.writing:
                info = queue.enqueue(request.kind.value, data,
                                     project_id=request.project_id, origin="window")
                shared.own(info.id, job.id, token, request)
            return info

        def failed(exc: BaseException) -> None:
            if job.state.finished:
                return
            job.error = exc.user_message if isinstance(exc, DlxError) else \
                "The job could not be queued; the details are in the log."
            job.error_kind = type(exc).__name__
            self._finish(job, JobState.failed)

        self._runner.writer.run(enqueue, owner=self,
                                on_done=lambda info: self._on_enqueued(job, info),
                                on_error=failed)

    def _on_enqueued(self, job: Job, info: JobInfo) -> None:
        job.row_id = info.id
        self._by_row[info.id] = job
        if job.state is JobState.cancelled:  # cancelled before its row was written
            self._request_cancel(info.id)
        else:
            self._kick()

    def _request_cancel(self, row_id: str) -> None:
        queue = self._queue
        if queue is not None:
            self._runner.writer.run(queue.request_cancel, row_id, owner=self,
                                    on_error=lambda exc: log.info("cancel of %s: %s", row_id,
                                                                  exc))

    def _load_rows(self, ids: list[str] | None) -> None:
        queue, library = self._queue, self.library
        if queue is None:
            return
        self._runner.reads.run(rows.read_rows, queue, library, ids, owner=self,
                               on_done=lambda found: self._merge_rows(queue, found),
                               on_error=lambda exc: log.info("jobs not read: %s", exc))

    def _merge_rows(self, queue: JobQueue, found: list[tuple[JobInfo, list[Any], Any]]) -> None:
        if queue is not self._queue:
            return  # the library was switched meanwhile
        changed = False
        for info, assets, thumb in reversed(found):  # oldest first: the newest ends on top
            job = self._job_of_row(info.id)
            if job is None:
                if info.id not in self._hidden:
                    self._add_row(info, assets, thumb)
                    changed = True
                continue
            if job is self._here or job is self._fast or job.state.finished:
                continue  # this window's own signals tell more (previews), or it ended here
            self._apply_row(job, info, assets, thumb)
            changed = True
        if changed:
            self._update_busy()
            self.jobs_changed.emit()

    def _add_row(self, info: JobInfo, assets: list[Any], thumb: Any) -> Job:
        """A job of the list for a row this window did not queue (now)."""
        job = Job(id=info.id, request=rows.request_of(info.request, info.projectId),
                  source=info.origin, mine=False, row_id=info.id)
        job.state = JobState(rows.state_of(info))
        self._fill(job, info, assets, thumb)
        job.started_at = _since(info.startedAt)
        job.finished_at = _since(info.finishedAt) if job.state.finished else None
        self._by_row[info.id] = job
        self.model.add(job)  # rows arrive oldest first: the newest ends on top
        return job

    def _fill(self, job: Job, info: JobInfo, assets: list[Any], thumb: Any) -> None:
        shared = self._shared
        job.note = rows.note_of(info, shared.label if shared is not None else "")
        job.fraction = info.progress
        extra = info.progressInfo or {}
        job.step, job.steps = extra.get("step"), extra.get("steps")
        job.eta_seconds = extra.get("eta") if info.state == "running" else None
        job.job_no, job.job_count = extra.get("jobNo"), extra.get("jobCount")
        job.message = extra.get("message") or ""
        job.cancel_requested = info.cancelRequested and info.state == "running"
        job.error, job.error_kind = info.error or "", info.errorKind or ""
        if info.state == "done":
            if assets:
                job.assets = list(assets)
            if not job.backend_label:  # this window's runner knows the server's own label
                job.backend = info.backend or ""
                job.backend_label = BACKEND_NAMES.get(job.backend, job.backend)
                job.fallback_reason = info.fallbackReason
        if thumb is not None and not thumb.isNull():
            job.preview = thumb
            job.pixmap = QPixmap.fromImage(thumb)

    def _apply_row(self, job: Job, info: JobInfo, assets: list[Any], thumb: Any) -> None:
        state = JobState(rows.state_of(info))
        if state.finished:
            self._apply_final(job, info, thumb, assets)
            return
        self._fill(job, info, assets, thumb)
        if state is JobState.running and job.state is not JobState.running:
            job.state = JobState.running
            job.started_at = _since(info.startedAt) or time.monotonic()
            if job.mine:
                self.job_started.emit(job)
        elif state is JobState.queued:
            job.state = JobState.queued
        self.model.changed(job)
        if job.mine and job.state is JobState.running:
            self.job_progress.emit(job)

    def _apply_final(self, job: Job, info: JobInfo, thumb: Any,
                     assets: list[Any] | None = None) -> None:
        if assets is None:
            assets = job.assets
        self._fill(job, info, assets, thumb)
        state = JobState(rows.state_of(info))
        if not state.finished:  # interrupted, runs again: waiting
            job.state = JobState.queued
            self.model.changed(job)
            self._update_busy()
            self.jobs_changed.emit()
            return
        if state is JobState.done:
            job.fraction = 1.0
            log.info("%s done: %d image(s) from %s", job.id, len(job.assets),
                     job.backend_label)
        self._finish(job, state)

    def _finish(self, job: Job, state: JobState) -> None:
        job.state = state
        job.finished_at = time.monotonic()
        if state is not JobState.done:
            job.eta_seconds = None
        if self._fast is job and self._step is None:
            self._fast = None
        self.model.changed(job)
        if job.mine:
            self.job_finished.emit(job)
        self._update_busy()
        self.jobs_changed.emit()

    def _update_busy(self) -> None:
        busy = self.is_busy()
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)
