"""Upscaling on AUTOMATIC1111: `POST /sdapi/v1/extra-single-image` (the WebUI's "Extras" tab).

Used by `A1111Client.upscale` (and by `A1111Client.generate` for a `Kind.upscale` request), with
the client's own HTTP session, credentials, timeouts, error mapping and per-server job lock.
The contract is `/work/shared/reference/a1111-api.md` ("POST /extra-single-image"):

* The body never holds `null` (A1111 answers 422): only the fields used are sent, each with its
  declared type; resize mode 0 (scale by `upscaling_resize`).
* The answer is `{"html_info", "image"}`; the PNG keeps the source's text chunks (its
  `parameters`, so prompt, seed and model survive) and gains `postprocessing`
  ("Postprocess upscale by: 2.0, Postprocess upscaler: Lanczos").
* An unknown upscaler is a 500 `AssertionError` ("could not find upscaler named X"): it is
  reported as a rejected request naming the upscalers the server has.

What the catalog keeps as the upscaled image's infotext (`catalog_infotext`): the source's
`parameters` with the `postprocessing` pairs added at the end of its parameter line, e.g.
"... Model: v1-5-pruned-emaonly, Version: v1.10.1, Postprocess upscale by: 2.0, Postprocess
upscaler: Lanczos". It stays one A1111 infotext (the parameter line keeps its three or more
pairs, so A1111's and our parser read prompt, seed and model unchanged), and says how the image
was made. The file itself is stored as the server sent it (`parameters` and `postprocessing`
in their own chunks, as A1111 writes them).

A cancel stops waiting at once; `/interrupt` is sent only while `/progress` shows the server's
running job is an upscale (A1111's "extras" job), so another client's generation is never
stopped by it. A1111 finishes most upscales anyway; nothing of a cancelled job is stored.

No Qt here.
"""

from __future__ import annotations

import base64
import binascii
import html
import logging
from typing import TYPE_CHECKING, Any

from dlx_art.errors import (
    BadServerResponse,
    Cancelled,
    DlxError,
    RequestRejected,
    ServerFailed,
)
from dlx_art.generation.a1111_payloads import (
    ErrorFactory,
    _as_int,
    _inspect_image,
    _strip_data_url,
)
from dlx_art.generation.types import (
    BackendResult,
    CancelToken,
    GeneratedImage,
    GenerationRequest,
    Kind,
    Progress,
    ProgressCallback,
    stored_seed,
)

if TYPE_CHECKING:
    from dlx_art.generation.a1111 import A1111Client

__all__ = ["ROUTE", "catalog_infotext", "parse_upscale", "upscale", "upscale_payload"]

log = logging.getLogger("dlx_art.generation.a1111")

ROUTE = "extra-single-image"
_UNKNOWN_UPSCALER = "could not find upscaler named "


def upscale_payload(request: GenerationRequest, error: ErrorFactory) -> dict[str, Any]:
    """The JSON body of an upscale (no nulls; only fields the API declares)."""
    if request.kind != Kind.upscale:
        raise error(RequestRejected, f"Not an upscale: a {request.kind.value} job.")
    if not request.init_image:
        raise error(RequestRejected, "An upscale needs a source image.")
    return {
        "resize_mode": 0,
        "show_extras_results": True,
        "upscaling_resize": float(request.upscaling_resize),
        "upscaler_1": str(request.upscaler_1),
        "upscaler_2": str(request.upscaler_2),
        "extras_upscaler_2_visibility": float(request.upscaler_2_visibility),
        "image": base64.b64encode(request.init_image).decode("ascii"),
    }


def catalog_infotext(parameters: str | None, postprocessing: str | None) -> str | None:
    """The infotext the catalog keeps for an upscaled image (see the module docstring).

    None when the image has no `parameters` (the library then writes one from the catalog's
    fields, as for any image that comes without).
    """
    parameters = (parameters or "").strip()
    postprocessing = (postprocessing or "").strip()
    if not parameters:
        return None
    if not postprocessing:
        return parameters
    return f"{parameters}, {postprocessing}"


def _html_text(html_info: Any) -> str:
    """`html_info` ("<p>a, b</p>") as plain text."""
    if not isinstance(html_info, str):
        return ""
    text = html_info.strip()
    if text.startswith("<p>") and text.endswith("</p>"):
        text = text[3:-4]
    return html.unescape(text.replace("<br>\n", "\n").replace("<br>", "\n"))


