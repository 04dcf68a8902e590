"""The art API: FastAPI routes over the library and its durable job queue.

The service is its library's job runner (`JobRunner`): `POST /api/art/generate` queues a job in
the catalog and answers 202 with it; the runner (this process, or the window if it runs the
library's jobs) makes the images. Errors are JSON ``{"error", "message"}`` with the command
line's meanings: 404 unknown, 422 invalid, 503 no backend, 409 cancelled.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from dlx_art import __version__, errors
from dlx_art.config import Context
from dlx_art.errors import DlxError, UsageError
from dlx_art.generation.types import (
    BackendChoice,
    GenerationRequest,
    InpaintArea,
    Kind,
    MaskedContent,
)
from dlx_art.library.jobs import JobInfo, JobQueue
from dlx_art.library.records import AssetInfo
from dlx_art.library.service import Library
from dlx_art.service import static
from dlx_art.service.schemas import GenerateBody, RefineBody
from dlx_art.service.security import (
    MAX_BODY,
    GuardMiddleware,
    allowed_hosts,
    load_token,
)

log = logging.getLogger("dlx_art.service")
#: How often `?wait=true` and the event stream look at a job's row.
POLL = 0.2
KEEPALIVE = 15.0


@dataclass
class ServiceState:
    """What the routes share: the open library, its queue and the job runner."""

    context: Context
    library: Library | None = None
    queue: JobQueue | None = None
    runner: Any = None  # JobRunner (imported lazily with the generation stack)
    stopping: threading.Event = field(default_factory=threading.Event)
    _stopped: bool = False

    def open(self, run_jobs: bool) -> None:
        if self.library is None:
            self.library = self.context.open_library()
        self.queue = JobQueue(self.library.db_path)
        if run_jobs:
            from dlx_art.generation.router import BackendRouter
            from dlx_art.generation.runner import JobRunner

            settings = self.context.effective
            self.runner = JobRunner(self.library, lambda: BackendRouter.from_settings(settings))
            self.runner.start()

    def stop_jobs(self) -> None:
        """Cancel the running job (recorded as cancelled) and stop running jobs; idempotent."""
        self.stopping.set()
        if self.runner is not None:
            self.runner.stop()

    def close(self, own_library: bool) -> None:
        self.stop_jobs()
        if self.queue is not None:
            self.queue.close()
        if own_library and self.library is not None:
            self.library.close()


def status_for(error: DlxError) -> int:
    """The HTTP status with the meaning of the command line's exit code for `error`."""
    if isinstance(error, errors.NotFound):
        return 404
    if isinstance(error, errors.Cancelled):
        return 409
    if isinstance(error, errors.LibraryLocked):
        return 409
    if isinstance(error, errors.BackendUnavailable) or error.exit_code == 3:
        return 503
    if isinstance(error, errors.UsageError | errors.RequestRejected) or error.exit_code in (2, 4):
        return 422
    if isinstance(error, errors.BackendError):
        return 502
    return 500


def error_response(error: DlxError) -> JSONResponse:
    return JSONResponse({"error": type(error).__name__, "message": error.user_message,
                         "exitCode": error.exit_code}, status_code=status_for(error))


def asset_json(asset: AssetInfo) -> dict[str, Any]:
    data = asset.to_json()
    data["url"] = static.asset_url(asset.filePath)
    return data


