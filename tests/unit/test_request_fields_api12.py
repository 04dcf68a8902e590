"""Issue 12 request fields: validation, `a1111_only_features`, `lora_tag`, `from_params`."""

from __future__ import annotations

from typing import Any

import pytest

from dlx_art.errors import UsageError
from dlx_art.generation.request_builder import PARAMETERS, build_request
from dlx_art.generation.types import GenerationRequest, Kind, lora_tag


def req(**kwargs: Any) -> GenerationRequest:
    return GenerationRequest(project_id="p", prompt="a fox", **kwargs)


def test_defaults_use_no_a1111_only_feature() -> None:
    plain = req()
    assert plain.styles == () and plain.enable_hr is False and plain.hr_scale == 2.0
    assert plain.hr_upscaler == "Latent" and plain.hr_second_pass_steps == 0
    assert plain.subseed == -1 and plain.subseed_strength == 0.0
    assert plain.a1111_only_features() == []


def test_a1111_only_features_named_in_order() -> None:
    job = GenerationRequest(project_id="p", prompt="a fox <lora:ink-line:0.8>",
                            styles=("Cinematic",), enable_hr=True, subseed=7,
                            subseed_strength=0.3)
    assert job.a1111_only_features() == ["hires fix", "styles", "LoRAs", "variations"]
    assert req(negative="<LORA:x:1>").a1111_only_features() == ["LoRAs"]
    # a variation seed without strength is no variation
    assert req(subseed=5).a1111_only_features() == []


@pytest.mark.parametrize("kwargs, message", [
    ({"hr_scale": 0.5}, "hires fix scale"),
    ({"hr_scale": float("nan")}, "hires fix scale"),
    ({"hr_scale": 9}, "hires fix scale"),
    ({"hr_second_pass_steps": -1}, "hires steps"),
    ({"hr_upscaler": " "}, "hires upscaler"),
    ({"hr_upscaler": 3}, "hires upscaler"),
    ({"subseed": -2}, "variation seed"),
    ({"subseed": 2**32}, "variation seed"),
    ({"subseed_strength": 1.5}, "variation strength"),
    ({"styles": "Cinematic"}, "list of style names"),
    ({"styles": ("ok", "")}, "style name"),
    ({"styles": ("a\nb",)}, "style name"),
    ({"enable_hr": "yes"}, "enable_hr"),
    ({"enable_hr": True, "width": 8192, "height": 8192, "hr_scale": 8}, "too large"),
])
def test_bad_values_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        req(**kwargs)


def test_hires_only_for_txt2img() -> None:
    with pytest.raises(UsageError, match="text-to-image"):
        GenerationRequest(project_id="p", prompt="x", kind=Kind.img2img, init_image=b"png",
                          enable_hr=True)


def test_styles_list_becomes_tuple_without_duplicates() -> None:
    job = req(styles=["Cinematic", " Watercolor ", "Cinematic"])  # type: ignore[arg-type]
    assert job.styles == ("Cinematic", "Watercolor")
    hash(job)  # still hashable


def test_from_params_takes_the_new_fields() -> None:
    assert {"styles", "enable_hr", "hr_scale", "hr_upscaler", "hr_second_pass_steps",
            "subseed", "subseed_strength"} <= PARAMETERS
    job = build_request(Kind.txt2img, "p", {
        "prompt": "x", "styles": ["Cinematic"], "enable_hr": True, "hr_scale": "1.5",
        "hr_upscaler": "R-ESRGAN 4x+", "hr_second_pass_steps": "3", "subseed": "777",
        "subseed_strength": "0.3", "denoising_strength": 0.5})
    assert job.styles == ("Cinematic",) and job.enable_hr and job.hr_scale == 1.5
    assert job.hr_upscaler == "R-ESRGAN 4x+" and job.hr_second_pass_steps == 3
    assert job.subseed == 777 and job.subseed_strength == 0.3
    assert job.denoising_strength == 0.5
    with pytest.raises(UsageError, match="enable_hr must be true or false"):
        build_request(Kind.txt2img, "p", {"enable_hr": "true"})


def test_lora_tag() -> None:
    assert lora_tag("ink-line") == "<lora:ink-line:1>"
    assert lora_tag("ink-line", 0.8) == "<lora:ink-line:0.8>"
    assert lora_tag("x", 0.123456) == "<lora:x:0.1235>"
    assert lora_tag(" plain ", -1.5) == "<lora:plain:-1.5>"
    with pytest.raises(UsageError):
        lora_tag("a:b")
    with pytest.raises(UsageError):
        lora_tag("x", float("inf"))


# --- the inpainting partner, the setting -------------------------------------------------------


def test_inpainting_partner_matcher() -> None:
    from dlx_art.generation.a1111_payloads import inpainting_partner

    for partner in ("dreamshaper_8-inpainting", "dreamshaper_8_inpainting",
                    "dreamshaperInpainting_8", "DreamShaper 8 Inpainting",
                    "dreamshaper_8.inpainting"):
        assert inpainting_partner("dreamshaper_8", ["dreamshaper_8", partner, "other"]) == \
            partner
    assert inpainting_partner("dreamshaper_8", ["dreamshaper_8", "dreamshaper_7-inpainting",
                                                "sd-v1-5-inpainting"]) is None
    # an inpainting model is used as it is; the shortest of several partners wins
    assert inpainting_partner("dreamshaper_8-inpainting", ["dreamshaper_8-inpainting"]) is None
    assert inpainting_partner("x", ["x_inpainting_v2", "x-inpainting", "x_inpainting"]) == \
        "x-inpainting"
    assert inpainting_partner("", ["inpainting"]) is None


def test_inpaint_model_setting(tmp_path) -> None:
    from dlx_art.settings import Settings

    assert Settings().a1111_inpaint_model == "auto"
    path = tmp_path / "settings.json"
    settings = Settings()
    settings.a1111_inpaint_model = "off"
    settings.save(path)
    assert Settings.load(path).a1111_inpaint_model == "off"
    assert Settings().with_env({"DLX_ART_A1111_INPAINT_MODEL": "OFF"}).a1111_inpaint_model == "off"
    with pytest.raises(UsageError, match="a1111_inpaint_model"):
        Settings.from_dict({"a1111_inpaint_model": "always"})
    from dlx_art.generation.router import BackendRouter

    router = BackendRouter.from_settings(settings)
    assert [c.inpaint_model.value for c in router.a1111] == ["off"]  # type: ignore[attr-defined]
