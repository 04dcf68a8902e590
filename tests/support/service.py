"""Running the art API for tests: real uvicorn on a free loopback port, a real HTTP client."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

TIMEOUT = 60.0  # generous: the machine may be loaded


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """An in-process server: `create_app(...)` under uvicorn in a thread, on its own socket."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.app = app
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on",
                                timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Service:
        self.thread.start()
        deadline = time.monotonic() + TIMEOUT
        while not self.server.started:
            assert self.thread.is_alive(), "the service did not start"
            assert time.monotonic() < deadline, "the service did not start in time"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(TIMEOUT)
        self.sock.close()


def client(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def raw_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """A GET with the path sent exactly as given (no client-side dot-segment removal)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.putrequest("GET", path, skip_host="Host" in (headers or {}))
        for key, value in (headers or {}).items():
            connection.putheader(key, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_job(session: requests.Session, base: str, job_id: str,
             timeout: float = TIMEOUT) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = session.get(f"{base}/api/art/jobs/{job_id}", timeout=TIMEOUT).json()
        if job["finished"] or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def until(condition: Any, timeout: float = TIMEOUT, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        time.sleep(0.05)


@contextlib.contextmanager
def serve_process(home: Path, port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`dlx-art serve` as a real process; killed (if still running) afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dlx_art", "--home", str(home), "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=TIMEOUT)


def wait_ready(port: int, token: str, process: subprocess.Popen[str]) -> None:
    def ready() -> bool:
        assert process.poll() is None, process.stderr.read() if process.stderr else "exited"
        try:
            return requests.get(f"http://127.0.0.1:{port}/api/projects", timeout=5,
                                headers={"Authorization": f"Bearer {token}"}).ok
        except requests.ConnectionError:
            return False

    until(ready, message="the service to answer")


def cli_env(home: Path, a1111_url: str | None) -> dict[str, str]:
    env = dict(os.environ, DLX_ART_HOME=str(home))
    if a1111_url:
        env["DLX_ART_A1111_URL"] = a1111_url
    return env