def parse_upscale(data: Any, label: str, error: ErrorFactory) -> GeneratedImage:
    """The upscaled image of an `extra-single-image` answer.

    Raises (through `error`) `BadServerResponse` when the answer has no usable image.
    """
    if not isinstance(data, dict) or not isinstance(data.get("image"), str) or not data["image"]:
        raise error(BadServerResponse, f"{label} answered the upscale without an image. Is this "
                                       "address really an AUTOMATIC1111 server?")
    try:
        blob = base64.b64decode(_strip_data_url(data["image"]), validate=True)
    except (binascii.Error, ValueError):
        raise error(BadServerResponse,
                    f"{label} sent the upscaled image as broken base64; it cannot be used.") \
            from None
    try:
        file_type, width, height = _inspect_image(blob)
    except BadServerResponse as exc:
        raise error(BadServerResponse,
                    f"{label} sent an upscaled image, but {exc.user_message}.") from None
    text: dict[str, str] = {}
    if file_type == "png":
        from dlx_art.library import png

        try:
            text = png.read_png_text(blob)
        except DlxError:
            text = {}
    parameters = text.get("parameters")
    postprocessing = text.get("postprocessing") or _html_text(data.get("html_info"))
    seed = None
    if parameters:
        from dlx_art.library.staging import values_from_parameters

        seed = stored_seed(_as_int(values_from_parameters(parameters).get("seed")))
    return GeneratedImage(data=blob, seed=seed,
                          infotext=catalog_infotext(parameters, postprocessing),
                          width=width, height=height, file_type=file_type)


def upscale(client: A1111Client, request: GenerationRequest, *,
            on_progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None) -> BackendResult:
    """Upscale `request.init_image` on `client`'s server; one image back.

    Raises:
        RequestRejected: An upscaler the server does not have, or a 422.
        Cancelled: The person cancelled (nothing is returned).
        BackendError: As `A1111Client.generate` raises them (server down, busy, auth...).
    """
    from dlx_art.generation.a1111 import _lock_for

    cancel = cancel or CancelToken()
    cancel.raise_if_cancelled()
    body = upscale_payload(request, client._error)

    def report(fraction: float, message: str) -> None:
        if on_progress is not None:
            try:
                on_progress(Progress(fraction=fraction, message=message))
            except Exception:  # a broken progress display must not break the job
                log.exception("progress callback failed")

    lock = _lock_for(client.base_url)
    if not lock.acquire(blocking=False):
        report(0.0, "Waiting for the previous job on this server")
        while not lock.acquire(timeout=0.1):
            cancel.raise_if_cancelled()
    try:
        cancel.raise_if_cancelled()
        client._wait_until_idle(cancel)
        report(0.0, f"Upscaling on {client.label}")
        try:
            response = client._run_blocking_post(client._url(ROUTE), body, cancel,
                                                 "a1111-upscale")
        except Cancelled:
            _interrupt_if_upscaling(client)
            raise
        try:
            client._check_status(response, ROUTE, diagnose_404=True)
        except ServerFailed as exc:
            raise _unknown_upscaler(client, exc) or exc from None
        data = client._json(response, ROUTE)
    finally:
        lock.release()
    image = parse_upscale(data, client.label, client._error)
    report(1.0, "Upscaled")
    return BackendResult(images=[image], backend="a1111", backend_label=client.label)


def _unknown_upscaler(client: A1111Client, exc: ServerFailed) -> DlxError | None:
    """A 500 "could not find upscaler named X" as a rejected request that lists the names."""
    message = exc.user_message
    at = message.find(_UNKNOWN_UPSCALER)
    if at < 0:
        return None
    name = message[at + len(_UNKNOWN_UPSCALER):].rstrip(".").strip()
    names: list[str] = []
    try:
        listed = client._get_json("upscalers", diagnose_404=False)
        if isinstance(listed, list):
            names = [str(item["name"]) for item in listed
                     if isinstance(item, dict) and isinstance(item.get("name"), str)]
    except DlxError:
        pass
    choose = f" Choose one of: {', '.join(names)}." if names else ""
    return client._error(RequestRejected,
                         f"{client.label} has no upscaler called '{name}'.{choose}")


def _interrupt_if_upscaling(client: A1111Client) -> None:
    """Send `/interrupt` only while the server's running job is an upscale ("extras")."""
    try:
        data = client._get_json("progress", params={"skip_current_image": "true"},
                                timeout=client._poll_timeout, diagnose_404=False)
        state = data.get("state") if isinstance(data, dict) else None
        if isinstance(state, dict) and state.get("job") == "extras" \
                and (_as_int(state.get("job_count")) or 0) != 0:
            client.interrupt()
    except DlxError as exc:
        log.info("%s: no interrupt after a cancelled upscale: %s", client.label, exc)
