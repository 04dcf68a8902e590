"""Upscale and outpaint end to end: request -> router -> fake server over loopback -> library.

Payloads are checked field by field against `/work/shared/reference/a1111-api.md`
("POST /extra-single-image", "Outpainting with img2img"), and so is the fake's route.
"""

from __future__ import annotations

import base64
import io
import threading

import pytest
import requests
from PIL import Image

from dlx_art.errors import (
    AuthenticationFailed,
    BadServerResponse,
    Cancelled,
    ConnectionDropped,
    NoBackend,
    OutOfMemory,
    RequestRejected,
    ServerFailed,
)
from dlx_art.generation import pipeline
from dlx_art.generation.a1111 import A1111Client
from dlx_art.generation.a1111_extras import catalog_infotext
from dlx_art.generation.hf import HFClient
from dlx_art.generation.router import BackendRouter
from dlx_art.generation.runner import submit_and_wait
from dlx_art.generation.types import CancelToken, GenerationRequest, Kind
from dlx_art.library import metadata
from dlx_art.library.jobs import JobQueue
from dlx_art.library.service import Library
from tests.fakes.fake_hf import FakeHF
from tests.support.images import A1111_INFOTEXT, png_bytes

pytestmark = pytest.mark.integration
HF_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"


@pytest.fixture
def library(tmp_path):
    lib = Library.open(tmp_path / "root")
    yield lib
    lib.close()


@pytest.fixture
def project(library):
    return library.create_project("Ops")


def _a1111(url, **kw):
    return A1111Client(url, connect_timeout=1, read_timeout=20, poll_interval=0.02,
                       interrupt_grace=2, **kw)


def _hf(fake):
    return HFClient(model=HF_MODEL, token="hf_testtoken123456", endpoint=fake.model_url(HF_MODEL),
                    timeout=10, loading_wait=2)


def _source(library, project, fake, width=96, height=64):
    """A generated image (with A1111's infotext) to upscale or outpaint."""
    router = BackendRouter([_a1111(fake.url)], None)
    request = GenerationRequest(project.id, "a lighthouse", negative="blurry", steps=3,
                                width=width, height=height, seed=4242)
    return pipeline.run(request, router, library).assets[0]


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- the fake's route follows the contract ------------------------------------------------------


def _post(fake, body):
    return requests.post(fake.url + "/sdapi/v1/extra-single-image", json=body, timeout=10)


def test_fake_extra_single_image_follows_the_contract(fake_a1111):
    image = base64.b64encode(png_bytes(64, 48, parameters=A1111_INFOTEXT)).decode()
    answer = _post(fake_a1111, {"image": image, "upscaling_resize": 2, "upscaler_1": "Lanczos"})
    assert answer.status_code == 200 and list(answer.json()) == ["html_info", "image"]
    assert answer.json()["html_info"] == \
        "<p>Postprocess upscale by: 2.0, Postprocess upscaler: Lanczos</p>"
    out = _open(base64.b64decode(answer.json()["image"]))
    assert out.size == (128, 96) and out.mode == "RGB"
    assert out.info["parameters"] == A1111_INFOTEXT
    assert out.info["postprocessing"] == \
        "Postprocess upscale by: 2.0, Postprocess upscaler: Lanczos"
    # default factor reads "2"; 50x30 x2 -> 96x56; upscaler 2 blended in
    small = base64.b64encode(png_bytes(50, 30)).decode()
    answer = _post(fake_a1111, {"image": small, "upscaler_1": "Lanczos", "upscaler_2": "Nearest",
                                "extras_upscaler_2_visibility": 0.5}).json()
    assert answer["html_info"] == ("<p>Postprocess upscale by: 2, Postprocess upscaler: Lanczos, "
                                   "Postprocess upscaler 2: Nearest</p>")
    assert _open(base64.b64decode(answer["image"])).size == (96, 56)
    answer = _post(fake_a1111, {"image": image, "resize_mode": 1, "upscaling_resize_w": 100,
                                "upscaling_resize_h": 100, "upscaler_1": "Lanczos"}).json()
    assert answer["html_info"] == ("<p>Postprocess upscale to: 100x100, Postprocess crop to: "
                                   "100x100, Postprocess upscaler: Lanczos</p>")
    assert _open(base64.b64decode(answer["image"])).size == (100, 100)
    none = _post(fake_a1111, {"image": image, "upscaler_1": "None"}).json()
    assert none["html_info"] == "<p></p>"
    assert _open(base64.b64decode(none["image"])).size == (64, 48)


