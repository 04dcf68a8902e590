"""`dlx-art upscale` and `dlx-art outpaint`: real processes against the fake A1111, the same
output and exit codes as `refine` (2 usage, 1 unknown id, 3 no backend, 4 rejected, 5 cancelled).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dlx_art.cli import main

pytestmark = pytest.mark.integration


def _cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, DLX_ART_HOME=str(home), **(env or {}))
    return subprocess.run([sys.executable, "-m", "dlx_art", *args], capture_output=True,
                          text=True, env=full_env, timeout=120)


@pytest.fixture
def source(tmp_path, fake_a1111):
    """(home, env, id of a generated 96x64 image)."""
    home = tmp_path / "home"
    env = {"DLX_ART_A1111_URL": fake_a1111.url}
    assert _cli(home, "projects", "create", "P").returncode == 0
    done = _cli(home, "generate", "--project", "P", "--prompt", "a harbour", "--steps", "2",
                "--width", "96", "--height", "64", "--seed", "11", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return home, env, json.loads(done.stdout)["assets"][0]


def test_upscale_prints_the_child_as_json_and_shows_in_the_lineage(source, fake_a1111):
    home, env, parent = source
    done = _cli(home, "upscale", parent["id"], "--scale", "1.5", "--upscaler", "ESRGAN_4x",
                "--upscaler2", "Nearest", "--upscaler2-visibility", "0.3", "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["backend"] == "a1111" and result["fallbackReason"] is None
    (child,) = result["assets"]
    assert child["kind"] == "upscale" and child["parentId"] == parent["id"]
    assert (child["width"], child["height"]) == (144, 96)
    assert child["model"] == parent["model"] and child["seed"] == 11
    assert child["infotext"].endswith("Postprocess upscale by: 1.5, Postprocess upscaler: "
                                      "ESRGAN_4x, Postprocess upscaler 2: Nearest")
    payload = fake_a1111.last_payload("/sdapi/v1/extra-single-image")
    assert (payload["upscaling_resize"], payload["upscaler_1"], payload["upscaler_2"],
            payload["extras_upscaler_2_visibility"]) == (1.5, "ESRGAN_4x", "Nearest", 0.3)
    lineage = _cli(home, "assets", "lineage", parent["id"], "--json")
    assert [d["id"] for d in json.loads(lineage.stdout)["descendants"]] == [child["id"]]
    plain = _cli(home, "upscale", parent["id"], env=env)
    assert plain.returncode == 0 and plain.stdout.count("\n") == 1
    assert plain.stdout.split()[1].endswith(".png")


def test_outpaint_prints_the_larger_child(source, fake_a1111):
    home, env, parent = source
    done = _cli(home, "outpaint", parent["id"], "--left", "32", "--bottom", "64", "--prompt",
                "a wider harbour", "--negative", "people", "--denoise", "0.8", "--seed", "5",
                "--steps", "3", "--json", env=env)
    assert done.returncode == 0, done.stderr
    (child,) = json.loads(done.stdout)["assets"]
    assert child["kind"] == "outpaint" and child["parentId"] == parent["id"]
    assert (child["width"], child["height"]) == (128, 128)
    assert child["prompt"] == "a wider harbour" and child["seed"] == 5
    assert child["denoisingStrength"] == 0.8 and child["maskPath"]
    payload = fake_a1111.last_payload("/sdapi/v1/img2img")
    assert (payload["width"], payload["height"], payload["inpaint_full_res"],
            payload["inpainting_fill"], payload["denoising_strength"], payload["steps"],
            payload["negative_prompt"]) == (128, 128, False, 2, 0.8, 3, "people")
    inherited = _cli(home, "outpaint", parent["id"], "--right", "8", "--json", env=env)
    assert inherited.returncode == 0, inherited.stderr
    again = json.loads(inherited.stdout)["assets"][0]
    assert again["prompt"] == "a harbour" and again["denoisingStrength"] == 0.9


CASES = [
    (["upscale", "no-such-id"], 1, "no image with id"),
    (["outpaint", "no-such-id", "--right", "64"], 1, "no image with id"),
    (["outpaint", "ID", "--right", "60"], 2, "multiple of 8"),
    (["outpaint", "ID", "--left", "-8"], 2, "from 0 to"),
    (["outpaint", "ID"], 2, "at least one side"),
    (["outpaint", "ID", "--right", "8", "--denoise", "1.5"], 2, "from 0 to 1"),
    (["upscale", "ID", "--scale", "0"], 2, "above 0"),
    (["upscale", "ID", "--scale", "12"], 2, "at most 8"),
    (["upscale", "ID", "--upscaler2-visibility", "0.5"], 2, "go together"),
    (["upscale", "ID", "--upscaler", "Lanczos9"], 4, "no upscaler called 'Lanczos9'"),
]


def _main(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse refuses a value: exit code 2
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_codes(capsys, monkeypatch, fake_a1111):
    monkeypatch.setenv("DLX_ART_A1111_URL", fake_a1111.url)
    assert _main(capsys, "projects", "create", "P")[0] == 0
    code, out, err = _main(capsys, "generate", "--project", "P", "--prompt", "x", "--steps",
                           "2", "--width", "64", "--height", "64", "--json")
    assert code == 0, err
    parent = json.loads(out)["assets"][0]["id"]
    for args, expected, words in CASES:
        code, _out, err = _main(capsys, *[parent if a == "ID" else a for a in args])
        assert code == expected, (args, err)
        assert words in err and err.count("\n") == 1, (args, err)
    code, out, _err = _main(capsys, "assets", "list", "--project", "P", "--json")
    assert len(json.loads(out)) == 1  # nothing was stored


def test_upscale_with_only_hugging_face_is_no_backend(tmp_path, source):
    home, _env, parent = source
    closed = {"DLX_ART_A1111_URL": "http://127.0.0.1:9", "HF_TOKEN": "hf_testtoken123456"}
    done = _cli(home, "upscale", parent["id"], env=closed)
    assert done.returncode == 3 and "upscale" in done.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT semantics")
@pytest.mark.parametrize("command", [["upscale"], ["outpaint", "--right", "64"]])
def test_ctrl_c_cancels_and_stores_nothing(source, fake_a1111, command):
    home, env, parent = source
    fake_a1111.upscale_time = 60
    fake_a1111.step_time = 0.05
    args = [command[0], parent["id"], *command[1:]]
    if command[0] == "outpaint":
        args += ["--steps", "400"]
    before = len(fake_a1111.requests)
    process = subprocess.Popen([sys.executable, "-m", "dlx_art", *args],
                               env=dict(os.environ, DLX_ART_HOME=str(home), **env),
                               stderr=subprocess.PIPE, text=True)
    route = "/sdapi/v1/extra-single-image" if command[0] == "upscale" else "/sdapi/v1/img2img"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
            r.path == route for r in fake_a1111.requests[before:]):
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 5, err
    assert "cancel" in err.lower()
    listed = _cli(home, "assets", "list", "--project", "P", "--json")
    assert len(json.loads(listed.stdout)) == 1
