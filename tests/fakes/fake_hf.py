"""A fake Hugging Face inference server (hf-inference protocol) on 127.0.0.1.

`POST /models/<model id>` answers a real PNG, the way the hf-inference route does for
text-to-image and image-to-image. The knobs below script the failures the client must survive.

    with FakeHF(token="hf_secret") as fake:
        client = HFClient(model="m", token="hf_secret", endpoint=fake.model_url("org/model"))
        fake.fail(429, "Rate limit reached", headers={"Retry-After": "30"})

Knobs (plain attributes; change them between requests):
    token: when set, requests must carry `authorization: Bearer <token>`, else 401.
    size: (width, height) of the answered PNG; None follows the request (parameters width /
        height, target_size, the input image's size, else 512 x 512).
    color: RGB fill of the answered image.
    loading_times / estimated_time: answer 503 "currently loading" that many times first.
    status / error / error_headers / error_extra / fail_times: answer an HTTP error (see `fail`).
    behaviour: "ok" | "garbage" (200, not an image) | "bomb" (200, PNG header claiming
        `bomb_size` pixels) | "hang" (never answer) | "drop" (close without answering) |
        "cut" (close half way through the body) | "slow" (body in `slow_chunks` pieces,
        `slow_delay` seconds apart) | "drip" (the PNG one byte every `drip_delay` s) |
        "endless" (200 image/png without Content-Length, streamed until the client leaves) |
        "huge" (a Content-Length of `huge_bytes`, default 1 GiB, streamed lazily).
    bytes_sent: bytes written by drip / endless / huge (to check that a client stopped reading).
    pipeline_tag: what `GET /api/models/<id>` reports (the Hub model-info lookup).
"""

from __future__ import annotations

import base64
import io
import json
import struct
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any = None

    @property
    def parameters(self) -> dict[str, Any]:
        return dict((self.json or {}).get("parameters") or {})

    def input_image(self) -> Image.Image:
        """The image sent as `inputs` (base64 in JSON) or as the raw body."""
        raw = base64.b64decode(self.json["inputs"]) if self.json is not None else self.body
        image = Image.open(io.BytesIO(raw))
        image.load()
        return image


@dataclass
class _Failure:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None  # None: forever


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny, well-formed PNG whose header claims `width` x `height` RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))