def test_fake_extra_single_image_errors_have_the_contract_shapes(fake_a1111):
    image = base64.b64encode(png_bytes(16, 16)).decode()
    answer = _post(fake_a1111, {"image": image, "upscaler_1": "Lanczos2"})
    assert answer.status_code == 500 and answer.json() == {
        "error": "AssertionError", "detail": "", "body": "",
        "errors": "could not find upscaler named Lanczos2"}
    for body in ({}, {"image": ""}, {"image": "bm90IGFuIGltYWdl"}):
        answer = _post(fake_a1111, {**body, "upscaler_1": "Lanczos"})
        assert answer.status_code == 500 and answer.json() == {
            "error": "HTTPException", "detail": "Invalid encoded image", "body": "", "errors": ""}
    answer = _post(fake_a1111, {"image": image, "upscaling_resize": 0, "resize_mode": 2,
                                "extras_upscaler_2_visibility": 2})
    assert answer.status_code == 422
    assert sorted(answer.json()["detail"], key=lambda d: d["loc"]) == [
        {"loc": ["body", "extras_upscaler_2_visibility"],
         "msg": "ensure this value is less than or equal to 1", "type": "value_error.number.not_le",
         "ctx": {"limit_value": 1}},
        {"loc": ["body", "resize_mode"], "msg": "unexpected value; permitted: 0, 1",
         "type": "value_error.const", "ctx": {"given": 2, "permitted": [0, 1]}},
        {"loc": ["body", "upscaling_resize"], "msg": "ensure this value is greater than 0",
         "type": "value_error.number.not_gt", "ctx": {"limit_value": 0}},
    ]
    answer = _post(fake_a1111, {"image": image, "upscaler_2": None})
    assert answer.status_code == 422 and answer.json()["detail"] == [
        {"loc": ["body", "upscaler_2"], "msg": "none is not an allowed value",
         "type": "type_error.none.not_allowed"}]


def test_fake_img2img_keeps_the_pixels_under_a_black_mask(fake_a1111):
    source = png_bytes(64, 64, noise=True, seed=5)
    mask = Image.new("L", (128, 64), 255)
    mask.paste(0, (0, 0, 56, 64))
    canvas = Image.new("RGB", (128, 64), (0, 0, 0))
    canvas.paste(_open(source), (0, 0))
    answer = requests.post(fake_a1111.url + "/sdapi/v1/img2img", timeout=10, json={
        "init_images": [_b64(canvas)], "mask": _b64(mask), "width": 128, "height": 64,
        "inpaint_full_res": False, "inpainting_fill": 2, "denoising_strength": 0.9,
        "mask_blur": 4, "steps": 2}).json()
    out = _open(base64.b64decode(answer["images"][0])).convert("RGB")
    assert out.size == (128, 64)
    # away from the blurred edge of the mask, the kept pixels are the source's own
    assert out.crop((0, 0, 40, 64)).tobytes() == _open(source).crop((0, 0, 40, 64)).tobytes()
    assert out.getpixel((120, 30)) != canvas.getpixel((120, 30))


def _b64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


# --- upscale --------------------------------------------------------------------------------------


