"""Hugging Face Inference fallback backend (huggingface_hub `InferenceClient`, hf-inference).

Text-to-image and image-to-image go to the hf-inference route (or to a dedicated Inference
Endpoint URL). Hugging Face has no inpainting task, so inpainting is image-to-image on the whole
picture followed by a local composite through the blurred mask; such results are marked
`approximate`.

The library call has neither progress nor cancellation, so every request runs in the
background (`background.start`): a cancel returns at once and the request's result is dropped
when it ends.
Nothing here logs or reports the token.
"""

from __future__ import annotations

import contextvars
import importlib
import io
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import huggingface_hub
from huggingface_hub import ImageToImageTargetSize, InferenceClient, get_token
from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from dlx_art.errors import (
    AuthenticationFailed,
    BackendError,
    BackendUnavailable,
    BadImageFile,
    BadServerResponse,
    Cancelled,
    ConnectionDropped,
    DlxError,
    ModelLoading,
    QuotaExceeded,
    RequestRejected,
    ServerFailed,
    ServerNotRunning,
    UsageError,
)
from dlx_art.generation import background
from dlx_art.generation.outpaint import with_canvas
from dlx_art.generation.types import (
    BackendResult,
    BackendStatus,
    CancelToken,
    GeneratedImage,
    GenerationRequest,
    Kind,
    Progress,
    ProgressCallback,
)

log = logging.getLogger("dlx_art.generation.hf")

T = TypeVar("T")

#: Largest image accepted from the server (64 Mpx); PIL only warns from about 89 Mpx.
MAX_RESULT_PIXELS = 8192 * 8192
#: Seeds we pick ourselves lie in [0, SEED_LIMIT).
SEED_LIMIT = 2**32 - 2
#: Largest answer accepted from Hugging Face (one image per request: a 2048 x 2048 PNG that does
#: not compress is 12.6 MB). Counted on the bytes as they arrive; an answer declaring more is
#: refused before its body is read.
MAX_RESPONSE_BYTES = 256 * 1024 * 1024
#: Seconds one request (one image) may take in all, however slowly its answer arrives.
REQUEST_DEADLINE = 600.0
#: Wait used when a 503 "loading" answer carries no usable estimated_time.
DEFAULT_LOADING_DELAY = 1.0
#: Parameters the hf-inference image-to-image spec does not list; dropped if the server objects.
_OPTIONAL_IMG2IMG_PARAMS = ("strength", "seed")

_RATELIMIT_RESET = re.compile(r";\s*t\s*=\s*(\d+)")


def _error_classes(names: tuple[str, ...], attr: str) -> tuple[type[BaseException], ...]:
    """`attr` from each importable transport library (httpx2 in huggingface_hub 2.x)."""
    found: list[type[BaseException]] = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        cls = getattr(module, attr, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


# Transport failures are not wrapped by huggingface_hub: httpx2 in 2.x, httpx in 1.x,
# requests in 0.x. Connection refused / unknown host is a ConnectError (requests: ConnectionError).
_CONNECT_ERRORS = (_error_classes(("httpx2", "httpx"), "ConnectError")
                   + _error_classes(("requests",), "ConnectionError") + (ConnectionRefusedError,))
_TRANSPORT_ERRORS = (_error_classes(("httpx2", "httpx"), "TransportError")
                     + _error_classes(("requests",), "RequestException")
                     + (ConnectionError, TimeoutError))
_TIMEOUT_ERRORS = (InferenceTimeoutError, TimeoutError,
                   *_error_classes(("httpx2", "httpx"), "TimeoutException"),
                   *_error_classes(("requests",), "Timeout"))


class _ResponseTooLarge(Exception):
    pass


class _ResponseTooSlow(Exception):
    pass


# When the request running in this thread must have its whole answer (monotonic seconds).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("dlx_hf_deadline",
                                                                        default=None)


def _check_deadline() -> None:
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline:
        raise _ResponseTooSlow()


