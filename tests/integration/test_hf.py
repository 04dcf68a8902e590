"""HFClient against the fake Hugging Face server (the real InferenceClient over loopback)."""

from __future__ import annotations

import base64
import io
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from huggingface_hub import constants as hf_constants
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from dlx_art.errors import (
    AuthenticationFailed,
    BackendUnavailable,
    BadServerResponse,
    Cancelled,
    ConnectionDropped,
    ModelLoading,
    QuotaExceeded,
    RequestRejected,
    ServerFailed,
    ServerNotRunning,
)
from dlx_art.generation.hf import HFClient, find_token
from dlx_art.generation.types import CancelToken, GenerationRequest, Kind, Progress
from tests.fakes.fake_hf import FakeHF

pytestmark = pytest.mark.integration

MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
TOKEN = "hf_test_token"
SECRET = "hf_SeCrEt9Zq7TokenThatMustNeverLeak42"


@pytest.fixture(autouse=True)
def no_saved_token(tmp_path, monkeypatch):
    """huggingface_hub fixed its token-file path at import time: point it at an empty folder."""
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "hf-token"))
    monkeypatch.setattr(hf_constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "hf-tokens"))


@pytest.fixture
def fake() -> Iterator[FakeHF]:
    with FakeHF() as server:
        yield server


def make_client(fake: FakeHF, **kwargs: Any) -> HFClient:
    options: dict[str, Any] = {"model": MODEL, "token": TOKEN,
                               "endpoint": fake.model_url(MODEL), "timeout": 5.0,
                               "loading_wait": 5.0}
    options.update(kwargs)
    return HFClient(**options)


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def pattern(width: int, height: int) -> Image.Image:
    """An image with no two neighbouring pixels alike, so any change shows."""
    image = Image.new("RGB", (width, height))
    image.putdata([((x * 7) % 256, (y * 11) % 256, (x * y) % 256)
                   for y in range(height) for x in range(width)])
    return image


def req(**kwargs: Any) -> GenerationRequest:
    kwargs.setdefault("project_id", "p1")
    kwargs.setdefault("prompt", "a fox in the snow")
    return GenerationRequest(**kwargs)


# --- request payload -------------------------------------------------------------------------


def test_txt2img_payload_headers_and_result(fake):
    client = make_client(fake)
    progress: list[Progress] = []
    result = client.generate(req(negative="blurry", steps=12, cfg_scale=6.5, seed=5, width=256,
                                 height=192), on_progress=progress.append)

    [post] = fake.posts
    assert post.path == f"/models/{MODEL}"  # the endpoint URL, exactly
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.headers["accept"] == "image/png"
    assert post.json == {"inputs": "a fox in the snow", "parameters": {
        "negative_prompt": "blurry", "height": 192, "width": 256, "num_inference_steps": 12,
        "guidance_scale": 6.5, "seed": 5}}

    assert result.backend == "hf"
    assert result.model == MODEL
    assert result.backend_label == f"Hugging Face endpoint {fake.url}/models/{MODEL}"
    assert result.approximate is False and result.interrupted is False
    [image] = result.images
    assert (image.seed, image.width, image.height, image.infotext, image.file_type) == \
        (5, 256, 192, None, "png")
    decoded = decode(image.data)
    assert decoded.format == "PNG" and decoded.size == (256, 192)
    assert decoded.getpixel((10, 10)) == fake.color
    assert TOKEN.encode() not in image.data
    assert not {k for k in decoded.info if k not in ("dpi",)}  # no text chunks at all
    assert progress[0].fraction == 0 and "Hugging Face" in progress[0].message
    assert progress[-1].fraction == 1


def test_empty_negative_prompt_is_not_sent(fake):
    make_client(fake).generate(req(seed=1))
    assert "negative_prompt" not in fake.posts[0].parameters


def test_batch_sends_consecutive_seeds_and_reports_each_image(fake):
    progress: list[Progress] = []
    result = make_client(fake).generate(req(seed=100, batch_count=2, batch_size=2),
                                        on_progress=progress.append)
    assert [p.parameters["seed"] for p in fake.posts] == [100, 101, 102, 103]
    assert [i.seed for i in result.images] == [100, 101, 102, 103]
    fractions = [p.fraction for p in progress]
    assert fractions == [0, 0.25, 0.5, 0.75, 1.0]


def test_random_seed_is_chosen_and_sent(fake):
    result = make_client(fake).generate(req(seed=-1, batch_count=2))
    sent = [p.parameters["seed"] for p in fake.posts]
    assert 0 <= sent[0] < 2**32 - 2 and sent[1] == sent[0] + 1
    assert [i.seed for i in result.images] == sent