def test_upscale_is_a_new_child_asset_with_the_sources_model_and_infotext(library, project,
                                                                          fake_a1111):
    source = _source(library, project, fake_a1111)
    request = GenerationRequest.from_params(
        Kind.upscale, project.id, {"upscaling_resize": 2, "upscaler_1": "R-ESRGAN 4x+",
                                   "upscaler_2": "Nearest", "upscaler_2_visibility": 0.25},
        parent=source, init_image=library.read_bytes(source))
    router = BackendRouter([_a1111(fake_a1111.url)], None)
    seen = []
    outcome = pipeline.run(request, router, library, on_progress=seen.append)
    (child,) = outcome.assets
    payload = fake_a1111.last_payload("/sdapi/v1/extra-single-image")
    assert payload == {"resize_mode": 0, "show_extras_results": True, "upscaling_resize": 2.0,
                       "upscaler_1": "R-ESRGAN 4x+", "upscaler_2": "Nearest",
                       "extras_upscaler_2_visibility": 0.25,
                       "image": base64.b64encode(library.read_bytes(source)).decode()}
    assert fake_a1111.unknown_keys == []
    assert child.kind == "upscale" and child.parentId == source.id
    assert (child.width, child.height) == (192, 128)
    assert child.model == source.model and child.model
    assert child.prompt == source.prompt and child.seed == source.seed == 4242
    assert child.backend == "a1111" and child.denoisingStrength is None
    post = ("Postprocess upscale by: 2.0, Postprocess upscaler: R-ESRGAN 4x+, "
            "Postprocess upscaler 2: Nearest")
    assert child.infotext == f"{source.infotext}, {post}"
    stored = library.path_of(child).read_bytes()
    text = metadata.read_png_text(stored)
    assert text["parameters"] == source.infotext and text["postprocessing"] == post
    assert _open(stored).size == (192, 128)
    assert metadata.parse_infotext(child.infotext).model == \
        metadata.parse_infotext(source.infotext).model
    lineage = library.lineage(source.id)
    assert [a.id for a, _depth in lineage.descendants] == [child.id]
    assert [a.id for a in library.lineage(child.id).ancestors] == [source.id]
    assert seen and seen[-1].fraction == 1.0
    assert fake_a1111.requests_to("/sdapi/v1/options", "POST") == []


def test_catalog_infotext_rule():
    assert catalog_infotext("p\nSteps: 1, Seed: 2, Size: 8x8", "Postprocess upscaler: X") == \
        "p\nSteps: 1, Seed: 2, Size: 8x8, Postprocess upscaler: X"
    assert catalog_infotext("p\nSteps: 1, Seed: 2, Size: 8x8", "") == \
        "p\nSteps: 1, Seed: 2, Size: 8x8"
    assert catalog_infotext(None, "Postprocess upscaler: X") is None


def test_unknown_upscaler_is_a_rejected_request_naming_the_choices(library, project, fake_a1111):
    source = _source(library, project, fake_a1111)
    request = GenerationRequest.from_params(Kind.upscale, project.id, {"upscaler_1": "Lanczos9"},
                                            parent=source, init_image=library.read_bytes(source))
    with pytest.raises(RequestRejected, match="no upscaler called 'Lanczos9'") as caught:
        pipeline.run(request, BackendRouter([_a1111(fake_a1111.url)], None), library)
    assert caught.value.exit_code == 4
    assert library.count_assets(project.id) == 1


def test_upscale_with_only_hugging_face_names_the_feature(library, project):
    with FakeHF(token="hf_testtoken123456") as fake_hf:
        parent_png = png_bytes(64, 64)
        source = library.add_image(project.id, parent_png, values={"prompt": "x"})
        request = GenerationRequest.from_params(Kind.upscale, project.id, {}, parent=source,
                                                init_image=parent_png)
        with pytest.raises(NoBackend, match="upscale") as caught:
            pipeline.run(request, BackendRouter([], _hf(fake_hf)), library)
        assert caught.value.exit_code == 3
        assert fake_hf.posts == []


