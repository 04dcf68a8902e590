"""Client for the AUTOMATIC1111 WebUI HTTP API (`/sdapi/v1`, reference version v1.10.1).

The contract it follows is `/work/shared/reference/a1111-api.md`. In short:

* Only `/sdapi/v1` routes are used; `GET /` is asked only after a 404, to tell "API off" (the UI
  answers) from "wrong URL".
* Credentials go out pre-emptively (A1111 sends no `WWW-Authenticate`). Every call has a timeout;
  only idempotent GETs are retried; the generation POST never is.
* A generation request stays open for the whole job, so it runs in a helper thread while the
  calling thread polls `/progress`, reports `Progress`, and watches the `CancelToken`.
* One job per server from this process (a lock per base URL); another client's running job is
  seen on `/progress` and waited for up to `busy_wait` seconds, then `ServerBusy` is raised.
* Every failure is a `dlx_art.errors.BackendError` subclass with a message a person can act on.
  Credentials never appear in messages.

No Qt here: results, exceptions and plain callbacks only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import itertools
import json
import logging
import struct
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
import urllib3.exceptions
from PIL import Image
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from dlx_art.errors import (
    ApiDisabled,
    AuthenticationFailed,
    BackendError,
    BadServerResponse,
    Cancelled,
    ConnectionDropped,
    DlxError,
    OutOfMemory,
    RequestRejected,
    ServerBusy,
    ServerFailed,
    ServerNotRunning,
    UsageError,
)
from dlx_art.generation.types import (
    BackendResult,
    BackendStatus,
    CancelToken,
    GeneratedImage,
    GenerationRequest,
    InpaintArea,
    Kind,
    Progress,
    ProgressCallback,
    stored_seed,
)

__all__ = ["A1111Client", "A1111Model", "MAX_IMAGE_PIXELS", "MAX_RESPONSE_BYTES",
           "MAX_SMALL_RESPONSE_BYTES", "normalise_base_url"]

log = logging.getLogger("dlx_art.generation.a1111")

API_PREFIX = "/sdapi/v1/"
GET_READ_TIMEOUT = 30.0  # list endpoints, /options, /progress
POLL_READ_TIMEOUT = 10.0  # /progress while a job runs; a late poll must not hide the job's end
INTERRUPT_READ_TIMEOUT = 5.0
MAX_IMAGE_PIXELS = 178_956_970  # Pillow's DecompressionBombError threshold (2 x MAX_IMAGE_PIXELS)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PILLOW_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
_FILE_TYPES = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif", "BMP": "bmp",
               "TIFF": "tiff"}
_MESSAGE_LIMIT = 400
MAX_RESPONSE_BYTES = 512 * 1024 * 1024
"""Largest answer to a generation (txt2img / img2img) accepted, after gzip decoding.

