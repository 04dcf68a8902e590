"""Request bodies of the art API (camelCase, as the catalog), validated before a job is queued."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SEED_MAX = 2**32 - 1


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerateBody(_Body):
    """A text-to-image job. Give `projectId` or `projectName`."""

    projectId: str | None = None
    projectName: str | None = None
    prompt: str = Field(min_length=1, max_length=20_000)
    negative: str = Field("", max_length=20_000)
    model: str | None = Field(None, max_length=500)
    sampler: str | None = Field(None, max_length=200)
    scheduler: str | None = Field(None, max_length=200)
    seed: int = Field(-1, ge=-1, le=SEED_MAX, description="-1: random (resolved when queued)")
    steps: int = Field(20, ge=1, le=500)
    cfgScale: float = Field(7.0, ge=0.0, le=100.0, allow_inf_nan=False)
    width: int = Field(512, ge=64, le=8192, multiple_of=8)
    height: int = Field(512, ge=64, le=8192, multiple_of=8)
    batch: int = Field(1, ge=1, le=64, description="number of batches (A1111 n_iter)")
    batchCount: int | None = Field(None, ge=1, le=100,
                                   description="the same as `batch` (A1111 n_iter)")
    batchSize: int = Field(1, ge=1, le=100, description="images per batch (A1111 batch_size)")
    backend: Literal["auto", "a1111", "hf"] = "auto"
    # A1111 only (a job using them fails rather than go to Hugging Face without them)
    styles: list[str] = Field(default_factory=list, max_length=50,
                              description="saved A1111 style names, applied in order")
    enableHr: bool = Field(False, description="hires fix")
    hrScale: float = Field(2.0, ge=1.0, le=8.0, allow_inf_nan=False)
    hrUpscaler: str = Field("Latent", min_length=1, max_length=500)
    hrSecondPassSteps: int = Field(0, ge=0, le=500, description="0: as many as `steps`")
    denoisingStrength: float = Field(0.75, ge=0.0, le=1.0, allow_inf_nan=False,
                                     description="the hires fix's denoising strength")
    subseed: int = Field(-1, ge=-1, le=SEED_MAX, description="variation seed; -1: random")
    subseedStrength: float = Field(0.0, ge=0.0, le=1.0, allow_inf_nan=False,
                                   description="variation strength; 0: no variation")


class RefineBody(_Body):
    """An img2img job on `parentId`; with `maskPng` (a base64 PNG of the parent's size,
    white = repaint) an inpainting job. Fields left out are taken from the parent."""

    parentId: str
    maskPng: str | None = Field(None, description="base64 of a PNG mask, the parent's size")
    prompt: str | None = Field(None, max_length=20_000)
    negative: str | None = Field(None, max_length=20_000)
    denoisingStrength: float = Field(0.75, ge=0.0, le=1.0, allow_inf_nan=False)
    maskBlur: int = Field(4, ge=0, le=256)
    inpaintArea: Literal["whole", "masked"] = "whole"
    padding: int = Field(32, ge=0, le=1024)
    maskedContent: Literal["fill", "original", "noise", "nothing"] = "original"
    invertMask: bool = False
    seed: int = Field(-1, ge=-1, le=SEED_MAX)
    steps: int | None = Field(None, ge=1, le=500)
    backend: Literal["auto", "a1111", "hf"] = "auto"