def test_label_without_endpoint_and_without_secrets(fake):
    client = HFClient(model=MODEL, token=SECRET)
    assert client.label == f"Hugging Face {MODEL}"
    endpoint = HFClient(model=MODEL, token=SECRET,
                        endpoint="https://user:pw@x.endpoints.huggingface.cloud/?key=abc")
    assert endpoint.label == "Hugging Face endpoint https://x.endpoints.huggingface.cloud/"
    for c in (client, endpoint):
        status = c.status()
        assert SECRET not in f"{c.label}{c!r}{status}"


def test_img2img_body(fake):
    init = pattern(64, 48)
    result = make_client(fake).generate(req(kind=Kind.img2img, init_image=png(init), width=64,
                                            height=48, seed=9, steps=15, cfg_scale=5.0,
                                            negative="ugly", denoising_strength=0.4))
    [post] = fake.posts
    assert post.headers["content-type"] == "application/json"
    assert post.json["parameters"] == {"prompt": "a fox in the snow", "negative_prompt": "ugly",
                                       "target_size": {"height": 48, "width": 64},
                                       "num_inference_steps": 15, "guidance_scale": 5.0,
                                       "strength": 0.4, "seed": 9}
    sent = Image.open(io.BytesIO(base64.b64decode(post.json["inputs"]))).convert("RGB")
    assert ImageChops.difference(sent, init).getbbox() is None
    assert result.images[0].seed == 9 and result.approximate is False
    assert (result.images[0].width, result.images[0].height) == (64, 48)


def test_img2img_resizes_init_to_requested_size(fake):
    make_client(fake).generate(req(kind=Kind.img2img, init_image=png(pattern(32, 32)),
                                   width=64, height=96, seed=1))
    assert fake.posts[0].input_image().size == (64, 96)


def test_img2img_retries_without_strength_when_server_refuses_it(fake):
    fake.fail(422, "unexpected keyword argument 'strength'", times=1)
    client = make_client(fake)
    result = client.generate(req(kind=Kind.img2img, init_image=png(pattern(32, 32)), width=32,
                                 height=32, seed=3))
    first, second = fake.posts
    assert "strength" in first.parameters and "strength" not in second.parameters
    assert second.parameters["seed"] == 3 and result.images[0].seed == 3
    # remembered for the next job
    client.generate(req(kind=Kind.img2img, init_image=png(pattern(32, 32)), width=32,
                        height=32, seed=3))
    assert "strength" not in fake.posts[-1].parameters


def blurred_mask(mask: Image.Image, blur: int, invert: bool = False) -> Image.Image:
    weight = mask.convert("L")
    if invert:
        weight = Image.eval(weight, lambda v: 255 - v)
    return weight.filter(ImageFilter.GaussianBlur(blur))


@pytest.mark.parametrize("invert", [False, True])
def test_inpaint_composites_through_blurred_mask(fake, invert):
    original = pattern(64, 64)
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((16, 16, 47, 47), fill=255)
    result = make_client(fake).generate(req(kind=Kind.inpaint, init_image=png(original),
                                            mask=png(mask), mask_blur=3, invert_mask=invert,
                                            width=64, height=64, seed=2))
    assert result.approximate is True
    [post] = fake.posts
    assert post.input_image().convert("RGB").tobytes() == original.tobytes()  # whole picture

    out = decode(result.images[0].data).convert("RGB")
    assert out.size == (64, 64)
    weight = blurred_mask(mask, 3, invert)
    kept = repainted = 0
    for y in range(64):
        for x in range(64):
            w = weight.getpixel((x, y))
            if w == 0:
                assert out.getpixel((x, y)) == original.getpixel((x, y)), (x, y)
                kept += 1
            elif w == 255:
                assert out.getpixel((x, y)) == fake.color, (x, y)
                repainted += 1
    assert kept > 100 and repainted > 50
    centre_from_generated = out.getpixel((32, 32)) == fake.color
    assert centre_from_generated is not invert
    assert (out.getpixel((2, 2)) == fake.color) is invert


def test_inpaint_resizes_a_differently_sized_answer(fake):
    fake.size = (32, 32)
    mask = Image.new("L", (64, 64), 255)
    result = make_client(fake).generate(req(kind=Kind.inpaint, init_image=png(pattern(64, 64)),
                                            mask=png(mask), mask_blur=0, width=64, height=64))
    out = decode(result.images[0].data)
    assert out.size == (64, 64) and out.convert("RGB").getpixel((63, 63)) == fake.color
    assert fake.posts[0].parameters["target_size"] == {"height": 64, "width": 64}


