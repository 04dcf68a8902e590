"""request → router → backend → bytes → library, against the fake servers over loopback."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from dlx_art.errors import (
    AuthenticationFailed,
    Cancelled,
    NoBackend,
    OutOfMemory,
    RequestRejected,
)
from dlx_art.generation import pipeline
from dlx_art.generation.a1111 import A1111Client
from dlx_art.generation.hf import HFClient
from dlx_art.generation.router import BackendRouter
from dlx_art.generation.types import (
    BackendChoice,
    CancelToken,
    GenerationRequest,
    InpaintArea,
    Kind,
)
from dlx_art.library import metadata
from dlx_art.library.service import Library
from tests.fakes.fake_hf import FakeHF

pytestmark = pytest.mark.integration
HF_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def library(tmp_path):
    lib = Library.open(tmp_path / "root")
    yield lib
    lib.close()


@pytest.fixture
def project(library):
    return library.create_project("Gen")


@pytest.fixture
def fake_hf():
    with FakeHF(token="hf_testtoken123456") as fake:
        yield fake


def _a1111(url, **kw):
    return A1111Client(url, connect_timeout=1, read_timeout=20, poll_interval=0.02,
                       interrupt_grace=2, **kw)


def _hf(fake):
    return HFClient(model=HF_MODEL, token="hf_testtoken123456", endpoint=fake.model_url(HF_MODEL),
                    timeout=10, loading_wait=2)


def _files(library):
    return sorted(p for p in (library.root / "Projects").rglob("*") if p.is_file()
                  and p.name != "project.json")


def test_txt2img_lands_in_the_catalog_as_sent(library, project, fake_a1111):
    router = BackendRouter([_a1111(fake_a1111.url)], None)
    request = GenerationRequest(project.id, "a fox in snow", negative="blurry", steps=6,
                                width=64, height=64, seed=1234, batch_count=2,
                                sampler="Euler a", scheduler="karras")
    seen = []
    outcome = pipeline.run(request, router, library, on_progress=seen.append)
    assert outcome.backend == "a1111" and outcome.fallback_reason is None
    assert [a.seed for a in outcome.assets] == [1234, 1235]
    sent = [base64.b64decode(s) for s in fake_a1111.last_images]
    for asset, original in zip(outcome.assets, sent, strict=True):
        stored = library.path_of(asset).read_bytes()
        # not re-encoded: the pixel chunks are byte-identical, A1111's infotext kept
        assert _chunks(stored, b"IDAT") == _chunks(original, b"IDAT")
        assert metadata.read_png_text(stored)["parameters"] == \
            metadata.read_png_text(original)["parameters"]
        assert asset.prompt == "a fox in snow" and asset.negative == "blurry"
        assert asset.sampler == "Euler a" and asset.backend == "a1111"
        assert asset.infotext.startswith("a fox in snow\nNegative prompt: blurry\n")
        # the thumbnail is not made on the save path, but can be right after
        assert library.make_thumbnail(asset).stat().st_size > 0
    assert seen and seen[-1].fraction >= seen[0].fraction


def _chunks(data: bytes, kind: bytes) -> list[bytes]:
    out, offset = [], 8
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 4], "big")
        if data[offset + 4:offset + 8] == kind:
            out.append(data[offset + 8:offset + 8 + length])
        offset += 12 + length
    return out


def test_inpaint_stores_parent_and_mask(library, project, fake_a1111):
    router = BackendRouter([_a1111(fake_a1111.url)], None)
    parent = pipeline.run(GenerationRequest(project.id, "base", steps=4, width=64, height=64),
                          router, library).assets[0]
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    buf = io.BytesIO()
    mask.save(buf, "PNG")
    request = GenerationRequest(project.id, "refined", kind=Kind.inpaint, steps=4, width=64,
                                height=64, parent_id=parent.id,
                                init_image=library.read_bytes(parent), mask=buf.getvalue(),
                                inpaint_area=InpaintArea.masked, padding=8,
                                denoising_strength=0.6)
    child = pipeline.run(request, router, library).assets[0]
    assert child.parentId == parent.id and child.kind == "inpaint"
    assert child.denoisingStrength == 0.6
    assert child.maskPath.startswith("Projects/Gen/Assets/Masks/")
    with Image.open(library.mask_path_of(child)) as stored_mask:
        assert stored_mask.size == (64, 64)
        assert stored_mask.convert("L").getpixel((32, 32)) == 255
    payload = fake_a1111.last_payload("/sdapi/v1/img2img")
    assert payload["inpaint_full_res"] is True and payload["inpaint_full_res_padding"] == 8
    assert [a.id for a in library.lineage(child.id).ancestors] == [parent.id]


def test_falls_back_to_hugging_face_with_reason(library, project, fake_hf):
    router = BackendRouter([_a1111(_closed_port_url())], _hf(fake_hf))
    outcome = pipeline.run(GenerationRequest(project.id, "a lighthouse", steps=5, width=64,
                                             height=64, seed=7), router, library)
    assert outcome.backend == "hf"
    assert "No AUTOMATIC1111 server answers" in outcome.fallback_reason
    assert "Used Hugging Face" in outcome.fallback_reason
    asset = outcome.assets[0]
    assert asset.backend == "hf" and asset.backendReason == outcome.fallback_reason
    assert asset.seed == 7
    stored = library.path_of(asset).read_bytes()
    info = metadata.parse_infotext(metadata.read_png_text(stored)["parameters"])
    assert info.prompt == "a lighthouse" and info.seed == 7 and info.steps == 5
    assert b"hf_testtoken" not in stored
    assert fake_hf.posts[0].parameters["seed"] == 7


def test_first_idle_server_is_used(library, project, fake_a1111):
    router = BackendRouter([_a1111(_closed_port_url()), _a1111(fake_a1111.url)], None)
    outcome = pipeline.run(GenerationRequest(project.id, "x", steps=2, width=64, height=64),
                           router, library)
    assert outcome.backend == "a1111" and "No AUTOMATIC1111 server answers" in \
        outcome.fallback_reason


def test_api_off_falls_back(library, project, fake_a1111, fake_hf):
    fake_a1111.mode = "api-off"
    router = BackendRouter([_a1111(fake_a1111.url)], _hf(fake_hf))
    outcome = pipeline.run(GenerationRequest(project.id, "x", steps=2, width=64, height=64),
                           router, library)
    assert outcome.backend == "hf" and "--api" in outcome.fallback_reason


def test_busy_server_falls_back_after_the_wait(library, project, fake_a1111, fake_hf):
    fake_a1111.busy(5)
    router = BackendRouter([_a1111(fake_a1111.url, busy_wait=0.3)], _hf(fake_hf))
    outcome = pipeline.run(GenerationRequest(project.id, "x", steps=2, width=64, height=64),
                           router, library)
    assert outcome.backend == "hf" and "busy" in outcome.fallback_reason.lower()


@pytest.mark.parametrize("failure, error", [("validation", RequestRejected),
                                            ("oom", OutOfMemory)])
def test_no_fallback_after_a_rejection_or_failure(library, project, fake_a1111, fake_hf,
                                                  failure, error):
    fake_a1111.failure = failure
    router = BackendRouter([_a1111(fake_a1111.url)], _hf(fake_hf))
    with pytest.raises(error):
        pipeline.run(GenerationRequest(project.id, "x", steps=2, width=64, height=64), router,
                     library)
    assert fake_hf.posts == [] and _files(library) == []
    assert library.count_assets(project.id) == 0


def test_no_fallback_on_wrong_credentials(library, project, fake_a1111, fake_hf):
    fake_a1111.auth = "alice:secret"
    router = BackendRouter([_a1111(fake_a1111.url, auth=("alice", "wrong"))], _hf(fake_hf))
    with pytest.raises(AuthenticationFailed) as info:
        pipeline.run(GenerationRequest(project.id, "x", steps=2, width=64, height=64), router,
                     library)
    assert "wrong" not in info.value.user_message and fake_hf.posts == []


def test_no_backend_messages(library, project):
    request = GenerationRequest(project.id, "x", steps=2, width=64, height=64)
    with pytest.raises(NoBackend, match="hf auth login"):
        pipeline.run(request, BackendRouter([_a1111(_closed_port_url())], None), library)
    with pytest.raises(NoBackend, match="turned off"):
        pipeline.run(request, BackendRouter([_a1111(_closed_port_url())], object(),
                                            fallback=False), library)


def test_forced_backend_choice(library, project, fake_a1111, fake_hf):
    router = BackendRouter([_a1111(fake_a1111.url)], _hf(fake_hf))
    hf_only = GenerationRequest(project.id, "x", steps=2, width=64, height=64,
                                backend=BackendChoice.hf)
    assert pipeline.run(hf_only, router, library).backend == "hf"
    down = BackendRouter([_a1111(_closed_port_url())], _hf(fake_hf))
    with pytest.raises(NoBackend):
        pipeline.run(GenerationRequest(project.id, "x", steps=2, width=64, height=64,
                                       backend=BackendChoice.a1111), down, library)


def test_cancel_leaves_no_row_and_no_file(library, project, fake_a1111):
    fake_a1111.step_time = 0.05
    router = BackendRouter([_a1111(fake_a1111.url)], None)
    token = CancelToken()
    threading.Timer(0.4, token.cancel).start()
    with pytest.raises(Cancelled):
        pipeline.run(GenerationRequest(project.id, "x", steps=200, width=64, height=64), router,
                     library, cancel=token)
    assert fake_a1111.interrupts == 1
    assert _files(library) == [] and library.count_assets(project.id) == 0


def test_cancel_with_keep_partial_saves_the_partial_image(library, project, fake_a1111):
    fake_a1111.step_time = 0.05
    router = BackendRouter([_a1111(fake_a1111.url)], None)
    token = CancelToken()
    threading.Timer(0.4, token.cancel).start()
    outcome = pipeline.run(GenerationRequest(project.id, "x", steps=200, width=64, height=64,
                                             keep_partial=True), router, library, cancel=token)
    assert outcome.interrupted and len(outcome.assets) == 1


# --- the command line --------------------------------------------------------------------------


def _cli(tmp_path, *args, env=None, **kw):
    full_env = dict(os.environ, DLX_ART_HOME=str(tmp_path / "home"), **(env or {}))
    return subprocess.run([sys.executable, "-m", "dlx_art", *args], capture_output=True,
                          text=True, env=full_env, timeout=120, **kw)


def test_cli_generate_json_and_exit_codes(tmp_path, fake_a1111, fake_hf):
    assert _cli(tmp_path, "projects", "create", "P").returncode == 0
    env = {"DLX_ART_A1111_URL": fake_a1111.url}
    done = _cli(tmp_path, "generate", "--project", "P", "--prompt", "a cat", "--steps", "3",
                "--width", "64", "--height", "64", "--seed", "5", "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["backend"] == "a1111" and result["fallbackReason"] is None
    assert result["assets"][0]["seed"] == 5 and result["assets"][0]["cfgScale"] == 7.0

    down = {"DLX_ART_A1111_URL": _closed_port_url()}
    none = _cli(tmp_path, "generate", "--project", "P", "--prompt", "x", env=down)
    assert none.returncode == 3 and none.stderr.count("\n") == 1

    fallback = _cli(tmp_path, "generate", "--project", "P", "--prompt", "x", "--steps", "2",
                    "--width", "64", "--height", "64", "--json",
                    env={**down, "HF_TOKEN": "hf_testtoken123456",
                         "DLX_ART_HF_ENDPOINT": fake_hf.model_url(HF_MODEL)})
    assert fallback.returncode == 0, fallback.stderr
    assert json.loads(fallback.stdout)["backend"] == "hf"
    assert "Used Hugging Face" in json.loads(fallback.stdout)["fallbackReason"]

    fake_a1111.failure = "validation"
    rejected = _cli(tmp_path, "generate", "--project", "P", "--prompt", "x", env=env)
    assert rejected.returncode == 4

    parent_id = result["assets"][0]["id"]
    refined = _cli(tmp_path, "refine", parent_id, "--denoise", "0.4", "--json", env=env)
    assert refined.returncode == 0, refined.stderr
    child = json.loads(refined.stdout)["assets"][0]
    assert child["parentId"] == parent_id and child["kind"] == "img2img"

    status = _cli(tmp_path, "backends", "--json", env=env)
    states = {s["name"]: s["state"] for s in json.loads(status.stdout)}
    assert states == {"a1111": "up", "hf": "unavailable"}


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT semantics")
def test_cli_ctrl_c_cancels_on_the_server(tmp_path, fake_a1111):
    assert _cli(tmp_path, "projects", "create", "P").returncode == 0
    fake_a1111.step_time = 0.05
    fake_a1111.interrupt_answers_at_once = True  # the image arrives as the cancel does
    env = dict(os.environ, DLX_ART_HOME=str(tmp_path / "home"),
               DLX_ART_A1111_URL=fake_a1111.url)
    process = subprocess.Popen([sys.executable, "-m", "dlx_art", "generate", "--project", "P",
                                "--prompt", "x", "--steps", "400", "--width", "64", "--height",
                                "64"], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not fake_a1111.jobs and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 5, err
    assert fake_a1111.interrupts == 1
    assert not list(Path(tmp_path / "home" / "Projects" / "P" / "Assets" / "Images").iterdir())


def test_unusable_server_url_is_reported_and_does_not_block_fallback(library, project, fake_hf,
                                                                      monkeypatch):
    from dlx_art.settings import A1111Server, Settings

    settings = Settings(a1111_servers=[A1111Server("http://bad host:99999")],
                        hf_token="hf_testtoken123456",
                        hf_endpoint=fake_hf.model_url(HF_MODEL), hf_timeout=10)
    router = BackendRouter.from_settings(settings)
    assert [s.state for s in router.statuses()][0] == "down"
    outcome = pipeline.run(GenerationRequest(project.id, "x", steps=2, width=64, height=64),
                           router, library)
    assert outcome.backend == "hf" and "bad host" in outcome.fallback_reason
