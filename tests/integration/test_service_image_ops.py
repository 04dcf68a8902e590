"""`POST /api/art/upscale` and `POST /api/art/outpaint` under real uvicorn, over real HTTP, with
the fake A1111 behind: 202 + Location, `?wait=true`, lineage, and errors as the other routes."""

from __future__ import annotations

import pytest

from dlx_art.config import load_context
from dlx_art.library.service import Library
from dlx_art.service import create_app
from tests.integration.test_service import TOKEN, _generate
from tests.support.service import TIMEOUT, Service, client, until, wait_job

pytestmark = pytest.mark.integration


@pytest.fixture
def library(isolated_home, monkeypatch, fake_a1111):
    monkeypatch.setenv("DLX_ART_A1111_URL", fake_a1111.url)
    lib = Library.open(load_context().storage_root)
    lib.create_project("Gen")
    yield lib
    lib.close()


@pytest.fixture
def service(library):
    svc = Service(create_app(load_context(), token=TOKEN, library=library)).start()
    yield svc
    svc.stop()


@pytest.fixture
def http():
    return client(TOKEN)


def test_upscale_queues_a_job_whose_child_shows_in_the_lineage(service, http, library,
                                                               fake_a1111):
    parent = _generate(http, service, wait=True, width=96, height=64).json()["assets"][0]
    response = http.post(f"{service.url}/api/art/upscale",
                         json={"parentId": parent["id"], "scale": 2, "upscaler": "ESRGAN_4x"},
                         timeout=TIMEOUT)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"] == f"/api/art/jobs/{job['id']}"
    assert job["kind"] == "upscale" and job["origin"] == "service"
    assert job["request"]["upscaler1"] == "ESRGAN_4x"
    done = wait_job(http, service.url, job["id"])
    assert done["state"] == "done", done
    (child,) = library.get_assets(done["resultAssetIds"])
    assert (child.kind, child.parentId, child.width, child.height) == (
        "upscale", parent["id"], 192, 128)
    assert child.model == parent["model"]
    payload = fake_a1111.last_payload("/sdapi/v1/extra-single-image")
    assert (payload["upscaling_resize"], payload["upscaler_1"]) == (2.0, "ESRGAN_4x")
    shown = http.get(f"{service.url}/api/assets/{parent['id']}", timeout=TIMEOUT).json()
    assert [d["id"] for d in shown["lineage"]["descendants"]] == [child.id]

    waited = http.post(f"{service.url}/api/art/upscale", params={"wait": "true"},
                       json={"parentId": parent["id"], "scale": 1.5, "upscaler2": "Nearest",
                             "upscaler2Visibility": 0.5}, timeout=TIMEOUT)
    assert waited.status_code == 200, waited.text
    (asset,) = waited.json()["assets"]
    assert asset["kind"] == "upscale" and (asset["width"], asset["height"]) == (144, 96)
    assert asset["url"].startswith("/static/projects/")
    assert asset["infotext"].endswith("Postprocess upscaler 2: Nearest")


def test_outpaint_with_wait_answers_the_larger_child(service, http, library, fake_a1111):
    parent = _generate(http, service, wait=True).json()["assets"][0]
    response = http.post(f"{service.url}/api/art/outpaint", params={"wait": "true"},
                         json={"parentId": parent["id"], "right": 64, "top": 32,
                               "prompt": "a wider view", "denoisingStrength": 0.85,
                               "seed": 9, "steps": 3}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    (child,) = response.json()["assets"]
    assert (child["kind"], child["parentId"], child["width"], child["height"]) == (
        "outpaint", parent["id"], 128, 96)
    assert child["prompt"] == "a wider view" and child["seed"] == 9
    assert child["denoisingStrength"] == 0.85 and child["maskPath"]
    payload = fake_a1111.last_payload("/sdapi/v1/img2img")
    assert (payload["width"], payload["height"], payload["inpaint_full_res"],
            payload["inpainting_fill"], payload["steps"]) == (128, 96, False, 2, 3)


def test_bad_bodies_and_failures_answer_like_the_other_routes(service, http, library,
                                                              fake_a1111):
    parent = _generate(http, service, wait=True).json()["assets"][0]

    def post(route, body, **params):
        return http.post(f"{service.url}/api/art/{route}", params=params, json=body,
                         timeout=TIMEOUT)

    for route, body in (("outpaint", {"parentId": parent["id"], "right": 60}),
                        ("outpaint", {"parentId": parent["id"], "left": -8}),
                        ("outpaint", {"parentId": parent["id"], "right": 8, "sides": 1}),
                        ("upscale", {"parentId": parent["id"], "scale": 0}),
                        ("upscale", {"parentId": parent["id"], "scale": 9}),
                        ("upscale", {"parentId": parent["id"], "upscaler2Visibility": 2}),
                        ("upscale", {"scale": 2})):
        assert post(route, body).status_code == 422, (route, body)
    none = post("outpaint", {"parentId": parent["id"]})
    assert none.status_code == 422 and "at least one side" in none.json()["message"]
    alone = post("upscale", {"parentId": parent["id"], "upscaler2": "Nearest"})
    assert alone.status_code == 422 and "go together" in alone.json()["message"]
    missing = post("upscale", {"parentId": "no-such-id"})
    assert missing.status_code == 404
    unknown = post("upscale", {"parentId": parent["id"], "upscaler": "Lanczos9"}, wait="true")
    assert unknown.status_code == 422, unknown.text
    assert "no upscaler called 'Lanczos9'" in unknown.json()["message"]
    assert unknown.json()["exitCode"] == 4
    assert library.count_assets(None) == 1


def test_a_running_upscale_can_be_cancelled(service, http, library, fake_a1111):
    parent = _generate(http, service, wait=True).json()["assets"][0]
    fake_a1111.upscale_time = 60
    job = http.post(f"{service.url}/api/art/upscale", json={"parentId": parent["id"]},
                    timeout=TIMEOUT).json()
    until(lambda: fake_a1111._state.job == "extras", message="the upscale to run")
    response = http.delete(f"{service.url}/api/art/jobs/{job['id']}", timeout=TIMEOUT)
    assert response.status_code in (200, 202)
    done = wait_job(http, service.url, job["id"])
    assert done["state"] == "cancelled"
    until(lambda: fake_a1111.interrupts >= 1, message="the interrupt")
    assert library.count_assets(None) == 1