def _install_limits() -> None:
    """Make huggingface_hub's shared HTTP client count answer bytes and watch the deadline.

    `InferenceClient` reads whole answers with its process-wide httpx client and has no size
    limit; its timeout is per read, so a server sending a byte every few seconds never trips
    it. A transport wrapper fixes both for every Hugging Face call this process makes: at most
    `MAX_RESPONSE_BYTES` (as sent on the wire), and no more reading once the deadline of the
    request running in that thread has passed. Installed once; idempotent.
    """
    global _LIMITS_INSTALLED
    if _LIMITS_INSTALLED:
        return
    from huggingface_hub.utils import _http as hub_http

    # the transport library huggingface_hub itself uses (httpx2 in 2.x)
    httpx = getattr(hub_http, "httpx2", None) or importlib.import_module("httpx")
    hf_request_event_hook = hub_http.hf_request_event_hook

    class CappedStream(httpx.SyncByteStream):  # type: ignore[misc, name-defined]
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __iter__(self) -> Any:
            total = 0
            for piece in self._inner:
                total += len(piece)
                if total > MAX_RESPONSE_BYTES:
                    raise _ResponseTooLarge()
                _check_deadline()
                yield piece

        def close(self) -> None:
            self._inner.close()

    class CappedTransport(httpx.BaseTransport):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            self._inner = httpx.HTTPTransport()

        def handle_request(self, request: Any) -> Any:
            _check_deadline()
            response = self._inner.handle_request(request)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                response.close()
                raise _ResponseTooLarge()
            return httpx.Response(status_code=response.status_code, headers=response.headers,
                                  stream=CappedStream(response.stream),
                                  extensions=response.extensions)

        def close(self) -> None:
            self._inner.close()

    def factory() -> Any:
        # huggingface_hub's default client (same hooks and redirects), with the capped transport
        return httpx.Client(event_hooks={"request": [hf_request_event_hook]},
                            follow_redirects=True, timeout=None, transport=CappedTransport())

    huggingface_hub.set_client_factory(factory)
    _LIMITS_INSTALLED = True


_LIMITS_INSTALLED = False


def find_token(explicit: str | None) -> str | None:
    """The Hugging Face token to use.

    Args:
        explicit: the token from the app's settings, if any.

    Returns:
        `explicit` when it is set, else what `huggingface_hub.get_token()` finds (the `HF_TOKEN`
        environment variable, then the token file written by `hf auth login`), else None.
    """
    if explicit is not None and explicit.strip():
        return explicit.strip()
    try:
        token = get_token()
    except Exception as err:  # e.g. a failed OIDC exchange; never let discovery break the app
        log.info("Could not read the Hugging Face token: %s", type(err).__name__)
        return None
    return token or None


