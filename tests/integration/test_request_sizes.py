"""The command line builds its requests with the one request builder: a refinement of an image
whose sides are not multiples of 8 asks A1111 for what A1111 itself would make of them (rounded
down), and a size typed on the command line is refused rather than changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.images import png_bytes

pytestmark = pytest.mark.integration


def _cli(tmp_path, *args, env=None):
    full_env = dict(os.environ, DLX_ART_HOME=str(tmp_path / "home"), **(env or {}))
    return subprocess.run([sys.executable, "-m", "dlx_art", *args], capture_output=True,
                          text=True, env=full_env, timeout=120)


def test_refine_of_an_odd_sized_image_rounds_down_like_a1111(tmp_path, fake_a1111):
    env = {"DLX_ART_A1111_URL": fake_a1111.url}
    assert _cli(tmp_path, "projects", "create", "P").returncode == 0
    source = tmp_path / "odd.png"
    source.write_bytes(png_bytes(101, 75, parameters="a fox\nSteps: 3, Seed: 1, CFG scale: 6"))
    imported = _cli(tmp_path, "import", "--project", "P", str(source), "--json")
    assert imported.returncode == 0, imported.stderr
    parent_id = json.loads(imported.stdout)["imported"][0]["id"]

    refined = _cli(tmp_path, "refine", parent_id, "--steps", "2", "--json", env=env)
    assert refined.returncode == 0, refined.stderr
    payload = fake_a1111.last_payload("/sdapi/v1/img2img")
    assert (payload["width"], payload["height"]) == (96, 72)
    child = json.loads(refined.stdout)["assets"][0]
    assert (child["width"], child["height"]) == (96, 72) and child["parentId"] == parent_id
    assert payload["prompt"] == "a fox"  # what refine is not told comes from the parent


def test_a_typed_size_that_is_not_a_multiple_of_8_is_refused(tmp_path, fake_a1111):
    env = {"DLX_ART_A1111_URL": fake_a1111.url}
    assert _cli(tmp_path, "projects", "create", "P").returncode == 0
    refused = _cli(tmp_path, "generate", "--project", "P", "--prompt", "x", "--width", "100",
                   env=env)
    assert refused.returncode == 2 and "multiples of 8" in refused.stderr
    assert not fake_a1111.requests_to("/sdapi/v1/txt2img")