def create_app(context: Context, *, host: str = "127.0.0.1", token: str | None = None,
               extra_hosts: Iterable[str] = (), cors_origins: Iterable[str] = (),
               max_body: int = MAX_BODY, library: Library | None = None,
               run_jobs: bool = True) -> FastAPI:
    """The art API for the library of `context`.

    Args:
        context: The configuration (storage root, backends).
        host: The address the server binds; requests must name it (or, for loopback, a
            loopback name) in `Host`.
        token: The bearer token; by default the one stored in the config folder.
        extra_hosts: More `Host` names to accept (e.g. the name a TLS proxy forwards).
        cors_origins: Browser origins allowed by CORS; none by default (no CORS headers).
        max_body: Largest request body accepted, in bytes.
        library: An open library to serve (left open); by default it is opened and closed here.
        run_jobs: Whether this service runs the library's jobs (it does for `dlx-art serve`).
    """
    state = ServiceState(context, library)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(state.open, run_jobs)
        log.info("art API serving %s", state.library.root if state.library else "?")
        try:
            yield
        finally:
            await run_in_threadpool(state.close, library is None)
            log.info("art API stopped")

    app = FastAPI(title="DLX Art Studio API", version=__version__, lifespan=lifespan,
                  description="The art studio as a service: generate and refine images, follow "
                              "jobs, browse projects and assets. Every request needs "
                              "`Authorization: Bearer <token>` (`dlx-art serve --show-token`).")
    app.state.service = state
    secret = token if token is not None else load_token(context.paths.config_dir)
    origins = list(cors_origins)
    if origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"],
                           expose_headers=["Location", "ETag", "Content-Range"])
    app.add_middleware(GuardMiddleware, token=secret, hosts=allowed_hosts(host, extra_hosts),
                       max_body=max_body)
    _add_error_handlers(app)
    _add_routes(app, state)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DlxError)
    async def dlx_error(_request: Request, exc: DlxError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": ".".join(str(p) for p in e.get("loc", ())[1:]),
                    "message": e.get("msg", "")} for e in exc.errors()]
        text = "; ".join(f"{d['field'] or 'body'}: {d['message']}" for d in details)
        return JSONResponse({"error": "UsageError", "message": f"Invalid request: {text}",
                             "exitCode": 2, "details": details}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        names = {404: "NotFound", 405: "method_not_allowed"}
        return JSONResponse({"error": names.get(exc.status_code, "http_error"),
                             "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))


def _add_routes(app: FastAPI, state: ServiceState) -> None:
    # documents the bearer scheme in the OpenAPI description; GuardMiddleware enforces it
    bearer = [Depends(HTTPBearer(auto_error=False))]

    def library() -> Library:
        if state.library is None:
            raise errors.StorageError("The library is not open.")
        return state.library

    def queue() -> JobQueue:
        if state.queue is None:
            raise errors.StorageError("The library is not open.")
        return state.queue

    def enqueue(request: GenerationRequest) -> JobInfo:
        from dlx_art.generation.runner import request_to_json

        job = queue().enqueue(request.kind.value, request_to_json(request),
                              project_id=request.project_id, origin="service")
        if state.runner is not None:
            state.runner.wake()
        return job

    async def answer(job: JobInfo, wait: bool) -> Response:
        if not wait:
            return JSONResponse(job.to_json(), status_code=202,
                                headers={"Location": f"/api/art/jobs/{job.id}"})
        while not job.finished and not state.stopping.is_set():
            await asyncio.sleep(POLL)
            job = await run_in_threadpool(queue().get, job.id)
        if not job.finished:  # the service is stopping: the runner records the cancel
            job = await run_in_threadpool(_wait_recorded, queue(), job.id)
        return await run_in_threadpool(_outcome_response, library(), job)

    @app.post("/api/art/generate", status_code=202, dependencies=bearer, tags=["art"],
              summary="Queue a text-to-image job (202 + Location; ?wait=true: the images)")
    async def generate(body: GenerateBody, wait: bool = False) -> Response:
        request = await run_in_threadpool(_generate_request, library(), body)
        job = await run_in_threadpool(enqueue, request)
        return await answer(job, wait)

    @app.post("/api/art/refine", status_code=202, dependencies=bearer, tags=["art"],
              summary="Queue an img2img job, or an inpainting job with `maskPng` (base64 PNG)")
    async def refine(body: RefineBody, wait: bool = False) -> Response:
        request = await run_in_threadpool(_refine_request, library(), body)
        job = await run_in_threadpool(enqueue, request)
        return await answer(job, wait)

    from dlx_art.service.image_ops import add_image_op_routes

    add_image_op_routes(app, bearer, library, enqueue, answer)  # upscale, outpaint

    @app.get("/api/art/jobs", dependencies=bearer, tags=["jobs"],
             summary="The library's jobs, newest first, whoever queued them")
    def list_jobs(state_: Annotated[list[str] | None, Query(alias="state")] = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50,
                  offset: Annotated[int, Query(ge=0)] = 0) -> list[dict[str, Any]]:
        return [j.to_json() for j in queue().list(states=state_, limit=limit, offset=offset)]

    @app.get("/api/art/jobs/{job_id}", dependencies=bearer, tags=["jobs"])
    def get_job(job_id: str) -> dict[str, Any]:
        return queue().get(job_id).to_json()

    @app.delete("/api/art/jobs/{job_id}", dependencies=bearer, tags=["jobs"],
                summary="Cancel a job (a running one is stopped on the server)")
    def cancel_job(job_id: str) -> JSONResponse:
        job = queue().request_cancel(job_id)
        if state.runner is not None:
            state.runner.wake()
        return JSONResponse(job.to_json(), status_code=200 if job.finished else 202)

    @app.post("/api/art/jobs/{job_id}/retry", status_code=202, dependencies=bearer,
              tags=["jobs"], summary="Queue a finished job's request again (same seed)")
    def retry_job(job_id: str) -> JSONResponse:
        old = queue().get(job_id)
        if not old.finished:
            raise UsageError("This job has not finished; cancel it first to run it again.")
        job = queue().retry(job_id, origin="service")
        if state.runner is not None:
            state.runner.wake()
        return JSONResponse(job.to_json(), status_code=202,
                            headers={"Location": f"/api/art/jobs/{job.id}"})

    @app.get("/api/art/jobs/{job_id}/events", dependencies=bearer, tags=["jobs"],
             summary="Progress as server-sent events (`progress`, then the final state)")
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        job = await run_in_threadpool(queue().get, job_id)  # 404 before the stream starts

        async def stream() -> AsyncIterator[str]:
            current = job
            seen = None
            quiet = 0.0
            while True:
                marker = (current.state, current.progress, current.updatedAt)
                if marker != seen:
                    seen, quiet = marker, 0.0
                    data = json.dumps(current.to_json(with_request=False))
                    kind = current.state if current.finished else "progress"
                    yield f"event: {kind}\nid: {current.updatedAt.isoformat()}\ndata: {data}\n\n"
                    if current.finished:
                        return
                elif quiet >= KEEPALIVE:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                if state.stopping.is_set() or await request.is_disconnected():
                    return
                await asyncio.sleep(POLL)
                quiet += POLL
                current = await run_in_threadpool(queue().get, job_id)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    @app.get("/api/projects", dependencies=bearer, tags=["library"])
    def projects(all: bool = False) -> list[dict[str, Any]]:  # noqa: A002 - the CLI's flag
        lib = library()
        out = []
        for project in lib.list_projects(include_archived=all):
            item = project.to_json()
            item["assetCount"] = lib.count_assets(project.id)
            out.append(item)
        return out

    @app.get("/api/projects/{project_id}/assets", dependencies=bearer, tags=["library"],
             summary="A project's images, newest first, paged")
    def project_assets(project_id: str, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                       offset: Annotated[int, Query(ge=0)] = 0, search: str | None = None,
                       favorites: bool = False) -> dict[str, Any]:
        lib = library()
        project = lib.get_project(project_id)
        items = lib.assets(project.id, limit=limit, offset=offset, favorites=favorites,
                           search=search)
        total = lib.count_assets(project.id, favorites=favorites, search=search)
        return {"assets": [asset_json(a) for a in items], "total": total, "limit": limit,
                "offset": offset}

    @app.get("/api/assets/{asset_id}", dependencies=bearer, tags=["library"],
             summary="An image's catalog fields, its URL and its lineage")
    def asset(asset_id: str) -> dict[str, Any]:
        lib = library()
        data = asset_json(lib.get_asset(asset_id))
        lineage = lib.lineage(asset_id)
        data["lineage"] = {
            "ancestors": [asset_json(a) for a in lineage.ancestors],
            "descendants": [dict(asset_json(a), depth=d) for a, d in lineage.descendants]}
        return data

    @app.head("/static/projects/{path:path}", dependencies=bearer, include_in_schema=False)
    @app.get("/static/projects/{path:path}", dependencies=bearer, tags=["files"],
             summary="An image file (ETag, Range); only from the projects' Assets folders")
    def static_file(path: str, request: Request) -> Response:
        target, info = static.resolve(library().root, path)
        tag = static.etag(info)
        headers = {"ETag": tag, "Cache-Control": "private, no-cache",
                   "X-Content-Type-Options": "nosniff"}
        wanted = request.headers.get("if-none-match")
        if wanted is not None and tag in [t.strip() for t in wanted.split(",")] + ["*"]:
            return Response(status_code=304, headers=headers)
        return FileResponse(target, stat_result=info, media_type=static.content_type(target),
                            headers=headers)


def _wait_recorded(queue: JobQueue, job_id: str) -> JobInfo:
    from dlx_art.generation.runner import wait_for

    return wait_for(queue, job_id, 60.0)


def _outcome_response(library: Library, job: JobInfo) -> Response:
    from dlx_art.generation.runner import outcome_of

    if not job.finished:
        return JSONResponse({"error": "ServiceStopping", "message": "The service is stopping; "
                             "the job was not finished.", "job": job.to_json()},
                            status_code=503)
    try:
        outcome = outcome_of(job, library)
    except DlxError as exc:
        response = error_response(exc)
        body = json.loads(bytes(response.body))
        body["job"] = job.to_json(with_request=False)
        return JSONResponse(body, status_code=response.status_code)
    return JSONResponse({"jobId": job.id, "assets": [asset_json(a) for a in outcome.assets],
                         "backend": outcome.backend, "fallbackReason": outcome.fallback_reason})


def _project_of(library: Library, project_id: str | None, project_name: str | None) -> Any:
    if (project_id is None) == (project_name is None):
        raise UsageError("Give exactly one of projectId and projectName.")
    project = library.get_project(project_id or project_name or "")
    if project.archived:
        raise UsageError(f"Project {project.name!r} is archived; unarchive it first.")
    return project


def _generate_request(library: Library, body: GenerateBody) -> GenerationRequest:
    project = _project_of(library, body.projectId, body.projectName)
    return GenerationRequest(
        project_id=project.id, prompt=body.prompt, kind=Kind.txt2img, negative=body.negative,
        model=body.model, sampler=body.sampler, scheduler=body.scheduler, steps=body.steps,
        cfg_scale=body.cfgScale, seed=body.seed, width=body.width, height=body.height,
        batch_count=body.batch, backend=BackendChoice(body.backend))


def _round8(value: int) -> int:
    return max(64, int(value) // 8 * 8)


def _refine_request(library: Library, body: RefineBody) -> GenerationRequest:
    parent = library.get_asset(body.parentId)
    if parent.projectId is None:
        raise UsageError("This image belongs to no project; import it into one first.")
    mask = None
    if body.maskPng is not None:
        try:
            mask = base64.b64decode(body.maskPng, validate=True)
        except (binascii.Error, ValueError):
            raise UsageError("maskPng is not valid base64.") from None
        size = _png_size(mask)
        if size != (parent.width, parent.height):
            raise UsageError(f"The mask is {size[0]}x{size[1]} but the image is "
                             f"{parent.width}x{parent.height}; a mask must have the image's size.")
    return GenerationRequest(
        project_id=parent.projectId,
        prompt=parent.prompt if body.prompt is None else body.prompt,
        negative=(parent.negative or "") if body.negative is None else body.negative,
        kind=Kind.inpaint if mask is not None else Kind.img2img,
        model=parent.model or None, sampler=parent.sampler, scheduler=parent.scheduler,
        steps=body.steps or parent.steps or 20, cfg_scale=parent.cfgScale or 7.0,
        seed=body.seed, width=_round8(parent.width or 512), height=_round8(parent.height or 512),
        backend=BackendChoice(body.backend), parent_id=parent.id, mask=mask,
        denoising_strength=body.denoisingStrength, mask_blur=body.maskBlur,
        masked_content=MaskedContent(body.maskedContent),
        inpaint_area=InpaintArea(body.inpaintArea), padding=body.padding,
        invert_mask=body.invertMask)


def _png_size(data: bytes) -> tuple[int, int]:
    """The size of a PNG mask, read from its header only (never decoded here)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise UsageError("The mask must be a PNG image.")
            return image.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise UsageError("The mask is not a readable PNG image.") from None