def solid_png(width: int, height: int, color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG", compress_level=1)
    return out.getvalue()


class FakeHF:
    """See the module docstring. Use as a context manager or call `start()` / `stop()`."""

    def __init__(self, *, token: str | None = None, size: tuple[int, int] | None = None,
                 color: tuple[int, int, int] = (220, 40, 60)) -> None:
        self.token = token
        self.size = size
        self.color = color
        self.loading_times = 0
        self.estimated_time = 20.0
        self.behaviour = "ok"
        self.bomb_size = (30000, 30000)
        self.slow_chunks = 4
        self.slow_delay = 0.3
        self.drip_delay = 1.0
        self.huge_bytes = 1024**3
        self.bytes_sent = 0
        self.pipeline_tag = "text-to-image"
        self.requests: list[RecordedRequest] = []
        self._failure: _Failure | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> FakeHF:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="fake-hf", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases "hang" handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FakeHF:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeHF not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def model_url(self, model_id: str) -> str:
        return f"{self.url}/models/{model_id}"

    # --- scripting ----------------------------------------------------------------------

    def fail(self, status: int, error: str = "", *, headers: dict[str, str] | None = None,
             times: int | None = None, **extra: Any) -> None:
        """Answer `status` with `{"error": error, **extra}` (`times` times, or always)."""
        body: dict[str, Any] = {"error": error, **extra} if error else dict(extra)
        self._failure = _Failure(status, body, dict(headers or {}), times)

    def clear_failure(self) -> None:
        self._failure = None

    @property
    def posts(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST"]

    def _take_failure(self) -> _Failure | None:
        with self._lock:
            failure = self._failure
            if failure is None:
                return None
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failure = None
            return failure

    def _take_loading(self) -> bool:
        with self._lock:
            if self.loading_times > 0:
                self.loading_times -= 1
                return True
            return False


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHF
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY, as uvicorn sets it: no 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    # --- helpers ------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_hostile(self, behaviour: str, png: bytes) -> None:
        fake = self.fake
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        if behaviour == "drip":
            self.send_header("Content-Length", str(len(png)))
        elif behaviour == "huge":
            self.send_header("Content-Length", str(fake.huge_bytes))
        self.end_headers()
        try:
            if behaviour == "drip":
                for offset in range(len(png)):
                    self.wfile.write(png[offset:offset + 1])
                    self.wfile.flush()
                    with fake._lock:
                        fake.bytes_sent += 1
                    if fake._stopping.wait(fake.drip_delay):
                        return
                return
            left = fake.huge_bytes if behaviour == "huge" else -1
            self.wfile.write(png[:64])
            piece = b"\0" * 65536
            while left != 0 and not fake._stopping.is_set():
                part = piece if left < 0 else piece[:max(0, min(len(piece), left - 64))]
                if not part:
                    break
                self.wfile.write(part)
                with fake._lock:
                    fake.bytes_sent += len(part)
                if left > 0:
                    left -= len(part)
        except OSError:
            return  # the client hung up

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json", headers)

    def _record(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parsed = None
        if "json" in (self.headers.get("Content-Type") or ""):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        record = RecordedRequest(self.command, self.path,
                                 {k.lower(): v for k, v in self.headers.items()}, body, parsed)
        with self.fake._lock:
            self.fake.requests.append(record)
        return record

    # --- routes -------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._record()
        if self.path.startswith("/api/models/"):
            model_id = self.path.removeprefix("/api/models/").split("?")[0]
            self._send_json(200, {"id": model_id, "modelId": model_id, "private": False,
                                  "pipeline_tag": self.fake.pipeline_tag, "tags": [],
                                  "siblings": []})
        else:
            self._send_json(404, {"error": "Not Found"})

    def do_POST(self) -> None:
        fake = self.fake
        record = self._record()
        if not self.path.startswith("/models/"):
            self._send_json(404, {"error": "Not Found"})
            return
        model_id = self.path.removeprefix("/models/")
        if fake.token is not None and record.headers.get("authorization") != f"Bearer {fake.token}":
            self._send_json(401, {"error": "Invalid credentials in Authorization header"})
            return
        if fake._take_loading():
            self._send_json(503, {"error": f"Model {model_id} is currently loading",
                                  "estimated_time": fake.estimated_time})
            return
        failure = fake._take_failure()
        if failure is not None:
            self._send_json(failure.status, failure.body, failure.headers)
            return
        self._answer_image(record)

    def _answer_image(self, record: RecordedRequest) -> None:
        fake = self.fake
        behaviour = fake.behaviour
        if behaviour == "hang":
            fake._stopping.wait(60)
            self.close_connection = True
            return
        if behaviour == "drop":
            self.close_connection = True
            return
        if behaviour == "garbage":
            self._send(200, b"<html>this is not an image</html>", "image/png")
            return
        if behaviour == "bomb":
            self._send(200, bomb_png(*fake.bomb_size), "image/png")
            return
        width, height = fake.size or self._requested_size(record)
        png = solid_png(width, height, fake.color)
        if behaviour in ("drip", "endless", "huge"):
            self._send_hostile(behaviour, png)
            return
        if behaviour == "cut":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png[: len(png) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if behaviour == "slow":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            step = -(-len(png) // fake.slow_chunks)
            for start in range(0, len(png), step):
                self.wfile.write(png[start:start + step])
                self.wfile.flush()
                if fake._stopping.wait(fake.slow_delay):
                    break
            return
        self._send(200, png, "image/png")

    @staticmethod
    def _requested_size(record: RecordedRequest) -> tuple[int, int]:
        params = record.parameters
        if "width" in params and "height" in params:
            return int(params["width"]), int(params["height"])
        target = params.get("target_size")
        if isinstance(target, dict) and "width" in target and "height" in target:
            return int(target["width"]), int(target["height"])
        if record.json is None or isinstance(record.json.get("inputs"), str):
            try:
                return record.input_image().size
            except Exception:
                pass
        return 512, 512


__all__ = ["FakeHF", "RecordedRequest", "bomb_png", "solid_png"]
