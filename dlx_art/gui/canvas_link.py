"""Between the window and the refinement canvas: open an image, inpaint it, show the result.

`CanvasLink` builds the canvas on first use (it is not on the start-up path) and puts it in
the window's tab in place of its placeholder. It loads images on the session's `reads` lane,
turns the canvas's inpaint request into a `GenerationRequest` on the job queue, and shows a
canvas job's progress and result in the canvas.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSignalBlocker
from PySide6.QtGui import QImage

from dlx_art.errors import DlxError, UsageError
from dlx_art.generation.types import GenerationRequest, Kind
from dlx_art.gui.jobs import Job, JobState
from dlx_art.library import png

if TYPE_CHECKING:
    from dlx_art.gui.main_window import MainWindow


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, without decoding the image."""
    return png.ihdr_size(data)


def load_image_file(path: Path) -> QImage:
    """Decode an image file into a QImage (lane thread)."""
    image = QImage(str(path))
    if image.isNull():
        raise DlxError(f"Could not read the image {path.name}.")
    return image


class CanvasLink(QObject):
    """The window's canvas, built on first use, and the jobs it started."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._canvas: Any = None
        self.project_id: str | None = None
        self.jobs: set[str] = set()
        self.outpaint_jobs: set[str] = set()  # their result becomes the canvas's picture

    @property
    def built(self) -> Any:
        """The canvas if it was built, else None."""
        return self._canvas

    def canvas(self) -> Any:
        if self._canvas is None:
            from dlx_art.gui.canvas import CanvasWidget

            w = self._window
            canvas = CanvasWidget()
            canvas.inpaint_requested.connect(self._on_inpaint_requested)
            canvas.outpaint_requested.connect(self._on_outpaint_requested)
            canvas.closed.connect(lambda: w.tabs.setCurrentWidget(w.gallery))
            self._canvas = canvas
            index = w.tabs.indexOf(w.canvas_placeholder)
            show = w.tabs.currentIndex() == index
            with QSignalBlocker(w.tabs):
                w.tabs.removeTab(index)
                w.tabs.insertTab(index, canvas, "Canvas")
                if show:
                    w.tabs.setCurrentIndex(index)
            w.canvas_placeholder.deleteLater()
        return self._canvas

    def open(self, asset: Any) -> None:
        """Load `asset`'s image (in the background) and show it in the canvas."""
        w = self._window
        if w.library is None:
            return
        try:
            path = w.library.path_of(asset)
        except DlxError as exc:
            w.show_message(exc.user_message)
            return
        w.show_message("Opening the image in the canvas…", 3000)

        def loaded(image: QImage) -> None:
            self.project_id = asset.projectId
            self.canvas().load_image(image, asset_id=asset.id, prompt=asset.prompt or "",
                                     negative=asset.negative or "",
                                     seed=asset.seed if asset.seed is not None else -1)
            w.tabs.setCurrentWidget(self.canvas())

        w.session.runner.reads.run(
            load_image_file, path, owner=self, on_done=loaded,
            on_error=lambda exc: w.show_message(
                exc.user_message if isinstance(exc, DlxError) else "Could not open the image."))

    def _project_id(self) -> str | None:
        current = self._window.current_project()
        project_id = self.project_id or (current.id if current else None)
        if project_id is None:
            self._window.show_message("Open an image from a project first.")
        return project_id

    def _panel_params(self) -> dict[str, object]:
        """What a canvas job takes from the Generate panel (the canvas has its own prompt)."""
        panel = self._window.prompt_panel
        return {"model": panel.model(), "sampler": panel.sampler(),
                "scheduler": panel.scheduler(), "steps": panel.steps_spin.value(),
                "cfg_scale": round(panel.cfg_spin.value(), 2), "backend": panel.backend()}

    def _submit(self, request: GenerationRequest) -> str:
        """Queue a canvas job; the canvas is busy until it ends. Returns the job's id."""
        job = self._window.jobs.submit(request, origin="canvas")
        self.jobs.add(job.id)
        self.canvas().set_busy(True)
        return job.id

    def _on_outpaint_requested(self, data: Any) -> None:
        """"Expand" in the canvas: an outpaint job on the canvas's picture."""
        w = self._window
        project_id = self._project_id()
        if project_id is None:
            return
        m = data.margins
        try:
            request = GenerationRequest.from_params(Kind.outpaint, project_id, {
                "prompt": data.prompt,
                "negative": data.negative,
                **self._panel_params(),
                "seed": data.seed,
                "parent_id": data.asset_id or None,
                "denoising_strength": data.denoising_strength,
                "expand_left": m.left, "expand_right": m.right,
                "expand_top": m.top, "expand_bottom": m.bottom,
            }, init_image=data.image_png)
        except UsageError as exc:
            w.show_message(exc.user_message)
            return
        self.outpaint_jobs.add(self._submit(request))

    def _on_inpaint_requested(self, data: Any) -> None:
        w = self._window
        project_id = self._project_id()
        if project_id is None:
            return
        settings = data.settings
        panel = w.prompt_panel
        size = png_size(data.image_png) or (panel.width_spin.value(), panel.height_spin.value())
        inpaint = data.mask_png is not None and not settings.whole_image
        # one builder for the form, the canvas, the command line and the service: one
        # rounding rule (down to a multiple of 8, as A1111 does) and one validation
        request = GenerationRequest.from_params(
            Kind.inpaint if inpaint else Kind.img2img, project_id, {
                "prompt": settings.prompt.strip(),
                "negative": settings.negative.strip(),
                **self._panel_params(),
                "seed": settings.seed,
                "width": size[0],
                "height": size[1],
                "parent_id": data.asset_id or None,
                "denoising_strength": settings.denoising_strength,
                "mask_blur": settings.mask_blur,
                "masked_content": settings.masked_content,
                "inpaint_area": settings.inpaint_area,
                "padding": settings.padding,
            }, init_image=data.image_png, mask=data.mask_png if inpaint else None)
        self._submit(request)

    def on_job_progress(self, job: Job) -> None:
        if job.id in self.jobs and job.state is JobState.running:
            self.canvas().show_progress(job.fraction, job.preview)

    def on_job_finished(self, job: Job) -> None:
        """After the window's own handling: the result into the canvas, the busy state off."""
        if job.id not in self.jobs:
            return
        self.jobs.discard(job.id)
        outpaint = job.id in self.outpaint_jobs
        self.outpaint_jobs.discard(job.id)
        if job.state is JobState.done and job.assets:
            self._show_result(job.assets[0], adopt=outpaint)
        if not self.jobs:
            self.canvas().set_busy(False)

    def _adopt(self, image: QImage, asset: Any) -> None:
        """An outpaint result becomes the picture, in the canvas and as the current image."""
        self.canvas().adopt_result(image, asset.id)
        self._window.gallery.select_asset(asset.id)

    def _show_result(self, asset: Any, *, adopt: bool = False) -> None:
        """Compare the result with the picture, or (`adopt`) make it the picture."""
        w = self._window
        if w.library is None:  # the library was switched meanwhile
            return
        try:
            path = w.library.path_of(asset)
        except DlxError:
            return
        w.session.runner.reads.run(
            load_image_file, path, owner=self,
            on_done=lambda image: self._adopt(image, asset) if adopt
            else self.canvas().show_result(image, asset.id),
            on_error=lambda _exc: w.show_message("Could not open the result image."))
