"""The art API (`dlx-art serve`), in-process under real uvicorn, driven over real HTTP."""

from __future__ import annotations

import base64
import io
import json
import os
import time
from pathlib import Path

import pytest
import requests
from PIL import Image

from dlx_art.config import load_context
from dlx_art.library.jobs import JobQueue
from dlx_art.library.service import Library
from dlx_art.service import create_app
from tests.support.service import TIMEOUT, Service, client, raw_get, until, wait_job

pytestmark = pytest.mark.integration
TOKEN = "test-token-0123456789"


@pytest.fixture
def library(isolated_home, monkeypatch, fake_a1111):
    monkeypatch.setenv("DLX_ART_A1111_URL", fake_a1111.url)
    lib = Library.open(load_context().storage_root)
    lib.create_project("Gen")
    yield lib
    lib.close()


def _start(library, **kw):
    context = load_context()
    app = create_app(context, token=TOKEN, library=library, **kw)
    return Service(app).start()


@pytest.fixture
def service(library):
    svc = _start(library)
    yield svc
    svc.stop()


@pytest.fixture
def http():
    return client(TOKEN)


def _generate(http, service, wait=False, **fields):
    body = {"projectName": "Gen", "prompt": "a fox", "width": 64, "height": 64, "steps": 4}
    body.update(fields)
    return http.post(f"{service.url}/api/art/generate", params={"wait": "true"} if wait else {},
                     json=body, timeout=TIMEOUT)


def test_generate_without_wait_queues_a_job_that_the_service_runs(service, http, library):
    response = _generate(http, service, batch=2)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["Location"] == f"/api/art/jobs/{job['id']}"
    assert job["origin"] == "service" and job["state"] in ("queued", "running")
    assert job["request"]["seed"] >= 0  # resolved when queued: a re-run makes the same image
    done = wait_job(http, service.url, job["id"])
    assert done["state"] == "done", done
    assert len(done["resultAssetIds"]) == 2
    assets = library.get_assets(done["resultAssetIds"])
    assert [a.seed for a in assets] == [job["request"]["seed"], job["request"]["seed"] + 1]
    assert all(library.path_of(a).is_file() for a in assets)
    listed = http.get(f"{service.url}/api/art/jobs", timeout=TIMEOUT).json()
    assert [j["id"] for j in listed] == [job["id"]]


def test_generate_with_wait_answers_assets_with_urls_served_with_etag_and_range(
        service, http, library):
    response = _generate(http, service, wait=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"assets", "backend", "fallbackReason"}
    assert body["backend"] == "a1111" and body["fallbackReason"] is None
    (asset,) = body["assets"]
    project = library.get_project("Gen")
    file_name = Path(asset["filePath"]).name
    assert asset["url"] == f"/static/projects/{project.folder}/Assets/Images/{file_name}"
    assert asset["prompt"] == "a fox" and asset["projectId"] == project.id

    data = library.path_of(library.get_asset(asset["id"])).read_bytes()
    image = http.get(service.url + asset["url"], timeout=TIMEOUT)
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/png"
    assert image.content == data
    tag = image.headers["ETag"]
    again = http.get(service.url + asset["url"], headers={"If-None-Match": tag}, timeout=TIMEOUT)
    assert again.status_code == 304 and not again.content
    part = http.get(service.url + asset["url"], headers={"Range": "bytes=8-23"}, timeout=TIMEOUT)
    assert part.status_code == 206
    assert part.content == data[8:24]
    assert part.headers["Content-Range"] == f"bytes 8-23/{len(data)}"
    tail = http.get(service.url + asset["url"], headers={"Range": "bytes=-5"}, timeout=TIMEOUT)
    assert tail.status_code == 206 and tail.content == data[-5:]
    beyond = http.get(service.url + asset["url"], headers={"Range": f"bytes={len(data)}-"},
                      timeout=TIMEOUT)
    assert beyond.status_code == 416

    shown = http.get(f"{service.url}/api/assets/{asset['id']}", timeout=TIMEOUT).json()
    assert shown["url"] == asset["url"] and shown["lineage"] == {"ancestors": [],
                                                                 "descendants": []}