def _endpoint_label(url: str) -> str:
    """The endpoint URL without user info, query or fragment (where secrets might hide)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _model_from_endpoint(url: str) -> str | None:
    path = urlsplit(url).path
    marker = "/models/"
    if marker in path:
        model = path.split(marker, 1)[1].strip("/")
        return model or None
    return None


class HFClient:
    """Generates images through Hugging Face Inference (hf-inference or an endpoint URL).

    Args:
        model: Hub model id, e.g. "stabilityai/stable-diffusion-xl-base-1.0".
        token: token from the settings; None uses `find_token` (HF_TOKEN, `hf auth login`).
        provider: inference provider; "hf-inference" keeps the payload described in the docs.
        endpoint: full URL of a dedicated Inference Endpoint (or a test server); requests are
            posted to exactly this URL and `model` is only used for labels.
        timeout: seconds to wait for the connection and for each read of the answer.
        deadline: seconds one request may take in all (connecting, waiting, reading the whole
            answer, however slowly it arrives); `REQUEST_DEADLINE` by default.
        loading_wait: total seconds to keep retrying while the model is loading (HTTP 503).
    """

    def __init__(self, *, model: str, token: str | None = None, provider: str = "hf-inference",
                 endpoint: str | None = None, timeout: float = 120.0,
                 loading_wait: float = 180.0, deadline: float | None = None) -> None:
        self._model = model.strip()
        self._endpoint = endpoint.strip() if endpoint and endpoint.strip() else None
        if not self._model and self._endpoint is None:
            raise UsageError("Set a Hugging Face model id or an Inference Endpoint URL.")
        self._explicit_token = token
        self._token = find_token(token)
        self._provider = provider
        self._timeout = timeout
        self._deadline = REQUEST_DEADLINE if deadline is None else deadline
        self._loading_wait = loading_wait
        self._dropped_params: set[str] = set()
        if self._endpoint is not None:
            self.label = f"Hugging Face endpoint {_endpoint_label(self._endpoint)}"
            self.model: str | None = _model_from_endpoint(self._endpoint) or self._model or None
        else:
            self.label = f"Hugging Face {self._model}"
            self.model = self._model
        _install_limits()
        self._client = self._make_client(self._token)

    def _make_client(self, token: str | None) -> InferenceClient:
        return InferenceClient(
            model=self._endpoint or self._model,
            provider=cast(Any, self._provider),  # a Literal in the stubs; validated by the library
            api_key=token,
            timeout=self._timeout,
        )

    def __repr__(self) -> str:
        return f"<HFClient {self.label!r}>"

    @property
    def _target(self) -> str:
        """What the messages name: the model id, else the endpoint."""
        if self.model:
            return f"model {self.model}"
        return f"endpoint {_endpoint_label(self._endpoint or '')}"

    # --- status -------------------------------------------------------------------------

    def status(self) -> BackendStatus:
        """Whether this backend can be tried; no network call is made.

        The token is looked up again, so signing in while the app runs is noticed.
        """
        models = [self.model] if self.model else []
        if find_token(self._explicit_token) is not None or self._endpoint is not None:
            return BackendStatus(name="hf", label=self.label, state="available",
                                 models=models, current_model=self.model)
        return BackendStatus(
            name="hf", label=self.label, state="unavailable",
            detail=("Not signed in to Hugging Face: run `hf auth login`, set the HF_TOKEN "
                    "environment variable, or enter a token in Settings."),
            models=models, current_model=self.model)

    # --- generation ---------------------------------------------------------------------

    def generate(self, request: GenerationRequest, *, on_progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None,
                 want_preview: Callable[[], bool] | None = None) -> BackendResult:
        """Run `request` and return its images (PNG bytes, with the seeds that were sent).

        `want_preview` is accepted for the router's `Backend` protocol and ignored: Hugging
        Face sends no previews.

        Raises:
            Cancelled: `cancel` was triggered; results of requests still running are dropped.
            ModelLoading, QuotaExceeded, AuthenticationFailed, RequestRejected, ServerFailed,
            ConnectionDropped, ServerNotRunning, BadServerResponse: see the module docs.
            UsageError, BadImageFile: the request itself is unusable (missing or broken image).
        """
        if request.kind not in (Kind.txt2img, Kind.img2img, Kind.inpaint, Kind.outpaint):
            raise UsageError(f"Hugging Face cannot run this kind of job ({request.kind.value}).")
        request = with_canvas(request)  # an outpaint: approximate inpainting of its canvas
        if cancel is not None:
            cancel.raise_if_cancelled()
        token = find_token(self._explicit_token)
        if token != self._token:  # signed in or out since the last job
            self._token = token
            self._client = self._make_client(token)
        count = max(1, request.image_count)
        base_seed = request.seed if request.seed >= 0 else random.randrange(SEED_LIMIT)

        original: Image.Image | None = None
        init_png: bytes | None = None
        mask: Image.Image | None = None
        if request.kind is not Kind.txt2img:
            original = _open_request_image(request.init_image, "init image")
            if request.kind is Kind.img2img:
                init_png = _init_for_img2img(original, request, request.init_image or b"")
            else:
                init_png = request.init_image
                mask = _prepare_mask(request, original.size)

        def report(fraction: float, message: str, job_no: int | None = None) -> None:
            if on_progress is not None:
                on_progress(Progress(fraction=fraction, job_no=job_no, job_count=count,
                                     message=message))

        report(0.0, "Waiting for Hugging Face")
        images: list[GeneratedImage] = []
        for index in range(count):
            seed = base_seed + index

            def call(seed: int = seed) -> tuple[Image.Image, int | None]:
                if init_png is None or original is None:
                    return self._txt2img(request, seed), seed
                size = original.size if request.kind in (Kind.inpaint, Kind.outpaint) else None
                return self._img2img(request, init_png, seed, size)

            log.debug("Hugging Face %s: image %d of %d, seed %d (%s)", request.kind.value,
                      index + 1, count, seed, self._target)
            image, sent_seed = self._with_retries(call, request, cancel, report, index, count)
            if mask is not None and original is not None:
                image = _composite(original, image, mask)
            data = _encode_png(image)
            images.append(GeneratedImage(data=data, seed=sent_seed, infotext=None,
                                         width=image.width, height=image.height))
            report((index + 1) / count, f"Received image {index + 1} of {count}", index + 1)

        return BackendResult(images=images, backend="hf", backend_label=self.label,
                             model=self.model,
                             approximate=request.kind in (Kind.inpaint, Kind.outpaint))

    # --- one request --------------------------------------------------------------------

    def _txt2img(self, request: GenerationRequest, seed: int) -> Image.Image:
        result = self._client.text_to_image(
            request.prompt,
            negative_prompt=request.negative or None,
            width=request.width,
            height=request.height,
            num_inference_steps=request.steps,
            guidance_scale=request.cfg_scale,
            seed=seed,
        )
        return _checked_image(result)

    def _img2img(self, request: GenerationRequest, init_png: bytes, seed: int,
                 size: tuple[int, int] | None) -> tuple[Image.Image, int | None]:
        width, height = size or (request.width, request.height)
        extra: dict[str, Any] = {"strength": request.denoising_strength, "seed": seed}
        for name in self._dropped_params:
            extra.pop(name, None)
        result = self._client.image_to_image(
            init_png,  # bytes: hf-inference refuses a PIL image
            prompt=request.prompt,
            negative_prompt=request.negative or None,
            num_inference_steps=request.steps,
            guidance_scale=request.cfg_scale,
            target_size=ImageToImageTargetSize(width=width, height=height),
            **extra,
        )
        return _checked_image(result), seed if "seed" in extra else None

    def _run_in_worker(self, call: Callable[[], T], cancel: CancelToken | None) -> T:
        """Run `call` in the background; return its value or raise its error, or Cancelled.

        The request must be complete within `deadline` seconds overall (not only per read):
        past that this raises `ConnectionDropped` at once, and the worker stops reading at
        its next piece of the answer (see `_install_limits`).
        """
        done = threading.Event()
        deadline = time.monotonic() + self._deadline

        def work() -> T:
            _DEADLINE.set(deadline)  # this thread's own context: seen by the transport
            return call()

        unregister = cancel.on_cancel(done.set) if cancel is not None else None
        try:
            if cancel is not None and cancel.cancelled:
                raise Cancelled()
            future = background.start(work, "dlx-hf-request")
            future.add_done_callback(lambda _future: done.set())
            finished = done.wait(max(0.0, deadline - time.monotonic()) + 0.5)
        finally:
            if unregister is not None:
                unregister()
        if cancel is not None and cancel.cancelled:
            log.info("Hugging Face request cancelled; its result will be dropped")
            raise Cancelled()
        if not finished or not future.done():
            raise self._late()
        return future.result()

    def _late(self) -> ConnectionDropped:
        return ConnectionDropped(
            f"Hugging Face did not finish sending the image within {self._deadline:g} s (the "
            "request's time limit); the request was given up and nothing was stored.")

    def _with_retries(self, call: Callable[[], T], request: GenerationRequest,
                      cancel: CancelToken | None,
                      report: Callable[[float, str, int | None], None],
                      index: int, count: int) -> T:
        deadline: float | None = None
        dropped_retry_done = False
        while True:
            try:
                return self._run_in_worker(call, cancel)
            except HfHubHTTPError as err:
                status = _status_of(err)
                estimate = _loading_estimate(err) if status == 503 else None
                if estimate is not None:
                    now = time.monotonic()
                    if deadline is None:
                        deadline = now + self._loading_wait
                    remaining = deadline - now
                    if remaining <= 0:
                        raise ModelLoading(
                            f"The Hugging Face {self._target} is still loading; try again in "
                            f"about {max(1, math.ceil(estimate))} s."
                        ) from self._safe_cause(err)
                    delay = min(estimate if estimate > 0 else DEFAULT_LOADING_DELAY, remaining)
                    log.info("Hugging Face %s is loading; retrying in %.1f s", self._target, delay)
                    report(index / count, f"Model loading, about {max(1, math.ceil(estimate))} s",
                           index + 1)
                    if cancel is not None:
                        if cancel.wait(delay):
                            raise Cancelled() from None
                    else:
                        time.sleep(delay)
                    continue
                if (status in (400, 422) and request.kind is not Kind.txt2img
                        and not dropped_retry_done):
                    offending = {name for name in _OPTIONAL_IMG2IMG_PARAMS
                                 if name in _server_message(err).lower()}
                    if offending - self._dropped_params:
                        # The image-to-image spec lists neither; retry once without them.
                        log.info("Hugging Face refused %s; retrying without", sorted(offending))
                        self._dropped_params |= offending
                        dropped_retry_done = True
                        continue
                raise self._http_error(err, status) from self._safe_cause(err)
            except DlxError:
                raise
            except Exception as err:
                mapped = self._other_error(err)
                if mapped is None:
                    raise
                raise mapped from self._safe_cause(err)

    # --- errors -------------------------------------------------------------------------

    def _safe_cause(self, err: BaseException) -> BaseException | None:
        """`err` to chain as the cause, or None when its text carries the token (a server
        echoing it back): then the traceback must not show it."""
        if self._token:
            seen: set[int] = set()
            current: BaseException | None = err
            while current is not None and id(current) not in seen:
                seen.add(id(current))
                if self._token in f"{current}{current.args!r}":
                    return None
                current = current.__cause__ or current.__context__
        return err

    def _scrub(self, text: str) -> str:
        if self._token and len(self._token) >= 4:
            text = text.replace(self._token, "<token>")
        return text

    def _http_error(self, err: HfHubHTTPError, status: int | None) -> BackendError:
        server = self._scrub(_server_message(err))[:500]
        said = f" The server said: {server}" if server else ""
        if status in (401, 403):
            return AuthenticationFailed(
                "Hugging Face rejected the token; sign in again with `hf auth login` or update "
                "the token in Settings.")
        if status == 402:
            return QuotaExceeded(
                "Hugging Face credits used up: add credits or a PRO subscription on "
                f"huggingface.co, or generate with the local server.{said}")
        if status == 429:
            retry = _retry_after(err)
            when = (f"try again in about {retry} s" if retry is not None
                    else "wait a while before trying again")
            return QuotaExceeded(f"Hugging Face rate limit reached; {when}.{said}")
        if status == 404:
            return BackendUnavailable(
                f"Hugging Face does not serve the {self._target} (HTTP 404).{said}")
        if status is not None and 400 <= status < 500:
            return RequestRejected(
                f"Hugging Face rejected the request (HTTP {status}): {server or 'no reason given'}")
        if status == 503:
            return ServerFailed(f"Hugging Face is unavailable right now (HTTP 503).{said}")
        return ServerFailed(f"Hugging Face failed (HTTP {status}).{said}")

    def _other_error(self, err: Exception) -> DlxError | None:
        for item in (err, err.__cause__, err.__context__):
            if isinstance(item, _ResponseTooLarge):
                return BadServerResponse(
                    f"Hugging Face sent an answer larger than {MAX_RESPONSE_BYTES // 2**20} MiB; "
                    "it was not read further.")
            if isinstance(item, _ResponseTooSlow):
                return self._late()
        if isinstance(err, _TIMEOUT_ERRORS):
            return ConnectionDropped(
                f"Hugging Face did not answer within {self._timeout:g} s.")
        if isinstance(err, _CONNECT_ERRORS):
            where = _endpoint_label(self._endpoint) if self._endpoint else "Hugging Face"
            return ServerNotRunning(f"Could not connect to {where}; check the network or the "
                                    "endpoint address.")
        if type(err).__name__ == "OfflineModeIsEnabled":
            return BackendUnavailable(
                "Hugging Face is switched off here (the HF_HUB_OFFLINE environment variable is "
                "set).")
        if isinstance(err, _TRANSPORT_ERRORS):
            return ConnectionDropped(
                f"The connection to Hugging Face broke off ({type(err).__name__}).")
        if isinstance(err, Image.DecompressionBombError):
            return BadServerResponse("Hugging Face sent an image that is far too large.")
        if isinstance(err, (UnidentifiedImageError, _BadResultImage)):
            return BadServerResponse(f"Hugging Face did not send a usable image ({err}).")
        if isinstance(err, ValueError) and "doesn't support task" in str(err):
            match = re.search(r"task '([^']+)'", str(err))
            task = match.group(1) if match else "this task"
            return RequestRejected(
                f"The Hugging Face {self._target} cannot do {task} on {self._provider}; choose "
                "another model or an Inference Endpoint.")
        return None


class _BadResultImage(Exception):
    pass


def _status_of(err: HfHubHTTPError) -> int | None:
    response = getattr(err, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _response_json(err: HfHubHTTPError) -> dict[str, Any]:
    try:
        data = err.response.json()
    except Exception:
        return {}
    return data if isinstance(data, dict) else {}


def _server_message(err: HfHubHTTPError) -> str:
    message = getattr(err, "server_message", None)
    if isinstance(message, str) and message.strip():
        return message.strip()
    error = _response_json(err).get("error")
    if isinstance(error, list):
        return "; ".join(str(e) for e in error)
    return str(error).strip() if error else ""


def _loading_estimate(err: HfHubHTTPError) -> float | None:
    """Seconds the 503 says the model still needs to load; None for other 503s."""
    data = _response_json(err)
    estimate = data.get("estimated_time")
    if isinstance(estimate, (int, float)) and not isinstance(estimate, bool) \
            and math.isfinite(estimate):
        return max(0.0, float(estimate))
    if "loading" in str(data.get("error", "")).lower():
        return 0.0
    return None


def _retry_after(err: HfHubHTTPError) -> int | None:
    headers = getattr(err.response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after")
    if value is not None and value.strip().isdigit():
        return int(value.strip())
    ratelimit = headers.get("ratelimit")
    if ratelimit:
        match = _RATELIMIT_RESET.search(ratelimit)
        if match:
            return int(match.group(1))
    return None


# --- images -----------------------------------------------------------------------------


def _checked_image(result: Any) -> Image.Image:
    """Decode the server's image fully, refusing oversized or broken ones."""
    if not isinstance(result, Image.Image):
        raise _BadResultImage(f"got {type(result).__name__}")
    if result.width <= 0 or result.height <= 0 or \
            result.width * result.height > MAX_RESULT_PIXELS:
        raise _BadResultImage(f"{result.width}x{result.height} pixels")
    image: Image.Image = result
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise _BadResultImage(f"broken image data: {type(err).__name__}") from err
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    return image


