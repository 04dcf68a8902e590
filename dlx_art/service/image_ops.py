"""`POST /api/art/upscale` and `POST /api/art/outpaint`: the `upscale` and `outpaint` commands
as routes, with the same 202 + Location (or `?wait=true`: the outcome) as generate and refine.

Bodies are camelCase like the catalog; fields left out of an outpaint (prompt, negative, steps,
model...) are taken from the parent image, as the command line does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import FastAPI, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from dlx_art.errors import UsageError
from dlx_art.generation.types import MAX_EXPAND, MAX_UPSCALE, GenerationRequest, Kind
from dlx_art.library.jobs import JobInfo
from dlx_art.library.service import Library
from dlx_art.service.schemas import SEED_MAX, _Body

__all__ = ["OutpaintBody", "UpscaleBody", "add_image_op_routes"]


class UpscaleBody(_Body):
    """An upscale of `parentId` on AUTOMATIC1111 (`extra-single-image`); a new child image."""

    parentId: str
    scale: float = Field(2.0, gt=0.0, le=MAX_UPSCALE, allow_inf_nan=False)
    upscaler: str = Field("Lanczos", min_length=1, max_length=200,
                          description="a name from the server's upscaler list")
    upscaler2: str | None = Field(None, min_length=1, max_length=200,
                                  description="a second upscaler blended in")
    upscaler2Visibility: float | None = Field(None, ge=0.0, le=1.0, allow_inf_nan=False,
                                              description="with upscaler2: 0 to 1")
    backend: Literal["auto", "a1111", "hf"] = "auto"


class OutpaintBody(_Body):
    """An outpaint of `parentId`: pixels added on each side (multiples of 8, at least one)."""

    parentId: str
    left: int = Field(0, ge=0, le=MAX_EXPAND, multiple_of=8)
    right: int = Field(0, ge=0, le=MAX_EXPAND, multiple_of=8)
    top: int = Field(0, ge=0, le=MAX_EXPAND, multiple_of=8)
    bottom: int = Field(0, ge=0, le=MAX_EXPAND, multiple_of=8)
    prompt: str | None = Field(None, max_length=20_000)
    negative: str | None = Field(None, max_length=20_000)
    denoisingStrength: float = Field(0.9, ge=0.0, le=1.0, allow_inf_nan=False)
    seed: int = Field(-1, ge=-1, le=SEED_MAX)
    steps: int | None = Field(None, ge=1, le=500)
    backend: Literal["auto", "a1111", "hf"] = "auto"


def upscale_request(library: Library, body: UpscaleBody) -> GenerationRequest:
    """The checked request of an upscale body (UsageError / NotFound otherwise)."""
    if (body.upscaler2 is None) != (body.upscaler2Visibility is None):
        raise UsageError("upscaler2 and upscaler2Visibility go together: name the second "
                         "upscaler and how much of it shows (0 to 1).")
    return _request(library, Kind.upscale, body.parentId, {
        "upscaling_resize": body.scale, "upscaler_1": body.upscaler,
        "upscaler_2": body.upscaler2 or "None",
        "upscaler_2_visibility": body.upscaler2Visibility or 0.0, "backend": body.backend})


def outpaint_request(library: Library, body: OutpaintBody) -> GenerationRequest:
    """The checked request of an outpaint body (UsageError / NotFound otherwise)."""
    return _request(library, Kind.outpaint, body.parentId, {
        "expand_left": body.left, "expand_right": body.right, "expand_top": body.top,
        "expand_bottom": body.bottom, "prompt": body.prompt, "negative": body.negative,
        "denoising_strength": body.denoisingStrength, "seed": body.seed, "steps": body.steps,
        "backend": body.backend})


def _request(library: Library, kind: Kind, parent_id: str,
             params: dict[str, object]) -> GenerationRequest:
    parent = library.get_asset(parent_id)
    if parent.projectId is None:
        raise UsageError("This image belongs to no project; import it into one first.")
    return GenerationRequest.from_params(kind, parent.projectId, params, parent=parent,
                                         init_image=library.read_bytes(parent))


def add_image_op_routes(app: FastAPI, bearer: list[Any], library: Callable[[], Library],
                        enqueue: Callable[[GenerationRequest], JobInfo],
                        answer: Callable[[JobInfo, bool], Awaitable[Response]]) -> None:
    """Register the two routes with the service's own helpers (see `app._add_routes`)."""

    @app.post("/api/art/upscale", status_code=202, dependencies=bearer, tags=["art"],
              summary="Queue an upscale of an image on AUTOMATIC1111 (a new child image)")
    async def upscale(body: UpscaleBody, wait: bool = False) -> Response:
        request = await run_in_threadpool(upscale_request, library(), body)
        job = await run_in_threadpool(enqueue, request)
        return await answer(job, wait)

    @app.post("/api/art/outpaint", status_code=202, dependencies=bearer, tags=["art"],
              summary="Queue an outpaint: grow the canvas and paint the new area (a child)")
    async def outpaint(body: OutpaintBody, wait: bool = False) -> Response:
        request = await run_in_threadpool(outpaint_request, library(), body)
        job = await run_in_threadpool(enqueue, request)
        return await answer(job, wait)
