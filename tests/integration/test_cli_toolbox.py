"""Issue 12 on the command line (`main()` against the fake servers over loopback): per-job
models stored in one form, the inpainting partner, styles / batches / hires fix / variations,
`backends --json` toolbox lists, and A1111-only features refused when only Hugging Face is left.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from dlx_art.cli import main
from dlx_art.library.infotext import parse_infotext
from tests.fakes.fake_a1111 import FakeA1111
from tests.fakes.fake_hf import FakeHF
from tests.support.images import png_bytes

pytestmark = pytest.mark.integration
HF_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
DREAM = "dreamshaper_8.safetensors [879db523c3]"
SMALL = ("--steps", "2", "--width", "64", "--height", "64")


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: Any, *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def server(fake_a1111: FakeA1111, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> FakeA1111:
    monkeypatch.setenv("DLX_ART_A1111_URL", fake_a1111.url)
    run_json(capsys, "projects", "create", "P")
    return fake_a1111


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_model_is_one_form_and_the_server_is_never_switched(server, capsys, tmp_path):
    before = dict(server.options)
    plain = run_json(capsys, "generate", "--project", "P", "--prompt", "a fox", *SMALL)
    assert plain["model"] == "v1-5-pruned-emaonly"
    assert plain["assets"][0]["model"] == "v1-5-pruned-emaonly"

    chosen = run_json(capsys, "generate", "--project", "P", "--prompt", "a fox", *SMALL,
                      "--model", "dreamshaper_8.safetensors")
    body = server.last_payload("txt2img")
    assert body["override_settings"] == {"sd_model_checkpoint": DREAM}
    assert body["override_settings_restore_afterwards"] is True
    asset = chosen["assets"][0]
    assert asset["model"] == "dreamshaper_8" == chosen["model"]
    assert parse_infotext(asset["infotext"]).model == asset["model"]

    # img2img of that image: the parent's model, the same form
    refined = run_json(capsys, "refine", asset["id"], "--denoise", "0.4")
    assert server.last_payload("img2img")["override_settings"] == {
        "sd_model_checkpoint": DREAM}
    assert refined["assets"][0]["model"] == "dreamshaper_8" == refined["model"]

    # masked refinement: the server's inpainting partner, stored and reported
    mask = tmp_path / "mask.png"
    mask.write_bytes(png_bytes(64, 64, color=(255, 255, 255)))
    masked = run_json(capsys, "refine", asset["id"], "--mask", str(mask))
    assert server.last_payload("img2img")["override_settings"] == {
        "sd_model_checkpoint": "inpainting/dreamshaper_8-inpainting.safetensors [e0f0d3a0f7]"}
    assert masked["model"] == "dreamshaper_8-inpainting"
    assert masked["assets"][0]["model"] == "dreamshaper_8-inpainting"
    assert parse_infotext(masked["assets"][0]["infotext"]).model == "dreamshaper_8-inpainting"
    shown = run_json(capsys, "assets", "show", masked["assets"][0]["id"])
    assert shown["model"] == "dreamshaper_8-inpainting"

    assert server.requests_to("options", "POST") == []
    assert server.options == before


def test_inpainting_partner_can_be_turned_off(server, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DLX_ART_A1111_INPAINT_MODEL", "off")
    made = run_json(capsys, "generate", "--project", "P", "--prompt", "a fox", *SMALL,
                    "--model", "dreamshaper_8")
    mask = tmp_path / "mask.png"
    mask.write_bytes(png_bytes(64, 64, color=(255, 255, 255)))
    masked = run_json(capsys, "refine", made["assets"][0]["id"], "--mask", str(mask))
    assert masked["model"] == "dreamshaper_8"
    assert server.last_payload("img2img")["override_settings"] == {
        "sd_model_checkpoint": DREAM}
    monkeypatch.setenv("DLX_ART_A1111_INPAINT_MODEL", "sometimes")
    code, _, err = run(capsys, "refine", made["assets"][0]["id"], "--mask", str(mask))
    assert code == 2 and "a1111_inpaint_model" in err


def test_generate_toolbox_flags(server, capsys):
    out = run_json(capsys, "generate", "--project", "P", "--prompt", "a fox", "--negative",
                   "blurry", *SMALL, "--seed", "42", "--style", "Cinematic", "--style",
                   "Watercolor", "--batch-count", "2", "--batch-size", "2",
                   "--hires-scale", "2", "--hires-upscaler", "R-ESRGAN 4x+",
                   "--hires-steps", "1", "--hires-denoise", "0.45",
                   "--variation-seed", "777", "--variation-strength", "0.25")
    body = server.last_payload("txt2img")
    expected = {"prompt": "a fox", "negative_prompt": "blurry", "seed": 42, "steps": 2,
                "width": 64, "height": 64, "n_iter": 2, "batch_size": 2,
                "styles": ["Cinematic", "Watercolor"], "enable_hr": True, "hr_scale": 2.0,
                "hr_upscaler": "R-ESRGAN 4x+", "hr_second_pass_steps": 1,
                "denoising_strength": 0.45, "subseed": 777, "subseed_strength": 0.25}
    assert {key: body[key] for key in expected} == expected
    assets = out["assets"]
    assert len(assets) == 4  # batch count x batch size, all stored
    assert all((a["width"], a["height"]) == (128, 128) for a in assets)  # the final size
    assert [a["seed"] for a in assets] == [42, 42, 42, 42]
    texts = [parse_infotext(a["infotext"]) for a in assets]
    assert [t.variation_seed for t in texts] == [777, 778, 779, 780]
    assert texts[0].params["Size"] == "64x64" and texts[0].hires_scale == 2.0
    assert texts[0].prompt.startswith("cinematic still of a fox")


def test_batch_stays_the_batch_count(server, capsys):
    out = run_json(capsys, "generate", "--project", "P", "--prompt", "x", *SMALL,
                   "--batch", "3")
    body = server.last_payload("txt2img")
    assert (body["n_iter"], body["batch_size"], len(out["assets"])) == (3, 1, 3)
    assert "enable_hr" not in body and "styles" not in body and "subseed" not in body


@pytest.mark.parametrize("argv, message", [
    (("--variation-seed", "5"), "variation strength"),
    (("--hires-scale", "0.5"), "hires fix scale"),
    (("--variation-strength", "2"), "variation strength"),
    (("--batch-count", "20", "--batch-size", "20"), "number of images"),
])
def test_bad_toolbox_flags_exit_2(server, capsys, argv, message):
    try:
        code = main(["generate", "--project", "P", "--prompt", "x", *argv])
    except SystemExit as exit_info:  # refused by argparse
        code = exit_info.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert server.requests_to("txt2img") == []


def test_unknown_style_exit_4(server, capsys):
    code, _, err = run(capsys, "generate", "--project", "P", "--prompt", "x", *SMALL,
                       "--style", "Noir")
    assert code == 4 and "no style called 'Noir'" in err
    assert server.requests_to("txt2img") == []


def test_backends_lists_the_toolbox(server, capsys):
    status = run_json(capsys, "backends")
    a1111 = status[0]
    assert a1111["name"] == "a1111" and a1111["state"] == "up"
    assert a1111["loras"] == ["ink-line", "plain"]
    assert a1111["embeddings"] == ["bad-hands", "sd2-negative"]
    assert a1111["styles"] == ["Cinematic", "Watercolor"]
    assert a1111["upscalers"][:3] == ["None", "Lanczos", "Nearest"]
    assert a1111["latentModes"][0] == "Latent"
    assert "loras" not in status[-1]  # Hugging Face has no toolbox
    code, out, _ = run(capsys, "backends")
    assert code == 0 and "2 LoRAs, 2 embeddings, 2 styles (Cinematic, Watercolor), 13 upscalers" \
        in out


def test_backends_toolbox_of_a_server_that_is_down(capsys, monkeypatch):
    monkeypatch.setenv("DLX_ART_A1111_URL", _closed_port_url())
    status = run_json(capsys, "backends")
    assert status[0]["state"] == "down" and status[0]["loras"] == [] and status[0]["styles"] == []


@pytest.fixture
def only_hf(capsys, monkeypatch):
    with FakeHF(token="hf_testtoken123456") as fake:
        monkeypatch.setenv("DLX_ART_A1111_URL", _closed_port_url())
        monkeypatch.setenv("HF_TOKEN", "hf_testtoken123456")
        monkeypatch.setenv("DLX_ART_HF_ENDPOINT", fake.model_url(HF_MODEL))
        run_json(capsys, "projects", "create", "P")
        yield fake


@pytest.mark.parametrize("argv, named", [
    (("--hires-scale", "2", "--style", "Cinematic"), "Hugging Face cannot do hires fix or "
                                                      "styles; start the A1111 server or remove "
                                                      "them."),
    (("--variation-strength", "0.3",), "Hugging Face cannot do variations; start the A1111 "
                                        "server or remove it."),
])
def test_a1111_only_features_never_go_to_hugging_face(only_hf, capsys, argv, named):
    code, _, err = run(capsys, "generate", "--project", "P", "--prompt", "x", *SMALL, *argv)
    assert code == 3 and named in err and err.count("\n") == 1
    assert only_hf.requests == []
    code, _, err = run(capsys, "generate", "--project", "P", "--prompt", "x <lora:plain:1>",
                       *SMALL, "--backend", "hf")
    assert code == 3 and "Hugging Face cannot do LoRAs" in err
    # without them the same job falls back as before
    out = run_json(capsys, "generate", "--project", "P", "--prompt", "x", *SMALL)
    assert out["backend"] == "hf" and len(out["assets"]) == 1