def _mask(size: tuple[int, int]) -> str:
    mask = Image.new("L", size, 0)
    mask.paste(255, (16, 16, 48, 48))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_refine_with_a_mask_inpaints_a_child_with_lineage(service, http, library, fake_a1111):
    parent = _generate(http, service, wait=True).json()["assets"][0]
    response = http.post(f"{service.url}/api/art/refine", params={"wait": "true"},
                         json={"parentId": parent["id"], "maskPng": _mask((64, 64)),
                               "denoisingStrength": 0.5, "inpaintArea": "masked"},
                         timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    (child,) = response.json()["assets"]
    assert child["parentId"] == parent["id"] and child["kind"] == "inpaint"
    assert child["maskPath"].startswith("Projects/Gen/Assets/Masks/")
    payload = fake_a1111.last_payload("img2img")
    assert payload["mask"] and payload["inpaint_full_res"] is True
    assert payload["denoising_strength"] == 0.5
    lineage = http.get(f"{service.url}/api/assets/{parent['id']}", timeout=TIMEOUT).json()
    assert [d["id"] for d in lineage["lineage"]["descendants"]] == [child["id"]]

    wrong = http.post(f"{service.url}/api/art/refine",
                      json={"parentId": parent["id"], "maskPng": _mask((32, 32))},
                      timeout=TIMEOUT)
    assert wrong.status_code == 422 and "mask" in wrong.json()["message"]
    garbage = http.post(f"{service.url}/api/art/refine",
                        json={"parentId": parent["id"], "maskPng": "not base64!"},
                        timeout=TIMEOUT)
    assert garbage.status_code == 422


def test_cancel_stops_the_job_on_the_server_and_stores_nothing(service, http, library,
                                                                fake_a1111):
    fake_a1111.step_time = 0.05
    job = _generate(http, service, steps=400).json()
    until(lambda: fake_a1111.jobs, message="the job to reach the server")
    response = http.delete(f"{service.url}/api/art/jobs/{job['id']}", timeout=TIMEOUT)
    assert response.status_code in (200, 202)
    done = wait_job(http, service.url, job["id"])
    assert done["state"] == "cancelled" and done["cancelRequested"]
    until(lambda: fake_a1111.interrupts >= 1, message="the interrupt")
    assert library.count_assets(None) == 0

    retried = http.post(f"{service.url}/api/art/jobs/{job['id']}/retry", timeout=TIMEOUT)
    assert retried.status_code == 202
    again = retried.json()
    assert again["id"] != job["id"] and again["request"]["seed"] == job["request"]["seed"]
    http.delete(f"{service.url}/api/art/jobs/{again['id']}", timeout=TIMEOUT)
    assert wait_job(http, service.url, again["id"])["state"] == "cancelled"

    queued = JobQueue(library.db_path).enqueue("txt2img", {"projectId": "x"},
                                               project_id=None, origin="cli")
    # a waiting job is cancelled at once, whoever queued it
    gone = http.delete(f"{service.url}/api/art/jobs/{queued.id}", timeout=TIMEOUT).json()
    assert gone["state"] == "cancelled"


def test_wait_on_a_cancelled_job_is_409(service, http, library, fake_a1111):
    fake_a1111.step_time = 0.05
    result: dict[str, requests.Response] = {}

    import threading

    waiter = threading.Thread(target=lambda: result.update(
        r=_generate(http, service, wait=True, steps=400)))
    waiter.start()
    until(lambda: fake_a1111.jobs, message="the job to reach the server")
    (job,) = http.get(f"{service.url}/api/art/jobs", timeout=TIMEOUT).json()
    http.delete(f"{service.url}/api/art/jobs/{job['id']}", timeout=TIMEOUT)
    waiter.join(TIMEOUT)
    assert result["r"].status_code == 409
    assert result["r"].json()["error"] == "Cancelled"


def test_progress_as_server_sent_events(service, http, fake_a1111):
    fake_a1111.step_time = 0.05
    job = _generate(http, service, steps=80).json()
    events = []
    with http.get(f"{service.url}/api/art/jobs/{job['id']}/events", stream=True,
                  timeout=TIMEOUT) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        kind = None
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    kinds = [k for k, _ in events]
    assert kinds[-1] == "done" and events[-1][1]["progress"] == 1.0
    progress = [e["progress"] for k, e in events if k == "progress"]
    assert any(0.0 < p < 1.0 for p in progress), events


@pytest.mark.parametrize("path", [
    "/static/projects/../library.sqlite3",
    "/static/projects/Gen/../../library.sqlite3",
    "/static/projects/%2e%2e/library.sqlite3",
    "/static/projects/Gen/Assets/%2e%2e/%2e%2e/%2e%2e/library.sqlite3",
    "/static/projects/Gen/Assets/..%2f..%2f..%2flibrary.sqlite3",
    "/static/projects/Gen/Assets/%2E%2E%2F%2E%2E%2Fproject.json",
    "/static/projects//etc/passwd",
    "/static/projects/%2fetc%2fpasswd",
    "/static/projects/Gen/Assets//etc/passwd",
    "/static/projects/Gen/Assets/Images/..\\..\\project.json",
    "/static/projects/Gen/project.json",
    "/static/projects/Gen/Assets/Images",
    "/static/projects/Gen/Assets/Images/missing.png",
    "/static/projects/Gen/Assets/Images/x.png%00.txt",
    "/static/projects/C:/Windows/win.ini",
])
def test_static_refuses_everything_outside_the_assets_folders(service, path):
    status, body = raw_get(service.port, path, {"Authorization": f"Bearer {TOKEN}"})
    assert status in (404, 400), (status, body)
    assert b"SQLite format" not in body and b"root:" not in body


def test_static_refuses_symlinks_leaving_the_folder(service, http, library, tmp_path):
    images = library.root / "Projects" / "Gen" / "Assets" / "Images"
    images.mkdir(parents=True, exist_ok=True)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    (images / "link.png").symlink_to(secret)
    (images / "catalog.png").symlink_to(library.db_path)
    outside = tmp_path / "Elsewhere"
    (outside / "Assets" / "Images").mkdir(parents=True)
    (outside / "Assets" / "Images" / "a.png").write_bytes(b"\x89PNG elsewhere")
    (library.root / "Projects" / "Linked").symlink_to(outside)
    (library.root / "Projects" / "Gen" / "Assets" / "Up").symlink_to(library.root)
    for path in ("Gen/Assets/Images/link.png", "Gen/Assets/Images/catalog.png",
                 "Linked/Assets/Images/a.png", "Gen/Assets/Up/library.sqlite3"):
        response = http.get(f"{service.url}/static/projects/{path}", timeout=TIMEOUT)
        assert response.status_code == 404, path
        assert b"secret" not in response.content and b"SQLite" not in response.content


def test_token_is_required_and_checked(service):
    url = f"{service.url}/api/projects"
    assert requests.get(url, timeout=TIMEOUT).status_code == 401
    wrong = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=TIMEOUT)
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
    basic = requests.get(url, headers={"Authorization": f"Basic {TOKEN}"}, timeout=TIMEOUT)
    assert basic.status_code == 401
    for path in ("/static/projects/Gen/Assets/Images/x.png", "/api/art/jobs"):
        assert requests.get(service.url + path, timeout=TIMEOUT).status_code == 401
    assert requests.post(f"{service.url}/api/art/generate", json={}, timeout=TIMEOUT) \
        .status_code == 401
    # the description of the API is public (it holds nothing of the library)
    assert requests.get(f"{service.url}/openapi.json", timeout=TIMEOUT).status_code == 200


