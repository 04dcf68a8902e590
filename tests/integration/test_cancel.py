"""Once a cancel was asked, nothing that arrives is stored (exit 5 on the command line)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlx_art.errors import Cancelled
from dlx_art.generation import pipeline
from dlx_art.generation.a1111 import A1111Client
from dlx_art.generation.router import BackendRouter
from dlx_art.generation.types import CancelToken, GenerationRequest
from dlx_art.library.service import Library

pytestmark = pytest.mark.integration


@pytest.fixture
def library(tmp_path):
    lib = Library.open(tmp_path / "root")
    yield lib
    lib.close()


def _router(fake) -> BackendRouter:
    client = A1111Client(fake.url, connect_timeout=1, read_timeout=20, poll_interval=0.02,
                         interrupt_grace=5)
    return BackendRouter([client], None)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "Projects").rglob("*") if p.is_file()
                  and p.name != "project.json")


def test_a_result_arriving_as_the_cancel_is_asked_is_not_stored(library, fake_a1111):
    """The backend hands back a finished job in the very instant the person cancels."""
    project = library.create_project("P")
    token = CancelToken()

    def progress(p) -> None:
        if p.fraction >= 1.0:  # the client has the finished result in hand, not yet returned
            token.cancel()

    request = GenerationRequest(project.id, "x", steps=2, width=64, height=64, batch_count=2)
    with pytest.raises(Cancelled):
        pipeline.run(request, _router(fake_a1111), library, on_progress=progress, cancel=token)
    assert library.assets(project.id) == [] and _files(library.root) == []


def test_a_cancel_while_saving_takes_the_saved_images_out_again(library, fake_a1111,
                                                                monkeypatch):
    project = library.create_project("P")
    token = CancelToken()
    add_image = library.add_image

    def save_then_cancel(*args, **kwargs):  # the cancel comes right after an image is saved
        asset = add_image(*args, **kwargs)
        token.cancel()
        return asset

    monkeypatch.setattr(library, "add_image", save_then_cancel)
    request = GenerationRequest(project.id, "x", steps=2, width=64, height=64, batch_count=3)
    with pytest.raises(Cancelled):
        pipeline.run(request, _router(fake_a1111), library, cancel=token)
    assert library.assets(project.id) == []
    trashed = library.assets(project.id, trashed=True)
    assert len(trashed) == 1  # saved before the cancel: kept, but in the trash, not the project


def _cli(home: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dlx_art", *args], capture_output=True,
                          text=True, env=dict(env, DLX_ART_HOME=str(home)), timeout=120)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT semantics")
@pytest.mark.parametrize("at_once", [True, False], ids=["image-at-once", "image-next-step"])
@pytest.mark.parametrize("round_", range(3))
def test_cli_ctrl_c_is_exit_5_with_nothing_stored(tmp_path, fake_a1111, at_once, round_):
    _interrupt_generate(tmp_path, fake_a1111, at_once, signal.SIGINT, 5)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_cli_sigterm_interrupts_the_server_job_and_stores_nothing(tmp_path, fake_a1111):
    _interrupt_generate(tmp_path, fake_a1111, True, signal.SIGTERM, 128 + signal.SIGTERM)


def _interrupt_generate(tmp_path, fake_a1111, at_once, sig, code) -> None:
    home = tmp_path / "home"
    env = dict(os.environ, DLX_ART_A1111_URL=fake_a1111.url)
    assert _cli(home, "projects", "create", "P", env=env).returncode == 0
    fake_a1111.step_time = 0.05
    fake_a1111.interrupt_answers_at_once = at_once
    process = subprocess.Popen(
        [sys.executable, "-m", "dlx_art", "generate", "--project", "P", "--prompt", "x",
         "--steps", "400", "--batch", "2", "--width", "64", "--height", "64"],
        env=dict(env, DLX_ART_HOME=str(home)), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (fake_a1111.jobs and fake_a1111.jobs[-1].steps_done >= 1) \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake_a1111.jobs, "the job never reached the server"
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert "Traceback" not in err, err
    assert fake_a1111.interrupts >= 1
    assert fake_a1111.jobs[-1].images >= 1  # the server did hand back its partial image
    assert _files(home) == []
    listed = _cli(home, "assets", "list", "--project", "P", "--json", env=env)
    assert json.loads(listed.stdout) == []
    trashed = _cli(home, "assets", "list", "--project", "P", "--trash", "--json", env=env)
    assert json.loads(trashed.stdout) == []
