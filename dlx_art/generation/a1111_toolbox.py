"""What an AUTOMATIC1111 server offers beyond checkpoints: LoRAs, embeddings, styles, upscalers.

`A1111Toolbox` is a mixin of `A1111Client` (it uses the client's HTTP layer, `A1111Http`):

* `toolbox()` reads `GET /loras`, `/embeddings`, `/prompt-styles`, `/upscalers` and
  `/latent-upscale-modes` into a `Toolbox`;
* `refresh_toolbox()` first asks the server to look at its folders again
  (`POST /refresh-loras`, `/refresh-embeddings`, `/refresh-checkpoints`), then reads it.

A route the server does not have (the Lora extension disabled, an older release) gives an empty
list rather than an error: the rest of the toolbox is still useful. Entries in an unknown shape
are skipped. The formats are those of `/work/shared/reference/a1111-api.md` (v1.10.1).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from dlx_art.errors import ApiDisabled, BadServerResponse, RequestRejected
from dlx_art.generation.a1111_http import A1111Http
from dlx_art.generation.a1111_payloads import lora_names
from dlx_art.generation.types import (
    EmbeddingInfo,
    GenerationRequest,
    Kind,
    LoraInfo,
    StyleInfo,
    Toolbox,
)

__all__ = ["A1111Toolbox", "parse_embeddings", "parse_loras", "parse_names", "parse_styles"]

log = logging.getLogger("dlx_art.generation.a1111")

REFRESH_READ_TIMEOUT = 300.0
"""A refresh takes the server's queue lock: it waits for a running job (and hashes new files)."""

_REFRESH_ROUTES = ("refresh-loras", "refresh-embeddings", "refresh-checkpoints")