def test_cancelled_upscale_stores_nothing_and_interrupts_the_upscale(library, project,
                                                                     fake_a1111):
    source = _source(library, project, fake_a1111)
    fake_a1111.upscale_time = 30
    request = GenerationRequest.from_params(Kind.upscale, project.id, {}, parent=source,
                                            init_image=library.read_bytes(source))
    token = CancelToken()
    errors = []

    def run():
        try:
            pipeline.run(request, BackendRouter([_a1111(fake_a1111.url)], None), library,
                         cancel=token)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    started = threading.Event()
    for _ in range(300):  # the upscale runs on the server (job "extras" on /progress)
        if fake_a1111._state.job == "extras":
            started.set()
            break
        threading.Event().wait(0.1)
    assert started.is_set()
    token.cancel()
    worker.join(30)
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], Cancelled)
    assert fake_a1111.interrupts == 1
    assert library.count_assets(project.id) == 1
    fake_a1111.stop()  # ends the upscale that still runs there


# --- outpaint -------------------------------------------------------------------------------------


def test_outpaint_sends_the_canvas_and_mask_and_stores_a_larger_child(library, project,
                                                                      fake_a1111):
    source = _source(library, project, fake_a1111, 64, 64)
    request = GenerationRequest.from_params(Kind.outpaint, project.id,
                                            {"expand_right": 64, "prompt": "more sea"},
                                            parent=source, init_image=library.read_bytes(source))
    outcome = pipeline.run(request, BackendRouter([_a1111(fake_a1111.url)], None), library)
    (child,) = outcome.assets
    payload = fake_a1111.last_payload("/sdapi/v1/img2img")
    assert (payload["width"], payload["height"]) == (128, 64)
    assert payload["inpaint_full_res"] is False
    assert payload["inpainting_fill"] == 2 and payload["denoising_strength"] == 0.9
    assert payload["mask_blur"] == 4 and payload["inpainting_mask_invert"] == 0
    assert payload["prompt"] == "more sea"
    assert None not in payload.values()
    assert fake_a1111.unknown_keys == []
    canvas = _open(base64.b64decode(payload["init_images"][0]))
    mask = _open(base64.b64decode(payload["mask"]))
    assert canvas.size == mask.size == (128, 64)
    assert mask.getpixel((100, 10)) == 255 and mask.getpixel((10, 10)) == 0
    assert child.kind == "outpaint" and child.parentId == source.id
    assert (child.width, child.height) == (128, 64)
    assert child.denoisingStrength == 0.9
    with Image.open(library.mask_path_of(child)) as stored_mask:
        assert stored_mask.size == (128, 64)
    out = _open(library.read_bytes(child)).convert("RGB")
    original = _open(library.read_bytes(source)).convert("RGB")
    assert out.crop((0, 0, 40, 64)).tobytes() == original.crop((0, 0, 40, 64)).tobytes()
    assert [a.id for a in library.lineage(child.id).ancestors] == [source.id]


def test_outpaint_on_hugging_face_is_approximate_inpainting(library, project):
    with FakeHF(token="hf_testtoken123456") as fake_hf:
        parent_png = png_bytes(64, 64, noise=True, seed=9)
        source = library.add_image(project.id, parent_png, values={"prompt": "a field"})
        request = GenerationRequest.from_params(Kind.outpaint, project.id,
                                                {"expand_left": 32, "expand_top": 16},
                                                parent=source, init_image=parent_png)
        outcome = pipeline.run(request, BackendRouter([], _hf(fake_hf)), library)
    (child,) = outcome.assets
    assert child.kind == "outpaint" and child.approximate and child.backend == "hf"
    assert (child.width, child.height) == (96, 80)
    out = _open(library.read_bytes(child)).convert("RGB")
    # away from the seam and the blur of the mask's edge, the picture is kept as it was
    kept = out.crop((32 + 24, 16 + 24, 96, 80)).tobytes()
    assert kept == _open(parent_png).convert("RGB").crop((24, 24, 64, 64)).tobytes()