A batch of 8 at 2048x2048 is at most about 135 MB: 8 PNGs of 2048 x 2048 x 3 bytes that do
not compress (12.6 MB each), base64 (x 4/3), plus infotexts; a grid or returned masks add a
few more images. 512 MiB leaves room for that several times over, yet a server that streams
without end is cut off long before memory runs out. Read 64 KiB at a time, counted as it
arrives; nothing is parsed or stored from an answer that is too big."""
MAX_SMALL_RESPONSE_BYTES = 64 * 1024 * 1024
"""Largest answer to any other call (/progress with a live preview, model and option lists)."""
_READ_PIECE = 64 * 1024

_url_locks: dict[str, threading.Lock] = {}
_url_locks_guard = threading.Lock()
_thread_ids = itertools.count(1)



def _lock_for(base_url: str) -> threading.Lock:
    """The process-wide lock that keeps one job in flight per server."""
    with _url_locks_guard:
        return _url_locks.setdefault(base_url, threading.Lock())


def normalise_base_url(url: str) -> tuple[str, tuple[str, str] | None]:
    """Normalise a server address; returns (base_url, credentials found in the URL or None).

    Adds "http://" when no scheme is given, drops a trailing slash, a trailing "/sdapi/v1", the
    query and any "user:pass@" (returned separately so it never shows up in labels or messages).
    Keeps a path prefix such as "/sd". Raises `UsageError` for an address that cannot be used.
    """
    text = url.strip()
    if not text:
        raise UsageError("The AUTOMATIC1111 address is empty. "
                         "Enter one such as http://127.0.0.1:7860.")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise UsageError("The AUTOMATIC1111 address must start with http:// or https:// "
                         f"(got {parts.scheme}://).")
    host = parts.hostname
    try:
        port = parts.port
    except ValueError:
        raise UsageError("The AUTOMATIC1111 address has an invalid port number.") from None
    if not host:
        raise UsageError("The AUTOMATIC1111 address has no host name.")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    path = parts.path.rstrip("/")
    if path.endswith("/sdapi/v1"):
        path = path[: -len("/sdapi/v1")].rstrip("/")
    credentials = None
    if parts.username is not None:
        credentials = (unquote(parts.username), unquote(parts.password or ""))
    return f"{parts.scheme.lower()}://{netloc}{path}", credentials


@dataclass(frozen=True)
class A1111Model:
    """A checkpoint as `GET /sdapi/v1/sd-models` lists it.

    `title` is what the server shows and accepts ("name.safetensors [shorthash]"; without the
    hash until the server has hashed the file). `hash` is the 10-hex short hash.
    """

    title: str
    model_name: str
    hash: str | None
    sha256: str | None
    filename: str

    @property
    def name(self) -> str:
        """The path relative to the models folder: the title without " [hash]"."""
        if self.hash and self.title.endswith(f" [{self.hash}]"):
            return self.title[: -len(self.hash) - 3]
        return self.title

    @property
    def stem(self) -> str:
        """The file name without folder and extension."""
        base = self.filename.replace("\\", "/").rsplit("/", 1)[-1] or self.name.rsplit("/", 1)[-1]
        return base.rsplit(".", 1)[0] if "." in base else base

    def aliases(self) -> list[str]:
        """Every name that designates this model (like A1111's `CheckpointInfo.ids`)."""
        names = [self.title, self.name, self.model_name, self.stem]
        if self.hash:
            names += [self.hash, f"{self.name} [{self.hash}]", f"{self.stem} [{self.hash}]"]
        if self.sha256:
            names.append(self.sha256)
        return [n for n in names if n]


class _Call:
    """Runs one blocking call in a daemon thread; the caller waits on `done` as it likes."""

    def __init__(self, target: Callable[[], requests.Response], name: str,
                 wake: threading.Event | None = None) -> None:
        self._target = target
        self.done = threading.Event()
        self._wake = wake
        self._result: requests.Response | None = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"{name}-{next(_thread_ids)}",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            self._result = self._target()
        except BaseException as exc:  # handed to the waiting thread, which maps it
            self._error = exc
        finally:
            self.done.set()
            if self._wake is not None:
                self._wake.set()

    def result(self) -> requests.Response:
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


class _ProgressTracker:
    """Turns `/progress` answers into `Progress` reports, hiding the start-of-job glitches."""

    def __init__(self, callback: ProgressCallback | None, sampling_steps: set[int]) -> None:
        self._callback = callback
        self._sampling_steps = sampling_steps
        self._fraction = 0.0
        self._last_preview: bytes | None = None
        self.reports = 0

    def emit(self, progress: Progress) -> None:
        if self._callback is None:
            return
        self.reports += 1
        try:
            self._callback(progress)
        except Exception:  # a broken progress display must not break the job
            log.exception("progress callback failed")

    def feed(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        state = data.get("state")
        state = state if isinstance(state, dict) else {}
        job_count = _as_int(state.get("job_count"))
        if job_count is None or job_count <= 0:
            return  # idle, queued, or the -1 moment at the start of a job
        job_no = min(max(_as_int(state.get("job_no")) or 0, 0), job_count - 1)
        steps = _as_int(state.get("sampling_steps"))
        step = _as_int(state.get("sampling_step"))
        human_step: int | None = None
        if steps and steps in self._sampling_steps and step is not None and 0 <= step < steps:
            fraction = (job_no + step / steps) / job_count
            human_step = step + 1
        else:  # sampling_steps still holds the previous job's value: only the batch is known
            steps = None
            fraction = job_no / job_count
        fraction = min(max(fraction, self._fraction), 0.999)
        self._fraction = fraction
        eta = _as_float(data.get("eta_relative"))
        if eta is not None and (eta < 0 or fraction < 0.05):
            eta = None
        preview = _decode_preview(data.get("current_image"))
        if preview is not None and preview == self._last_preview:
            preview = None
        elif preview is not None:
            self._last_preview = preview
        self.emit(Progress(fraction=fraction, step=human_step, steps=steps, eta_seconds=eta,
                           job_no=job_no + 1, job_count=job_count, preview=preview))


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _strip_data_url(text: str) -> str:
    if text.startswith("data:") and "," in text:
        return text.split(",", 1)[1]
    return text


def _decode_preview(value: Any) -> bytes | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        data = base64.b64decode(_strip_data_url(value), validate=True)
        _inspect_image(data)
    except (binascii.Error, ValueError, BadServerResponse):
        return None
    return data


def _inspect_image(data: bytes) -> tuple[str, int, int]:
    """(file type, width, height) of an encoded image, without decoding its pixels.

    Raises `BadServerResponse` for something that is not an image, is truncated, or claims more
    than `MAX_IMAGE_PIXELS` pixels (a decompression bomb).
    """
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 8 + 25 + 12 or data[12:16] != b"IHDR":
            raise BadServerResponse("it is a PNG file without a valid header")
        width, height = struct.unpack(">II", data[16:24])
        if width == 0 or height == 0:
            raise BadServerResponse("it is a PNG file of size 0")
        if width * height > MAX_IMAGE_PIXELS:
            raise BadServerResponse(
                f"it claims to be {width}x{height} pixels, far too large to be real "
                "(a decompression bomb); it was not opened")
        if b"IEND" not in data[-12:]:
            raise BadServerResponse("it is a truncated PNG file")
        return "png", width, height
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS) as image:
                file_format = image.format or ""
                width, height = image.size
        except Image.DecompressionBombError:
            raise BadServerResponse(
                "it is far too large to be real (a decompression bomb)") from None
        except Exception:  # Pillow raises many kinds on garbage
            raise BadServerResponse("it is not an image file") from None
    if width <= 0 or height <= 0:
        raise BadServerResponse("it is an image of size 0")
    if width * height > MAX_IMAGE_PIXELS:
        raise BadServerResponse(f"it claims to be {width}x{height} pixels (a decompression bomb)")
    return _FILE_TYPES.get(file_format, file_format.lower() or "bin"), width, height


def _shorten(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dimension(value: int) -> int:
    return max(64, int(value) // 8 * 8)


class A1111Client:
    """Talks to one AUTOMATIC1111 WebUI server started with `--api` (or `--nowebui`).

    Thread-safe: each thread gets its own `requests.Session`. Use `close()` when done.

    Args:
        base_url: e.g. "http://127.0.0.1:7860", "127.0.0.1:7861", "https://host/sd" (a path
            prefix is kept). "user:pass@" in the URL is taken as `auth` when `auth` is None.
        auth: (user, password) for `--api-auth`, sent pre-emptively as HTTP Basic.
        connect_timeout: seconds to establish a connection.
        read_timeout: seconds to wait for a generation (or model load) to answer.
        verify: TLS verification: True, False, or a CA bundle path.
        poll_interval: seconds between `/progress` polls while a job runs.
        busy_wait: how long to wait for another client's job before raising `ServerBusy`.
        interrupt_grace: after a cancel, how long to wait for the server to hand back the
            interrupted job before giving up on it.
        max_response_bytes: largest answer to a generation request (`MAX_RESPONSE_BYTES`).

    `read_timeout` is also each job's overall deadline: the generation request must have sent
    its whole answer by then, however the server paces it (one byte every few seconds too).
    """

    def __init__(self, base_url: str, *, auth: tuple[str, str] | None = None,
                 connect_timeout: float = 3.05, read_timeout: float = 900.0,
                 verify: bool | str = True, poll_interval: float = 0.5, busy_wait: float = 0.0,
                 interrupt_grace: float = 10.0,
                 max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.base_url, url_auth = normalise_base_url(base_url)
        auth = auth if auth is not None else url_auth
        if auth is not None:
            try:
                f"{auth[0]}:{auth[1]}".encode("latin-1")
            except UnicodeEncodeError:
                raise UsageError("The A1111 user name and password can only use Latin-1 characters "
                                 "(HTTP Basic authentication cannot send others).") from None
        self._auth = auth
        self.label = f"A1111 at {self.base_url}"
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.verify = verify
        self.poll_interval = poll_interval
        self.busy_wait = busy_wait
        self.interrupt_grace = interrupt_grace
        self.max_response_bytes = max_response_bytes
        self._get_timeout = (connect_timeout, min(GET_READ_TIMEOUT, read_timeout))
        self._poll_timeout = (connect_timeout, min(POLL_READ_TIMEOUT, read_timeout))
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"A1111Client({self.base_url!r})"

    # --- sessions and low-level calls -------------------------------------------------------

    def _new_session(self, *, retry_gets: bool) -> requests.Session:
        session = requests.Session()
        if retry_gets:
            retry = Retry(total=2, connect=1, read=1, status=2, other=0, redirect=3,
                          backoff_factor=0.1, status_forcelist=(502, 503, 504),
                          allowed_methods=frozenset({"GET"}), raise_on_status=False)
            adapter = HTTPAdapter(max_retries=retry)
        else:
            adapter = HTTPAdapter()  # requests' default: no retries at all
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.auth = self._auth
        # also passed per request: REQUESTS_CA_BUNDLE in the environment overrides session.verify
        session.verify = self.verify
        session.headers["User-Agent"] = "DLX-Art-Studio"
        return session

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._new_session(retry_gets=True)
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close the HTTP connections this client opened (it can still be used afterwards)."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        self._local = threading.local()
        for session in sessions:
            session.close()

    def _url(self, route: str) -> str:
        return self.base_url + API_PREFIX + route

    def _scrub(self, message: str) -> str:
        if self._auth is not None:
            user, password = self._auth
            token = base64.b64encode(f"{user}:{password}".encode("latin-1")).decode("ascii")
            message = message.replace(token, "***")
            if len(password) >= 4:
                message = message.replace(password, "***")
        return message

    def _error(self, cls: type[BackendError], message: str) -> BackendError:
        return cls(self._scrub(message))

    def _not_running(self, reason: str) -> BackendError:
        return self._error(ServerNotRunning,
                           f"No AUTOMATIC1111 server answers at {self.base_url} ({reason}). "
                           "Start it with --api, or check the URL.")

    def _map_exception(self, exc: BaseException, *, during_job: bool) -> DlxError:
        """Translate a `requests` exception into a typed error."""
        if isinstance(exc, DlxError):
            return exc
        if isinstance(exc, requests.exceptions.SSLError):
            return self._error(ServerNotRunning,
                               f"The TLS certificate of {self.base_url} could not be verified, or "
                               f"the secure connection failed ({_ssl_reason(exc)}). If the server "
                               "uses a certificate of its own, point the REQUESTS_CA_BUNDLE "
                               "environment variable at the certificate of the authority that "
                               "signed it; if it does not use TLS, use an http:// address.")
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return self._not_running(f"no connection within {self.connect_timeout:g} s")
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                            requests.exceptions.MissingSchema)):
            return self._error(ServerNotRunning,
                               f"{self.base_url} is not a usable address. Check the URL.")
        if isinstance(exc, requests.exceptions.ReadTimeout):
            if during_job:
                return self._error(ConnectionDropped,
                                   f"{self.label} did not finish the job within "
                                   f"{self.read_timeout:g} s; the connection was given up. "
                                   "The server may still be working on it.")
            return self._error(ServerNotRunning,
                               f"{self.label} accepted the connection but did not answer within "
                               f"{self._get_timeout[1]:g} s. Check that the server is not stuck.")
        if isinstance(exc, requests.exceptions.ConnectionError):
            if _is_connect_failure(exc):
                return self._not_running(_connect_reason(exc))
            return self._error(ConnectionDropped,
                               f"The connection to {self.label} closed unexpectedly"
                               + (" while the job was running" if during_job else "")
                               + ". The server may have crashed or restarted; check its console.")
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            return self._error(ConnectionDropped,
                               f"The connection to {self.label} broke off in the middle of its "
                               "answer. The server may have crashed or restarted; check its "
                               "console.")
        if isinstance(exc, requests.exceptions.ContentDecodingError):
            return self._error(BadServerResponse,
                               f"{self.label} sent a compressed answer that cannot be decoded.")
        if isinstance(exc, requests.exceptions.TooManyRedirects):
            return self._error(BadServerResponse,
                               f"{self.label} redirects in a loop. Check the URL.")
        if isinstance(exc, (requests.exceptions.RequestException, OSError, ValueError)):
            return self._error(ConnectionDropped,
                               f"Talking to {self.label} failed ({type(exc).__name__}).")
        raise exc  # not a network problem: a bug, let it be seen

    def _request(self, method: str, route: str, *, params: dict[str, str] | None = None,
                 json_body: Any = None, timeout: tuple[float, float] | None = None,
                 diagnose_404: bool = True) -> requests.Response:
        """One call with the thread's session; HTTP errors raised as typed errors.

        The answer is read within `MAX_SMALL_RESPONSE_BYTES` and within the call's read
        timeout as a whole (not only per read), so a server that drips or never stops cannot
        hold this thread or fill memory.
        """
        timeout = timeout or self._get_timeout
        deadline = time.monotonic() + timeout[0] + timeout[1]
        try:
            response = self._session().request(
                method, self._url(route), params=params, json=json_body, verify=self.verify,
                timeout=timeout, allow_redirects=(method == "GET"), stream=True)
            self._read_body(response, MAX_SMALL_RESPONSE_BYTES, deadline, f"/{route}",
                            timeout[0] + timeout[1])
        except Exception as exc:
            raise self._map_exception(exc, during_job=False) from None
        self._check_status(response, route, diagnose_404=diagnose_404)
        return response

    def _read_body(self, response: requests.Response, limit: int, deadline: float, what: str,
                   allowed: float) -> None:
        """Read a streamed answer into `response.content`: at most `limit` bytes (decoded),
        finished by `deadline` (monotonic). Each read returns as soon as some bytes arrive,
        so the deadline is checked even while a server sends one byte at a time.

        Raises `BadServerResponse` (too big), `ConnectionDropped` (too slow) or a `requests`
        exception (mapped by the caller). The connection is closed unless read to its end.
        """
        raw = response.raw
        finished = False
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise self._too_big(what, limit)
            parts: list[bytes] = []
            total = 0
            while True:
                if time.monotonic() > deadline:
                    raise self._error(ConnectionDropped,
                                      f"{self.label} did not finish sending its answer to {what} "
                                      f"within {allowed:g} s; the connection was given up.")
                piece = raw.read1(_READ_PIECE, decode_content=True)
                if not piece:
                    break
                total += len(piece)
                if total > limit:
                    raise self._too_big(what, limit)
                parts.append(piece)
            finished = True
        except urllib3.exceptions.HTTPError as exc:
            raise _as_requests_error(exc) from exc
        finally:
            if not finished:
                response.close()
        response._content = b"".join(parts)  # what `response.content` returns from now on
        response._content_consumed = True
        raw.release_conn()

    def _too_big(self, what: str, limit: int) -> BackendError:
        return self._error(BadServerResponse,
                           f"{self.label} sent an answer to {what} larger than "
                           f"{limit // 2**20} MiB; it was not read further. "
                           "Is this address really an AUTOMATIC1111 server?")

    def _get_json(self, route: str, *, params: dict[str, str] | None = None,
                  timeout: tuple[float, float] | None = None, diagnose_404: bool = True) -> Any:
        return self._json(self._request("GET", route, params=params, timeout=timeout,
                                        diagnose_404=diagnose_404), route)

    def _json(self, response: requests.Response, route: str) -> Any:
        try:
            return json.loads(response.content)
        except RecursionError:  # the size is capped already, but nesting could still be deep
            raise self._error(
                BadServerResponse,
                f"{self.label} answered /{route} with JSON nested too deeply to read. "
                "Is this address really an AUTOMATIC1111 server?") from None
        except (ValueError, UnicodeDecodeError):
            raise self._error(
                BadServerResponse,
                f"{self.label} answered /{route} with something that is not JSON "
                f"({_body_excerpt(response.content)}). "
                "Is this address really an AUTOMATIC1111 server?",
            ) from None

    # --- error bodies ------------------------------------------------------------------------

    def _check_status(self, response: requests.Response, route: str, *, diagnose_404: bool) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        error, detail, errors, text = _error_fields(response)
        said = _server_said(error, detail, errors, text)
        if status in (401, 403):
            if detail in ("Not authenticated", "Unauthorized", "") or self._auth is None:
                hint = ("It needs a user name and password (it runs with --api-auth); "
                        "enter them in the settings.")
            else:
                hint = "Check the user name and password in the settings."
            raise self._error(AuthenticationFailed,
                              f"{self.label} refused access "
                              f"(HTTP {status}: {said or 'no details'}). {hint}")
        if status == 404 and (detail == "Not Found" or not said):
            if diagnose_404:
                raise self._diagnose_404()
            raise self._error(ApiDisabled, f"{self.label} has no /sdapi/v1/{route} route.")
        if status in (400, 404, 422):
            raise self._error(RequestRejected,
                              f"{self.label} rejected the request: {said or f'HTTP {status}'}.")
        if status == 405:
            raise self._error(BadServerResponse,
                              f"{self.label} does not accept this call on /{route} (HTTP 405). "
                              "Is this address really an AUTOMATIC1111 server?")
        if 300 <= status < 400:
            where = response.headers.get("Location", "another address")
            raise self._error(BadServerResponse,
                              f"{self.label} redirects to {_shorten(where, 120)}. "
                              "Use that address instead.")
        if status in (502, 503, 504):
            raise self._not_running(f"HTTP {status} from the server or a proxy in front of it")
        combined = f"{error} {errors} {detail}".lower()
        if error == "OutOfMemoryError" or "out of memory" in combined:
            raise self._error(OutOfMemory,
                              f"{self.label} ran out of GPU memory "
                              f"({_shorten(errors or detail or error, 200)}). Try a smaller size, "
                              "a smaller batch or fewer images, or close other programs that use "
                              "the GPU.")
        if not said or text.strip().lower() == "internal server error":
            raise self._error(ServerFailed,
                              f"{self.label} failed with an internal error (HTTP {status}) and "
                              "sent no details. The server's console shows the cause.")
        raise self._error(ServerFailed, f"{self.label} failed (HTTP {status}): {said}.")

    def _diagnose_404(self) -> BackendError:
        """After a 404 on /sdapi: is the WebUI up without its API, or is this the wrong URL?"""
        try:
            response = self._session().get(self.base_url + "/", timeout=self._get_timeout,
                                            verify=self.verify, stream=True)
            ui_up = response.status_code == 200
            response.close()  # only the status matters: the body is never read
        except Exception:
            ui_up = False
        if ui_up:
            return self._error(ApiDisabled,
                               f"AUTOMATIC1111 at {self.base_url} is running without its API. "
                               "Restart it with --api.")
        return self._error(ServerNotRunning,
                           f"Something answers at {self.base_url}, but not the AUTOMATIC1111 "
                           "API (HTTP 404 on /sdapi/v1). Check the URL and its path prefix, and "
                           "start the server with --api.")

    # --- discovery ---------------------------------------------------------------------------

    def models(self) -> list[A1111Model]:
        """The checkpoints the server offers (`GET /sd-models`)."""
        data = self._get_json("sd-models")
        if not isinstance(data, list):
            raise self._error(BadServerResponse,
                              f"{self.label} sent a model list in an unknown format.")
        found = []
        for item in data:
            if not isinstance(item, dict) or not isinstance(item.get("title"), str):
                continue
            found.append(A1111Model(
                title=item["title"],
                model_name=str(item.get("model_name") or ""),
                hash=item["hash"] if isinstance(item.get("hash"), str) else None,
                sha256=item["sha256"] if isinstance(item.get("sha256"), str) else None,
                filename=str(item.get("filename") or ""),
            ))
        return found

    def _sampler_table(self) -> list[tuple[str, list[str]]]:
        data = self._get_json("samplers")
        if not isinstance(data, list):
            raise self._error(BadServerResponse,
                              f"{self.label} sent a sampler list in an unknown format.")
        table = []
        for item in data:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                aliases = item.get("aliases")
                table.append((item["name"], [a for a in aliases if isinstance(a, str)]
                              if isinstance(aliases, list) else []))
        return table

    def samplers(self) -> list[str]:
        """Exact sampler names (`GET /samplers`), in the server's order."""
        return [name for name, _ in self._sampler_table()]

    def _scheduler_table(self) -> list[tuple[str, str, list[str]]]:
        try:
            data = self._get_json("schedulers", diagnose_404=False)
        except ApiDisabled:
            return []  # A1111 before 1.9 has no scheduler route (and no scheduler field)
        if not isinstance(data, list):
            raise self._error(BadServerResponse,
                              f"{self.label} sent a scheduler list in an unknown format.")
        table = []
        for item in data:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                label = item.get("label") if isinstance(item.get("label"), str) else item["name"]
                aliases = item.get("aliases")
                table.append((item["name"], label, [a for a in aliases if isinstance(a, str)]
                              if isinstance(aliases, list) else []))
        return table

    def schedulers(self) -> list[tuple[str, str]]:
        """(name, label) pairs (`GET /schedulers`); empty for servers older than 1.9."""
        return [(name, label) for name, label, _ in self._scheduler_table()]

    def current_model(self) -> str | None:
        """`sd_model_checkpoint` from `GET /options`: the loaded model's title (or an alias)."""
        data = self._get_json("options")
        if not isinstance(data, dict):
            raise self._error(BadServerResponse,
                              f"{self.label} sent its options in an unknown format.")
        value = data.get("sd_model_checkpoint")
        return value if isinstance(value, str) and value else None

    def resolve_model(self, name: str) -> A1111Model:
        """Find a model by title, model name, file stem, name, short hash, sha256 or "name [hash]".

        Raises `RequestRejected` when no model (or more than one) matches.
        """
        return self._match_model(name, self.models())

    def _match_model(self, name: str, models: list[A1111Model]) -> A1111Model:
        wanted = name.strip()
        for model in models:
            if model.title == wanted:
                return model
        for fold in (False, True):
            key = wanted.casefold() if fold else wanted
            hits = [m for m in models
                    if key in ((a.casefold() if fold else a) for a in m.aliases())]
            if not hits and len(key) >= 10 and all(c in "0123456789abcdef" for c in key.lower()):
                hits = [m for m in models if m.sha256 and m.sha256.lower().startswith(key.lower())]
            unique = list({m.filename or m.title: m for m in hits}.values())
            if len(unique) == 1:
                return unique[0]
            if len(unique) > 1:
                raise self._error(RequestRejected,
                                  f"The model name '{name}' matches several models on "
                                  f"{self.label}: {', '.join(m.title for m in unique[:10])}. "
                                  "Use the full title.")
        available = ", ".join(m.title for m in models[:20]) or "none"
        more = f" and {len(models) - 20} more" if len(models) > 20 else ""
        raise self._error(RequestRejected,
                          f"{self.label} has no model called '{name}'. "
                          f"Available: {available}{more}.")

    def _find_model(self, name: str, models: list[A1111Model]) -> A1111Model | None:
        try:
            return self._match_model(name, models)
        except RequestRejected:
            return None

    def ensure_model(self, name: str, cancel: CancelToken | None = None) -> str:
        """Make `name` the loaded checkpoint; returns its title.

        Posts `sd_model_checkpoint` to `/options` only when the loaded model is another one (a load
        takes the server's queue lock and can take minutes). Cancelling stops waiting for the load
        (the server finishes it anyway) and raises `Cancelled`.
        """
        cancel = cancel or CancelToken()
        cancel.raise_if_cancelled()
        models = self.models()
        target = self._match_model(name, models)
        current: str | None
        try:
            current = self.current_model()
        except (ServerFailed, BadServerResponse) as exc:  # GET /options can fail for everyone
            log.warning("%s: cannot read the current model: %s", self.label, exc)
            current = None
        if current is not None:
            loaded = self._find_model(current, models)
            if loaded is not None and _identity(loaded) == _identity(target):
                return target.title
        cancel.raise_if_cancelled()
        log.info("%s: loading model %s", self.label, target.title)
        url = self._url("options")
        body = {"sd_model_checkpoint": target.title}
        response = self._run_blocking_post(url, body, cancel, "a1111-options")
        self._check_status(response, "options", diagnose_404=True)
        try:  # the title gains " [hash]" the first time a model is loaded
            now = self.current_model()
            loaded = self._find_model(now, self.models()) if now else None
        except BackendError:
            return target.title
        if loaded is not None and _identity(loaded) == _identity(target):
            return loaded.title
        return target.title

    def is_busy(self) -> bool:
        """True when the server is running a job (`/progress` job_count is not 0)."""
        data = self._get_json("progress", params={"skip_current_image": "true"})
        state = data.get("state") if isinstance(data, dict) else None
        if not isinstance(state, dict):
            raise self._error(BadServerResponse,
                              f"{self.label} sent a progress report in an unknown format.")
        return (_as_int(state.get("job_count")) or 0) != 0

    def status(self) -> BackendStatus:
        """Health and catalogue. Never raises for network or server problems.

        `state` is "up", "busy", "api-off", "down" or "auth-failed"; `detail` says why.
        """
        status = BackendStatus(name="a1111", label=self.label, state="down")
        try:
            models = self.models()
            status.models = [m.title for m in models]
            status.samplers = self.samplers()
            status.schedulers = [name for name, _ in self.schedulers()]
            try:
                status.current_model = self.current_model()
            except (ServerFailed, BadServerResponse):
                status.current_model = None
            busy = self.is_busy()
        except ApiDisabled as exc:
            status.state, status.detail = "api-off", exc.user_message
        except AuthenticationFailed as exc:
            status.state, status.detail = "auth-failed", exc.user_message
        except BackendError as exc:
            status.state, status.detail = "down", exc.user_message
        else:
            status.state = "busy" if busy else "up"
            status.detail = (f"{self.label} is running another job." if busy
                             else f"{self.label} is ready ({len(models)} models).")
        return status

    def interrupt(self) -> None:
        """Ask the server to stop whatever job it is running now (`POST /interrupt`)."""
        self._request("POST", "interrupt", timeout=(self.connect_timeout, INTERRUPT_READ_TIMEOUT))

    def skip(self) -> None:
        """End the image being made now, keep it and go on with the batch (`POST /skip`)."""
        self._request("POST", "skip", timeout=(self.connect_timeout, INTERRUPT_READ_TIMEOUT))

    # --- generation --------------------------------------------------------------------------

    def generate(self, request: GenerationRequest, *, on_progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None,
                 want_preview: Callable[[], bool] | None = None) -> BackendResult:
        """Run one txt2img / img2img / inpaint job and return its images.

        Progress is reported through `on_progress` (called in this thread). Live previews are
        asked for only while `want_preview()` is true; `Progress.preview` carries a new preview
        only when it changed. `step` and `job_no` are 1-based.

        Raises a `BackendError` subclass, or `Cancelled`. With `request.keep_partial`, a
        cancelled job that the server hands back within `interrupt_grace` returns its partial
        images with `interrupted=True`.
        """
        cancel = cancel or CancelToken()
        cancel.raise_if_cancelled()
        route, payload = self._build_payload(request)
        tracker = _ProgressTracker(on_progress, _sampling_steps(request))
        lock = _lock_for(self.base_url)
        if not lock.acquire(blocking=False):
            tracker.emit(Progress(fraction=0.0,
                                  message="Waiting for the previous job on this server"))
            while not lock.acquire(timeout=0.1):
                cancel.raise_if_cancelled()
        try:
            cancel.raise_if_cancelled()
            self._wait_until_idle(cancel)
            model_title = None
            if request.model:
                model_title = self.ensure_model(request.model, cancel)
            cancel.raise_if_cancelled()
            unhook_skip = cancel.on_skip(self.skip)  # the job runs: it may be skipped
            try:
                return self._run_job(route, payload, request, tracker, cancel, want_preview,
                                     model_title)
            finally:
                unhook_skip()
        finally:
            lock.release()

    def _wait_until_idle(self, cancel: CancelToken) -> None:
        deadline = time.monotonic() + self.busy_wait
        while self.is_busy():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._error(ServerBusy,
                                  f"{self.label} is busy with another job (from the WebUI or "
                                  "another program). Try again when it is done.")
            if cancel.wait(min(max(self.poll_interval, 0.05), remaining)):
                raise Cancelled()

    def _build_payload(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        """(route, JSON body) with only fields the API knows, each with its declared type."""
        if request.kind not in (Kind.txt2img, Kind.img2img, Kind.inpaint):
            raise self._error(RequestRejected, f"A1111 cannot run a job of kind '{request.kind}'.")
        if request.steps < 1 or request.batch_size < 1 or request.batch_count < 1:
            raise self._error(RequestRejected,
                              "Steps, batch size and batch count must be at least 1.")
        payload: dict[str, Any] = {
            "prompt": str(request.prompt),
            "negative_prompt": str(request.negative or ""),
            "seed": int(request.seed) if request.seed >= 0 else -1,
            "steps": int(request.steps),
            "cfg_scale": float(request.cfg_scale),
            "width": _dimension(request.width),
            "height": _dimension(request.height),
            "batch_size": int(request.batch_size),
            "n_iter": int(request.batch_count),
            "send_images": True,
            "save_images": False,
        }
        sampler, legacy_scheduler = (None, None)
        if request.sampler:
            sampler, legacy_scheduler = self._match_sampler(request.sampler)
            payload["sampler_name"] = sampler
        scheduler_name = request.scheduler or legacy_scheduler  # an explicit scheduler wins
        if scheduler_name:
            payload["scheduler"] = self._match_scheduler(scheduler_name)
        if request.kind == Kind.txt2img:
            return "txt2img", payload
        if not request.init_image:
            raise self._error(RequestRejected, "Image-to-image and inpainting need a source image.")
        payload["init_images"] = [base64.b64encode(request.init_image).decode("ascii")]
        payload["denoising_strength"] = float(request.denoising_strength)
        if request.kind == Kind.inpaint:
            if not request.mask:
                raise self._error(RequestRejected, "Inpainting needs a mask (white = repaint).")
            payload["mask"] = base64.b64encode(request.mask).decode("ascii")
            payload["mask_blur"] = int(request.mask_blur)
            payload["inpainting_fill"] = int(request.masked_content.a1111_value)
            payload["inpaint_full_res"] = request.inpaint_area == InpaintArea.masked
            payload["inpaint_full_res_padding"] = int(request.padding)
            payload["inpainting_mask_invert"] = 1 if request.invert_mask else 0
        return "img2img", payload

    def _match_sampler(self, name: str) -> tuple[str, str | None]:
        """Exact name for `name` (case-insensitive, alias, or legacy "DPM++ 2M Karras")."""
        table = self._sampler_table()
        wanted = name.strip()
        for exact, _ in table:
            if exact == wanted:
                return exact, None
        folded = wanted.casefold()
        for exact, aliases in table:
            if exact.casefold() == folded or folded in (a.casefold() for a in aliases):
                return exact, None
        for sched_name, label, aliases in self._scheduler_table():
            for suffix in (label, *aliases):
                if folded.endswith(" " + suffix.casefold()):
                    base = folded[: -len(suffix) - 1]
                    for exact, _ in table:
                        if exact.casefold() == base:
                            return exact, sched_name
        names = ", ".join(exact for exact, _ in table) or "none"
        raise self._error(RequestRejected,
                          f"{self.label} has no sampler called '{name}' (A1111 would silently use "
                          f"another one). Choose one of: {names}.")

    def _match_scheduler(self, name: str) -> str:
        table = self._scheduler_table()
        if not table:
            raise self._error(RequestRejected,
                              f"{self.label} is older than version 1.9 and cannot choose a "
                              "scheduler. Leave the scheduler empty, or pick a combined sampler "
                              "name such as 'DPM++ 2M Karras'.")
        folded = name.strip().casefold()
        for sched_name, label, aliases in table:
            names = (sched_name, label, *aliases)
            if folded in (n.casefold() for n in names):
                return sched_name
        labels = ", ".join(label for _, label, _ in table)
        raise self._error(RequestRejected,
                          f"{self.label} has no scheduler called '{name}'. "
                          f"Choose one of: {labels}.")

    def _run_blocking_post(self, url: str, body: dict[str, Any], cancel: CancelToken,
                           name: str) -> requests.Response:
        """POST in a helper thread (never retried); cancellable wait. Raises mapped errors."""
        wake = threading.Event()
        holder: dict[str, requests.Response] = {}
        deadline = time.monotonic() + self.read_timeout
        call = _Call(lambda: self._post_once(url, body, holder, deadline), name, wake)
        unregister = cancel.on_cancel(wake.set)
        try:
            call.start()
            while not call.done.is_set() and not cancel.cancelled:
                if self._past_deadline(call, holder, deadline):
                    raise self._late_job()
                wake.wait(max(0.01, min(self.poll_interval, deadline - time.monotonic())))
                wake.clear()
        finally:
            unregister()
        if not call.done.is_set():
            raise Cancelled()
        try:
            return call.result()
        except Exception as exc:
            raise self._map_exception(exc, during_job=True) from None

    def _post_once(self, url: str, body: dict[str, Any], holder: dict[str, requests.Response],
                   deadline: float) -> requests.Response:
        """The long POST, on its own session (no retries) with the long read timeout.

        The whole answer is read here, in the helper thread, within `MAX_RESPONSE_BYTES` and
        the job's `deadline`; `holder` gets the response as soon as its headers arrive, so the
        waiting thread can shut the connection when the deadline passes.
        """
        session = self._new_session(retry_gets=False)
        try:
            response = session.post(url, json=body, verify=self.verify, allow_redirects=False,
                                    timeout=(self.connect_timeout, self.read_timeout),
                                    stream=True)
            holder["response"] = response
            self._read_body(response, self.max_response_bytes, deadline,
                            "the generation request", self.read_timeout)
            return response
        finally:
            session.close()

    def _past_deadline(self, call: _Call, holder: dict[str, requests.Response],
                       deadline: float) -> bool:
        """True (and the connection shut) when the job's POST is still open at `deadline`."""
        if call.done.is_set() or time.monotonic() < deadline:
            return False
        response = holder.get("response")
        if response is not None:
            with contextlib.suppress(Exception):  # best effort: it may be closing already
                response.raw.shutdown()  # wakes the helper thread blocked in a read
        return True

    def _late_job(self) -> BackendError:
        return self._error(ConnectionDropped,
                           f"{self.label} did not finish the job within {self.read_timeout:g} s "
                           "(the job's time limit); the connection was given up and nothing "
                           "was stored. The server may still be working on it.")

    def _run_job(self, route: str, payload: dict[str, Any], request: GenerationRequest,
                 tracker: _ProgressTracker, cancel: CancelToken,
                 want_preview: Callable[[], bool] | None, model_title: str | None) -> BackendResult:
        wake = threading.Event()
        holder: dict[str, requests.Response] = {}
        deadline = time.monotonic() + self.read_timeout  # the whole job, not one read
        call = _Call(lambda: self._post_once(self._url(route), payload, holder, deadline),
                     "a1111-post", wake)
        unregister = cancel.on_cancel(wake.set)
        try:
            call.start()
            while True:
                wake.wait(max(0.01, min(self.poll_interval, deadline - time.monotonic())))
                wake.clear()
                if call.done.is_set() or cancel.cancelled:
                    break
                if self._past_deadline(call, holder, deadline):
                    raise self._late_job()
                self._poll(tracker, want_preview)
        finally:
            unregister()
        if call.done.is_set():
            response = self._finished_response(call, route)
            result = self._parse_result(response, request, payload, model_title, interrupted=False)
            tracker.emit(Progress(fraction=1.0, step=request.steps if route == "txt2img" else None,
                                  steps=request.steps if route == "txt2img" else None,
                                  job_no=request.batch_count, job_count=request.batch_count))
            return result
        return self._cancel_job(call, route, request, payload, model_title)

    def _finished_response(self, call: _Call, route: str) -> requests.Response:
        try:
            response = call.result()
        except Exception as exc:
            raise self._map_exception(exc, during_job=True) from None
        self._check_status(response, route, diagnose_404=True)
        return response

    def _poll(self, tracker: _ProgressTracker, want_preview: Callable[[], bool] | None) -> None:
        preview = False
        if want_preview is not None:
            try:
                preview = bool(want_preview())
            except Exception:
                log.exception("want_preview callback failed")
        try:
            skip = "false" if preview else "true"
            data = self._get_json("progress", params={"skip_current_image": skip},
                                  timeout=self._poll_timeout, diagnose_404=False)
        except DlxError as exc:  # the job's own request tells whether something is really wrong
            log.debug("%s: progress poll failed: %s", self.label, exc)
            return
        tracker.feed(data)

    def _cancel_job(self, call: _Call, route: str, request: GenerationRequest,
                    payload: dict[str, Any], model_title: str | None) -> BackendResult:
        """The person cancelled while the POST is open: interrupt, wait a little, hand back."""
        self._send_interrupt()
        deadline = time.monotonic() + self.interrupt_grace
        next_check = time.monotonic() + 1.0
        while not call.done.is_set():
            now = time.monotonic()
            if now >= deadline:
                log.warning("%s: the job did not stop within %.1f s after the interrupt; "
                            "giving up on it", self.label, self.interrupt_grace)
                raise Cancelled("Cancelled. The server did not stop the job in time; it may "
                                "still be finishing it.")
            call.done.wait(min(deadline - now, max(0.05, next_check - now)))
            if not call.done.is_set() and time.monotonic() >= next_check:
                next_check = time.monotonic() + 1.0
                self._interrupt_again_if_running()
        if not request.keep_partial:
            raise Cancelled()
        try:
            response = self._finished_response(call, route)
            result = self._parse_result(response, request, payload, model_title, interrupted=True)
        except DlxError as exc:
            log.info("%s: no partial result after cancel: %s", self.label, exc)
            raise Cancelled() from None
        if not result.images:
            raise Cancelled()
        return result

    def _send_interrupt(self) -> None:
        try:
            self.interrupt()
        except DlxError as exc:
            log.info("%s: interrupt failed: %s", self.label, exc)

    def _interrupt_again_if_running(self) -> None:
        """An interrupt that lands before the job starts is cleared by the job: send it again."""
        try:
            data = self._get_json("progress", params={"skip_current_image": "true"},
                                  timeout=self._poll_timeout, diagnose_404=False)
        except DlxError:
            return
        state = data.get("state") if isinstance(data, dict) else None
        if isinstance(state, dict) and (_as_int(state.get("job_count")) or 0) != 0 \
                and state.get("interrupted") is not True:
            self._send_interrupt()

    # --- response ----------------------------------------------------------------------------

    def _parse_result(self, response: requests.Response, request: GenerationRequest,
                      payload: dict[str, Any], model_title: str | None, *,
                      interrupted: bool) -> BackendResult:
        data = self._json(response, "txt2img" if request.kind == Kind.txt2img else "img2img")
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise self._error(BadServerResponse,
                              f"{self.label} answered without an image list. Is this address "
                              "really an AUTOMATIC1111 server?")
        info = _parse_info(data.get("info"))
        raw_images: list[Any] = data["images"]
        offset = _as_int(info.get("index_of_first_image")) or 0
        offset = min(max(offset, 0), len(raw_images))
        all_seeds = info.get("all_seeds") if isinstance(info.get("all_seeds"), list) else []
        infotexts = info.get("infotexts") if isinstance(info.get("infotexts"), list) else []
        first_seed = _as_int(info.get("seed"))
        images: list[GeneratedImage] = []
        for i, encoded in enumerate(raw_images[offset: offset + request.image_count]):
            number = i + 1
            if not isinstance(encoded, str):
                raise self._error(BadServerResponse,
                                  f"{self.label} sent image {number} in an unknown format.")
            try:
                blob = base64.b64decode(_strip_data_url(encoded), validate=True)
            except (binascii.Error, ValueError):
                raise self._error(BadServerResponse,
                                  f"{self.label} sent image {number} as broken base64; "
                                  "it cannot be used.") from None
            try:
                file_type, width, height = _inspect_image(blob)
            except BadServerResponse as exc:
                raise self._error(BadServerResponse,
                                  f"{self.label} sent image {number}, "
                                  f"but {exc.user_message}.") from None
            seed = _as_int(all_seeds[i]) if i < len(all_seeds) else None
            if seed is None and first_seed is not None and not all_seeds:
                seed = first_seed + i
            seed = stored_seed(seed)  # 2**40, -5, "x", NaN: no seed; the infotext keeps it
            text = infotexts[offset + i] if offset + i < len(infotexts) else None
            images.append(GeneratedImage(data=blob, seed=seed,
                                         infotext=text if isinstance(text, str) else None,
                                         width=width, height=height, file_type=file_type))
        if not images and not interrupted:
            raise self._error(BadServerResponse,
                              f"{self.label} finished the job but sent no images.")
        extra = info.get("extra_generation_params")
        schedule = extra.get("Schedule type") if isinstance(extra, dict) else None
        sampler = info.get("sampler_name")
        model_name = info.get("sd_model_name")
        model = model_title or (model_name if isinstance(model_name, str) else None)
        return BackendResult(
            images=images, backend="a1111", backend_label=self.label, model=model,
            sampler=sampler if isinstance(sampler, str) else payload.get("sampler_name"),
            scheduler=schedule if isinstance(schedule, str) else payload.get("scheduler"),
            interrupted=interrupted,
        )


def _identity(model: A1111Model) -> str:
    return model.filename or model.title


def _sampling_steps(request: GenerationRequest) -> set[int]:
    """The `sampling_steps` values /progress may show for this job (img2img runs fewer)."""
    values = {int(request.steps)}
    if request.kind != Kind.txt2img:
        values.add(int(min(request.denoising_strength, 0.999) * request.steps) + 1)
    return values


def _parse_info(value: Any) -> dict[str, Any]:
    """`info` is a JSON string (a dict in some forks); anything else counts as empty."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _error_fields(response: requests.Response) -> tuple[str, str, str, str]:
    """(error, detail, errors, text) of an error answer in any of the known body shapes."""
    content = response.content or b""
    text = content.decode("utf-8", "replace")
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        looks_html = text.lstrip()[:1] == "<"
        return "", "", "", "" if looks_html else _shorten(text, 200)
    if not isinstance(body, dict):
        return "", "", "", _shorten(text, 200)
    error = body.get("error") if isinstance(body.get("error"), str) else ""
    errors = body.get("errors") if isinstance(body.get("errors"), str) else ""
    raw_detail = body.get("detail")
    if isinstance(raw_detail, list):
        detail = "; ".join(_format_validation_item(item) for item in raw_detail)
    elif isinstance(raw_detail, str):
        detail = raw_detail
    elif raw_detail is None:
        detail = ""
    else:
        detail = json.dumps(raw_detail)
    if not (error or errors or detail):  # SD.Next: {"error": "..."} is covered; other shapes:
        return "", "", "", _shorten(text, 200)
    return error, detail, errors, ""


def _format_validation_item(item: Any) -> str:
    """A 422 item (pydantic 1 or 2) -> "steps: value is not a valid integer"."""
    if not isinstance(item, dict):
        return str(item)
    loc = item.get("loc")
    parts = [str(p) for p in loc if p != "body"] if isinstance(loc, list) else []
    where = ".".join(parts) or "request body"
    return f"{where}: {item.get('msg', 'invalid')}"


def _server_said(error: str, detail: str, errors: str, text: str) -> str:
    if detail and errors:
        said = f"{detail} ({errors})"
    elif errors:
        said = f"{error}: {errors}" if error and error != "HTTPException" else errors
    else:
        said = detail or text or (error if error != "HTTPException" else "")
    return _shorten(said)


def _body_excerpt(content: bytes) -> str:
    if not content:
        return "an empty answer"
    text = content[:80].decode("utf-8", "replace")
    return f"it starts with {_shorten(text, 80)!r}"


def _as_requests_error(exc: urllib3.exceptions.HTTPError) -> Exception:
    """A urllib3 error from reading a streamed body, as `requests` itself would raise it."""
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return requests.exceptions.ReadTimeout(exc)
    if isinstance(exc, urllib3.exceptions.SSLError):
        return requests.exceptions.SSLError(exc)
    if isinstance(exc, urllib3.exceptions.DecodeError):
        return requests.exceptions.ContentDecodingError(exc)
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return requests.exceptions.ChunkedEncodingError(exc)
    return requests.exceptions.ConnectionError(exc)


def _iter_causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    stack: list[Any] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        stack.extend(item.args)
        stack.extend([getattr(item, "reason", None), item.__cause__, item.__context__])
    return seen


def _is_connect_failure(exc: BaseException) -> bool:
    """True when the request never reached the server (refused, DNS, connect timeout)."""
    for item in _iter_causes(exc):
        if isinstance(item, (urllib3.exceptions.NewConnectionError,
                             urllib3.exceptions.ConnectTimeoutError, ConnectionRefusedError)):
            return True
    return False


def _connect_reason(exc: BaseException) -> str:
    causes = _iter_causes(exc)
    if any(isinstance(c, urllib3.exceptions.NameResolutionError) for c in causes):
        return "the host name could not be resolved"
    if any(isinstance(c, ConnectionRefusedError) or "refused" in str(c).lower() for c in causes):
        return "connection refused"
    # NewConnectionError subclasses ConnectTimeoutError: only a plain one is a timeout
    if any(isinstance(c, urllib3.exceptions.ConnectTimeoutError)
           and not isinstance(c, urllib3.exceptions.NewConnectionError) for c in causes):
        return "the connection timed out"
    return "cannot connect"


def _ssl_reason(exc: BaseException) -> str:
    for item in _iter_causes(exc):
        reason = getattr(item, "reason", None)
        if isinstance(reason, str) and reason:
            return reason.replace("_", " ").lower()
        verify = getattr(item, "verify_message", None)
        if isinstance(verify, str) and verify:
            return verify
    return "TLS error"
