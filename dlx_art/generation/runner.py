"""The one runner of a library's durable job queue (`dlx_art.library.jobs`), and its clients.

`JobRunner` holds the library's runner lock and executes queued jobs in order with
`pipeline.run`, writing progress to the job's row (at most `PROGRESS_INTERVAL` apart) and
stopping a job whose row asks for cancellation. `dlx-art serve` runs one for its whole life.

`submit_and_wait` is what a command does: enqueue the job, then run it itself if no runner holds
the library (taking the runner lock for that run), or else follow the row to its end. Either way
it returns the same `JobOutcome` (or raises the same error) as running the job directly.

No Qt here.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from dlx_art import errors
from dlx_art.errors import Cancelled, DlxError, UsageError
from dlx_art.generation import pipeline
from dlx_art.generation.router import BackendRouter
from dlx_art.generation.types import (
    BackendChoice,
    CancelToken,
    GenerationRequest,
    InpaintArea,
    Kind,
    MaskedContent,
    Progress,
    ProgressCallback,
)
from dlx_art.library.jobs import JobInfo, JobQueue, RunnerLock, runner_label
from dlx_art.library.service import Library

__all__ = [
    "PROGRESS_INTERVAL",
    "JobRunner",
    "execute_job",
    "outcome_of",
    "request_from_json",
    "request_to_json",
    "submit_and_wait",
]

log = logging.getLogger("dlx_art.generation.runner")

#: Least time between two progress writes to a job's row (≤ 4 writes a second).
PROGRESS_INTERVAL = 0.25
#: How often a runner looks for new jobs and for cancellation requests.
POLL = 0.25
#: Seeds are drawn below this (A1111's and Hugging Face's range) for a random one (-1).
SEED_LIMIT = 2**32 - 1


# --- requests as JSON ---------------------------------------------------------------------------


def request_to_json(request: GenerationRequest, *,
                    with_init_image: bool = False) -> dict[str, Any]:
    """A request as the JSON stored in a job row (camelCase, like the catalog).

    A random seed (-1) is resolved here, so that a job run again after an interruption makes the
    same image. The parent's pixels are not stored (read again from the parent when the job
    runs) unless `with_init_image` (the canvas: its pixels may differ from any stored image),
    then as base64 PNG `initPng`; a mask is stored as base64 PNG.
    """
    # room for the batch: image i of the job gets seed + i, all within A1111's range
    seed = request.seed if request.seed is not None and request.seed >= 0 \
        else secrets.randbelow(SEED_LIMIT - 1 - max(1, request.image_count))
    return {
        "kind": request.kind.value, "projectId": request.project_id, "prompt": request.prompt,
        "negative": request.negative, "model": request.model, "sampler": request.sampler,
        "scheduler": request.scheduler, "steps": request.steps,
        "cfgScale": float(request.cfg_scale), "seed": seed, "width": request.width,
        "height": request.height, "batch": request.batch_count,
        "batchSize": request.batch_size, "backend": request.backend.value,
        "parentId": request.parent_id,
        "maskPng": None if request.mask is None else base64.b64encode(request.mask).decode(),
        "denoisingStrength": request.denoising_strength, "maskBlur": request.mask_blur,
        "maskedContent": request.masked_content.value, "inpaintArea": request.inpaint_area.value,
        "padding": request.padding, "invertMask": request.invert_mask,
        "keepPartial": request.keep_partial,
        "styles": list(request.styles), "enableHr": request.enable_hr,
        "hrScale": float(request.hr_scale), "hrUpscaler": request.hr_upscaler,
        "hrSecondPassSteps": request.hr_second_pass_steps,
        # a random variation seed is resolved too: the same variation when run again
        "subseed": request.subseed if request.subseed >= 0 or request.subseed_strength <= 0
        else secrets.randbelow(SEED_LIMIT - 1 - max(1, request.image_count)),
        "subseedStrength": float(request.subseed_strength),
        **_image_op_json(request),
    } | ({"initPng": base64.b64encode(request.init_image).decode()}
         if with_init_image and request.init_image else {})


def _image_op_json(request: GenerationRequest) -> dict[str, Any]:
    """The upscale / outpaint fields of a job row (absent for other kinds)."""
    if request.kind == Kind.upscale:
        return {"upscalingResize": request.upscaling_resize, "upscaler1": request.upscaler_1,
                "upscaler2": request.upscaler_2,
                "upscaler2Visibility": request.upscaler_2_visibility}
    if request.kind == Kind.outpaint:
        return {"expandLeft": request.expand_left, "expandRight": request.expand_right,
                "expandTop": request.expand_top, "expandBottom": request.expand_bottom}
    return {}


def request_from_json(data: dict[str, Any], library: Library) -> GenerationRequest:
    """The `GenerationRequest` a job row describes (reads the parent's pixels for a refinement).

    Raises:
        UsageError: If the stored request cannot be understood.
        NotFound: If the parent image is gone.
    """
    try:
        parent_id = data.get("parentId")
        init_image = None
        if data.get("initPng"):  # the canvas's own pixels
            init_image = base64.b64decode(data["initPng"], validate=True)
        elif parent_id:
            init_image = library.read_bytes(library.get_asset(parent_id))
        mask = data.get("maskPng")
        return GenerationRequest(
            project_id=str(data["projectId"]), prompt=str(data.get("prompt") or ""),
            kind=Kind(data.get("kind") or "txt2img"), negative=str(data.get("negative") or ""),
            model=data.get("model"), sampler=data.get("sampler"),
            scheduler=data.get("scheduler"), steps=int(data.get("steps") or 20),
            cfg_scale=float(data.get("cfgScale") or 7.0), seed=int(data.get("seed", -1)),
            width=int(data.get("width") or 512), height=int(data.get("height") or 512),
            batch_count=int(data.get("batch") or 1), batch_size=int(data.get("batchSize") or 1),
            backend=BackendChoice(data.get("backend") or "auto"), parent_id=parent_id,
            init_image=init_image,
            mask=base64.b64decode(mask, validate=True) if mask else None,
            denoising_strength=float(data.get("denoisingStrength", 0.75)),
            mask_blur=int(data.get("maskBlur", 4)),
            masked_content=MaskedContent(data.get("maskedContent") or "original"),
            inpaint_area=InpaintArea(data.get("inpaintArea") or "whole"),
            padding=int(data.get("padding", 32)), invert_mask=bool(data.get("invertMask")),
            keep_partial=bool(data.get("keepPartial")),
            # jobs stored before issue 12 have none of these: the defaults
            styles=tuple(str(name) for name in data.get("styles") or ()),
            enable_hr=bool(data.get("enableHr")), hr_scale=float(data.get("hrScale") or 2.0),
            hr_upscaler=str(data.get("hrUpscaler") or "Latent"),
            hr_second_pass_steps=int(data.get("hrSecondPassSteps") or 0),
            subseed=int(data.get("subseed", -1)),
            subseed_strength=float(data.get("subseedStrength") or 0.0),
            upscaling_resize=float(data.get("upscalingResize", 2.0)),
            upscaler_1=str(data.get("upscaler1") or "Lanczos"),
            upscaler_2=str(data.get("upscaler2") or "None"),
            upscaler_2_visibility=float(data.get("upscaler2Visibility", 0.0)),
            expand_left=int(data.get("expandLeft", 0)),
            expand_right=int(data.get("expandRight", 0)),
            expand_top=int(data.get("expandTop", 0)),
            expand_bottom=int(data.get("expandBottom", 0)),
        )
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise UsageError(f"The job's request cannot be understood ({exc}).") from exc


def _progress_info(p: Progress) -> dict[str, Any]:
    return {"step": p.step, "steps": p.steps, "eta": p.eta_seconds, "jobNo": p.job_no,
            "jobCount": p.job_count, "message": p.message}


def _progress_of(job: JobInfo) -> Progress:
    info = job.progressInfo or {}
    return Progress(job.progress, step=info.get("step"), steps=info.get("steps"),
                    eta_seconds=info.get("eta"), job_no=info.get("jobNo"),
                    job_count=info.get("jobCount"), message=info.get("message") or "")


# --- running one job ----------------------------------------------------------------------------


def execute_job(queue: JobQueue, library: Library, router: BackendRouter, job: JobInfo, *,
                token: CancelToken | None = None,
                on_progress: ProgressCallback | None = None,
                request: GenerationRequest | None = None,
                want_preview: Callable[[], bool] | None = None,
                on_outcome: Callable[[pipeline.JobOutcome], None] | None = None,
                stopping: Callable[[], bool] | None = None) -> JobInfo:
    """Run a job this process claimed (holding the runner lock) and record how it ended.

    Progress goes to the row (throttled) and to `on_progress`; a cancellation requested in the
    row (by any process) cancels `token`. Never raises for the job's own failures: they are
    recorded in the row, which is returned.

    Args:
        request: The request to run instead of the row's (the window's own job, with the
            pixels it holds); the row's seed is used.
        want_preview: Passed to `pipeline.run` (ask for live previews only while shown).
        on_outcome: Called with the `JobOutcome` of a job that ended well.
        stopping: True when `token` was cancelled because this runner stops (a window
            quitting): the job is then recorded as `interrupted` (it runs again once), not
            `cancelled`, unless its cancellation was requested.
    """
    token = token or CancelToken()
    done = threading.Event()

    def watch_cancel() -> None:
        # another process (or the service's DELETE) asks through the row: poll it cheaply
        while not done.wait(POLL):
            try:
                if queue.cancel_requested(job.id):
                    token.cancel()
                    return
            except DlxError:
                log.warning("job %s: cancellation check failed", job.id, exc_info=True)

    last = [0.0]

    def progress(p: Progress) -> None:
        if on_progress is not None:
            on_progress(p)
        now = time.monotonic()
        if now - last[0] < PROGRESS_INTERVAL and p.fraction < 1.0:
            return
        last[0] = now
        try:
            queue.update_progress(job.id, p.fraction, _progress_info(p))
        except DlxError:  # progress is a courtesy: never fail the job for it
            log.warning("job %s: progress not recorded", job.id, exc_info=True)

    watcher = threading.Thread(target=watch_cancel, name=f"dlx-art-cancel-{job.id[:8]}",
                               daemon=True)
    watcher.start()
    try:
        if job.cancelRequested:
            token.cancel()
        token.raise_if_cancelled()
        if request is None:
            request = request_from_json(job.request, library)
        elif isinstance(job.request.get("seed"), int):
            request = replace(request, seed=job.request["seed"])
        outcome = pipeline.run(request, router, library, on_progress=progress, cancel=token,
                               want_preview=want_preview)
    except DlxError as exc:
        # a cancel can surface as a dropped connection: the cancel is what happened
        if not isinstance(exc, Cancelled) and not token.cancelled:
            log.info("job %s failed: %s", job.id, exc.user_message)
            return queue.fail(job.id, exc.user_message, kind=type(exc).__name__,
                              exit_code=exc.exit_code)
        if stopping is not None and stopping() and not queue.cancel_requested(job.id):
            log.info("job %s interrupted: its runner stops", job.id)
            return queue.interrupt(job.id, "The program running this job was closed while "
                                   "it ran; it runs again once.")
        log.info("job %s cancelled", job.id)
        return queue.mark_cancelled(job.id)
    except Exception as exc:  # a bug: the traceback goes to the log, the row gets one line
        log.exception("job %s failed unexpectedly", job.id)
        return queue.fail(job.id, f"Unexpected error: {exc or type(exc).__name__} (details in "
                          "the log).", kind=type(exc).__name__, exit_code=1)
    finally:
        done.set()
    final = queue.finish(job.id, [a.id for a in outcome.assets], backend=outcome.backend,
                         fallback_reason=outcome.fallback_reason)
    if on_outcome is not None:
        on_outcome(outcome)
    return final


def outcome_of(job: JobInfo, library: Library) -> pipeline.JobOutcome:
    """The `JobOutcome` of a finished job, or the error it ended with (raised).

    Raises:
        Cancelled: If the job was cancelled.
        DlxError: The job's own error (same class and exit code as when it was raised).
    """
    if job.state == "done":
        assets = library.get_assets(job.resultAssetIds)
        return pipeline.JobOutcome(assets=assets, backend=job.backend or "",
                                   backend_label=job.backend or "",
                                   fallback_reason=job.fallbackReason)
    if job.state == "cancelled":
        raise Cancelled()
    raise error_of(job)


def error_of(job: JobInfo) -> DlxError:
    """The `DlxError` a failed (or finally interrupted) job ended with."""
    message = job.error or "The job failed."
    kind = getattr(errors, job.errorKind or "", None)
    error: DlxError
    try:
        if isinstance(kind, type) and issubclass(kind, DlxError):
            error = kind(message)
        else:
            error = DlxError(message)
    except TypeError:  # a class whose constructor wants more than a message
        error = DlxError(message)
    if job.exitCode is not None:
        error.exit_code = job.exitCode
    return error


# --- a command's job ----------------------------------------------------------------------------


def submit_and_wait(library: Library, router: BackendRouter, request: GenerationRequest, *,
                    origin: str = "cli", cancel: CancelToken | None = None,
                    on_progress: ProgressCallback | None = None,
                    on_queued: Callable[[JobInfo], None] | None = None) -> pipeline.JobOutcome:
    """Enqueue `request`, run it here if no runner holds the library, else follow it.

    `cancel` stops the job: run here, it is cancelled on the server at once; followed, its
    cancellation is requested in the row and this waits for the runner to record it.

    Returns:
        The job's outcome. Raises the job's error (`Cancelled` when it was cancelled).
    """
    cancel = cancel or CancelToken()
    queue = JobQueue(library.db_path)
    runner_lock = RunnerLock(library.root)
    try:
        data = request_to_json(request)
        job = queue.enqueue(request.kind.value, data, project_id=request.project_id,
                            origin=origin)
        if on_queued is not None:
            on_queued(job)
        final = _run_or_follow(queue, runner_lock, library, router, job.id, cancel, on_progress)
        return outcome_of(final, library)
    finally:
        runner_lock.release()
        queue.close()


def _run_or_follow(queue: JobQueue, runner_lock: RunnerLock, library: Library,
                   router: BackendRouter, job_id: str, cancel: CancelToken,
                   on_progress: ProgressCallback | None) -> JobInfo:
    seen = None
    next_try = 0.0
    asked = False
    while True:
        now = time.monotonic()
        if now >= next_try:
            next_try = now + 1.0
            # a runner that quits (or dies) while we follow leaves the job to us
            if runner_lock.acquire():
                queue.recover()
                claimed = queue.claim(runner_label(), job_id)
                if claimed is not None:
                    log.info("job %s runs in this process", job_id)
                    return execute_job(queue, library, router, claimed, token=cancel,
                                       on_progress=on_progress)
                runner_lock.release()
        job = queue.get(job_id)
        if job.finished:
            return job
        if cancel.cancelled and not asked:
            asked = True
            job = queue.request_cancel(job_id)
            if job.finished:
                return job
        marker = (job.state, job.progress, job.updatedAt)
        if job.state == "running" and marker != seen and on_progress is not None:
            on_progress(_progress_of(job))
        seen = marker
        time.sleep(0.1 if cancel.cancelled else 0.2)


# --- the runner ---------------------------------------------------------------------------------


class JobRunner:
    """Runs a library's queued jobs in order, in one background thread, while it is the runner.

    `start` returns at once; the thread takes the runner lock as soon as no other process holds
    it (retrying every second), marks what a dead runner left as interrupted, then runs jobs.
    `stop` cancels the running job (recorded as cancelled) and gives the lock up.
    """

    def __init__(self, library: Library, router: BackendRouter | Callable[[], BackendRouter], *,
                 poll: float = POLL) -> None:
        self.library = library
        self._router = router
        self.queue = JobQueue(library.db_path)
        self.lock = RunnerLock(library.root)
        self.poll = poll
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._current: CancelToken | None = None
        self._current_lock = threading.Lock()
        self.label = runner_label()

    @property
    def router(self) -> BackendRouter:
        if not isinstance(self._router, BackendRouter):
            self._router = self._router()
        return self._router

    @property
    def is_runner(self) -> bool:
        """True while this runner holds the library's runner lock."""
        return self.lock.held

    def start(self) -> JobRunner:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="dlx-art-runner", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look for a job now (a job was just queued in this process)."""
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        """Cancel the running job, wait for it to be recorded, and give the runner lock up."""
        self._stop.set()
        self._wake.set()
        with self._current_lock:
            token = self._current
        if token is not None:
            token.cancel()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the job runner did not stop within %.0f s", timeout)
            self._thread = None
        self.lock.release()
        self.queue.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.lock.held:
                    if not self.lock.acquire():
                        self._stop.wait(1.0)
                        continue
                    log.info("this process runs the jobs of %s", self.library.root)
                    self.queue.recover()
                job = self.queue.claim(self.label)
                if job is None:
                    self._wake.wait(self.poll)
                    self._wake.clear()
                    continue
                self._run(job)
            except Exception:  # keep serving: a catalog hiccup must not end the runner
                log.exception("job runner error")
                self._stop.wait(1.0)

    def _run(self, job: JobInfo) -> None:
        token = CancelToken()
        with self._current_lock:
            self._current = token
        if self._stop.is_set():
            token.cancel()
        try:
            log.info("job %s (%s, from %s) starts", job.id, job.kind, job.origin)
            execute_job(self.queue, self.library, self.router, job, token=token)
        finally:
            with self._current_lock:
                self._current = None


def wait_for(queue: JobQueue, job_id: str, timeout: float) -> JobInfo:
    """Poll a job until it is finished or `timeout` seconds passed; returns the last row."""
    deadline = time.monotonic() + timeout
    job = queue.get(job_id)
    while not job.finished and time.monotonic() < deadline:
        time.sleep(0.1)
        job = queue.get(job_id)
    return job