# --- model loading ----------------------------------------------------------------------------


def test_loading_is_retried_until_ready(fake):
    fake.loading_times, fake.estimated_time = 2, 0.2
    progress: list[Progress] = []
    start = time.monotonic()
    result = make_client(fake, loading_wait=60).generate(req(seed=1), on_progress=progress.append)
    assert len(result.images) == 1 and len(fake.posts) == 3
    # waits what the server estimates (0.2 s a time), never the whole wait; generous for load
    assert time.monotonic() - start < 20
    assert any("loading" in p.message.lower() for p in progress)


def test_loading_beyond_the_wait_raises_model_loading(fake):
    fake.loading_times, fake.estimated_time = 1000, 0.3
    start = time.monotonic()
    with pytest.raises(ModelLoading) as info:
        make_client(fake, loading_wait=0.8).generate(req(seed=1))
    elapsed = time.monotonic() - start
    assert 0.7 < elapsed < 20  # gives up after its wait, long before 1,000 loads of 0.3 s
    assert f"model {MODEL} is still loading" in str(info.value)
    assert "about 1 s" in str(info.value)
    assert info.value.fallback_ok


def test_cancel_while_waiting_for_the_model(fake):
    fake.loading_times, fake.estimated_time = 1000, 30
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    start = time.monotonic()
    with pytest.raises(Cancelled):
        make_client(fake, loading_wait=120).generate(req(seed=1), cancel=cancel)
    assert time.monotonic() - start < 20  # not the 30 s the server says loading takes


