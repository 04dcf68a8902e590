"""request → backend → bytes → library: one job, shared by the command line and the GUI.

Runs in whatever thread calls it (the GUI calls it from a worker thread); reports through the
plain `on_progress` callback and stops through the `CancelToken`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from dlx_art.errors import Cancelled
from dlx_art.generation.outpaint import with_canvas
from dlx_art.generation.router import BackendRouter
from dlx_art.generation.types import (
    CancelToken,
    GenerationRequest,
    Kind,
    ProgressCallback,
    stored_seed,
)
from dlx_art.library.records import AssetInfo
from dlx_art.library.service import Library

log = logging.getLogger("dlx_art.generation.pipeline")


@dataclass(frozen=True)
class JobOutcome:
    assets: list[AssetInfo]
    backend: str
    backend_label: str
    fallback_reason: str | None
    interrupted: bool = False

    @property
    def model(self) -> str | None:
        """The model the images were made with, as stored (A1111: the infotext's `Model`,
        e.g. the inpainting partner a masked refinement used)."""
        return next((a.model for a in self.assets if a.model), None)

    def to_json(self) -> dict[str, object]:
        return {"assets": [a.to_json() for a in self.assets], "backend": self.backend,
                "model": self.model, "fallbackReason": self.fallback_reason}


def run(
    request: GenerationRequest,
    router: BackendRouter,
    library: Library,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    want_preview: Callable[[], bool] | None = None,
) -> JobOutcome:
    """Generate and store. Raises `DlxError`s (`Cancelled` when the person cancelled)."""
    cancel = cancel or CancelToken()
    library.get_project(request.project_id)  # fail early on a project that vanished
    if request.parent_id is not None:
        library.get_asset(request.parent_id)
    # an outpaint runs as inpainting of its larger canvas; the mask made here is the one stored
    request = with_canvas(request)
    routed = router.generate(request, on_progress=on_progress, cancel=cancel,
                             want_preview=want_preview)
    result = routed.result
    # Once the person asked to cancel, nothing that arrives is stored, whatever the backend
    # reported: the server may answer the interrupt with its image in the same instant, and a
    # client may take that for a finished job.
    discard = not request.keep_partial
    if discard and (result.interrupted or cancel.cancelled):
        raise Cancelled()
    refinement = request.kind in (Kind.img2img, Kind.inpaint, Kind.outpaint)
    hf_free = result.backend != "hf"
    assets: list[AssetInfo] = []
    for image in result.images:
        if discard and cancel.cancelled:
            withdraw(library, assets)
            raise Cancelled()
        values = {
            "prompt": request.prompt,
            "negative": request.negative or None,
            "model": result.model or request.model or "",
            "seed": stored_seed(image.seed),  # a backend's odd seed never breaks the save
            "steps": request.steps,
            "cfgScale": float(request.cfg_scale),
            "kind": request.kind.value,
            # Hugging Face chooses its own: the request's names would be a false record
            "sampler": result.sampler or (request.sampler if hf_free else None),
            "scheduler": result.scheduler or (request.scheduler if hf_free else None),
            "denoisingStrength": request.denoising_strength if refinement else None,
            "backend": result.backend,
            "backendReason": routed.fallback_reason,
            "infotext": image.infotext,
            "parentId": request.parent_id,
            "approximate": result.approximate,
        }
        mask = request.mask if request.kind is Kind.inpaint else None
        if request.kind is Kind.outpaint and (image.width, image.height) == (request.width,
                                                                             request.height):
            mask = request.mask  # the canvas's new area (a mask has the image's size)
        asset = library.add_image(request.project_id, image.data, values=values, mask=mask)
        # No thumbnail here: it is a cache, made after the save by whoever shows the image
        # (the window's job worker, or the gallery on demand); the next save never waits.
        assets.append(asset)
    if discard and cancel.cancelled:  # cancelled while the last image was being saved
        withdraw(library, assets)
        raise Cancelled()
    log.info("job stored %d image(s) from %s%s", len(assets), result.backend_label,
             f" ({routed.fallback_reason})" if routed.fallback_reason else "")
    return JobOutcome(assets, result.backend, result.backend_label, routed.fallback_reason,
                      result.interrupted)


def withdraw(library: Library, assets: list[AssetInfo]) -> None:
    """Take the images a cancelled job saved just before the cancel out of the project.

    They go to the trash, not away for good: nothing is destroyed, and a person who wants
    them back restores them (`dlx-art assets restore ID`).
    """
    for asset in assets:
        try:
            library.trash(asset.id)
            log.info("job cancelled while saving: %s moved to the trash", asset.id)
        except Exception:
            log.exception("could not move %s of a cancelled job to the trash", asset.id)
