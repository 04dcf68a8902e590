"""Settings' "Test connection": ask a server what it has, in plain words (no Qt here).

Both probes do network I/O with the settings' timeouts: run them on a runner lane, never on the
GUI thread. They never raise; they return a `Probe` (ok + a sentence for the person).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from dlx_art.errors import DlxError
from dlx_art.settings import A1111Server

log = logging.getLogger("dlx_art.gui.connection_test")

PROBE_READ_TIMEOUT = 30.0  # a status check, not a generation: never the generation timeout
MAX_ANSWER_BYTES = 1_000_000


@dataclass(frozen=True)
class Probe:
    """What a connection test found: `ok` and the sentence to show."""

    ok: bool
    text: str


def probe_a1111(server: A1111Server, connect_timeout: float = 3.05) -> Probe:
    """Reach an AUTOMATIC1111 server and say what it has (models, samplers, sign-in)."""
    from dlx_art.generation.a1111 import A1111Client, normalise_base_url

    try:
        url, url_auth = normalise_base_url(server.url)
        auth = server.auth or url_auth
        client = A1111Client(url, auth=auth, connect_timeout=connect_timeout,
                             read_timeout=PROBE_READ_TIMEOUT)
        status = client.status()
    except DlxError as exc:
        return Probe(False, exc.user_message)
    except Exception:  # a probe must never take the dialog down
        log.exception("A1111 connection test crashed")
        return Probe(False, "The test failed unexpectedly; see the log for details.")
    if status.state == "auth-failed":
        return Probe(False, f"Sign-in failed: {status.detail}")
    if status.state not in ("up", "busy"):
        return Probe(False, status.detail or f"{status.label} cannot be used ({status.state}).")
    found = [f"{len(status.models)} model{'s' if len(status.models) != 1 else ''}",
             f"{len(status.samplers)} sampler{'s' if len(status.samplers) != 1 else ''}"]
    if status.current_model:
        found.append(f"loaded: {status.current_model}")
    text = f"Connected to {status.label}: " + ", ".join(found) + "."
    if status.state == "busy":
        text += " It is busy with a job right now."
    if auth:
        text += " Sign-in OK."
    return Probe(True, text)


def probe_hf(token: str | None, model: str, endpoint: str | None, timeout: float = 30.0,
             hub_url: str | None = None) -> Probe:
    """Check the Hugging Face sign-in and that the model exists (no image is generated).

    `token` is the one entered in Settings (None: the person's own login or HF_TOKEN).
    `hub_url` is the Hub to ask (default: huggingface_hub's, which follows HF_ENDPOINT).
    """
    import requests

    from dlx_art.generation.hf import find_token

    try:
        found = find_token(token)
    except Exception:  # noqa: BLE001 - an unreadable token file is "no token"
        found = None
    if found is None and not endpoint:
        return Probe(False, "Not signed in: no Hugging Face token was found. Run `hf auth "
                            "login` in a terminal, or enter a token.")
    if hub_url is None:
        from huggingface_hub import constants

        hub_url = constants.ENDPOINT
    hub_url = hub_url.rstrip("/")
    headers = {"Authorization": f"Bearer {found}"} if found else {}
    parts: list[str] = []
    try:
        who = _get_json(requests, f"{hub_url}/api/whoami-v2", headers, timeout)
        if who.status in (401, 403):
            return Probe(False, "Sign-in failed: Hugging Face refused the token.")
        if who.status == 200 and isinstance(who.data, dict) and who.data.get("name"):
            parts.append(f"signed in as {who.data['name']}")
        elif found:
            parts.append("a token was found")
        if model:
            info = _get_json(requests, f"{hub_url}/api/models/{model}", headers, timeout)
            if info.status in (401, 403):
                return Probe(False, f"Sign-in failed: the token may not read the model {model}.")
            if info.status == 404:
                return Probe(False, f"Hugging Face has no model “{model}” (or it is private "
                                    "and this token cannot see it).")
            if info.status != 200:
                return Probe(False, f"Hugging Face answered {info.status} for the model "
                                    f"{model}; try again later.")
            task = info.data.get("pipeline_tag") if isinstance(info.data, dict) else None
            parts.append(f"model {model} found" + (f" ({task})" if task else ""))
    except requests.RequestException as exc:
        return Probe(False, f"Could not reach Hugging Face ({type(exc).__name__}). Check the "
                            "network connection.")
    if endpoint:
        parts.append("jobs go to the endpoint URL")
    return Probe(True, "Hugging Face: " + ", ".join(parts) + ".")


@dataclass(frozen=True)
class _Answer:
    status: int
    data: Any


def _get_json(requests: Any, url: str, headers: dict[str, str], timeout: float) -> _Answer:
    """GET `url`; the status and the JSON body (None when not JSON), read up to a bound."""
    with requests.get(url, headers=headers, timeout=(min(timeout, 10.0), timeout),
                      stream=True) as response:
        raw = response.raw.read(MAX_ANSWER_BYTES + 1, decode_content=True)
        data = None
        if len(raw) <= MAX_ANSWER_BYTES:
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
        return _Answer(response.status_code, data)
