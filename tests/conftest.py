"""Shared test set-up.

Qt must run offscreen: without a display Qt aborts the whole pytest process. The platform is set
here, at import time, before any QApplication exists. Every test gets its own DLX_ART_HOME so no
test can touch a real library, config or log folder.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.pop("HF_HUB_OFFLINE", None)
for _var in ("DLX_ART_A1111_URL", "DLX_ART_A1111_AUTH", "DLX_ART_HF_MODEL", "DLX_ART_HF_ENDPOINT",
             "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
    os.environ.pop(_var, None)

# huggingface_hub fixes its token-file path when it is imported: point it at an empty folder
# before anything imports it, so a real `hf auth login` token on the machine never reaches a test
import tempfile  # noqa: E402

os.environ["HF_TOKEN_PATH"] = os.path.join(tempfile.mkdtemp(prefix="dlx-hf-"), "token")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Point DLX_ART_HOME, HF_HOME and the user's home at fresh folders for every test."""
    home = tmp_path_factory.mktemp("dlx-home")
    monkeypatch.setenv("DLX_ART_HOME", str(home))
    hf_home = tmp_path_factory.mktemp("hf-home")
    monkeypatch.setenv("HF_HOME", str(hf_home))

    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    return home


@pytest.fixture
def fake_a1111():
    """A fresh fake AUTOMATIC1111 (UI+API mode, no auth) on 127.0.0.1; stopped after."""
    from tests.fakes.fake_a1111 import FakeA1111

    fake = FakeA1111(host="127.0.0.1", port=0)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
