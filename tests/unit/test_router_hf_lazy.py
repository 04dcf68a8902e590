"""The router loads `huggingface_hub` only when a Hugging Face token may exist.

Each case runs in a fresh interpreter (module imports are per process) with a clean
environment and its own HOME, so no token of the machine's leaks in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from dlx_art.generation.router import BackendRouter
from dlx_art.settings import Settings
settings = Settings(hf_token=sys.argv[1] or None)
router = BackendRouter.from_settings(settings)
hf = [s for s in router.statuses() if s.name == "hf"][0]
print(json.dumps({"loaded": "huggingface_hub" in sys.modules, "hf": router.hf is not None,
                  "state": hf.state}))
"""


def _probe(tmp_path: Path, env_extra: dict[str, str], explicit: str = "") -> dict[str, object]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "HUGGING_FACE", "COLAB_", "XDG_CACHE_HOME"))}
    env.update(HOME=str(tmp_path / "home"), DLX_ART_HOME=str(tmp_path / "dlx"), **env_extra)
    result = subprocess.run([sys.executable, "-c", PROBE, explicit], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_no_token_anywhere_keeps_huggingface_hub_unloaded(tmp_path):
    seen = _probe(tmp_path, {})
    assert seen == {"loaded": False, "hf": False, "state": "unavailable"}


@pytest.mark.parametrize("source", ["explicit", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
                                    "token file", "HF_HOME file", "HF_TOKEN_PATH file"])
def test_every_token_source_is_still_found(tmp_path, source):
    token = "hf_" + "x" * 30
    env: dict[str, str] = {}
    explicit = ""
    if source == "explicit":
        explicit = token
    elif source in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        env[source] = token
    elif source == "token file":
        path = tmp_path / "home" / ".cache" / "huggingface" / "token"
        path.parent.mkdir(parents=True)
        path.write_text(token)
    elif source == "HF_HOME file":
        (tmp_path / "hfhome").mkdir()
        (tmp_path / "hfhome" / "token").write_text(token)
        env["HF_HOME"] = str(tmp_path / "hfhome")
    else:
        (tmp_path / "tok").write_text(token)
        env["HF_TOKEN_PATH"] = str(tmp_path / "tok")
    seen = _probe(tmp_path, env, explicit)
    assert seen["hf"] is True and seen["loaded"] is True and seen["state"] != "unavailable"