def test_a_foreign_host_is_refused_even_with_the_token(service):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for host in ("evil.example", f"evil.example:{service.port}", "127.0.0.1.evil.example",
                 "localhost.evil.example:80", ""):
        status, _ = raw_get(service.port, "/api/projects", {**auth, "Host": host})
        assert status in (400, 421), host
    for host in (f"127.0.0.1:{service.port}", f"localhost:{service.port}", "localhost"):
        status, _ = raw_get(service.port, "/api/projects", {**auth, "Host": host})
        assert status == 200, host


def test_no_cors_unless_configured(service, http, library):
    response = http.get(f"{service.url}/api/projects", headers={"Origin": "https://x.example"},
                        timeout=TIMEOUT)
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = requests.options(f"{service.url}/api/projects", timeout=TIMEOUT, headers={
        "Origin": "https://x.example", "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_cors_for_configured_origins_only(library):
    svc = _start(library, cors_origins=["https://video.example"])
    try:
        ok = client(TOKEN).get(f"{svc.url}/api/projects", timeout=TIMEOUT,
                               headers={"Origin": "https://video.example"})
        assert ok.headers["Access-Control-Allow-Origin"] == "https://video.example"
        other = client(TOKEN).get(f"{svc.url}/api/projects", timeout=TIMEOUT,
                                  headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
    finally:
        svc.stop()


def test_request_bodies_are_bounded(library):
    svc = _start(library, max_body=4096)
    try:
        http = client(TOKEN)
        big = http.post(f"{svc.url}/api/art/generate", timeout=TIMEOUT,
                        json={"projectName": "Gen", "prompt": "x" * 10_000})
        assert big.status_code == 413

        def chunks():
            for _ in range(10):
                yield b"x" * 1000

        streamed = http.post(f"{svc.url}/api/art/generate", data=chunks(), timeout=TIMEOUT,
                             headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        assert library.count_assets(None) == 0
        assert JobQueue(library.db_path).list() == []
    finally:
        svc.stop()


def test_errors_are_json_with_the_command_line_meanings(service, http, library, fake_a1111,
                                                        monkeypatch):
    unknown = _generate(http, service, projectName="Nope")
    assert unknown.status_code == 404 and unknown.json()["error"] == "NotFound"
    assert http.get(f"{service.url}/api/art/jobs/nope", timeout=TIMEOUT).status_code == 404
    assert http.get(f"{service.url}/api/assets/nope", timeout=TIMEOUT).status_code == 404
    assert http.get(f"{service.url}/api/projects/nope/assets", timeout=TIMEOUT) \
        .status_code == 404
    for bad in ({"width": 65}, {"cfgScale": "nan"}, {"seed": 2**40}, {"steps": 0},
                {"prompt": ""}, {"surprise": 1}):
        response = _generate(http, service, **bad)
        assert response.status_code == 422, bad
        assert response.json()["message"].startswith("Invalid request")
    both = _generate(http, service, projectId=library.get_project("Gen").id)
    assert both.status_code == 422
    not_json = http.post(f"{service.url}/api/art/generate", data=b"{", timeout=TIMEOUT,
                         headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422

    fake_a1111.stop()  # no backend at all: 503, as the command line's exit code 3
    failed = _generate(http, service, wait=True)
    assert failed.status_code == 503, failed.text
    assert failed.json()["job"]["state"] == "failed"


def test_projects_and_assets_are_paged_newest_first(service, http, library):
    from tests.support.images import png_bytes

    project = library.get_project("Gen")
    ids = [library.add_image(project.id, png_bytes(color=(i, 0, 0)),
                             values={"prompt": f"red {i}" if i % 2 else f"blue {i}"}).id
           for i in range(5)]
    library.set_favorite(ids[0])
    (listed,) = http.get(f"{service.url}/api/projects", timeout=TIMEOUT).json()
    assert listed["id"] == project.id and listed["assetCount"] == 5
    page = http.get(f"{service.url}/api/projects/{project.id}/assets",
                    params={"limit": 2, "offset": 1}, timeout=TIMEOUT).json()
    assert page["total"] == 5 and [a["id"] for a in page["assets"]] == ids[::-1][1:3]
    assert all(a["url"].startswith("/static/projects/Gen/Assets/Images/") for a in page["assets"])
    found = http.get(f"{service.url}/api/projects/{project.id}/assets",
                     params={"search": "red"}, timeout=TIMEOUT).json()
    assert sorted(a["id"] for a in found["assets"]) == sorted([ids[1], ids[3]])
    favs = http.get(f"{service.url}/api/projects/{project.id}/assets",
                    params={"favorites": "true"}, timeout=TIMEOUT).json()
    assert [a["id"] for a in favs["assets"]] == [ids[0]]


def test_token_file_is_created_owner_only(isolated_home):
    from dlx_art.service.security import load_token

    context = load_context()
    token = load_token(context.paths.config_dir)
    path = context.paths.config_dir / "service-token"
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600
    assert len(token) >= 32 and load_token(context.paths.config_dir) == token


def test_a_non_loopback_bind_is_refused_unless_asked(isolated_home):
    from dlx_art.errors import UsageError
    from dlx_art.service.security import check_bind

    for host in ("0.0.0.0", "192.168.1.5", "::", "example.com"):
        with pytest.raises(UsageError, match="allow-remote"):
            check_bind(host, allow_remote=False)
        check_bind(host, allow_remote=True)
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        check_bind(host, allow_remote=False)


def test_stopping_the_service_cancels_the_running_job_and_records_it(library, http,
                                                                       fake_a1111):
    svc = _start(library)
    fake_a1111.step_time = 0.05
    job = _generate(http, svc, steps=400).json()
    until(lambda: fake_a1111.jobs, message="the job to reach the server")
    started = time.monotonic()
    svc.server.handle_exit(2, None)  # what SIGINT does
    svc.app.state.service.stop_jobs()
    svc.stop()
    assert time.monotonic() - started < TIMEOUT
    row = JobQueue(library.db_path).get(job["id"])
    assert row.state == "cancelled"
    until(lambda: fake_a1111.interrupts >= 1, message="the interrupt")
    assert library.count_assets(None) == 0


# --- issue 12: A1111 toolbox fields ------------------------------------------------------------


def test_generate_takes_the_a1111_toolbox_fields(service, http, library, fake_a1111):
    response = _generate(http, service, wait=True, seed=42, negative="blurry",
                         styles=["Cinematic"], enableHr=True, hrScale=1.5,
                         hrUpscaler="Latent (bicubic)", hrSecondPassSteps=2,
                         denoisingStrength=0.4, subseed=777, subseedStrength=0.3,
                         batchCount=2, batchSize=2, model="dreamshaper_8")
    assert response.status_code == 200, response.text
    body = fake_a1111.last_payload("txt2img")
    expected = {"styles": ["Cinematic"], "enable_hr": True, "hr_scale": 1.5,
                "hr_upscaler": "Latent (bicubic)", "hr_second_pass_steps": 2,
                "denoising_strength": 0.4, "subseed": 777, "subseed_strength": 0.3,
                "n_iter": 2, "batch_size": 2, "seed": 42,
                "override_settings": {
                    "sd_model_checkpoint": "dreamshaper_8.safetensors [879db523c3]"},
                "override_settings_restore_afterwards": True}
    assert {key: body[key] for key in expected} == expected
    answer = response.json()
    assert answer["model"] == "dreamshaper_8"
    assets = answer["assets"]
    assert len(assets) == 4 and all((a["width"], a["height"]) == (96, 96) for a in assets)
    assert all(a["model"] == "dreamshaper_8" for a in assets)
    assert "Variation seed: 777" in assets[0]["infotext"]
    assert fake_a1111.requests_to("options", "POST") == []


def test_generate_toolbox_fields_are_checked(service, http, fake_a1111):
    for fields in ({"hrScale": 0.5}, {"subseedStrength": 2}, {"styles": "Cinematic"},
                   {"batchCount": 0}, {"hrSecondPassSteps": -1}):
        response = _generate(http, service, **fields)
        assert response.status_code == 422, (fields, response.text)
    both = _generate(http, service, batch=2, batchCount=3)
    assert both.status_code == 422 and "batchCount" in both.json()["message"]
    too_many = _generate(http, service, batchCount=20, batchSize=20)
    assert too_many.status_code == 422 and "number of images" in too_many.json()["message"]
    unknown = _generate(http, service, wait=True, styles=["Noir"])
    assert unknown.status_code == 422 and "no style called 'Noir'" in unknown.json()["message"]
    assert fake_a1111.requests_to("txt2img") == []


def test_batch_and_batch_count_agree(service, http, fake_a1111):
    response = _generate(http, service, wait=True, batch=2, batchCount=2)
    assert response.status_code == 200, response.text
    assert fake_a1111.last_payload("txt2img")["n_iter"] == 2
    assert len(response.json()["assets"]) == 2
