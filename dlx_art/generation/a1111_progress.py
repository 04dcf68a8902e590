"""A1111's `/progress` answers as `Progress` reports, without the start-of-job glitches."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from dlx_art.errors import (
    BadServerResponse,
)
from dlx_art.generation.a1111_payloads import _as_float, _as_int, _inspect_image, _strip_data_url
from dlx_art.generation.types import (
    GenerationRequest,
    Kind,
    Progress,
    ProgressCallback,
)

log = logging.getLogger("dlx_art.generation.a1111")

class _ProgressTracker:
    """Turns `/progress` answers into `Progress` reports, hiding the start-of-job glitches."""

    def __init__(self, callback: ProgressCallback | None, sampling_steps: set[int]) -> None:
        self._callback = callback
        self._sampling_steps = sampling_steps
        self._fraction = 0.0
        self._last_preview: bytes | None = None
        self.reports = 0

    def emit(self, progress: Progress) -> None:
        if self._callback is None:
            return
        self.reports += 1
        try:
            self._callback(progress)
        except Exception:  # a broken progress display must not break the job
            log.exception("progress callback failed")

    def feed(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        state = data.get("state")
        state = state if isinstance(state, dict) else {}
        job_count = _as_int(state.get("job_count"))
        if job_count is None or job_count <= 0:
            return  # idle, queued, or the -1 moment at the start of a job
        job_no = min(max(_as_int(state.get("job_no")) or 0, 0), job_count - 1)
        steps = _as_int(state.get("sampling_steps"))
        step = _as_int(state.get("sampling_step"))
        human_step: int | None = None
        if steps and steps in self._sampling_steps and step is not None and 0 <= step < steps:
            fraction = (job_no + step / steps) / job_count
            human_step = step + 1
        else:  # sampling_steps still holds the previous job's value: only the batch is known
            steps = None
            fraction = job_no / job_count
        fraction = min(max(fraction, self._fraction), 0.999)
        self._fraction = fraction
        eta = _as_float(data.get("eta_relative"))
        if eta is not None and (eta < 0 or fraction < 0.05):
            eta = None
        preview = _decode_preview(data.get("current_image"))
        if preview is not None and preview == self._last_preview:
            preview = None
        elif preview is not None:
            self._last_preview = preview
        self.emit(Progress(fraction=fraction, step=human_step, steps=steps, eta_seconds=eta,
                           job_no=job_no + 1, job_count=job_count, preview=preview))


def _decode_preview(value: Any) -> bytes | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        data = base64.b64decode(_strip_data_url(value), validate=True)
        _inspect_image(data)
    except (binascii.Error, ValueError, BadServerResponse):
        return None
    return data


def _sampling_steps(request: GenerationRequest) -> set[int]:
    """The `sampling_steps` values /progress may show for this job (img2img runs fewer, and
    so does the hires fix's second pass, an img2img of `hr_second_pass_steps` or `steps`)."""
    values = {int(request.steps)}
    denoise = min(request.denoising_strength, 0.999)
    if request.kind != Kind.txt2img:
        values.add(int(denoise * request.steps) + 1)
    elif request.enable_hr:
        values.add(int(denoise * (request.hr_second_pass_steps or request.steps)) + 1)
    return values


