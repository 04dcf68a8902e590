"""The server toolbox (LoRAs, embeddings, styles, upscalers) against the fake A1111 over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dlx_art.errors import AuthenticationFailed, ServerFailed
from dlx_art.generation.a1111 import A1111Client
from dlx_art.generation.router import BackendRouter
from dlx_art.generation.types import EmbeddingInfo, LoraInfo, StyleInfo, Toolbox
from tests.fakes.fake_a1111 import FakeA1111
from tests.fakes.fake_a1111_toolbox import FakeEmbedding, FakeLora

pytestmark = pytest.mark.integration


@pytest.fixture
def client(fake_a1111: FakeA1111) -> Iterator[A1111Client]:
    made = A1111Client(fake_a1111.url, connect_timeout=1.0, read_timeout=10.0)
    yield made
    made.close()


def test_toolbox_reads_every_list(fake_a1111: FakeA1111, client: A1111Client) -> None:
    box = client.toolbox()
    assert isinstance(box, Toolbox)
    assert [(lora.name, lora.alias) for lora in box.loras] == [("ink-line", "inkLineArt"),
                                                               ("plain", "plain")]
    ink = box.loras[0]
    assert isinstance(ink, LoraInfo)
    assert ink.path.endswith("/models/Lora/ink-line.safetensors")
    assert ink.metadata["ss_tag_frequency"] == {"img": {"ink": 3}}
    assert box.embeddings == [EmbeddingInfo("bad-hands", 768, 2, False),
                              EmbeddingInfo("sd2-negative", 1024, 1, True)]
    assert box.styles[0] == StyleInfo("Cinematic",
                                      "cinematic still of {prompt}, shallow depth of field",
                                      "cartoon, drawing")
    assert [s.name for s in box.styles] == ["Cinematic", "Watercolor"]
    assert box.upscalers[:3] == ["None", "Lanczos", "Nearest"]
    assert "R-ESRGAN 4x+" in box.upscalers
    assert box.latent_modes[0] == "Latent" and len(box.latent_modes) == 6
    assert box.hires_upscalers[:6] == box.latent_modes
    assert "None" not in box.hires_upscalers
    gets = {r.path.rsplit("/", 1)[-1] for r in fake_a1111.requests if r.method == "GET"}
    assert {"loras", "embeddings", "prompt-styles", "upscalers",
            "latent-upscale-modes"} <= gets
    assert not fake_a1111.requests_to("options", "POST")


def test_refresh_toolbox_sees_new_files(fake_a1111: FakeA1111, client: A1111Client) -> None:
    fake_a1111.disk_loras.append(FakeLora("new-style", "ab" * 32))
    fake_a1111.disk_embeddings.append(FakeEmbedding("easy-negative", 768, 8))
    assert "new-style" not in [lora.name for lora in client.toolbox().loras]
    box = client.refresh_toolbox()
    assert "new-style" in [lora.name for lora in box.loras]
    assert "easy-negative" in [e.name for e in box.embeddings]
    posted = [r.path.rsplit("/", 1)[-1] for r in fake_a1111.requests if r.method == "POST"]
    assert posted == ["refresh-loras", "refresh-embeddings", "refresh-checkpoints"]


def test_missing_routes_give_empty_lists(fake_a1111: FakeA1111, client: A1111Client) -> None:
    # the Lora extension disabled: its routes are gone; the rest of the toolbox still works
    fake_a1111.route_failures["loras"] = "error"
    with pytest.raises(ServerFailed):
        client.toolbox()
    del fake_a1111.route_failures["loras"]
    fake_a1111.loras = []
    assert client.toolbox().loras == []


def test_toolbox_behind_auth(fake_a1111: FakeA1111) -> None:
    fake_a1111.auth = "artist:pw"
    authed = A1111Client(fake_a1111.url, auth=("artist", "pw"), connect_timeout=1.0)
    anonymous = A1111Client(fake_a1111.url, connect_timeout=1.0)
    try:
        assert [s.name for s in authed.toolbox().styles] == ["Cinematic", "Watercolor"]
        with pytest.raises(AuthenticationFailed):
            anonymous.toolbox()
        # /loras is registered by the Lora extension outside the API's auth (as in A1111)
        assert anonymous._get_json("loras")[0]["name"] == "ink-line"
    finally:
        authed.close()
        anonymous.close()


def test_router_toolbox_first_reachable_server(fake_a1111: FakeA1111) -> None:
    down = A1111Client("http://127.0.0.1:9", connect_timeout=0.5, read_timeout=2.0)
    up = A1111Client(fake_a1111.url, connect_timeout=1.0, read_timeout=10.0)
    try:
        router = BackendRouter([down, up], None)
        box = router.toolbox()
        assert box is not None and [s.name for s in box.styles] == ["Cinematic", "Watercolor"]
        fake_a1111.disk_loras.append(FakeLora("fresh", "cd" * 32))
        refreshed = router.toolbox(refresh=True)
        assert refreshed is not None and "fresh" in [lora.name for lora in refreshed.loras]
        assert BackendRouter([down], None).toolbox() is None
    finally:
        down.close()
        up.close()
