"""Which backend makes an image, and why.

Order: the configured A1111 servers (the first that is up and idle), then Hugging Face. The
router falls back only when a backend could not take the job at all (not running, API off,
busy beyond the wait); never after a rejected request, wrong credentials, a failure during the
job, or a cancel. The reason for a fallback is returned as a sentence for the person.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dlx_art.errors import BackendError, DlxError, NoBackend
from dlx_art.generation.types import (
    BackendChoice,
    BackendResult,
    BackendStatus,
    CancelToken,
    GenerationRequest,
    Kind,
    ProgressCallback,
)

log = logging.getLogger("dlx_art.generation.router")


class Backend(Protocol):
    """What the router asks of a backend (`A1111Client`, `HFClient`).

    `status()` never raises for network or server problems. `generate()` raises a
    `BackendError` whose `fallback_ok` says whether the next backend may take the job, or
    `Cancelled`; `want_preview` is only a wish (a backend without live previews ignores it).
    """

    label: str

    def status(self) -> BackendStatus: ...

    def generate(self, request: GenerationRequest, *, on_progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None,
                 want_preview: Callable[[], bool] | None = None) -> BackendResult: ...


@dataclass(frozen=True)
class Routed:
    result: BackendResult
    fallback_reason: str | None


def might_have_hf_token(explicit: str | None) -> bool:
    """False only when no Hugging Face token can exist here (then `huggingface_hub`, some
    40 MB and half a second of imports, need not be loaded to find none).

    Conservative: any `HF_*` / `HUGGING_FACE*` variable (`HF_TOKEN`, `HF_HOME`,
    `HF_TOKEN_PATH`, `HF_OIDC_RESOURCE`...), a token file where `hf auth login` writes it, or
    Google Colab (its secrets vault) all count as "maybe", and `find_token` decides.
    """
    import os
    from pathlib import Path

    if explicit is not None and explicit.strip():
        return True
    if any(name.startswith(("HF_", "HUGGING_FACE")) for name in os.environ):
        return True
    if any(name.startswith("COLAB_") for name in os.environ):
        return True
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache, "huggingface", "token").expanduser().exists()


class BackendRouter:
    """Holds the clients built from the settings and routes each job."""

    def __init__(self, a1111: Sequence[Backend], hf: Backend | None, *, fallback: bool = True,
                 invalid: list[BackendStatus] | None = None) -> None:
        self.a1111: list[Backend] = list(a1111)  # tried in this order
        self.hf = hf
        self.fallback = fallback
        self.invalid = invalid or []  # configured servers that cannot even be addressed

    @classmethod
    def from_settings(cls, settings: Any) -> BackendRouter:
        from dlx_art.generation.a1111 import A1111Client

        clients: list[Backend] = []
        invalid: list[BackendStatus] = []
        for server in settings.a1111_servers:
            try:
                clients.append(A1111Client(
                    server.url, auth=server.auth, connect_timeout=settings.connect_timeout,
                    read_timeout=settings.read_timeout, busy_wait=settings.busy_wait))
            except DlxError as exc:  # a URL or credentials that cannot be used at all
                log.warning("A1111 server %r skipped: %s", server.url, exc.user_message)
                invalid.append(BackendStatus("a1111", f"A1111 at {server.url}", "down",
                                             exc.user_message))
        hf: Backend | None = None
        token = None
        if settings.hf_endpoint or might_have_hf_token(settings.hf_token):
            from dlx_art.generation.hf import find_token

            token = find_token(settings.hf_token)
        if token or settings.hf_endpoint:
            from dlx_art.generation.hf import HFClient

            hf = HFClient(model=settings.hf_model, token=token, provider=settings.hf_provider,
                          endpoint=settings.hf_endpoint, timeout=settings.hf_timeout)
        return cls(clients, hf, fallback=settings.hf_fallback, invalid=invalid)

    def statuses(self) -> list[BackendStatus]:
        result = [client.status() for client in self.a1111] + list(self.invalid)
        if self.hf is not None:
            result.append(self.hf.status())
        else:
            result.append(BackendStatus(
                "hf", "Hugging Face", "unavailable",
                "No Hugging Face token: sign in with `hf auth login` or set HF_TOKEN."))
        return result

    def generate(
        self,
        request: GenerationRequest,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        want_preview: Callable[[], bool] | None = None,
    ) -> Routed:
        cancel = cancel or CancelToken()
        choice = BackendChoice(request.backend)
        reasons: list[str] = []
        if choice in (BackendChoice.auto, BackendChoice.a1111):
            for client in self.a1111:
                cancel.raise_if_cancelled()
                try:
                    result = client.generate(request, on_progress=on_progress, cancel=cancel,
                                             want_preview=want_preview)
                except BackendError as exc:
                    if not exc.fallback_ok:
                        raise
                    log.info("%s cannot take the job: %s", client.label, exc.user_message)
                    reasons.append(exc.user_message)
                    continue
                return Routed(result, _sentence(reasons, client.label) if reasons else None)
            reasons += [f"{s.label}: {s.detail}" for s in self.invalid]
            if choice is BackendChoice.a1111:
                raise NoBackend(" ".join(reasons) or "No AUTOMATIC1111 server is configured.")
        if request.kind == Kind.upscale:  # A1111-only: never handed to Hugging Face
            raise NoBackend((" ".join(reasons) + " " if reasons else "")
                            + "Upscaling (upscale) needs an AUTOMATIC1111 server; Hugging Face "
                            "cannot upscale. Start or configure an A1111 server.")
        if choice is BackendChoice.auto and not self.fallback:
            raise NoBackend(" ".join(reasons) + " The Hugging Face fallback is turned off.")
        if self.hf is None:
            raise NoBackend(
                (" ".join(reasons) + " " if reasons else "")
                + "No Hugging Face token is available for the fallback: sign in with "
                "`hf auth login`, set HF_TOKEN, or enter a token in Settings."
            )
        cancel.raise_if_cancelled()
        result = self.hf.generate(request, on_progress=on_progress, cancel=cancel,
                                  want_preview=want_preview)
        return Routed(result, _sentence(reasons, self.hf.label) if reasons else None)


def _sentence(reasons: list[str], used: str) -> str:
    why = " ".join(r.rstrip(".") + "." for r in reasons)
    return f"{why} Used {used} instead."
