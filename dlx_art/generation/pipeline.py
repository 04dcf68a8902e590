"""request → backend → bytes → library: one job, shared by the command line and the GUI.

Runs in whatever thread calls it (the GUI calls it from a worker thread); reports through the
plain `on_progress` callback and stops through the `CancelToken`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from dlx_art.errors import Cancelled
from dlx_art.generation.router import BackendRouter
from dlx_art.generation.types import (
    CancelToken,
    GenerationRequest,
    Kind,
    ProgressCallback,
    stored_seed,
)
from dlx_art.library.models import AssetInfo
from dlx_art.library.service import Library

log = logging.getLogger("dlx_art.generation.pipeline")


@dataclass(frozen=True)
class JobOutcome:
    assets: list[AssetInfo]
    backend: str
    backend_label: str
    fallback_reason: str | None
    interrupted: bool = False

    def to_json(self) -> dict[str, object]:
        return {"assets": [a.to_json() for a in self.assets], "backend": self.backend,
                "fallbackReason": self.fallback_reason}


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
    routed = router.generate(request, on_progress=on_progress, cancel=cancel,
                             want_preview=want_preview)
    result = routed.result
    if result.interrupted and not request.keep_partial:
        raise Cancelled()
    refinement = request.kind in (Kind.img2img, Kind.inpaint)
    assets = []
    for image in result.images:
        values = {
            "prompt": request.prompt,
            "negative": request.negative or None,
            "model": result.model or request.model or "",
            "seed": stored_seed(image.seed),  # a backend's odd seed never breaks the save
            "steps": request.steps,
            "cfgScale": float(request.cfg_scale),
            "kind": request.kind.value,
            "sampler": result.sampler or request.sampler,
            "scheduler": result.scheduler or request.scheduler,
            "denoisingStrength": request.denoising_strength if refinement else None,
            "backend": result.backend,
            "backendReason": routed.fallback_reason,
            "infotext": image.infotext,
            "parentId": request.parent_id,
            "approximate": result.approximate,
        }
        mask = request.mask if request.kind is Kind.inpaint else None
        asset = library.add_image(request.project_id, image.data, values=values, mask=mask)
        try:
            library.make_thumbnail(asset)
        except Exception:  # a thumbnail is a cache: never fail the job for it
            log.warning("thumbnail for %s failed", asset.id, exc_info=True)
        assets.append(asset)
    log.info("job stored %d image(s) from %s%s", len(assets), result.backend_label,
             f" ({routed.fallback_reason})" if routed.fallback_reason else "")
    return JobOutcome(assets, result.backend, result.backend_label, routed.fallback_reason,
                      result.interrupted)
