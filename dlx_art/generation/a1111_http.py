"""The HTTP layer of the AUTOMATIC1111 client: sessions, bounded reads, errors in words.

`A1111Http` holds one server's address, credentials and timeouts, and makes single calls: each
answer is read within a size cap and a deadline (a server that drips or never stops cannot hold
a thread or fill memory), and every failure, HTTP status or error body is mapped to a
`dlx_art.errors.BackendError` subclass with a message a person can act on. Credentials never
appear in messages. `dlx_art.generation.a1111.A1111Client` builds the API on top of it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from dlx_art.errors import (
    ApiDisabled,
    AuthenticationFailed,
    BackendError,
    BadServerResponse,
    ConnectionDropped,
    DlxError,
    OutOfMemory,
    RequestRejected,
    ServerFailed,
    ServerNotRunning,
    UsageError,
)

API_PREFIX = "/sdapi/v1/"
GET_READ_TIMEOUT = 30.0  # list endpoints, /options, /progress
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


class A1111Http:
    """Single calls to one server's `/sdapi/v1` API (the state is set by `A1111Client`)."""

    base_url: str
    label: str
    connect_timeout: float
    read_timeout: float
    verify: bool | str
    _auth: tuple[str, str] | None
    _get_timeout: tuple[float, float]
    _local: threading.local
    _sessions: list[requests.Session]
    _sessions_lock: threading.Lock

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


def _shorten(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    raw_error, raw_errors = body.get("error"), body.get("errors")
    error = raw_error if isinstance(raw_error, str) else ""
    errors = raw_errors if isinstance(raw_errors, str) else ""
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
