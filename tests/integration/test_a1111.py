"""A1111Client against the fake A1111 server over real loopback HTTP."""

from __future__ import annotations

import base64
import io
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from dlx_art.errors import (
    ApiDisabled,
    AuthenticationFailed,
    BackendError,
    BackendUnavailable,
    BadServerResponse,
    Cancelled,
    ConnectionDropped,
    OutOfMemory,
    RequestRejected,
    ServerBusy,
    ServerFailed,
    ServerNotRunning,
    UsageError,
)
from dlx_art.generation.a1111 import A1111Client, normalise_base_url
from dlx_art.generation.types import (
    CancelToken,
    GenerationRequest,
    InpaintArea,
    Kind,
    MaskedContent,
    Progress,
)
from tests.fakes.fake_a1111 import FakeA1111

pytestmark = pytest.mark.integration

USER, PASSWORD = "artist", "s3cret-Pa55"


@pytest.fixture
def make_client() -> Iterator[Callable[..., A1111Client]]:
    """Clients with test-sized timeouts; closed after the test."""
    made: list[A1111Client] = []

    def make(url: str, **kwargs: Any) -> A1111Client:
        options: dict[str, Any] = {"poll_interval": 0.02, "connect_timeout": 1.0,
                                   "read_timeout": 10.0, "interrupt_grace": 2.0}
        options.update(kwargs)
        client = A1111Client(url, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def req(**kwargs: Any) -> GenerationRequest:
    values: dict[str, Any] = {"project_id": "p1", "prompt": "a red fox", "width": 64,
                              "height": 64, "steps": 4}
    values.update(kwargs)
    return GenerationRequest(**values)


def png(width: int, height: int, colour: Any = (10, 20, 30), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def generation_requests(fake: FakeA1111) -> list[Any]:
    return fake.requests_to("txt2img") + fake.requests_to("img2img")


# --- payload ----------------------------------------------------------------------------------


def test_txt2img_payload_has_only_known_fields_with_declared_types(fake_a1111, make_client):
    client = make_client(fake_a1111.url)
    client.generate(req(prompt="a fox", negative="blurry", sampler="euler A", scheduler="Karras",
                        steps=5, cfg_scale=6, seed=42, width=100, height=30, batch_size=2,
                        batch_count=1))
    payload = fake_a1111.last_payload("/sdapi/v1/txt2img")
    assert fake_a1111.unknown_keys == []
    assert payload == {
        "prompt": "a fox", "negative_prompt": "blurry", "seed": 42, "steps": 5, "cfg_scale": 6.0,
        "width": 96, "height": 64, "batch_size": 2, "n_iter": 1, "send_images": True,
        "save_images": False, "sampler_name": "Euler a", "scheduler": "karras",
    }
    for key in ("seed", "steps", "width", "height", "batch_size", "n_iter"):
        assert type(payload[key]) is int, key
    assert type(payload["cfg_scale"]) is float
    assert payload["send_images"] is True and payload["save_images"] is False
    assert "override_settings" not in payload


def test_random_seed_is_sent_as_minus_one_and_read_back(fake_a1111, make_client):
    result = make_client(fake_a1111.url).generate(req(seed=-1, batch_size=3))
    assert fake_a1111.last_payload("txt2img")["seed"] == -1
    seeds = [image.seed for image in result.images]
    assert seeds[0] is not None and 0 <= seeds[0] < 4294967294
    assert seeds == [seeds[0], seeds[0] + 1, seeds[0] + 2]


def test_images_are_returned_byte_for_byte_with_seeds_and_infotexts(fake_a1111, make_client):
    result = make_client(fake_a1111.url).generate(
        req(prompt="夜の猫, 🐈", seed=1234, batch_size=2, batch_count=2))
    assert len(result.images) == 4
    assert [base64.b64encode(i.data).decode() for i in result.images] == fake_a1111.last_images
    assert [i.seed for i in result.images] == [1234, 1235, 1236, 1237]
    for image in result.images:
        assert image.file_type == "png" and (image.width, image.height) == (64, 64)
        assert image.infotext is not None and f"Seed: {image.seed}," in image.infotext
        with Image.open(io.BytesIO(image.data)) as pil:  # iTXt for non-Latin-1 prompts
            assert pil.info["parameters"] == image.infotext
    assert result.backend == "a1111" and result.backend_label == f"A1111 at {fake_a1111.url}"
    assert result.interrupted is False
    assert result.model == "v1-5-pruned-emaonly"  # info.sd_model_name when no model was chosen
    assert result.sampler == "Euler"  # from info: sampler_index is used when none is sent


def test_grid_is_skipped_and_seeds_stay_aligned(fake_a1111, make_client):
    fake_a1111.grid = True  # a server that returns a grid first anyway
    result = make_client(fake_a1111.url).generate(req(seed=7, batch_size=2, batch_count=2))
    assert len(fake_a1111.last_images) == 5
    assert [i.seed for i in result.images] == [7, 8, 9, 10]
    assert all((i.width, i.height) == (64, 64) for i in result.images)
    assert [base64.b64encode(i.data).decode() for i in result.images] == fake_a1111.last_images[1:]
    for image in result.images:
        assert f"Seed: {image.seed}," in (image.infotext or "")


def test_img2img_payload(fake_a1111, make_client):
    init = png(64, 64)
    result = make_client(fake_a1111.url).generate(
        req(kind=Kind.img2img, init_image=init, mask=png(64, 64), denoising_strength=0.5,
            width=72, height=64))
    payload = fake_a1111.last_payload("/sdapi/v1/img2img")
    assert fake_a1111.unknown_keys == []
    assert payload["init_images"] == [base64.b64encode(init).decode("ascii")]
    assert type(payload["denoising_strength"]) is float and payload["denoising_strength"] == 0.5
    assert "mask" not in payload  # plain img2img ignores a mask
    assert not payload["init_images"][0].startswith("data:")
    assert [(i.width, i.height) for i in result.images] == [(72, 64)]
    assert fake_a1111.requests_to("txt2img") == []


def test_inpaint_payload_mask_passthrough_only_masked_keeps_init_size(fake_a1111, make_client):
    init = png(80, 48)
    mask_img = Image.new("L", (80, 48), 0)
    mask_img.paste(255, (10, 10, 30, 30))
    buf = io.BytesIO()
    mask_img.save(buf, format="PNG")
    mask = buf.getvalue()
    result = make_client(fake_a1111.url).generate(req(
        kind=Kind.inpaint, init_image=init, mask=mask, mask_blur=6,
        masked_content=MaskedContent.fill, inpaint_area=InpaintArea.masked, padding=24,
        invert_mask=True, denoising_strength=0.6))
    payload = fake_a1111.last_payload("img2img")
    assert fake_a1111.unknown_keys == []
    assert payload["mask"] == base64.b64encode(mask).decode("ascii")
    assert payload["mask_blur"] == 6 and type(payload["mask_blur"]) is int
    assert payload["inpainting_fill"] == 0 and type(payload["inpainting_fill"]) is int
    assert payload["inpaint_full_res"] is True
    assert payload["inpaint_full_res_padding"] == 24
    assert payload["inpainting_mask_invert"] == 1 and type(payload["inpainting_mask_invert"]) is int
    assert [(i.width, i.height) for i in result.images] == [(80, 48)]  # "Only masked": init size
    assert "Inpaint area: Only masked" in (result.images[0].infotext or "")


def test_inpaint_whole_picture_and_masked_content_values(fake_a1111, make_client):
    mask = png(64, 64, 255, "L")
    result = make_client(fake_a1111.url).generate(req(
        kind=Kind.inpaint, init_image=png(64, 64), mask=mask, masked_content=MaskedContent.nothing,
        inpaint_area=InpaintArea.whole, width=96, height=64))
    payload = fake_a1111.last_payload("img2img")
    assert payload["inpaint_full_res"] is False
    assert payload["inpainting_fill"] == 3
    assert payload["inpainting_mask_invert"] == 0
    assert [(i.width, i.height) for i in result.images] == [(96, 64)]


@pytest.mark.parametrize("kwargs, fragment", [
    ({"kind": Kind.img2img}, "source image"),
    ({"kind": Kind.inpaint, "init_image": b"x"}, "mask"),
    ({"kind": Kind.import_}, "cannot run"),
])
def test_incomplete_requests_are_rejected_before_anything_is_posted(fake_a1111, make_client,
                                                                    kwargs, fragment):
    with pytest.raises(RequestRejected, match=fragment):
        make_client(fake_a1111.url).generate(req(**kwargs))
    assert generation_requests(fake_a1111) == []


def test_out_of_range_values_are_refused_when_the_request_is_made(fake_a1111):
    # steps 0 used to reach the client (RequestRejected); the request itself now refuses it
    with pytest.raises(UsageError, match="Steps must be from 1"):
        req(steps=0)
    assert generation_requests(fake_a1111) == []


# --- samplers, schedulers, models ---------------------------------------------------------------


@pytest.mark.parametrize("given, sampler, scheduler", [
    ("Euler a", "Euler a", None),
    ("dpm++ 2m", "DPM++ 2M", None),
    ("k_dpmpp_2m", "DPM++ 2M", None),
    ("DPM++ 2M Karras", "DPM++ 2M", "karras"),
    ("DPM++ 2M SDE Exponential", "DPM++ 2M SDE", "exponential"),
])
def test_sampler_names_map_to_exact_names(fake_a1111, make_client, given, sampler, scheduler):
    make_client(fake_a1111.url).generate(req(sampler=given))
    payload = fake_a1111.last_payload("txt2img")
    assert payload["sampler_name"] == sampler
    assert payload.get("scheduler") == scheduler


def test_explicit_scheduler_wins_over_a_legacy_sampler_name(fake_a1111, make_client):
    make_client(fake_a1111.url).generate(req(sampler="DPM++ 2M Karras", scheduler="exponential"))
    payload = fake_a1111.last_payload("txt2img")
    assert (payload["sampler_name"], payload["scheduler"]) == ("DPM++ 2M", "exponential")


def test_unknown_sampler_is_rejected_listing_valid_names(fake_a1111, make_client):
    with pytest.raises(RequestRejected) as info:
        make_client(fake_a1111.url).generate(req(sampler="Euler Turbo"))
    assert "Euler Turbo" in info.value.user_message
    assert "DPM++ 2M, " in info.value.user_message and "UniPC" in info.value.user_message
    assert generation_requests(fake_a1111) == []


def test_scheduler_by_label_name_and_unknown(fake_a1111, make_client):
    client = make_client(fake_a1111.url)
    client.generate(req(scheduler="SGM Uniform"))
    assert fake_a1111.last_payload("txt2img")["scheduler"] == "sgm_uniform"
    client.generate(req(scheduler="align_your_steps"))
    assert fake_a1111.last_payload("txt2img")["scheduler"] == "align_your_steps"
    with pytest.raises(RequestRejected, match="Karras"):
        client.generate(req(scheduler="Zigzag"))
    assert client.schedulers()[:3] == [("automatic", "Automatic"), ("uniform", "Uniform"),
                                       ("karras", "Karras")]


def test_server_older_than_1_9_has_no_schedulers(fake_a1111, make_client):
    fake_a1111.schedulers_route = False
    client = make_client(fake_a1111.url)
    assert client.schedulers() == []
    assert client.status().state == "up"
    with pytest.raises(RequestRejected, match="older than version 1.9"):
        client.generate(req(scheduler="Karras"))
    client.generate(req(sampler="Euler"))  # no scheduler: fine


@pytest.mark.parametrize("alias", [
    "v1-5-pruned-emaonly.safetensors [6ce0161689]",  # title
    "v1-5-pruned-emaonly",  # model_name and file stem
    "v1-5-pruned-emaonly.safetensors",  # name
    "6ce0161689",  # short hash
    "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa",  # sha256
    "v1-5-pruned-emaonly [6ce0161689]",  # "stem [hash]"
    "V1-5-PRUNED-EMAONLY",  # case-insensitive fallback
])
def test_model_chosen_by_any_alias_goes_with_the_job(fake_a1111, make_client, alias):
    client = make_client(fake_a1111.url)
    result = client.generate(req(model=alias))
    assert fake_a1111.requests_to("options", "POST") == []
    assert fake_a1111.model_loads == 0
    body = fake_a1111.last_payload("txt2img")
    assert body["override_settings"] == {
        "sd_model_checkpoint": "v1-5-pruned-emaonly.safetensors [6ce0161689]"}
    assert body["override_settings_restore_afterwards"] is True
    assert result.model == "v1-5-pruned-emaonly"  # the infotext's Model


def test_switching_model_per_job_never_touches_the_server_setting(fake_a1111, make_client):
    client = make_client(fake_a1111.url)
    before = dict(fake_a1111.options)
    for name in ("sd_xl_base_1.0", "31e35c80fc", "sdxl/sd_xl_base_1.0.safetensors [31e35c80fc]"):
        result = client.generate(req(model=name))
        body = fake_a1111.last_payload("txt2img")
        assert body["override_settings"] == {
            "sd_model_checkpoint": "sdxl/sd_xl_base_1.0.safetensors [31e35c80fc]"}
        assert body["override_settings_restore_afterwards"] is True
        assert result.model == "sd_xl_base_1.0"
        assert "Model: sd_xl_base_1.0," in (result.images[0].infotext or "")
    assert fake_a1111.requests_to("options", "POST") == []
    assert fake_a1111.options == before
    assert client.current_model() == "v1-5-pruned-emaonly.safetensors [6ce0161689]"
    # the next job without a model runs on the server's own model again
    assert client.generate(req()).model == "v1-5-pruned-emaonly"
    assert "override_settings" not in fake_a1111.last_payload("txt2img")


def test_unhashed_model_is_sent_by_its_current_title(fake_a1111, make_client):
    client = make_client(fake_a1111.url)
    assert client.resolve_model("sd-v1-5-inpainting").title == "sd-v1-5-inpainting.ckpt"
    result = client.generate(req(model="sd-v1-5-inpainting"))
    assert fake_a1111.last_payload("txt2img")["override_settings"] == {
        "sd_model_checkpoint": "sd-v1-5-inpainting.ckpt"}
    assert result.model == "sd-v1-5-inpainting"
    # the server hashed it on load: its title gains " [hash]", and the next job uses that
    client.generate(req(model="sd-v1-5-inpainting"))
    assert fake_a1111.last_payload("txt2img")["override_settings"] == {
        "sd_model_checkpoint": "sd-v1-5-inpainting.ckpt [c6bbc15e32]"}
    assert fake_a1111.requests_to("options", "POST") == []


def test_models_listing_and_unknown_model(fake_a1111, make_client):
    client = make_client(fake_a1111.url)
    models = client.models()
    assert [m.title for m in models][:2] == ["v1-5-pruned-emaonly.safetensors [6ce0161689]",
                                             "sdxl/sd_xl_base_1.0.safetensors [31e35c80fc]"]
    sdxl = models[1]
    assert (sdxl.model_name, sdxl.hash, sdxl.name, sdxl.stem) == (
        "sdxl_sd_xl_base_1.0", "31e35c80fc", "sdxl/sd_xl_base_1.0.safetensors", "sd_xl_base_1.0")
    assert models[2].hash is None and models[2].sha256 is None
    with pytest.raises(RequestRejected) as info:
        client.resolve_model("dreamshaper")
    assert "dreamshaper" in info.value.user_message and "sd_xl_base_1.0" in info.value.user_message
    with pytest.raises(RequestRejected):
        client.generate(req(model="dreamshaper"))
    assert generation_requests(fake_a1111) == [] and fake_a1111.requests_to("options", "POST") == []


# --- modes, URL, auth ---------------------------------------------------------------------------


def test_status_up_uses_only_sdapi_routes(fake_a1111, make_client):
    status = make_client(fake_a1111.url + "/").status()
    assert status.state == "up" and status.name == "a1111"
    assert "v1-5-pruned-emaonly.safetensors [6ce0161689]" in status.models
    assert status.samplers[0] == "DPM++ 2M" and "karras" in status.schedulers
    assert status.current_model == "v1-5-pruned-emaonly.safetensors [6ce0161689]"
    assert all(r.path.startswith("/sdapi/v1/") for r in fake_a1111.requests)


def test_api_only_server(fake_a1111, make_client):
    fake_a1111.mode = "api-only"
    client = make_client(fake_a1111.url)
    assert client.status().state == "up"
    assert len(client.generate(req()).images) == 1
    assert requests.get(fake_a1111.url + "/", timeout=5).status_code == 404


def test_api_off_is_told_apart_from_down(fake_a1111, make_client):
    fake_a1111.mode = "api-off"
    client = make_client(fake_a1111.url)
    status = client.status()
    assert status.state == "api-off" and "--api" in status.detail
    with pytest.raises(ApiDisabled) as info:
        client.generate(req())
    assert info.value.user_message == (f"AUTOMATIC1111 at {fake_a1111.url} is running without "
                                       "its API. Restart it with --api.")
    assert info.value.fallback_ok
    assert [r.path for r in fake_a1111.requests if not r.path.startswith("/sdapi/")] == ["/", "/"]


def test_server_not_running(make_client):
    url = f"http://127.0.0.1:{free_port()}"
    client = make_client(url)
    status = client.status()
    assert status.state == "down"
    assert status.detail.startswith(f"No AUTOMATIC1111 server answers at {url}")
    with pytest.raises(ServerNotRunning) as info:
        client.generate(req())
    assert "Start it with --api, or check the URL." in info.value.user_message
    assert info.value.fallback_ok


def test_path_prefix(fake_a1111, make_client):
    fake_a1111.prefix = "/sd"
    client = make_client(fake_a1111.url + "/")
    assert client.base_url == fake_a1111.url
    assert client.status().state == "up"
    assert len(client.generate(req(model="sd_xl_base_1.0")).images) == 1
    wrong = make_client(fake_a1111.url.removesuffix("/sd"))
    with pytest.raises(ServerNotRunning, match="path prefix"):
        wrong.models()


def test_url_normalisation():
    assert normalise_base_url("127.0.0.1:7860/") == ("http://127.0.0.1:7860", None)
    assert normalise_base_url(" HTTPS://Host.example/sd/sdapi/v1/ ") == (
        "https://host.example/sd", None)
    assert normalise_base_url("http://me:p%40ss@[::1]:7861") == (
        "http://[::1]:7861", ("me", "p@ss"))
    for bad in ("", "ftp://host", "http://:80", "http://host:99999"):
        with pytest.raises(UsageError):
            normalise_base_url(bad)


def test_auth_is_sent_preemptively(fake_a1111, make_client):
    fake_a1111.auth = f"{USER}:{PASSWORD}"
    client = make_client(fake_a1111.url, auth=(USER, PASSWORD))
    assert client.status().state == "up"
    assert len(client.generate(req(model="sd_xl_base_1.0")).images) == 1
    sdapi = [r for r in fake_a1111.requests if r.path.startswith("/sdapi/")]
    assert sdapi and all(r.headers.get("Authorization", "").startswith("Basic ") for r in sdapi)
    assert PASSWORD not in client.label and USER not in client.label


@pytest.mark.parametrize("auth, detail", [
    ((USER, "wrong-password"), "Incorrect username or password"),
    (None, "Not authenticated"),
])
def test_auth_failures(fake_a1111, make_client, auth, detail):
    fake_a1111.auth = f"{USER}:{PASSWORD}"
    client = make_client(fake_a1111.url, auth=auth)
    status = client.status()
    assert status.state == "auth-failed" and detail in status.detail
    with pytest.raises(AuthenticationFailed) as info:
        client.generate(req())
    assert detail in info.value.user_message
    assert "wrong-password" not in info.value.user_message
    assert PASSWORD not in info.value.user_message
    assert not info.value.fallback_ok
    assert generation_requests(fake_a1111) == []


def test_credentials_in_url_are_used_but_never_shown(fake_a1111, make_client):
    fake_a1111.auth = f"{USER}:{PASSWORD}"
    url = fake_a1111.url.replace("http://", f"http://{USER}:{PASSWORD}@")
    client = make_client(url)
    assert client.base_url == fake_a1111.url and PASSWORD not in client.label
    assert client.status().state == "up"
    fake_a1111.auth = f"{USER}:other-password"
    with pytest.raises(AuthenticationFailed) as info:
        client.models()
    assert PASSWORD not in info.value.user_message
    assert "other-password" not in info.value.user_message


def test_fake_auth_and_routing_bodies_follow_the_reference(fake_a1111):
    fake_a1111.auth = f"{USER}:{PASSWORD}"
    api = fake_a1111.url + "/sdapi/v1/"
    r = requests.post(api + "txt2img", json={"steps": "many"}, timeout=5)
    assert r.status_code == 401 and "WWW-Authenticate" not in r.headers  # auth before validation
    assert r.json() == {"error": "HTTPException", "detail": "Not authenticated", "body": "",
                        "errors": ""}
    r = requests.get(api + "progress", headers={"Authorization": "Basic !!!"}, timeout=5)
    assert r.json()["detail"] == "Invalid authentication credentials"
    assert requests.get(api + "nothing-here", timeout=5).json() == {"detail": "Not Found"}
    r = requests.get(api + "txt2img", timeout=5)
    assert r.status_code == 405 and r.json() == {"detail": "Method Not Allowed"}
    r = requests.post(api + "txt2img", json={"steps": "many", "width": [1], "styles": ["a", 2, {}]},
                      auth=(USER, PASSWORD), timeout=5)
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {"loc": ["body", "styles", 2], "msg": "str type expected", "type": "type_error.str"},
        {"loc": ["body", "steps"], "msg": "value is not a valid integer",
         "type": "type_error.integer"},
        {"loc": ["body", "width"], "msg": "value is not a valid integer",
         "type": "type_error.integer"},
    ]
    r = requests.post(api + "img2img", json={"prompt": "x"}, auth=(USER, PASSWORD), timeout=5)
    assert r.status_code == 404 and r.json()["detail"] == "Init image not found"
    r = requests.post(api + "options", json={"sd_model_checkpoint": "nope"},
                      auth=(USER, PASSWORD), timeout=5)
    assert r.status_code == 500 and r.json()["errors"] == "model 'nope' not found"
    r = requests.post(api + "options", json={"bogus": 1}, auth=(USER, PASSWORD), timeout=5)
    assert r.json() == {"error": "KeyError", "detail": "", "body": "", "errors": "'bogus'"}
    r = requests.post(api + "txt2img", json={"prompt": "x", "steps": 2, "width": 64, "height": 64,
                                             "sampler_name": "Nope", "k": 1},
                      auth=(USER, PASSWORD), timeout=5)
    info = json.loads(r.json()["info"])
    assert info["sampler_name"] == "DPM++ 2M" and fake_a1111.unknown_keys == ["k"]


# --- progress -----------------------------------------------------------------------------------


def test_progress_reports_without_previews_unless_wanted(fake_a1111, make_client):
    fake_a1111.step_time = 0.01
    fake_a1111.options["show_progress_every_n_steps"] = 2.0
    reports: list[Progress] = []
    make_client(fake_a1111.url).generate(req(steps=30, batch_count=2), on_progress=reports.append)
    assert len(reports) >= 5
    fractions = [p.fraction for p in reports]
    assert fractions == sorted(fractions) and fractions[0] >= 0 and fractions[-1] == 1.0
    assert all(p.preview is None for p in reports)
    assert all(p.steps in (None, 30) for p in reports)
    assert all(p.step is None or 1 <= p.step <= 30 for p in reports)
    assert {p.job_count for p in reports} == {2} and {p.job_no for p in reports} <= {1, 2}
    polls = fake_a1111.requests_to("progress")
    assert polls and all(r.query == {"skip_current_image": ["true"]} for r in polls)
    assert fake_a1111.preview_requests == 0


def test_previews_only_while_wanted(fake_a1111, make_client):
    fake_a1111.step_time = 0.01
    fake_a1111.options["show_progress_every_n_steps"] = 2.0
    reports: list[Progress] = []
    wanted = {"on": True}

    def on_progress(progress: Progress) -> None:
        reports.append(progress)
        if progress.preview is not None:
            wanted["on"] = False  # e.g. the preview panel was hidden after the first one

    make_client(fake_a1111.url).generate(req(steps=40), on_progress=on_progress,
                                         want_preview=lambda: wanted["on"])
    previews = [p.preview for p in reports if p.preview is not None]
    assert len(previews) == 1 and previews[0].startswith(b"\x89PNG\r\n\x1a\n")
    flags = [r.query["skip_current_image"][0] for r in fake_a1111.requests_to("progress")]
    assert flags[0] == "true"  # the busy check before posting never asks for a preview
    assert "false" in flags and flags[-1] == "true"  # asked while wanted, then no more
    assert fake_a1111.preview_requests == flags.count("false")


def test_polling_stops_when_the_job_ends(fake_a1111, make_client):
    fake_a1111.step_time = 0.01
    make_client(fake_a1111.url).generate(req(steps=20))
    returned = time.monotonic()
    count = len(fake_a1111.requests_to("progress"))
    time.sleep(0.2)
    assert count >= 3 and len(fake_a1111.requests_to("progress")) == count
    assert all(r.time <= returned for r in fake_a1111.requests_to("progress"))


def test_start_of_job_glitches_are_ignored(fake_a1111, make_client):
    fake_a1111.step_time = 0.01
    client = make_client(fake_a1111.url)
    client.generate(req(steps=9))  # leaves sampling_steps = 9 behind
    fake_a1111.setup_time = 0.2  # job_count -1, then stale sampling_steps, for a while
    reports: list[Progress] = []
    client.generate(req(steps=25), on_progress=reports.append)
    assert reports and all(p.steps in (None, 25) for p in reports)
    assert all(p.job_count == 1 for p in reports)
    fractions = [p.fraction for p in reports]
    assert fractions == sorted(fractions) and all(0 <= f <= 1 for f in fractions)


# --- cancel and interrupt -----------------------------------------------------------------------


def cancel_after(token: CancelToken, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, token.cancel)
    timer.daemon = True
    timer.start()
    return timer


def test_cancel_interrupts_the_job(fake_a1111, make_client):
    fake_a1111.step_time = 0.05
    token = CancelToken()
    cancel_after(token, 0.3)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        make_client(fake_a1111.url).generate(req(steps=1000), cancel=token)
    assert time.monotonic() - started < 20  # the job itself would take 50 s
    assert fake_a1111.interrupts >= 1
    job = fake_a1111.jobs[-1]
    assert job.interrupted and job.steps_done < 500 and job.ended is not None


def test_cancel_keeps_the_partial_image_when_asked(fake_a1111, make_client):
    fake_a1111.step_time = 0.01
    token = CancelToken()
    cancel_after(token, 0.3)
    result = make_client(fake_a1111.url).generate(
        req(steps=500, batch_count=3, seed=3, keep_partial=True), cancel=token)
    assert result.interrupted is True
    assert len(result.images) == 1 and result.images[0].seed == 3
    assert result.images[0].data.startswith(b"\x89PNG")
    assert fake_a1111.jobs[-1].steps_done < 500


def test_cancel_before_the_post_contacts_nothing(fake_a1111, make_client):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        make_client(fake_a1111.url).generate(req(), cancel=token)
    assert fake_a1111.requests == []


def test_cancel_against_a_hanging_server_returns_quickly(fake_a1111, make_client):
    fake_a1111.failure, fake_a1111.failure_count = "hang", None
    client = make_client(fake_a1111.url, read_timeout=1.5, interrupt_grace=0.5)
    token = CancelToken()
    cancel_after(token, 0.2)
    started = time.monotonic()
    with pytest.raises(Cancelled) as info:
        client.generate(req(), cancel=token)
    assert time.monotonic() - started < 20  # generous: returns after the grace, not a hang
    assert "did not stop" in info.value.user_message
    assert fake_a1111.interrupts >= 1
    # the abandoned request thread ends by its own read timeout
    stuck = [t for t in threading.enumerate() if t.name.startswith("a1111-post")]
    for thread in stuck:
        thread.join(timeout=4)
    assert not [t for t in stuck if t.is_alive()]


def test_read_timeout_during_the_job_is_a_dropped_connection(fake_a1111, make_client):
    fake_a1111.failure = "hang"
    with pytest.raises(ConnectionDropped, match="did not finish the job within 0.5 s"):
        make_client(fake_a1111.url, read_timeout=0.5).generate(req())


def test_interrupt_when_idle(fake_a1111, make_client):
    make_client(fake_a1111.url).interrupt()
    assert fake_a1111.interrupts == 1


# --- busy and concurrency -----------------------------------------------------------------------


def test_busy_server_raises_server_busy_after_busy_wait(fake_a1111, make_client):
    fake_a1111.busy(60.0)
    client = make_client(fake_a1111.url, busy_wait=0.3)
    assert client.is_busy() and client.status().state == "busy"
    started = time.monotonic()
    with pytest.raises(ServerBusy) as info:
        client.generate(req())
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 20  # gives up after its wait, not when the server is free (60 s)
    assert isinstance(info.value, BackendUnavailable) and info.value.fallback_ok
    assert generation_requests(fake_a1111) == []


def test_busy_server_is_waited_for(fake_a1111, make_client):
    fake_a1111.busy(0.3)
    result = make_client(fake_a1111.url, busy_wait=3).generate(req())
    assert len(result.images) == 1


def test_cancel_while_waiting_for_a_busy_server(fake_a1111, make_client):
    fake_a1111.busy(120.0)
    token = CancelToken()
    cancel_after(token, 0.2)
    started = time.monotonic()
    with pytest.raises(Cancelled):
        make_client(fake_a1111.url, busy_wait=120).generate(req(), cancel=token)
    assert time.monotonic() - started < 20  # not the 120 s busy wait
    assert generation_requests(fake_a1111) == []


def test_concurrent_generates_are_serialised(fake_a1111, make_client):
    fake_a1111.step_time = 0.01
    clients = [make_client(fake_a1111.url) for _ in range(3)]
    results: list[Any] = []

    def run(client: A1111Client) -> None:
        try:
            results.append(client.generate(req(steps=15)))
        except Exception as exc:  # collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert len(results) == 3 and all(len(r.images) == 1 for r in results)
    assert fake_a1111.max_open_generations == 1 and fake_a1111.max_running_jobs == 1


def test_a_waiting_generate_can_be_cancelled(fake_a1111, make_client):
    fake_a1111.step_time = 0.01
    client = make_client(fake_a1111.url)
    first = threading.Thread(target=client.generate, args=(req(steps=80),))
    first.start()
    time.sleep(0.1)
    token = CancelToken()
    cancel_after(token, 0.2)
    waiting: list[Progress] = []
    with pytest.raises(Cancelled):
        client.generate(req(), cancel=token, on_progress=waiting.append)
    assert waiting and waiting[0].message.startswith("Waiting")
    first.join(10)
    assert len(generation_requests(fake_a1111)) == 1 and fake_a1111.interrupts == 0


# --- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, error, fragment", [
    ("validation", RequestRejected, "rejected the request: steps: value is not a valid integer"),
    ("script", RequestRejected, "rejected the request: Script 'x' not found"),
    ("error", ServerFailed, "TypeError: 'NoneType' object is not subscriptable"),
    ("oom", OutOfMemory, "CUDA out of memory"),
    ("forge-500", ServerFailed, "sent no details"),
    ("detail-500", ServerFailed, "could not find upscaler named Lanczos2"),
    ("drop", ConnectionDropped, "closed unexpectedly while the job was running"),
    ("drop-partial", ConnectionDropped, "broke off"),
    ("garbage", BadServerResponse, "not JSON"),
    ("bad-base64", BadServerResponse, "image 1 as broken base64"),
    ("not-image", BadServerResponse, "not an image"),
    ("bomb", BadServerResponse, "decompression bomb"),
])
def test_generation_failures_map_to_typed_errors(fake_a1111, make_client, kind, error, fragment):
    fake_a1111.failure = kind
    fake_a1111.fail_after_steps = 2
    client = make_client(fake_a1111.url)
    with pytest.raises(BackendError) as info:
        client.generate(req(batch_size=2))
    assert type(info.value) is error, info.value
    assert fragment in info.value.user_message
    assert info.value.user_message.startswith(("A1111 at", "The connection to")) or kind == "oom"
    assert not info.value.fallback_ok
    assert len(generation_requests(fake_a1111)) == 1  # never retried
    if kind == "oom":
        assert "smaller" in info.value.user_message
    assert len(client.generate(req()).images) == 1  # the knob was used up: all is well again