class A1111Toolbox(A1111Http):
    """The toolbox calls of `A1111Client` (blocking network I/O: call off the GUI thread)."""

    read_timeout: float
    connect_timeout: float

    def toolbox(self) -> Toolbox:
        """LoRAs, embeddings, styles, upscalers and latent upscale modes the server offers.

        Raises a `BackendError` when the server cannot be reached or refuses access; a missing
        route gives an empty list for that part.
        """
        return Toolbox(
            loras=parse_loras(self._optional_list("loras")),
            embeddings=parse_embeddings(self._optional_dict("embeddings")),
            styles=parse_styles(self._optional_list("prompt-styles")),
            upscalers=parse_names(self._optional_list("upscalers")),
            latent_modes=parse_names(self._optional_list("latent-upscale-modes")),
        )

    def refresh_toolbox(self) -> Toolbox:
        """Make the server rescan its LoRA, embedding and checkpoint folders, then `toolbox()`.

        Styles are read by A1111 at start-up only (there is no refresh route for them).
        """
        timeout = (self.connect_timeout, min(self.read_timeout, REFRESH_READ_TIMEOUT))
        for route in _REFRESH_ROUTES:
            try:
                self._request("POST", route, timeout=timeout, diagnose_404=False)
            except ApiDisabled:
                log.info("%s has no /%s route; not refreshed", self.label, route)
        return self.toolbox()

    # --- names a job uses: A1111 ignores unknown styles and LoRAs silently, and fails on an
    # unknown hires upscaler only after the queue; checked here first, in plain words

    def job_toolbox_names(self, request: GenerationRequest) -> dict[str, Any]:
        """Payload fields with the server's exact spelling of the job's styles and hires
        upscaler (matched ignoring case); checks the `<lora:NAME:...>` tags of the prompt.

        Raises `RequestRejected` naming what the server does not have and what it has.
        """
        fields: dict[str, Any] = {}
        if request.styles:
            known = [style.name for style in parse_styles(self._optional_list("prompt-styles"))]
            fields["styles"] = [self._exact(name, known, "style") for name in request.styles]
        if request.enable_hr and request.kind == Kind.txt2img:
            known = (parse_names(self._optional_list("latent-upscale-modes"))
                     + [n for n in parse_names(self._optional_list("upscalers")) if n != "None"])
            fields["hr_upscaler"] = self._exact(request.hr_upscaler, known, "upscaler")
        tags = lora_names(request.prompt)
        if tags:
            loras = parse_loras(self._optional_list("loras"))
            known = [lora.name for lora in loras] + [lora.alias for lora in loras]
            # no list at all (the Lora extension is off or hidden): leave the tags to A1111
            missing = [name for name in tags if name not in known] if loras else []
            if missing:
                names = ", ".join(lora.name for lora in loras[:20])
                raise self._error(RequestRejected,
                                  f"{self.label} has no LoRA called "
                                  f"{', '.join(repr(n) for n in missing)} (A1111 would silently "
                                  f"leave it out). Available: {names}.")
        return fields

    def _exact(self, name: str, known: list[str], what: str) -> str:
        if name in known:
            return name
        folded = [other for other in known if other.casefold() == name.casefold()]
        if len(folded) == 1:
            return folded[0]
        available = ", ".join(known[:30]) or "none"
        more = f" and {len(known) - 30} more" if len(known) > 30 else ""
        silently = " (A1111 would silently leave it out)" if what == "style" else ""
        raise self._error(RequestRejected,
                          f"{self.label} has no {what} called '{name}'{silently}. "
                          f"Available: {available}{more}.")

    def _optional_json(self, route: str) -> Any:
        try:
            return self._get_json(route, diagnose_404=False)
        except ApiDisabled:
            log.info("%s has no /%s route", self.label, route)
            return None

    def _optional_dict(self, route: str) -> dict[str, Any]:
        data = self._optional_json(route)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise self._error(BadServerResponse,
                              f"{self.label} sent its /{route} list in an unknown format.")
        return data

    def _optional_list(self, route: str) -> list[Any]:
        data = self._optional_json(route)
        if data is None:
            return []
        if not isinstance(data, list):
            raise self._error(BadServerResponse,
                              f"{self.label} sent its /{route} list in an unknown format.")
        return data


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_loras(items: list[Any]) -> list[LoraInfo]:
    """`GET /loras` entries (`name`, `alias`, `path`, `metadata`); sorted by name."""
    found = []
    for item in items:
        if not isinstance(item, dict) or not _text(item.get("name")):
            continue
        metadata = item.get("metadata")
        found.append(LoraInfo(
            name=item["name"], alias=_text(item.get("alias")) or item["name"],
            path=_text(item.get("path")),
            metadata=dict(metadata) if isinstance(metadata, Mapping) else {}))
    return sorted(found, key=lambda lora: lora.name.casefold())


def parse_embeddings(data: Mapping[str, Any]) -> list[EmbeddingInfo]:
    """`GET /embeddings` (`{"loaded": {...}, "skipped": {...}}`); loaded first, each by name."""
    found: list[EmbeddingInfo] = []
    for group, skipped in (("loaded", False), ("skipped", True)):
        entries = data.get(group)
        if not isinstance(entries, dict):
            continue
        for name in sorted(entries, key=str.casefold):
            entry = entries[name]
            details = entry if isinstance(entry, dict) else {}
            found.append(EmbeddingInfo(name=name, shape=_int_or_none(details.get("shape")),
                                       vectors=_int_or_none(details.get("vectors")),
                                       skipped=skipped))
    return found


def parse_styles(items: list[Any]) -> list[StyleInfo]:
    """`GET /prompt-styles` entries (`name`, `prompt`, `negative_prompt`), in the server's order."""
    return [StyleInfo(name=item["name"], prompt=_text(item.get("prompt")),
                      negative_prompt=_text(item.get("negative_prompt")))
            for item in items if isinstance(item, dict) and _text(item.get("name"))]


def parse_names(items: list[Any]) -> list[str]:
    """The `name` of each entry (`GET /upscalers`, `/latent-upscale-modes`), in order."""
    return [item["name"] for item in items
            if isinstance(item, dict) and _text(item.get("name"))]
