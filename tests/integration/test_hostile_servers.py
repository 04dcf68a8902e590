"""Servers that answer badly on purpose: dripping, endless, huge or absurdly nested answers, odd
seeds. Every case ends in a clear error within the job's deadline, with memory bounded and
nothing stored (real HTTP on loopback against tests/fakes)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlx_art.errors import BadServerResponse, ConnectionDropped
from dlx_art.generation import pipeline
from dlx_art.generation.a1111 import A1111Client
from dlx_art.generation.router import BackendRouter
from dlx_art.generation.types import GenerationRequest
from dlx_art.library import metadata
from dlx_art.library.service import Library

pytestmark = pytest.mark.integration

# Generous guards: the deadlines below are 2 s; a loaded machine may add a lot, never minutes.
GUARD = 30.0


@pytest.fixture
def library(tmp_path):
    lib = Library.open(tmp_path / "root")
    yield lib
    lib.close()


def request(project_id: str = "p1", **kwargs) -> GenerationRequest:
    values = {"project_id": project_id, "prompt": "a red fox", "width": 64, "height": 64,
              "steps": 2}
    values.update(kwargs)
    return GenerationRequest(**values)


def stored_files(library: Library) -> list[Path]:
    return [p for p in (library.root / "Projects").rglob("*") if p.is_file()
            and p.name != "project.json"]


def run_job(fake, library, **client_kwargs):
    project = library.create_project("Hostile")
    client = A1111Client(fake.url, poll_interval=0.05, **client_kwargs)
    router = BackendRouter([client], None, fallback=False)
    try:
        return pipeline.run(request(project.id), router, library), project
    finally:
        client.close()


@pytest.mark.parametrize("kind", ["drip", "endless"])
def test_a_dripping_or_endless_answer_ends_at_the_job_deadline(fake_a1111, library, kind):
    fake_a1111.failure = kind
    fake_a1111.drip_delay = 0.5
    started = time.monotonic()
    # the endless body is cut by the size cap or the deadline, whichever comes first
    with pytest.raises((ConnectionDropped, BadServerResponse)) as caught:
        run_job(fake_a1111, library, read_timeout=2.0, max_response_bytes=8 * 2**20)
    elapsed = time.monotonic() - started
    assert elapsed < GUARD
    message = caught.value.user_message
    assert "within 2 s" in message or "larger than 8 MiB" in message
    assert library.count_assets(library.get_project("Hostile").id) == 0
    assert stored_files(library) == []


def test_a_drip_is_cut_by_the_deadline_not_by_a_read_timeout(fake_a1111, library):
    fake_a1111.failure = "drip"
    fake_a1111.drip_delay = 0.2  # a byte every 0.2 s: no single read ever times out
    started = time.monotonic()
    with pytest.raises(ConnectionDropped, match="within 2 s"):
        run_job(fake_a1111, library, read_timeout=2.0)
    assert 1.5 < time.monotonic() - started < GUARD
    sent = fake_a1111.hostile_bytes_sent
    time.sleep(1.0)
    assert fake_a1111.hostile_bytes_sent <= sent + 2  # the client hung up: the drip stopped


def test_an_endless_answer_is_cut_at_the_size_limit(fake_a1111, library):
    fake_a1111.failure = "endless"
    with pytest.raises(BadServerResponse, match="larger than 4 MiB"):
        run_job(fake_a1111, library, read_timeout=60.0, max_response_bytes=4 * 2**20)
    # what was read is bounded by the cap (plus what sat in socket buffers)
    assert fake_a1111.hostile_bytes_sent < 64 * 2**20
    assert stored_files(library) == []


def test_a_huge_declared_answer_is_refused_without_reading_it(fake_a1111, library):
    fake_a1111.failure = "huge-json"  # Content-Length 1 GiB, far over the 512 MiB default
    started = time.monotonic()
    with pytest.raises(BadServerResponse, match="larger than 512 MiB"):
        run_job(fake_a1111, library, read_timeout=60.0)
    assert time.monotonic() - started < GUARD
    assert fake_a1111.hostile_bytes_sent < 256 * 2**20
    assert stored_files(library) == []


def test_deeply_nested_json_is_a_bad_answer_not_a_crash(fake_a1111, library):
    fake_a1111.failure = "deep-json"
    with pytest.raises(BadServerResponse, match="nested too deeply"):
        run_job(fake_a1111, library)
    assert stored_files(library) == []


@pytest.mark.parametrize("route, kind, error", [
    ("sd-models", "huge-json", "larger than"),
    ("sd-models", "deep-json", "nested too deeply"),
    ("samplers", "endless", "larger than|within"),
    ("sd-models", "drip", "within"),
])
def test_other_calls_are_bounded_too(fake_a1111, route, kind, error):
    fake_a1111.route_failures[route] = kind
    fake_a1111.drip_delay = 0.3
    client = A1111Client(fake_a1111.url, read_timeout=2.0)
    started = time.monotonic()
    with pytest.raises((BadServerResponse, ConnectionDropped), match=error):
        if route == "samplers":
            client.samplers()
        else:
            client.models()
    assert time.monotonic() - started < GUARD
    client.close()


@pytest.mark.parametrize("seeds", [
    [2**40, -5, "x", math.nan],
    [2**70, None, 1.5, True],
    [-1, 2**32, 12, 4294967295],
])
def test_out_of_range_seeds_from_the_server_are_stored_as_empty(fake_a1111, library, seeds):
    fake_a1111.reported_seeds = seeds
    project = library.create_project("Seeds")
    client = A1111Client(fake_a1111.url, poll_interval=0.05)
    router = BackendRouter([client], None, fallback=False)
    outcome = pipeline.run(request(project.id, batch_size=len(seeds)), router, library)
    client.close()
    assert len(outcome.assets) == len(seeds)  # every image kept
    for asset, sent in zip(outcome.assets, seeds, strict=True):
        valid = type(sent) is int and 0 <= sent <= 2**32 - 1
        assert asset.seed == (sent if valid else None)
        stored = library.get_asset(asset.id)
        assert stored.infotext and "Seed: " in stored.infotext  # the server's own text
        data = library.path_of(stored).read_bytes()
        assert "Seed: " in metadata.read_png_text(data)["parameters"]


# --- the command line, as a person runs it -------------------------------------------------------


def _cli(home: Path, fake_url: str, *args: str,
         timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, DLX_ART_HOME=str(home), DLX_ART_A1111_URL=fake_url)
    return subprocess.run([sys.executable, "-m", "dlx_art", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def _home_with_deadline(tmp_path: Path, seconds: float) -> Path:
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    settings = {"read_timeout": seconds, "hf_fallback": False}
    (home / "config" / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    return home


@pytest.mark.parametrize("kind", ["drip", "huge-json", "deep-json", "garbage"])
def test_generate_against_a_hostile_server_ends_clearly_with_nothing_stored(fake_a1111, tmp_path,
                                                                            kind):
    home = _home_with_deadline(tmp_path, 3.0)
    assert _cli(home, fake_a1111.url, "projects", "create", "P").returncode == 0
    fake_a1111.failure = kind
    fake_a1111.failure_count = None
    fake_a1111.drip_delay = 0.5
    started = time.monotonic()
    result = _cli(home, fake_a1111.url, "generate", "--project", "P", "--prompt", "fox",
                  "--steps", "2", "--width", "64", "--height", "64", "--backend", "a1111")
    assert time.monotonic() - started < 90
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "unexpected error" not in result.stderr
    listed = _cli(home, fake_a1111.url, "assets", "list", "--project", "P", "--json")
    assert json.loads(listed.stdout) == []
    images = list((home / "Projects").rglob("Images/*"))
    assert images == []


def _main_exit_code(capsys, monkeypatch, fake_url: str, *argv: str) -> tuple[int, str]:
    """Run `dlx-art` in this process (argparse errors raise SystemExit)."""
    from dlx_art.cli import main

    monkeypatch.setenv("DLX_ART_A1111_URL", fake_url)
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("args", [
    ["--seed", "4294967296"],
    ["--seed", "-2"],
    ["--seed", "1e3"],
    ["--cfg", "nan"],
    ["--cfg", "inf"],
    ["--cfg", "-1"],
    ["--steps", "0"],
    ["--steps", "100000"],
    ["--width", "-64"],
    ["--height", "0"],
    ["--batch", "0"],
])
def test_generate_refuses_bad_values_before_any_request(fake_a1111, capsys, monkeypatch, args):
    assert _main_exit_code(capsys, monkeypatch, fake_a1111.url, "projects", "create", "P")[0] == 0
    code, err = _main_exit_code(capsys, monkeypatch, fake_a1111.url, "generate", "--project", "P",
                                "--prompt", "fox", *args)
    assert code == 2, err
    assert err.count("\n") == 1
    assert fake_a1111.requests == []


@pytest.mark.parametrize("args", [
    ["--padding", "-1"],
    ["--mask-blur", "-3"],
    ["--denoise", "nan"],
    ["--denoise", "1.5"],
    ["--seed", str(2**64)],
    ["--steps", "-5"],
])
def test_refine_refuses_bad_values_before_any_request(fake_a1111, capsys, monkeypatch, args):
    code, err = _main_exit_code(capsys, monkeypatch, fake_a1111.url, "refine", "some-id", *args)
    assert code == 2, err
    assert err.count("\n") == 1
    assert fake_a1111.requests == []


def test_a_bad_seed_is_exit_2_for_a_real_process_too(fake_a1111, tmp_path):
    home = _home_with_deadline(tmp_path, 30.0)
    assert _cli(home, fake_a1111.url, "projects", "create", "P").returncode == 0
    result = _cli(home, fake_a1111.url, "generate", "--project", "P", "--prompt", "fox",
                  "--seed", str(2**32), "--cfg", "nan")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert fake_a1111.requests == []


# --- Hugging Face --------------------------------------------------------------------------------


@pytest.fixture
def fake_hf():
    from tests.fakes.fake_hf import FakeHF

    with FakeHF(token="hf_testtoken123456") as fake:
        yield fake


def _hf_client(fake, **kwargs):
    from dlx_art.generation.hf import HFClient

    return HFClient(model="org/model", token="hf_testtoken123456",
                    endpoint=fake.model_url("org/model"), **kwargs)


def test_hugging_face_drip_ends_at_the_request_deadline(fake_hf, library):
    fake_hf.behaviour = "drip"
    fake_hf.drip_delay = 0.2  # each read gets a byte well within the 5 s read timeout
    project = library.create_project("HF")
    router = BackendRouter([], _hf_client(fake_hf, timeout=5.0, deadline=2.0))
    started = time.monotonic()
    with pytest.raises(ConnectionDropped, match="within 2 s"):
        pipeline.run(request(project.id, backend="hf"), router, library)
    assert time.monotonic() - started < GUARD
    time.sleep(1.0)
    sent = fake_hf.bytes_sent
    time.sleep(1.0)
    assert fake_hf.bytes_sent <= sent + 2  # the worker stopped reading too
    assert stored_files(library) == []


@pytest.mark.parametrize("behaviour", ["huge", "endless"])
def test_hugging_face_huge_or_endless_answers_are_cut(fake_hf, library, behaviour, monkeypatch):
    from dlx_art.generation import hf

    monkeypatch.setattr(hf, "MAX_RESPONSE_BYTES", 4 * 2**20)
    fake_hf.behaviour = behaviour
    fake_hf.huge_bytes = 64 * 2**20
    project = library.create_project("HF")
    router = BackendRouter([], _hf_client(fake_hf, timeout=30.0, deadline=60.0))
    started = time.monotonic()
    with pytest.raises(BadServerResponse, match="larger than 4 MiB"):
        pipeline.run(request(project.id, backend="hf"), router, library)
    assert time.monotonic() - started < GUARD
    assert fake_hf.bytes_sent < 32 * 2**20
    assert stored_files(library) == []
