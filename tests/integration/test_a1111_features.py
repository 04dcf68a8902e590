"""Issue 12 on A1111: per-job checkpoints, inpainting partners, styles, hires fix, variations,
batches and LoRAs, against the fake A1111 over real loopback HTTP, payloads checked field by
field against the API contract (`/work/shared/reference/a1111-api.md`)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from PIL import Image

from dlx_art.errors import RequestRejected
from dlx_art.generation.a1111 import A1111Client
from dlx_art.generation.types import GenerationRequest, InpaintModel, Kind
from dlx_art.library.infotext import parse_infotext
from tests.fakes.fake_a1111 import FakeA1111

pytestmark = pytest.mark.integration

SD15 = "v1-5-pruned-emaonly.safetensors [6ce0161689]"
DREAM = "dreamshaper_8.safetensors [879db523c3]"
DREAM_INPAINT = "inpainting/dreamshaper_8-inpainting.safetensors [e0f0d3a0f7]"


@pytest.fixture
def make_client() -> Iterator[Callable[..., A1111Client]]:
    made: list[A1111Client] = []

    def make(url: str, **kwargs: Any) -> A1111Client:
        client = A1111Client(url, poll_interval=0.02, connect_timeout=1.0, read_timeout=20.0,
                             interrupt_grace=2.0, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def req(**kwargs: Any) -> GenerationRequest:
    values: dict[str, Any] = {"project_id": "p", "prompt": "a red fox", "width": 64,
                              "height": 64, "steps": 3, "seed": 42}
    values.update(kwargs)
    return GenerationRequest(**values)


def png(width: int = 64, height: int = 64, colour: Any = (90, 90, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def inpaint(model: str | None, **kwargs: Any) -> GenerationRequest:
    return req(kind=Kind.inpaint, model=model, init_image=png(), mask=png(colour=(255, 255, 255)),
               denoising_strength=0.6, **kwargs)


def generation_posts(fake: FakeA1111) -> list[Any]:
    return [r.json for r in fake.requests if r.path.endswith(("txt2img", "img2img"))]


# --- a polite client: the model goes with the job -----------------------------------------------


def test_model_per_job_leaves_the_server_alone(fake_a1111, make_client):
    client = make_client(fake_a1111.url)
    before = dict(fake_a1111.options)
    result = client.generate(req(model="dreamshaper_8"))
    body = fake_a1111.last_payload("txt2img")
    assert body["override_settings"] == {"sd_model_checkpoint": DREAM}
    assert body["override_settings_restore_afterwards"] is True
    assert fake_a1111.requests_to("options", "POST") == []
    assert fake_a1111.options == before  # restored after the job: nothing switched for others
    assert result.model == "dreamshaper_8"
    assert parse_infotext(result.images[0].infotext or "").model == "dreamshaper_8"


def test_fake_drops_unknown_override_checkpoint_and_can_keep_a_switch(fake_a1111):
    """The fake follows the contract: an unknown checkpoint in override_settings is dropped
    silently; restore false switches the server for everyone."""
    api = fake_a1111.url + "/sdapi/v1/"
    body = {"prompt": "x", "steps": 1, "width": 64, "height": 64,
            "override_settings": {"sd_model_checkpoint": "nope"}}
    answer = requests.post(api + "txt2img", json=body, timeout=10).json()
    assert answer["parameters"]["override_settings"] == {}
    assert json.loads(answer["info"])["sd_model_name"] == "v1-5-pruned-emaonly"
    body["override_settings"] = {"sd_model_checkpoint": "dreamshaper_8"}
    body["override_settings_restore_afterwards"] = False
    requests.post(api + "txt2img", json=body, timeout=10).raise_for_status()
    assert fake_a1111.options["sd_model_checkpoint"] == DREAM
    body["override_settings"] = {"not_an_option": 1}
    failed = requests.post(api + "txt2img", json=body, timeout=10)
    assert failed.status_code == 500 and failed.json()["error"] == "KeyError"


# --- inpainting partner -------------------------------------------------------------------------


def test_masked_refinement_uses_the_inpainting_partner(fake_a1111, make_client):
    result = make_client(fake_a1111.url).generate(inpaint("dreamshaper_8"))
    body = fake_a1111.last_payload("img2img")
    assert body["override_settings"] == {"sd_model_checkpoint": DREAM_INPAINT}
    assert body["override_settings_restore_afterwards"] is True
    assert result.model == "dreamshaper_8-inpainting"
    info = parse_infotext(result.images[0].infotext or "")
    assert info.model == "dreamshaper_8-inpainting"
    assert info.params["Conditional mask weight"] == "1.0"
    assert fake_a1111.requests_to("options", "POST") == []


def test_inpainting_partner_setting_off(fake_a1111, make_client):
    client = make_client(fake_a1111.url, inpaint_model=InpaintModel.off)
    result = client.generate(inpaint("dreamshaper_8"))
    assert fake_a1111.last_payload("img2img")["override_settings"] == {
        "sd_model_checkpoint": DREAM}
    assert result.model == "dreamshaper_8"


def test_no_partner_uses_the_image_model(fake_a1111, make_client):
    client = make_client(fake_a1111.url)
    result = client.generate(inpaint("sd_xl_base_1.0"))
    assert fake_a1111.last_payload("img2img")["override_settings"] == {
        "sd_model_checkpoint": "sdxl/sd_xl_base_1.0.safetensors [31e35c80fc]"}
    assert result.model == "sd_xl_base_1.0"
    # an unmasked refinement never switches to the partner
    client.generate(req(kind=Kind.img2img, model="dreamshaper_8", init_image=png()))
    assert fake_a1111.last_payload("img2img")["override_settings"] == {
        "sd_model_checkpoint": DREAM}


def test_partner_of_the_loaded_model_when_none_is_named(fake_a1111, make_client):
    fake_a1111.options["sd_model_checkpoint"] = DREAM
    result = make_client(fake_a1111.url).generate(inpaint(None))
    assert fake_a1111.last_payload("img2img")["override_settings"] == {
        "sd_model_checkpoint": DREAM_INPAINT}
    assert result.model == "dreamshaper_8-inpainting"


def test_no_model_and_no_partner_sends_no_override(fake_a1111, make_client):
    result = make_client(fake_a1111.url).generate(inpaint(None))
    assert "override_settings" not in fake_a1111.last_payload("img2img")
    assert result.model == "v1-5-pruned-emaonly"


# --- styles -------------------------------------------------------------------------------------


def test_styles_are_sent_and_merged_by_the_server(fake_a1111, make_client):
    client = make_client(fake_a1111.url)
    result = client.generate(req(negative="blurry", styles=("cinematic", "Watercolor")))
    body = fake_a1111.last_payload("txt2img")
    assert body["styles"] == ["Cinematic", "Watercolor"]  # the server's own spelling
    assert body["prompt"] == "a red fox" and body["negative_prompt"] == "blurry"
    info = parse_infotext(result.images[0].infotext or "")
    assert info.prompt == ("cinematic still of a red fox, shallow depth of field, "
                           "watercolor painting, soft edges")
    assert info.negative == "blurry, cartoon, drawing, photo, 3d render"


def test_unknown_style_is_refused_before_the_job(fake_a1111, make_client):
    with pytest.raises(RequestRejected, match="no style called 'Noir'.*Cinematic, Watercolor"):
        make_client(fake_a1111.url).generate(req(styles=("Noir",)))
    assert generation_posts(fake_a1111) == []


# --- hires fix ----------------------------------------------------------------------------------


def test_hires_fix_fields_and_final_size(fake_a1111, make_client):
    result = make_client(fake_a1111.url).generate(req(
        enable_hr=True, hr_scale=1.5, hr_upscaler="latent (bicubic)", hr_second_pass_steps=2,
        denoising_strength=0.5))
    body = fake_a1111.last_payload("txt2img")
    assert body["enable_hr"] is True and body["hr_scale"] == 1.5
    assert body["hr_upscaler"] == "Latent (bicubic)" and body["hr_second_pass_steps"] == 2
    assert body["denoising_strength"] == 0.5
    assert body["width"] == 64 and body["height"] == 64  # the first pass
    image = result.images[0]
    assert (image.width, image.height) == (96, 96)
    info = parse_infotext(image.infotext or "")
    assert info.params["Size"] == "64x64"  # A1111 keeps the first pass's size here
    assert (info.hires_scale, info.hires_steps, info.hires_upscaler) == (
        1.5, 2, "Latent (bicubic)")
    assert info.denoising_strength == 0.5


def test_no_hires_fields_without_hires(fake_a1111, make_client):
    make_client(fake_a1111.url).generate(req())
    body = fake_a1111.last_payload("txt2img")
    assert not {"enable_hr", "hr_scale", "hr_upscaler", "denoising_strength", "styles",
                "subseed", "subseed_strength", "override_settings"} & set(body)


def test_unknown_hires_upscaler_is_refused(fake_a1111, make_client):
    with pytest.raises(RequestRejected, match="no upscaler called 'Magic'"):
        make_client(fake_a1111.url).generate(req(enable_hr=True, hr_upscaler="Magic"))
    assert generation_posts(fake_a1111) == []


# --- variations and batches ---------------------------------------------------------------------


def test_variation_keeps_the_seed_and_stores_the_variation_seed(fake_a1111, make_client):
    result = make_client(fake_a1111.url).generate(req(subseed=777, subseed_strength=0.3,
                                                      batch_size=2))
    body = fake_a1111.last_payload("txt2img")
    assert body["seed"] == 42 and body["subseed"] == 777 and body["subseed_strength"] == 0.3
    assert [image.seed for image in result.images] == [42, 42]
    texts = [parse_infotext(image.infotext or "") for image in result.images]
    assert [(t.variation_seed, t.variation_strength) for t in texts] == [(777, 0.3), (778, 0.3)]
    keys = list(texts[0].params)
    assert keys.index("Variation seed") == keys.index("Model") + 1


def test_batch_count_and_size(fake_a1111, make_client):
    result = make_client(fake_a1111.url).generate(req(batch_count=2, batch_size=3))
    body = fake_a1111.last_payload("txt2img")
    assert body["n_iter"] == 2 and body["batch_size"] == 3
    assert [image.seed for image in result.images] == [42, 43, 44, 45, 46, 47]


# --- LoRAs --------------------------------------------------------------------------------------


def test_lora_tag_gives_lora_hashes(fake_a1111, make_client):
    result = make_client(fake_a1111.url).generate(req(
        prompt="a red fox <lora:inkLineArt:0.8> <lora:plain:1>"))
    info = parse_infotext(result.images[0].infotext or "")
    assert "<lora:inkLineArt:0.8>" in info.prompt
    assert info.params["Lora hashes"] == "inkLineArt: 7c6bad76eb54, plain: 1728303b3609"


def test_unknown_lora_is_refused(fake_a1111, make_client):
    with pytest.raises(RequestRejected, match="no LoRA called 'gone'"):
        make_client(fake_a1111.url).generate(req(prompt="x <lora:gone:1>"))
    assert generation_posts(fake_a1111) == []


def test_a1111_only_features_run_on_a1111(fake_a1111: FakeA1111, make_client):
    job = req(prompt="fox <lora:plain:1>", styles=("Cinematic",), enable_hr=True,
              subseed_strength=0.2, denoising_strength=0.4)
    assert job.a1111_only_features() == ["hires fix", "styles", "LoRAs", "variations"]
    result = make_client(fake_a1111.url).generate(job)
    assert (result.images[0].width, result.images[0].height) == (128, 128)
    make_client(fake_a1111.url).generate(inpaint("dreamshaper_8", styles=("Cinematic",),
                                                 subseed_strength=0.1))
    assert fake_a1111.unknown_keys == []  # every field sent is one A1111 knows


# --- only Hugging Face left: A1111-only features are never dropped ------------------------------


def test_router_refuses_a1111_only_features_with_only_hugging_face(tmp_path):
    import socket

    from dlx_art.errors import NoBackend
    from dlx_art.generation import pipeline
    from dlx_art.generation.hf import HFClient
    from dlx_art.generation.router import BackendRouter
    from dlx_art.generation.types import BackendChoice
    from dlx_art.library.service import Library
    from tests.fakes.fake_hf import FakeHF

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}"
    model = "stabilityai/stable-diffusion-xl-base-1.0"
    library = Library.open(tmp_path / "root")
    with FakeHF(token="hf_testtoken123456") as fake_hf:
        hf = HFClient(model=model, token="hf_testtoken123456",
                      endpoint=fake_hf.model_url(model), timeout=10, loading_wait=2)
        a1111 = A1111Client(down, connect_timeout=0.5, read_timeout=5.0)
        try:
            project = library.create_project("P")
            router = BackendRouter([a1111], hf)
            job = req(project_id=project.id, enable_hr=True, styles=("Cinematic",))
            with pytest.raises(NoBackend) as refused:
                pipeline.run(job, router, library)
            message = refused.value.user_message
            assert "is not running" in message or "127.0.0.1" in message  # why A1111 is out
            assert message.endswith("Hugging Face cannot do hires fix or styles; start the "
                                    "A1111 server or remove them.")
            assert refused.value.exit_code == 3
            with pytest.raises(NoBackend, match="cannot do LoRAs; .* remove it"):
                router.generate(req(prompt="x <lora:a:1>", backend=BackendChoice.hf))
            with pytest.raises(RequestRejected, match="cannot do variations"):
                hf.generate(req(subseed_strength=0.5))  # the client itself refuses too
            assert fake_hf.requests == []
            assert library.assets(project.id) == []
            # a plain job still falls back; HF picks its own sampler, and says so
            outcome = pipeline.run(req(project_id=project.id, sampler="Euler"), router, library)
            assert outcome.backend == "hf"
            assert "Hugging Face uses its own sampler." in (outcome.fallback_reason or "")
            assert outcome.assets[0].sampler is None  # not a false record of "Euler"
            refined = pipeline.run(req(project_id=project.id, kind=Kind.img2img,
                                       model="dreamshaper_8", init_image=png()), router, library)
            assert f"Hugging Face uses its own model ({model})." in (
                refined.fallback_reason or "")
            assert refined.model == model
        finally:
            a1111.close()
            library.close()


def test_hires_progress_follows_both_passes(fake_a1111, make_client):
    fake_a1111.step_time = 0.1  # generous: a few polls land in each pass even on a busy machine
    reports: list[Any] = []
    make_client(fake_a1111.url).generate(
        req(steps=8, enable_hr=True, hr_second_pass_steps=10, denoising_strength=0.5),
        on_progress=reports.append)
    running = [p for p in reports if p.job_count == 2]  # job_count doubles with the hires fix
    assert running
    assert 6 in {p.steps for p in running}  # the second pass: int(0.5 x 10) + 1 steps
    fractions = [p.fraction for p in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