def test_server_side_request_errors(fake_a1111, make_client, monkeypatch):
    client = make_client(fake_a1111.url)
    build = client._build_payload

    def without_init(request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        route, payload = build(request)
        payload.pop("init_images")
        return route, payload

    monkeypatch.setattr(client, "_build_payload", without_init)
    with pytest.raises(RequestRejected, match="Init image not found"):
        client.generate(req(kind=Kind.img2img, init_image=png(64, 64)))

    def bad_mask(request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        route, payload = build(request)
        payload["mask"] = "@@@"
        return route, payload

    monkeypatch.setattr(client, "_build_payload", bad_mask)
    with pytest.raises(ServerFailed, match="Invalid encoded image"):
        client.generate(req(kind=Kind.inpaint, init_image=png(64, 64), mask=png(64, 64)))


def test_slow_body_still_works(fake_a1111, make_client):
    fake_a1111.failure, fake_a1111.slow_chunk, fake_a1111.slow_delay = "slow", 32, 0.003
    result = make_client(fake_a1111.url).generate(req(batch_size=2, seed=9))
    assert [i.seed for i in result.images] == [9, 10]
    assert [base64.b64encode(i.data).decode() for i in result.images] == fake_a1111.last_images


@pytest.mark.parametrize("kind, fragment", [
    ("garbage", "not JSON"),
    ("error", "TypeError"),
    ("drop", "closed unexpectedly"),
    ("forge-500", "no details"),
])
def test_status_never_raises(fake_a1111, make_client, kind, fragment):
    fake_a1111.route_failures["sd-models"] = kind
    status = make_client(fake_a1111.url).status()
    assert status.state == "down" and fragment in status.detail


def test_status_when_options_cannot_be_read(fake_a1111, make_client):
    fake_a1111.route_failures["GET options"] = "error"
    client = make_client(fake_a1111.url)
    status = client.status()
    assert status.state == "up" and status.current_model is None
    client.generate(req(model="sd_xl_base_1.0"))  # the job names its model anyway
    assert fake_a1111.model_loads == 1 and not fake_a1111.requests_to("options", "POST")


def test_get_retries_only_and_every_call_has_a_timeout(fake_a1111, make_client, monkeypatch):
    seen: list[tuple[str, Any]] = []
    original = requests.Session.request

    def spy(self: requests.Session, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        seen.append((method, kwargs.get("timeout")))
        return original(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    client = make_client(fake_a1111.url, connect_timeout=1.5, read_timeout=60)
    client.status()
    client.generate(req(model="sd_xl_base_1.0"))
    client.interrupt()
    assert seen and all(isinstance(t, tuple) and t[0] == 1.5 and t[1] > 0 for _, t in seen)
    assert ("POST", (1.5, 60)) in seen and ("GET", (1.5, 30.0)) in seen
    retry = client._session().get_adapter(fake_a1111.url).max_retries
    assert retry.allowed_methods == frozenset({"GET"}) and retry.total and retry.total <= 3


def test_tls_verification(tmp_path: Path, make_client, monkeypatch):
    import trustme

    authority = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with FakeA1111(ssl_context=context) as fake:
        with pytest.raises(ServerNotRunning, match="TLS certificate") as refused:
            make_client(fake.url).models()  # verify=True: an unknown authority is refused
        assert "REQUESTS_CA_BUNDLE" in refused.value.user_message  # what to do about it
        assert make_client(fake.url, verify=str(ca_file)).status().state == "up"
        assert len(make_client(fake.url, verify=str(ca_file)).generate(req()).images) == 1
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))  # the documented way
        assert make_client(fake.url).status().state == "up"
    plain = f"https://127.0.0.1:{free_port()}"
    with pytest.raises(ServerNotRunning):
        make_client(plain).models()


def test_standalone_fake_runs(tmp_path: Path):
    command = [sys.executable, "-m", "tests.fakes.fake_a1111", "--port", "0", "--auth", "u:p",
               "--step-time", "0.001"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                          cwd=Path(__file__).resolve().parents[2]) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
            client = A1111Client(url, auth=("u", "p"), poll_interval=0.02)
            assert client.status().state == "up"
            assert len(client.generate(req(steps=2)).images) == 1
            client.close()
        finally:
            process.terminate()
            process.wait(10)
