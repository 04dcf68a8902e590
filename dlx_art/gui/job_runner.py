"""The window as its library's job runner: one step of the durable queue on the `jobs` lane.

The window's jobs are rows of the library's durable queue (`dlx_art.library.jobs`), like the
jobs a command (`dlx-art generate`) or the service queues. While the window holds the library's
runner lock it runs the queue in order, one `RunnerStep` at a time on the task runner's
one-thread `jobs` lane: a step takes the lock if it can (marking what a dead runner left as
interrupted), claims the oldest waiting job (or enqueues and claims the window's own first job,
so a Generate on an idle queue starts at once), runs it with `runner.execute_job` and reports
through Qt signals. A step that finds nothing to do, or another runner holding the lock, says
so and ends; the `JobController` starts the next step when something changes.

Nothing here touches widgets; previews are decoded into `QImage`s in the lane's thread.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRunnable, Signal

from dlx_art.errors import DlxError, NotFound
from dlx_art.generation.types import (
    BackendChoice,
    CancelToken,
    GenerationRequest,
    InpaintArea,
    Kind,
    MaskedContent,
    Progress,
)
from dlx_art.library.jobs import JobInfo, JobQueue, RunnerLock, runner_label

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("dlx_art.gui.job_runner")

#: Who queued a job, in words (the job list shows it).
ORIGIN_LABELS = {"window": "Window", "cli": "Command line", "service": "Service"}


def request_of(data: dict[str, Any], project_id: str | None) -> GenerationRequest:
    """A job row's request as a `GenerationRequest` for showing and queueing again.

    The parent's pixels are not read (the runner reads them when the job runs); a row that
    cannot be understood still gives a request with its prompt, so the list can show it.
    """
    project = str(data.get("projectId") or project_id or "")
    try:
        return GenerationRequest(
            project_id=project, prompt=str(data.get("prompt") or ""),
            kind=Kind(data.get("kind") or "txt2img"), negative=str(data.get("negative") or ""),
            model=data.get("model"), sampler=data.get("sampler"),
            scheduler=data.get("scheduler"), steps=int(data.get("steps") or 20),
            cfg_scale=float(data.get("cfgScale") or 7.0), seed=int(data.get("seed", -1)),
            width=int(data.get("width") or 512), height=int(data.get("height") or 512),
            batch_count=int(data.get("batch") or 1), batch_size=int(data.get("batchSize") or 1),
            backend=BackendChoice(data.get("backend") or "auto"),
            parent_id=data.get("parentId"),
            denoising_strength=float(data.get("denoisingStrength", 0.75)),
            mask_blur=int(data.get("maskBlur", 4)),
            masked_content=MaskedContent(data.get("maskedContent") or "original"),
            inpaint_area=InpaintArea(data.get("inpaintArea") or "whole"),
            padding=int(data.get("padding", 32)), invert_mask=bool(data.get("invertMask")),
        )
    except (DlxError, KeyError, TypeError, ValueError):
        return GenerationRequest(project_id=project, prompt=str(data.get("prompt") or ""))


class RunnerShared:
    """What the GUI thread and the `jobs` lane share for one library (thread-safe).

    Args:
        library: The open library.
        routers: The session's `RouterProvider`.
        want_preview: A callable: ask servers for live previews now?
    """

    def __init__(self, library: Any, routers: Any, want_preview: Callable[[], bool]) -> None:
        self.library = library
        self.routers = routers
        self.want_preview = want_preview
        self.queue = JobQueue(library.db_path)  # the lane's own connection
        self.lock = RunnerLock(library.root)
        self.label = runner_label()
        self.stopping = threading.Event()
        #: held around writing one of the window's rows and `own`, and around a claim: a step
        #: never claims a row of the window's before it knows it is the window's
        self.writing = threading.Lock()
        self._mutex = threading.Lock()
        #: row id -> the local id of the window's job
        self._local: dict[str, str] = {}
        #: row id -> the cancel token of the window's own job (or of the job running here)
        self._tokens: dict[str, CancelToken] = {}
        #: row id -> the window's in-memory request (canvas pixels included)
        self._requests: dict[str, GenerationRequest] = {}

    def own(self, row_id: str, local_id: str, token: CancelToken,
            request: GenerationRequest) -> None:
        with self._mutex:
            self._tokens[row_id] = token
            self._requests[row_id] = request
            self._local[row_id] = local_id

    def local_id(self, row_id: str) -> str | None:
        """The window's local id of its job with this row, if it is the window's."""
        with self._mutex:
            return self._local.get(row_id)

    def token_for(self, row_id: str) -> CancelToken:
        with self._mutex:
            return self._tokens.setdefault(row_id, CancelToken())

    def request_for(self, row_id: str) -> GenerationRequest | None:
        with self._mutex:
            return self._requests.get(row_id)

    def forget(self, row_id: str) -> None:
        with self._mutex:
            self._tokens.pop(row_id, None)
            self._requests.pop(row_id, None)
            self._local.pop(row_id, None)

    def release(self) -> None:
        """Give the runner lock up and close the lane's connection (no step may run)."""
        self.lock.release()
        self.queue.close()


