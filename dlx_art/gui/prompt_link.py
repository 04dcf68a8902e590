"""Wires the prompt panel's toolbox parts to the window's session (kept out of main_window).

* The toolbox (LoRAs, embeddings, styles, upscalers) is read with `BackendRouter.toolbox()` on
  the session's "backends" lane: when an AUTOMATIC1111 server becomes reachable, when the
  panel asks (its popup opened before anything was read) and on Refresh (`refresh=True`).
* The backend statuses tell the panel when only Hugging Face is up (its A1111-only warning).
* The prompt history follows the current project and is read again after each finished job.
* "More like this" (details toolbar, gallery menu) queues variations of an image.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Slot

from dlx_art.errors import DlxError, UsageError
from dlx_art.generation.types import GenerationRequest, Kind
from dlx_art.gui.jobs import JobState
from dlx_art.gui.reuse import request_params_of
from dlx_art.gui.status import a1111_reachable

if TYPE_CHECKING:
    from dlx_art.gui.jobs import Job
    from dlx_art.gui.main_window import MainWindow

log = logging.getLogger("dlx_art.gui.prompt_link")

#: Kinds "More like this" can vary (a text-to-image job from the image's parameters).
VARIABLE_KINDS = (None, "", "txt2img", "import")


def variation_params(asset: Any, panel: Any) -> dict[str, Any]:
    """The request fields of "More like this" on `asset`: its parameters (hires fix and
    styles from its infotext too), its seed, a random variation seed, the panel's strength."""
    from dlx_art.gui.prompt_panel import _find_model

    extras = request_params_of(getattr(asset, "infotext", None))
    model = asset.model
    if model:
        index = _find_model(panel.model_combo, model)
        if index >= 0:
            model = panel.model_combo.itemData(index)
    params: dict[str, Any] = {
        "prompt": asset.prompt or "",
        "negative": asset.negative or "",
        "model": model or None,
        "sampler": asset.sampler or None,
        "scheduler": asset.scheduler.lower().replace(" ", "_") if asset.scheduler else None,
        "steps": asset.steps or None,
        "cfg_scale": asset.cfgScale if asset.cfgScale is not None else None,
        "seed": asset.seed,
        "width": extras.get("width") or asset.width,
        "height": extras.get("height") or asset.height,
        "batch_count": panel.batch_spin.value(),
        "batch_size": panel.batch_size_spin.value(),
        "backend": panel.backend(),
        "subseed": -1,
        "subseed_strength": panel.variation_group.more_like_this_strength(),
    }
    for key in ("enable_hr", "hr_scale", "hr_upscaler", "hr_second_pass_steps",
                "denoising_strength", "styles"):
        if key in extras:
            params[key] = extras[key]
    return {key: value for key, value in params.items() if value is not None}


class PromptLink(QObject):
    """See the module docstring. Built by the window once its widgets exist."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.panel = window.prompt_panel
        self._lane = window.session.runner.backends
        self._loading = False
        self._again: bool | None = None  # a load asked for while one runs (True: refresh)
        self._a1111_up: bool | None = None
        self.panel.toolbox_wanted.connect(self.load_toolbox)
        self.panel.refresh_requested.connect(lambda: self.load_toolbox(False))
        window.monitor.statuses_changed.connect(self._on_statuses)
        window.project_bar.project_changed.connect(self._follow_project)
        window.library_ready.connect(self._follow_project)
        window.jobs.job_finished.connect(self._on_job_finished)
        window.details.more_like_this.connect(self.more_like_this)
        window.gallery.more_like_this.connect(self.more_like_this)
        self._follow_project()

    # --- toolbox ------------------------------------------------------------------------------

    @Slot(bool)
    def load_toolbox(self, refresh: bool = False) -> None:
        """Read the toolbox on the backends lane (`refresh`: the server rescans first)."""
        if self._loading:
            self._again = bool(refresh or self._again)
            return
        self._loading = True
        routers = self.window.routers

        def read() -> Any:  # backends lane: network
            return routers.get().toolbox(refresh=refresh)

        self._lane.run(read, owner=self, on_done=self._on_toolbox,
                       on_error=self._on_toolbox_failed)

    def _on_toolbox(self, toolbox: Any) -> None:
        self._loading = False
        self.panel.set_toolbox(toolbox)
        self._next()

    def _on_toolbox_failed(self, exc: BaseException) -> None:
        self._loading = False
        message = exc.user_message if isinstance(exc, DlxError) else str(exc)
        self.panel.set_toolbox(None, f"The server's lists could not be read: {message}")
        self._next()

    def _next(self) -> None:
        if self._again is not None:
            refresh, self._again = self._again, None
            self.load_toolbox(refresh)

    @Slot(object)
    def _on_statuses(self, statuses: list[Any]) -> None:
        up = a1111_reachable(statuses)
        hf_up = any(s.name == "hf" and s.state == "available" for s in statuses)
        self.panel.set_hf_only(not up and hf_up)
        if up and not self._a1111_up:  # a server came up: read what it offers
            self.load_toolbox(False)
        self._a1111_up = up

    # --- prompt history -----------------------------------------------------------------------

    @Slot()
    def _follow_project(self, *_args: Any) -> None:
        project = self.window.current_project()
        self.panel.history.set_source(self.window.library,
                                      project.id if project is not None else None,
                                      self.window.session.runner.reads)

    @Slot(object)
    def _on_job_finished(self, job: Job) -> None:
        if job.state is JobState.done and job.assets:
            self.panel.history.reload()

    # --- more like this -----------------------------------------------------------------------

    @Slot(object)
    def more_like_this(self, asset: Any) -> Job | None:
        """Queue variations of `asset`: same seed and parameters, a random variation seed."""
        window = self.window
        project = window.current_project()
        if project is None:
            window.show_message("Create a project first: File → New Project.")
            return None
        if getattr(asset, "kind", None) not in VARIABLE_KINDS:
            window.show_message("“More like this” varies text-to-image results; this image was "
                                "made from another one: refine it in the canvas instead.")
            return None
        if asset.seed is None or not asset.prompt:
            window.show_message("“More like this” needs the image's prompt and seed, and this "
                                "image has none.")
            return None
        try:
            request = GenerationRequest.from_params(Kind.txt2img, project.id,
                                                    variation_params(asset, self.panel))
        except UsageError as exc:
            window.show_message(exc.user_message)
            return None
        job = window.jobs.submit(request)
        count = request.image_count
        window.show_message(
            f"Queued {count} variation{'s' if count != 1 else ''} of seed {asset.seed} "
            f"(strength {request.subseed_strength:g}).")
        return job
