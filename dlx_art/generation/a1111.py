"""Client for the AUTOMATIC1111 WebUI HTTP API (`/sdapi/v1`, reference version v1.10.1).

The contract it follows is `/work/shared/reference/a1111-api.md`. In short:

* Only `/sdapi/v1` routes are used; `GET /` is asked only after a 404, to tell "API off" (the UI
  answers) from "wrong URL".
* Credentials go out pre-emptively (A1111 sends no `WWW-Authenticate`). Every call has a timeout;
  only idempotent GETs are retried; the generation POST never is.
* A generation request stays open for the whole job, so it runs in the background while the
  calling thread polls `/progress`, reports `Progress`, and watches the `CancelToken`.
* One job per server from this process (a lock per base URL); another client's running job is
  seen on `/progress` and waited for up to `busy_wait` seconds, then `ServerBusy` is raised.
* Every failure is a `dlx_art.errors.BackendError` subclass with a message a person can act on.
  Credentials never appear in messages.

No Qt here: results, exceptions and plain callbacks only.

This module is the API (discovery, model loading, jobs, progress polling, cancel); the HTTP
layer (sessions, bounded reads, errors in words) is `a1111_http`, request and answer bodies are
`a1111_payloads`, and `/progress` reports are read by `a1111_progress`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import requests

from dlx_art.errors import (
    ApiDisabled,
    AuthenticationFailed,
    BackendError,
    BadServerResponse,
    Cancelled,
    ConnectionDropped,
    DlxError,
    RequestRejected,
    ServerBusy,
    ServerFailed,
    UsageError,
)
from dlx_art.generation import background
from dlx_art.generation.a1111_http import (
    GET_READ_TIMEOUT,
    MAX_RESPONSE_BYTES,
    MAX_SMALL_RESPONSE_BYTES,
    A1111Http,
    normalise_base_url,
)
from dlx_art.generation.a1111_payloads import (
    MAX_IMAGE_PIXELS,
    _as_int,
    base_payload,
    check_job,
    parse_result,
    refinement_fields,
)
from dlx_art.generation.a1111_progress import _ProgressTracker, _sampling_steps
from dlx_art.generation.outpaint import with_canvas
from dlx_art.generation.types import (
    BackendResult,
    BackendStatus,
    CancelToken,
    GenerationRequest,
    Kind,
    Progress,
    ProgressCallback,
)

__all__ = ["A1111Client", "A1111Model", "MAX_IMAGE_PIXELS", "MAX_RESPONSE_BYTES",
           "MAX_SMALL_RESPONSE_BYTES", "normalise_base_url"]

log = logging.getLogger("dlx_art.generation.a1111")

POLL_READ_TIMEOUT = 10.0  # /progress while a job runs; a late poll must not hide the job's end
INTERRUPT_READ_TIMEOUT = 5.0
_url_locks: dict[str, threading.Lock] = {}
_url_locks_guard = threading.Lock()



def _lock_for(base_url: str) -> threading.Lock:
    """The process-wide lock that keeps one job in flight per server."""
    with _url_locks_guard:
        return _url_locks.setdefault(base_url, threading.Lock())


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


class A1111Client(A1111Http):
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
        table: list[tuple[str, str, list[str]]] = []
        for item in data:
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str):
                label = item.get("label")
                aliases = item.get("aliases")
                table.append((name, label if isinstance(label, str) else name,
                              [a for a in aliases if isinstance(a, str)]
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
        if request.kind == Kind.upscale:
            return self.upscale(request, on_progress=on_progress, cancel=cancel)
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

    def upscale(self, request: GenerationRequest, *, on_progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> BackendResult:
        """Upscale `request.init_image` (`POST /extra-single-image`; see `a1111_extras`)."""
        from dlx_art.generation.a1111_extras import upscale

        return upscale(self, request, on_progress=on_progress, cancel=cancel)

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
        check_job(request, self._error)
        request = with_canvas(request)  # an outpaint is inpainting of its larger canvas
        payload = base_payload(request)
        sampler, legacy_scheduler = (None, None)
        if request.sampler:
            sampler, legacy_scheduler = self._match_sampler(request.sampler)
            payload["sampler_name"] = sampler
        scheduler_name = request.scheduler or legacy_scheduler  # an explicit scheduler wins
        if scheduler_name:
            payload["scheduler"] = self._match_scheduler(scheduler_name)
        if request.kind == Kind.txt2img:
            return "txt2img", payload
        payload.update(refinement_fields(request, self._error))
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
        unregister = cancel.on_cancel(wake.set)
        try:
            call = background.start(lambda: self._post_once(url, body, holder, deadline), name)
            call.add_done_callback(lambda _call: wake.set())
            while not call.done() and not cancel.cancelled:
                if self._past_deadline(call, holder, deadline):
                    raise self._late_job()
                wake.wait(max(0.01, min(self.poll_interval, deadline - time.monotonic())))
                wake.clear()
        finally:
            unregister()
        if not call.done():
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

    def _past_deadline(self, call: Future[requests.Response],
                       holder: dict[str, requests.Response], deadline: float) -> bool:
        """True (and the connection shut) when the job's POST is still open at `deadline`."""
        if call.done() or time.monotonic() < deadline:
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
        unregister = cancel.on_cancel(wake.set)
        try:
            call = background.start(
                lambda: self._post_once(self._url(route), payload, holder, deadline),
                "a1111-post")
            call.add_done_callback(lambda _call: wake.set())
            while True:
                wake.wait(max(0.01, min(self.poll_interval, deadline - time.monotonic())))
                wake.clear()
                if call.done() or cancel.cancelled:
                    break
                if self._past_deadline(call, holder, deadline):
                    raise self._late_job()
                self._poll(tracker, want_preview)
        finally:
            unregister()
        if call.done():
            response = self._finished_response(call, route)
            result = self._parse_result(response, request, payload, model_title, interrupted=False)
            tracker.emit(Progress(fraction=1.0, step=request.steps if route == "txt2img" else None,
                                  steps=request.steps if route == "txt2img" else None,
                                  job_no=request.batch_count, job_count=request.batch_count))
            return result
        return self._cancel_job(call, route, request, payload, model_title)

    def _finished_response(self, call: Future[requests.Response],
                           route: str) -> requests.Response:
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

    def _cancel_job(self, call: Future[requests.Response], route: str, request: GenerationRequest,
                    payload: dict[str, Any], model_title: str | None) -> BackendResult:
        """The person cancelled while the POST is open: interrupt, wait a little, hand back."""
        self._send_interrupt()
        deadline = time.monotonic() + self.interrupt_grace
        next_check = time.monotonic() + 1.0
        while not call.done():
            now = time.monotonic()
            if now >= deadline:
                log.warning("%s: the job did not stop within %.1f s after the interrupt; "
                            "giving up on it", self.label, self.interrupt_grace)
                raise Cancelled("Cancelled. The server did not stop the job in time; it may "
                                "still be finishing it.")
            background.wait(call, min(deadline - now, max(0.05, next_check - now)))
            if not call.done() and time.monotonic() >= next_check:
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
        return parse_result(data, request, payload, model_title, interrupted=interrupted,
                            label=self.label, error=self._error)


def _identity(model: A1111Model) -> str:
    return model.filename or model.title