class StepSignals(QObject):
    """Signals of one `RunnerStep`.

    Signals:
        enqueued(str, object): the window's job (local id) has its row (`JobInfo`).
        claimed(object, object): this window runs the job now (`JobInfo`, its `CancelToken`).
        progress(str, object, object): row id, `Progress` (preview bytes dropped), QImage|None.
        ended(object, object, object): the final `JobInfo`, the `JobOutcome` (done) or None,
            the first result's thumbnail (QImage) or None.
        idle(bool, object): nothing (more) to run; whether this window is the runner, and
            who is when another process is (``pid@host``) or None.
    """

    enqueued = Signal(str, object)
    claimed = Signal(object, object)
    progress = Signal(str, object, object)
    ended = Signal(object, object, object)
    idle = Signal(bool, object)


class RunnerStep(QRunnable):
    """Take the runner lock if free, claim one job and run it (see the module docstring).

    `first` is the window's own job to enqueue and run at once: ``(local id, request, token,
    with_init_image)``.
    """

    def __init__(self, shared: RunnerShared,
                 first: tuple[str, GenerationRequest, CancelToken, bool] | None = None) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the controller holds it until its last signal arrived
        self.signals = StepSignals()
        self.shared = shared
        self.first = first

    def run(self) -> None:  # jobs lane
        try:
            self._run()
        except Exception:  # a catalog hiccup: say idle, the controller tries again later
            log.exception("job runner step failed")
            self.signals.idle.emit(self.shared.lock.held, None)

    def _run(self) -> None:
        from dlx_art.generation.runner import request_to_json

        s = self.shared
        first_row: JobInfo | None = None
        if self.first is not None:
            local_id, request, token, with_init = self.first
            data = request_to_json(request, with_init_image=with_init)
            with s.writing:
                first_row = s.queue.enqueue(request.kind.value, data,
                                            project_id=request.project_id, origin="window")
                s.own(first_row.id, local_id, token, request)
            self.signals.enqueued.emit(local_id, first_row)
        if s.stopping.is_set():
            self.signals.idle.emit(s.lock.held, None)
            return
        if not s.lock.held:
            if not s.lock.acquire():
                self.signals.idle.emit(False, s.lock.holder())
                return
            log.info("this window runs the jobs of %s", s.library.root)
            s.queue.recover()
        with s.writing:
            job = s.queue.claim(s.label, first_row.id if first_row is not None else None)
            if job is None and first_row is not None:
                job = s.queue.claim(s.label)
        if job is None:
            self.signals.idle.emit(True, None)
            return
        token = s.token_for(job.id)
        if s.stopping.is_set():
            token.cancel()
        self.signals.claimed.emit(job, token)
        self._execute(job, token)

    def _execute(self, job: JobInfo, token: CancelToken) -> None:
        from dlx_art.generation.runner import execute_job
        from dlx_art.gui.jobs import decode_preview, load_thumbnail, make_thumbnail

        s = self.shared
        outcome: list[Any] = []

        def on_progress(progress: Progress) -> None:
            image = decode_preview(progress.preview) if progress.preview else None
            self.signals.progress.emit(job.id, replace(progress, preview=None), image)

        try:
            router = s.routers.get()
        except DlxError as exc:
            final = s.queue.fail(job.id, exc.user_message, kind=type(exc).__name__,
                                 exit_code=exc.exit_code)
        else:
            final = execute_job(s.queue, s.library, router, job, token=token,
                                on_progress=on_progress, request=s.request_for(job.id),
                                want_preview=s.want_preview, on_outcome=outcome.append,
                                stopping=s.stopping.is_set)
        result = outcome[0] if outcome else None
        thumb = None
        if result is not None and result.assets:
            thumb = load_thumbnail(s.library, result.assets[0])
            for asset in result.assets[1:]:  # made after the save: the tiles find them ready
                make_thumbnail(s.library, asset)
        s.forget(job.id)
        self.signals.ended.emit(final, result, thumb)


# --- rows of the durable queue, as the job list shows them -------------------------------------


def state_of(info: JobInfo) -> str:
    """The job list's state of a row: an interrupted job that runs again is waiting."""
    if info.state == "interrupted" and not info.finished:
        return "queued"
    return info.state


def note_of(info: JobInfo, label: str) -> str:
    """What the list says beside the state, when the state alone does not tell it."""
    if info.state == "interrupted" and not info.finished:
        return "Interrupted; runs again once"
    if info.state == "running" and info.runner and info.runner != label:
        return f"Running in another program ({info.runner})"
    return ""


def read_rows(queue: JobQueue, library: Any, ids: list[str] | None,
              thumbs: int = 24) -> list[tuple[JobInfo, list[Any], Any]]:
    """Rows (the given ids, or the newest 200) with the images of the finished ones.

    Runs on the reads lane. Each item is ``(row, result assets, thumbnail QImage | None)``;
    thumbnails are read for the first `thumbs` finished rows only.
    """
    from dlx_art.gui.jobs import FINISHED_KEPT, load_thumbnail

    if ids is None:
        found = queue.list(limit=FINISHED_KEPT)
    else:
        found = []
        for row_id in ids:
            try:
                found.append(queue.get(row_id))
            except NotFound:
                continue
    out: list[tuple[JobInfo, list[Any], Any]] = []
    for info in found:
        assets: list[Any] = []
        thumb = None
        if info.state == "done" and info.resultAssetIds:
            try:
                assets = library.get_assets(info.resultAssetIds)
            except DlxError:
                assets = []
            if assets and thumbs > 0:
                thumbs -= 1
                thumb = load_thumbnail(library, assets[0])
        out.append((info, assets, thumb))
    return out