# --- through the durable queue --------------------------------------------------------------------


def test_upscale_and_outpaint_run_through_the_job_queue(library, project, fake_a1111):
    source = _source(library, project, fake_a1111)
    router = BackendRouter([_a1111(fake_a1111.url)], None)
    image = library.read_bytes(source)
    upscale = GenerationRequest.from_params(Kind.upscale, project.id, {"upscaling_resize": 1.5},
                                            parent=source, init_image=image)
    outcome = submit_and_wait(library, router, upscale)
    (up,) = outcome.assets
    assert (up.kind, up.parentId, up.width, up.height) == ("upscale", source.id, 144, 96)
    assert fake_a1111.last_payload("/sdapi/v1/extra-single-image")["upscaling_resize"] == 1.5
    outpaint = GenerationRequest.from_params(Kind.outpaint, project.id,
                                             {"expand_bottom": 16, "seed": 77}, parent=source,
                                             init_image=image)
    (out,) = submit_and_wait(library, router, outpaint).assets
    assert (out.kind, out.parentId, out.width, out.height) == ("outpaint", source.id, 96, 80)
    assert out.seed == 77
    queue = JobQueue(library.db_path)
    try:
        jobs = queue.list()
    finally:
        queue.close()
    assert sorted((j.kind, j.state) for j in jobs) == [("outpaint", "done"), ("upscale", "done")]
    assert {j.request["kind"] for j in jobs} == {"upscale", "outpaint"}


def test_a_rebuilt_catalog_knows_an_upscale_by_its_postprocessing_chunk(tmp_path, fake_a1111):
    root = tmp_path / "lib"
    library = Library.open(root)
    project = library.create_project("Ops")
    source = _source(library, project, fake_a1111)
    request = GenerationRequest.from_params(Kind.upscale, project.id, {}, parent=source,
                                            init_image=library.read_bytes(source))
    (child,) = pipeline.run(request, BackendRouter([_a1111(fake_a1111.url)], None),
                            library).assets
    library.close()
    rebuilt, _report = Library.rebuild(root)
    try:
        again = rebuilt.get_asset(child.id)
        assert (again.kind, again.parentId, again.width) == ("upscale", source.id, 192)
        assert rebuilt.get_asset(source.id).kind == "txt2img"
    finally:
        rebuilt.close()


@pytest.mark.parametrize("failure, error, words", [
    ("garbage", BadServerResponse, "not JSON"),
    ("drop", ConnectionDropped, "closed|dropped|connection|Connection"),
    ("error", ServerFailed, "TypeError"),
    ("oom", OutOfMemory, "GPU memory"),
    ("endless", BadServerResponse, "MiB"),
])
def test_a_failing_upscale_stores_nothing_and_says_why(library, project, fake_a1111, failure,
                                                       error, words):
    source = _source(library, project, fake_a1111)
    fake_a1111.route_failures["extra-single-image"] = failure
    request = GenerationRequest.from_params(Kind.upscale, project.id, {}, parent=source,
                                            init_image=library.read_bytes(source))
    client = _a1111(fake_a1111.url, max_response_bytes=4 * 2**20)
    with pytest.raises(error, match=words):
        pipeline.run(request, BackendRouter([client], None), library)
    assert library.count_assets(project.id) == 1


def test_upscale_sends_the_servers_credentials(library, project, fake_a1111):
    source = _source(library, project, fake_a1111)
    fake_a1111.auth = "alice:secret"
    request = GenerationRequest.from_params(Kind.upscale, project.id, {}, parent=source,
                                            init_image=library.read_bytes(source))
    with pytest.raises(AuthenticationFailed):
        pipeline.run(request, BackendRouter([_a1111(fake_a1111.url)], None), library)
    router = BackendRouter([_a1111(fake_a1111.url, auth=("alice", "secret"))], None)
    (child,) = pipeline.run(request, router, library).assets
    assert child.kind == "upscale"