def _encode_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)  # no metadata chunks are written
    return out.getvalue()


def _open_request_image(data: bytes | None, what: str) -> Image.Image:
    if not data:
        raise UsageError(f"This job needs an {what}.")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise BadImageFile(f"The {what} cannot be read ({type(err).__name__}).") from err
    return image


def _init_for_img2img(original: Image.Image, request: GenerationRequest, data: bytes) -> bytes:
    """The init image at the requested size (A1111 "just resize"), encoded as PNG."""
    size = (request.width, request.height)
    if original.size == size:
        return data
    resized = original.convert("RGBA" if "A" in original.getbands() else "RGB").resize(
        size, Image.Resampling.LANCZOS)
    return _encode_png(resized)


def _prepare_mask(request: GenerationRequest, size: tuple[int, int]) -> Image.Image:
    """The repaint weight: white = take the generated pixel, black = keep the original."""
    mask = _open_request_image(request.mask, "inpainting mask")
    if "A" in mask.getbands():
        # A painted RGBA mask: what is painted (opaque and bright) is repainted.
        rgba = mask.convert("RGBA")
        weight = Image.composite(rgba.convert("L"), Image.new("L", rgba.size, 0),
                                 rgba.getchannel("A"))
    else:
        weight = mask.convert("L")
    if weight.size != size:
        weight = weight.resize(size, Image.Resampling.LANCZOS)
    if request.invert_mask:
        weight = ImageOps.invert(weight)
    if request.mask_blur > 0:
        weight = weight.filter(ImageFilter.GaussianBlur(request.mask_blur))
    return weight


def _composite(original: Image.Image, generated: Image.Image, mask: Image.Image) -> Image.Image:
    mode = "RGBA" if "A" in original.getbands() else "RGB"
    base = original.convert(mode)
    painted = generated.convert(mode)
    if painted.size != base.size:
        painted = painted.resize(base.size, Image.Resampling.LANCZOS)
    return Image.composite(painted, base, mask)


__all__ = ["HFClient", "find_token", "MAX_RESPONSE_BYTES", "MAX_RESULT_PIXELS",
           "REQUEST_DEADLINE"]
