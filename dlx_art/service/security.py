"""The service's guards: bearer token, Host check, request size, bind address.

They are plain ASGI middleware (no Qt, no FastAPI dependency), applied to every request before
any route runs:

* the bearer token is created on first start in the config folder, owner-only (0600);
* the `Host` header must name the bound address (a web page in a browser resolving its own
  domain to 127.0.0.1 — DNS rebinding — cannot drive the service);
* bodies larger than the limit are refused with 413, whatever `Content-Length` says.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import secrets
import stat
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

from dlx_art.errors import UsageError

log = logging.getLogger("dlx_art.service")

TOKEN_FILE = "service-token"
#: Default bound on a request body: room for a 2048² mask PNG in base64 and the fields.
MAX_BODY = 32 * 1024 * 1024
#: Paths readable without the token: the API's own description (holds nothing of the library).
PUBLIC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/openapi.json"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def load_token(config_dir: Path) -> str:
    """The service's bearer token, created (owner-only) on first use."""
    path = Path(config_dir) / TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
            log.warning("the service token file %s was readable by others; made owner-only",
                        path)
            path.chmod(0o600)
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    log.info("created the service token in %s", path)
    return token


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback bind unless asked for explicitly (TLS must be put in front)."""
    if not is_loopback(host) and not allow_remote:
        raise UsageError(
            f"Listening on {host} would expose the studio to the network without encryption. "
            "Put a TLS-terminating proxy in front and pass --allow-remote, or listen on "
            "127.0.0.1 (the default).")


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The `Host` names accepted for a service bound to `host` (lower case, without port)."""
    names = {host.strip("[]").lower(), *(h.strip("[]").lower() for h in extra)}
    if is_loopback(host):
        names.update(LOOPBACK_NAMES)
    return frozenset(names)


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:7870
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


async def send_json(send: Send, status: int, error: str, message: str,
                    headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"error": error, "message": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """Host check, bearer token and body size on every HTTP request (see the module doc)."""

    def __init__(self, app: ASGIApp, *, token: str, hosts: frozenset[str],
                 max_body: int = MAX_BODY) -> None:
        self.app = app
        self.token = token.encode()
        self.hosts = hosts
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        if host is None or _host_name(host) not in self.hosts:
            log.warning("refused a request for host %r", host)
            await send_json(send, 421, "misdirected",
                            "This service does not answer for that host name.")
            return
        if scope.get("method") == "OPTIONS" and _header(scope, b"origin") is not None:
            await self.app(scope, receive, send)  # a CORS preflight carries no credentials
            return
        if scope["path"] not in PUBLIC_PATHS and not self._authorised(scope):
            await send_json(send, 401, "unauthorized",
                            "A valid bearer token is required (`dlx-art serve --show-token`).",
                            [(b"www-authenticate", b'Bearer realm="dlx-art"')])
            return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await send_json(send, 413, "too_large",
                            f"The request body is larger than {self.max_body} bytes.")
            return
        if length is None and _header(scope, b"transfer-encoding") is not None:
            # a chunked body: read it (bounded) before the application sees any of it
            body = await self._read_bounded(receive)
            if body is None:
                await send_json(send, 413, "too_large",
                                f"The request body is larger than {self.max_body} bytes.")
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _read_bounded(self, receive: Receive) -> bytes | None:
        parts: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(parts)
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_body:
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    def _authorised(self, scope: Scope) -> bool:
        value = _header(scope, b"authorization") or ""
        scheme, _, given = value.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                                  self.token)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the already-read body once, then waits on the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
