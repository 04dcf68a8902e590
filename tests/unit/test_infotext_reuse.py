"""Reuse: `infotext.request_params` maps an A1111 infotext to request fields (issue 12),
and the durable job JSON keeps the new fields."""

from __future__ import annotations

from dlx_art.generation.request_builder import PARAMETERS, build_request
from dlx_art.generation.runner import request_from_json, request_to_json
from dlx_art.generation.types import GenerationRequest, Kind
from dlx_art.library.infotext import parse_infotext, request_params
from dlx_art.library.service import Library

HIRES = ("cinematic still of a fox, shallow depth of field\n"
         "Negative prompt: blurry, cartoon, drawing\n"
         "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.0, Seed: 42, "
         "Size: 512x512, Model hash: 879db523c3, Model: dreamshaper_8, Variation seed: 777, "
         "Variation seed strength: 0.3, Denoising strength: 0.5, Hires upscale: 2.0, "
         "Hires steps: 10, Hires upscaler: R-ESRGAN 4x+, "
         'Lora hashes: "ink-line: 7c6bad76eb54", Version: v1.10.1')
PLAIN = ("a cat\nSteps: 2, Sampler: Euler, Schedule type: Automatic, CFG scale: 7.0, Seed: 1, "
         "Size: 64x64, Model hash: 5c7cfb9dc6, Model: random-sd15, Version: v1.10.1")


def test_hires_and_variation_fields_parsed() -> None:
    info = parse_infotext(HIRES)
    assert info.hires and info.hires_scale == 2.0 and info.hires_steps == 10
    assert info.hires_upscaler == "R-ESRGAN 4x+" and info.denoising_strength == 0.5
    assert info.variation_seed == 777 and info.variation_strength == 0.3
    plain = parse_infotext(PLAIN)
    assert not plain.hires and plain.hires_scale is None and plain.variation_seed is None


def test_request_params_of_a_hires_variation() -> None:
    params = request_params(HIRES)
    assert params == {
        "prompt": "cinematic still of a fox, shallow depth of field",
        "negative": "blurry, cartoon, drawing", "steps": 20, "sampler": "DPM++ 2M",
        "scheduler": "Karras", "cfg_scale": 7.0, "seed": 42, "width": 512, "height": 512,
        "model": "dreamshaper_8", "denoising_strength": 0.5, "enable_hr": True,
        "hr_scale": 2.0, "hr_upscaler": "R-ESRGAN 4x+", "hr_second_pass_steps": 10,
        "subseed": 777, "subseed_strength": 0.3,
    }
    assert set(params) <= PARAMETERS  # usable as they are
    assert "styles" not in params  # A1111 writes the merged prompt, not the style names
    job = build_request(Kind.txt2img, "p", params)
    assert job.enable_hr and job.hr_second_pass_steps == 10 and job.subseed_strength == 0.3
    assert (job.width, job.height) == (512, 512)  # the first pass: the image is 1024x1024


def test_request_params_of_a_plain_image() -> None:
    params = request_params(PLAIN)
    assert params == {"prompt": "a cat", "negative": "", "steps": 2, "sampler": "Euler",
                      "cfg_scale": 7.0, "seed": 1, "width": 64, "height": 64,
                      "model": "random-sd15"}
    assert request_params("just a prompt") == {"prompt": "just a prompt", "negative": ""}
    hires_defaults = request_params(PLAIN.replace("Version", "Hires upscaler: Latent, Version"))
    assert hires_defaults["enable_hr"] is True and hires_defaults["hr_scale"] == 2.0
    assert hires_defaults["hr_second_pass_steps"] == 0


def test_job_json_keeps_the_issue_12_fields(tmp_path) -> None:
    library = Library.open(tmp_path / "root")
    try:
        job = GenerationRequest("p", "fox", seed=5, styles=("Cinematic", "Watercolor"),
                                enable_hr=True, hr_scale=1.5, hr_upscaler="Latent (bicubic)",
                                hr_second_pass_steps=4, denoising_strength=0.4, subseed=9,
                                subseed_strength=0.2, batch_count=2, batch_size=3)
        data = request_to_json(job)
        assert (data["styles"], data["enableHr"], data["hrScale"], data["hrUpscaler"],
                data["hrSecondPassSteps"], data["subseed"], data["subseedStrength"]) == (
            ["Cinematic", "Watercolor"], True, 1.5, "Latent (bicubic)", 4, 9, 0.2)
        assert request_from_json(data, library) == job
        # a random variation seed is fixed when queued: a re-run makes the same variation
        random_variation = request_to_json(GenerationRequest("p", "x", subseed_strength=0.5))
        assert random_variation["subseed"] >= 0
        assert request_to_json(GenerationRequest("p", "x"))["subseed"] == -1
        # jobs stored before issue 12 read with the defaults
        old = {k: v for k, v in data.items() if k not in (
            "styles", "enableHr", "hrScale", "hrUpscaler", "hrSecondPassSteps", "subseed",
            "subseedStrength")}
        plain = request_from_json(old, library)
        assert plain.styles == () and not plain.enable_hr and plain.subseed_strength == 0.0
    finally:
        library.close()