# --- failures ---------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# name -> (set-up, expected exception, text the message must contain)
FAILURES: dict[str, tuple[Any, type[Exception], str]] = {
    "401": (lambda f: setattr(f, "token", "hf_other"), AuthenticationFailed, "hf auth login"),
    "403": (lambda f: f.fail(403, "Forbidden"), AuthenticationFailed, "Settings"),
    "402": (lambda f: f.fail(402, "You have exceeded your monthly included credits for "
                              "Inference Providers."), QuotaExceeded, "credits used up"),
    "429-retry-after": (lambda f: f.fail(429, "Rate limit reached",
                                         headers={"Retry-After": "30"}),
                        QuotaExceeded, "about 30 s"),
    "429-ratelimit": (lambda f: f.fail(429, "Too many requests", headers={
        "RateLimit": '"api";r=0;t=55', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'}),
        QuotaExceeded, "about 55 s"),
    "429-bare": (lambda f: f.fail(429, "Too many requests"), QuotaExceeded, "rate limit"),
    "400": (lambda f: f.fail(400, "Input validation error: width must be a multiple of 8"),
            RequestRejected, "multiple of 8"),
    "422": (lambda f: f.fail(422, "guidance_scale: value is not a valid float"),
            RequestRejected, "not a valid float"),
    "404": (lambda f: f.fail(404, "Model not found"), BackendUnavailable, "404"),
    "500": (lambda f: f.fail(500, "CUDA error: device-side assert"), ServerFailed, "500"),
    "503-plain": (lambda f: f.fail(503, "Service Unavailable"), ServerFailed, "503"),
    "garbage": (lambda f: setattr(f, "behaviour", "garbage"), BadServerResponse, "usable image"),
    "bomb": (lambda f: setattr(f, "behaviour", "bomb"), BadServerResponse, "too large"),
    "big": (lambda f: (setattr(f, "behaviour", "bomb"), setattr(f, "bomb_size", (9000, 9000))),
            BadServerResponse, "9000x9000"),
    "drop": (lambda f: setattr(f, "behaviour", "drop"), ConnectionDropped, "broke off"),
    "cut": (lambda f: setattr(f, "behaviour", "cut"), ConnectionDropped, "broke off"),
    "hang": (lambda f: setattr(f, "behaviour", "hang"), ConnectionDropped, "within 1 s"),
    "refused": (None, ServerNotRunning, "Could not connect"),
}


def _client_for(name: str, fake: FakeHF, token: str) -> HFClient:
    if name == "refused":
        return make_client(fake, token=token, timeout=1,
                           endpoint=f"http://127.0.0.1:{_closed_port()}/models/{MODEL}")
    setup = FAILURES[name][0]
    setup(fake)
    return make_client(fake, token=token, timeout=1)


@pytest.mark.parametrize("name", list(FAILURES))
def test_failure_kinds(fake, name):
    _, expected, text = FAILURES[name]
    client = _client_for(name, fake, TOKEN)
    start = time.monotonic()
    with pytest.raises(expected) as info:
        client.generate(req(seed=1))
    assert type(info.value) is expected
    assert text in str(info.value)
    assert len(fake.posts) <= 1  # nothing is retried
    assert time.monotonic() - start < 20  # a hang stops at the (1 s) timeout; generous for load


def test_slow_but_moving_body_is_not_a_timeout(fake):
    fake.behaviour, fake.slow_chunks, fake.slow_delay = "slow", 4, 0.35
    result = make_client(fake, timeout=1).generate(req(seed=1, width=64, height=64))
    assert decode(result.images[0].data).size == (64, 64)


def test_cancel_during_a_hang_returns_at_once(fake):
    fake.behaviour = "hang"
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    start = time.monotonic()
    with pytest.raises(Cancelled):
        make_client(fake, timeout=120).generate(req(seed=1), cancel=cancel)
    assert time.monotonic() - start < 20  # not the 120 s timeout


def test_cancel_before_start_sends_nothing(fake):
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        make_client(fake).generate(req(seed=1), cancel=cancel)
    assert fake.posts == []


def test_model_without_the_task_is_rejected_before_posting(fake, monkeypatch):
    """Without an endpoint, hf-inference checks the model's pipeline tag on the Hub first."""
    monkeypatch.setattr(hf_constants, "ENDPOINT", fake.url)
    fake.pipeline_tag = "text-to-image"
    client = HFClient(model=f"test/model-{uuid.uuid4().hex}", token=TOKEN, timeout=5)
    with pytest.raises(RequestRejected, match="cannot do image-to-image"):
        client.generate(req(kind=Kind.img2img, init_image=png(pattern(16, 16)), width=16,
                            height=16))
    assert fake.posts == [] and fake.requests[0].path.startswith("/api/models/test/model-")


# --- the token never leaks -------------------------------------------------------------------


def _messages(exc: BaseException) -> Iterator[str]:
    """Every message Python would print for `exc`, following the chain like traceback does."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current.args)
        yield getattr(current, "user_message", "")
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None


@pytest.fixture
def debug_logs(caplog):
    for name in (None, "huggingface_hub", "httpx2", "httpcore2", "dlx_art"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.mark.parametrize("name", list(FAILURES))
def test_token_never_in_errors_or_logs(fake, debug_logs, name):
    client = _client_for(name, fake, SECRET)
    with pytest.raises(Exception) as info:
        client.generate(req(seed=1))
    for message in _messages(info.value):
        assert SECRET not in message
    assert debug_logs.records  # the capture works
    assert SECRET not in debug_logs.text
    for record in debug_logs.records:
        assert SECRET not in record.getMessage()


def test_token_not_in_success_logs_or_image(fake, debug_logs):
    fake.token = SECRET
    result = make_client(fake, token=SECRET).generate(req(seed=1))
    assert fake.posts[0].headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET.encode() not in result.images[0].data
    assert SECRET not in debug_logs.text


def test_server_echoing_the_token_is_scrubbed(fake):
    fake.fail(400, f"bad header Bearer {SECRET}")
    with pytest.raises(RequestRejected) as info:
        make_client(fake, token=SECRET).generate(req(seed=1))
    assert "<token>" in str(info.value)
    for message in _messages(info.value):
        assert SECRET not in message


# --- status and token discovery ---------------------------------------------------------------


def test_status_without_token_says_how_to_sign_in(monkeypatch):
    client = HFClient(model=MODEL)
    status = client.status()
    assert (status.name, status.state) == ("hf", "unavailable")
    assert "hf auth login" in status.detail and "HF_TOKEN" in status.detail
    assert status.current_model == MODEL
    monkeypatch.setenv("HF_TOKEN", "hf_signed_in_later")
    assert client.status().state == "available"  # noticed without a restart


def test_status_available_with_explicit_env_or_endpoint(monkeypatch, fake):
    assert HFClient(model=MODEL, token=TOKEN).status().state == "available"
    assert HFClient(model=MODEL, endpoint=fake.model_url(MODEL)).status().state == "available"
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    assert find_token(None) == "hf_from_env"
    assert find_token("  hf_explicit ") == "hf_explicit"
    assert HFClient(model=MODEL).status().state == "available"


def test_token_file_from_hf_auth_login_is_found(tmp_path, monkeypatch, fake):
    token_file = tmp_path / "hf-token"
    token_file.write_text("hf_from_file\n")
    assert find_token(None) == "hf_from_file"
    fake.token = "hf_from_file"
    make_client(fake, token=None).generate(req(seed=1))
    assert fake.posts[0].headers["authorization"] == "Bearer hf_from_file"
