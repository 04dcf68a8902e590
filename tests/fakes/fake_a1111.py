"""A fake AUTOMATIC1111 WebUI (v1.10.1 `/sdapi/v1`) for tests and demos.

It follows `/work/shared/reference/a1111-api.md`: the same routes, status codes, error body
shapes (FastAPI 422 lists, A1111's `{"error","detail","body","errors"}`, routing 404/405), the
process-wide FIFO generation lock, `/progress` semantics (idle vs running, the job_count -1 and
stale sampling_steps glitches at job start, live previews every N steps), interrupt/skip, and real
PNG files with an infotext `parameters` chunk. Everything runs on loopback in daemon threads.

Usage::

    with FakeA1111() as fake:             # 127.0.0.1, free port
        client = A1111Client(fake.url)
        fake.failure = "oom"               # the next generation requests fail with a CUDA OOM

Knobs (plain attributes, change them at any time):

* ``mode``: ``"ui+api"`` (default; ``GET /`` is HTML), ``"api-only"`` (``--nowebui``; ``GET /`` is
  404) or ``"api-off"`` (UI up, every ``/sdapi/v1/...`` answers 404 ``{"detail":"Not Found"}``).
* ``prefix``: mount everything under a path such as ``"/sd"`` (``fake.url`` includes it).
* ``auth``: ``"user:pass[,user2:pass2]"`` like ``--api-auth``; ``None`` = no auth.
* ``step_time``: seconds per sampling step (default 0.005). ``setup_time``: seconds the job spends
  in the "job_count -1, stale sampling_steps" phase before sampling (default: one step_time).
* ``models`` (list of `FakeModel`), ``loaded`` (the loaded `FakeModel`), ``model_load_time``.
* ``samplers``, ``schedulers`` (route payloads), ``schedulers_route`` (False = pre-1.9 server).
* ``options``: the option store behind GET/POST /options. ``show_progress_every_n_steps``
  (default 10.0) and ``live_previews_enable`` drive previews; ``return_grid`` the grid.
* ``grid``: ``None`` = real behaviour (grid only with save_images and >= 2 images), ``True`` =
  always put a grid first when >= 2 images (to test that clients skip it).
* ``failure`` + ``failure_count``: make generation requests (txt2img/img2img) fail.
  ``failure_count`` is how many of the next requests fail (default 1; ``None`` = all while set).
  Kinds: ``"validation"`` (422 list), ``"script"`` (422 HTTPException "Script 'x' not found"),
  ``"error"`` (500 A1111 body), ``"oom"`` (500 OutOfMemoryError), ``"forge-500"`` (plain text
  500), ``"detail-500"`` (500 ``{"detail": ...}``), ``"drop"`` (close without a response),
  ``"drop-partial"`` (headers with a too large Content-Length, half the body, close),
  ``"garbage"`` (200 HTML), ``"bad-base64"``, ``"not-image"``, ``"bomb"`` (hand-made PNG claiming
  30000x30000), ``"hang"`` (never answer until `stop`), ``"slow"`` (body sent ``slow_chunk`` bytes
  at a time every ``slow_delay`` s). Error kinds (validation..detail-500) answer after the job
  ran ``fail_after_steps`` steps inside the lock (0 = before sampling; validation/script answer
  before the lock like A1111); response kinds shape the response of a job that ran normally.
* Hostile answers (kinds too, also in ``route_failures``): ``"drip"`` (the real answer with its
  Content-Length, one byte every ``drip_delay`` s, default 1.0), ``"endless"`` (200 JSON without
  Content-Length, ``{"images":["AAAA...`` streamed without end until the client goes away),
  ``"huge-json"`` (a Content-Length of ``huge_bytes``, default 1 GiB, and that much valid JSON
  streamed lazily), ``"deep-json"`` (200 with ``deep_levels`` nested arrays, default 100000).
* ``reported_seeds``: a list that replaces ``info.seed`` / ``info.all_seeds`` of the answers (e.g.
  ``[2**40, -5, "x", float("nan")]``); the infotexts keep the seeds really used.
* ``hostile_bytes_sent``: bytes written by the drip / endless / huge-json modes (to check that a
  client stopped reading).
* ``route_failures``: ``{"sd-models": "garbage", "GET options": "error"}`` makes any other route
  (optionally for one method) fail the same way (error kinds, ``"garbage"``, ``"drop"``,
  ``"hang"``) on every call until removed.
* ``upscale_time``, ``upscalers``: the upscale route (``POST /extra-single-image``) and the
  inpainting overlay (unmasked pixels come back unchanged) live in `tests.fakes.fake_a1111_extras`.
* ``busy(seconds)``: pretend another client's job runs for that long (holds the lock, /progress
  shows job_count 1).

Records: ``requests`` (list of `Recorded`), ``last_payload(path)``, ``requests_to(path)``,
``unknown_keys`` (body keys A1111 would silently ignore), ``model_loads``, ``preview_requests``
(/progress calls with skip_current_image=false), ``previews_sent``, ``interrupts``, ``skips``,
``jobs`` (`JobRecord` per generation job), ``last_images`` (base64 strings of the last
generation response), ``max_open_generations`` (generation requests open at
the same time, waiting or running), ``max_running_jobs``.

Run standalone: ``python -m tests.fakes.fake_a1111 --port 7860 [--auth user:pass]
[--step-time 0.05] [--mode api-only] [--prefix /sd]``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import contextlib
import datetime
import gzip
import hmac
import io
import json
import random
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image
from PIL.PngImagePlugin import PngInfo

VERSION = "v1.10.1"
API = "/sdapi/v1/"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MODE_UI_API = "ui+api"
MODE_API_ONLY = "api-only"
MODE_API_OFF = "api-off"
FAILURES = (
    "validation", "script", "error", "oom", "forge-500", "detail-500", "drop", "drop-partial",
    "garbage", "bad-base64", "not-image", "bomb", "hang", "slow",
    "drip", "endless", "huge-json", "deep-json",
)
#: Failure kinds that shape how the answer is sent (also usable in ``route_failures``).
HOSTILE_ACTIONS = ("drip", "endless", "huge-json", "deep-json")
_ERROR_FAILURES = {"error", "oom", "forge-500", "detail-500"}
_HTML = "text/html; charset=utf-8"
_NOT_A_DICT = {"loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"}
_EXTRA_PARAMS = ("Schedule type", "Mask blur", "Inpaint area", "Masked area padding",
                 "Masked content", "Mask mode")
_MASKED_CONTENT = ["fill", "original", "latent noise", "latent nothing"]
OOM_MESSAGE = (
    "CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 7.79 GiB total capacity; "
    "4.12 GiB already allocated; 1.01 GiB free; 4.30 GiB reserved in total by PyTorch)"
)

# --- request models (pydantic v1 semantics, field order as in the reference) ------------------

# (name, type, nullable, default); types: str int float bool list dict list[str]
_COMMON: list[tuple[str, str, bool, Any]] = [
    ("prompt", "str", True, ""),
    ("negative_prompt", "str", True, ""),
    ("styles", "list[str]", True, None),
    ("seed", "int", True, -1),
    ("subseed", "int", True, -1),
    ("subseed_strength", "float", True, 0.0),
    ("seed_resize_from_h", "int", True, -1),
    ("seed_resize_from_w", "int", True, -1),
    ("sampler_name", "str", True, None),
    ("scheduler", "str", True, None),
    ("batch_size", "int", True, 1),
    ("n_iter", "int", True, 1),
    ("steps", "int", True, 50),
    ("cfg_scale", "float", True, 7.0),
    ("width", "int", True, 512),
    ("height", "int", True, 512),
    ("restore_faces", "bool", True, None),
    ("tiling", "bool", True, None),
    ("do_not_save_samples", "bool", True, False),
    ("do_not_save_grid", "bool", True, False),
    ("eta", "float", True, None),
    ("s_min_uncond", "float", True, None),
    ("s_churn", "float", True, None),
    ("s_tmax", "float", True, None),
    ("s_tmin", "float", True, None),
    ("s_noise", "float", True, None),
    ("override_settings", "dict", True, None),
    ("override_settings_restore_afterwards", "bool", True, True),
    ("refiner_checkpoint", "str", True, None),
    ("refiner_switch_at", "float", True, None),
    ("disable_extra_networks", "bool", True, False),
    ("comments", "dict", True, None),
]
_TXT2IMG_ONLY: list[tuple[str, str, bool, Any]] = [
    ("firstpass_image", "str", True, None),
    ("enable_hr", "bool", True, False),
    ("denoising_strength", "float", True, None),
    ("firstphase_width", "int", True, 0),
    ("firstphase_height", "int", True, 0),
    ("hr_scale", "float", True, 2.0),
    ("hr_upscaler", "str", True, None),
    ("hr_second_pass_steps", "int", True, 0),
    ("hr_resize_x", "int", True, 0),
    ("hr_resize_y", "int", True, 0),
    ("hr_checkpoint_name", "str", True, None),
    ("hr_sampler_name", "str", True, None),
    ("hr_scheduler", "str", True, None),
    ("hr_prompt", "str", True, ""),
    ("hr_negative_prompt", "str", True, ""),
]
_IMG2IMG_ONLY: list[tuple[str, str, bool, Any]] = [
    ("init_images", "list", True, None),
    ("resize_mode", "int", True, 0),
    ("denoising_strength", "float", False, 0.75),
    ("image_cfg_scale", "float", True, None),
    ("mask", "str", True, None),
    ("mask_blur_x", "int", True, 4),
    ("mask_blur_y", "int", True, 4),
    ("mask_blur", "int", True, None),
    ("mask_round", "bool", True, True),
    ("inpainting_fill", "int", True, 0),
    ("inpaint_full_res", "bool", True, True),
    ("inpaint_full_res_padding", "int", True, 0),
    ("inpainting_mask_invert", "int", True, 0),
    ("initial_noise_multiplier", "float", True, None),
    ("latent_mask", "str", True, None),
    ("include_init_images", "bool", False, False),
]
_API_EXTRAS: list[tuple[str, str, bool, Any]] = [
    ("sampler_index", "str", False, "Euler"),
    ("force_task_id", "str", True, None),
    ("script_name", "str", True, None),
    ("script_args", "list", False, []),
    ("send_images", "bool", False, True),
    ("save_images", "bool", False, False),
    ("alwayson_scripts", "dict", False, {}),
    ("infotext", "str", True, None),
]
TXT2IMG_FIELDS = _COMMON + _TXT2IMG_ONLY + _API_EXTRAS
IMG2IMG_FIELDS = _COMMON + _IMG2IMG_ONLY + _API_EXTRAS

_ERR = {
    "str": ("str type expected", "type_error.str"),
    "int": ("value is not a valid integer", "type_error.integer"),
    "float": ("value is not a valid float", "type_error.float"),
    "bool": ("value could not be parsed to a boolean", "type_error.bool"),
    "list": ("value is not a valid list", "type_error.list"),
    "dict": ("value is not a valid dict", "type_error.dict"),
}
_BOOL_TRUE = {1, "1", "on", "t", "true", "y", "yes"}
_BOOL_FALSE = {0, "0", "off", "f", "false", "n", "no"}


class _Invalid(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.msg, self.type = _ERR[kind]


def _coerce(kind: str, value: Any) -> Any:
    """Coerce like pydantic 1.10's validators; raise _Invalid."""
    if kind == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)):
            return str(value)
        raise _Invalid("str")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and len(value) > 4300:
            raise _Invalid("int")
        try:
            return int(value)
        except (TypeError, ValueError, OverflowError):
            raise _Invalid("int") from None
    if kind == "float":
        if isinstance(value, float):
            return value
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _Invalid("float") from None
    if kind == "bool":
        if value is True or value is False:
            return value
        probe = value.lower() if isinstance(value, str) else value
        try:
            if probe in _BOOL_TRUE:
                return True
            if probe in _BOOL_FALSE:
                return False
        except TypeError:
            pass
        raise _Invalid("bool")
    if kind == "list":
        if isinstance(value, list):
            return value
        raise _Invalid("list")
    if kind == "dict":
        if isinstance(value, dict):
            return value
        try:
            return dict(value)
        except (TypeError, ValueError):
            raise _Invalid("dict") from None
    raise AssertionError(kind)


def validate_body(
    fields: list[tuple[str, str, bool, Any]], body: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """Validate `body` against a request model: (values with defaults, 422 items, unknown keys)."""
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for name, kind, nullable, default in fields:
        if name not in body:
            values[name] = default.copy() if isinstance(default, (list, dict)) else default
            continue
        value = body[name]
        if value is None:
            if not nullable:
                errors.append({"loc": ["body", name], "msg": "none is not an allowed value",
                               "type": "type_error.none.not_allowed"})
            values[name] = None
            continue
        if kind == "list[str]":
            try:
                items = _coerce("list", value)
            except _Invalid as exc:
                errors.append({"loc": ["body", name], "msg": exc.msg, "type": exc.type})
                continue
            out = []
            for index, item in enumerate(items):
                if item is None:
                    errors.append({"loc": ["body", name, index],
                                   "msg": "none is not an allowed value",
                                   "type": "type_error.none.not_allowed"})
                    continue
                try:
                    out.append(_coerce("str", item))
                except _Invalid as exc:
                    errors.append({"loc": ["body", name, index], "msg": exc.msg, "type": exc.type})
            values[name] = out
            continue
        try:
            values[name] = _coerce(kind, value)
        except _Invalid as exc:
            errors.append({"loc": ["body", name], "msg": exc.msg, "type": exc.type})
    known = {f[0] for f in fields}
    unknown = [key for key in body if key not in known]
    return values, errors, unknown


# --- static server data -------------------------------------------------------------------------

_SAMPLERS: list[tuple[str, list[str], dict[str, Any]]] = [
    ("DPM++ 2M", ["k_dpmpp_2m"], {"scheduler": "karras"}),
    ("DPM++ SDE", ["k_dpmpp_sde"],
     {"scheduler": "karras", "second_order": True, "brownian_noise": True}),
    ("DPM++ 2M SDE", ["k_dpmpp_2m_sde"], {"scheduler": "exponential", "brownian_noise": True}),
    ("DPM++ 2M SDE Heun", ["k_dpmpp_2m_sde_heun"],
     {"scheduler": "exponential", "brownian_noise": True, "solver_type": "heun"}),
    ("DPM++ 2S a", ["k_dpmpp_2s_a"],
     {"scheduler": "karras", "uses_ensd": True, "second_order": True}),
    ("DPM++ 3M SDE", ["k_dpmpp_3m_sde"],
     {"scheduler": "exponential", "discard_next_to_last_sigma": True, "brownian_noise": True}),
    ("Euler a", ["k_euler_a", "k_euler_ancestral"], {"uses_ensd": True}),
    ("Euler", ["k_euler"], {}),
    ("LMS", ["k_lms"], {}),
    ("Heun", ["k_heun"], {"second_order": True}),
    ("DPM2", ["k_dpm_2"],
     {"scheduler": "karras", "discard_next_to_last_sigma": True, "second_order": True}),
    ("DPM2 a", ["k_dpm_2_a"],
     {"scheduler": "karras", "discard_next_to_last_sigma": True, "uses_ensd": True,
      "second_order": True}),
    ("DPM fast", ["k_dpm_fast"], {"uses_ensd": True}),
    ("DPM adaptive", ["k_dpm_ad"], {"uses_ensd": True}),
    ("Restart", ["restart"], {"scheduler": "karras", "second_order": True}),
    ("DDIM", ["ddim"], {"default_eta_is_0": True, "uses_ensd": True}),
    ("DDIM CFG++", ["ddim_cfgpp"], {"default_eta_is_0": True, "uses_ensd": True}),
    ("PLMS", ["plms"], {}),
    ("UniPC", ["unipc"], {}),
    ("LCM", ["k_lcm"], {}),
]
_SCHEDULERS: list[tuple[str, str, list[str] | None, float, bool]] = [
    ("automatic", "Automatic", None, -1.0, False),
    ("uniform", "Uniform", None, -1.0, True),
    ("karras", "Karras", None, 7.0, False),
    ("exponential", "Exponential", None, -1.0, False),
    ("polyexponential", "Polyexponential", None, 1.0, False),
    ("sgm_uniform", "SGM Uniform", ["SGMUniform"], -1.0, True),
    ("kl_optimal", "KL Optimal", None, -1.0, False),
    ("align_your_steps", "Align Your Steps", None, -1.0, False),
    ("simple", "Simple", None, -1.0, True),
    ("normal", "Normal", None, -1.0, True),
    ("ddim", "DDIM", None, -1.0, True),
    ("beta", "Beta", None, -1.0, True),
]


def default_samplers() -> list[dict[str, Any]]:
    """GET /samplers of a stock v1.10.1 (option values are strings, as the API model makes them)."""
    return [{"name": name, "aliases": list(aliases),
             "options": {k: str(v) for k, v in opts.items()}}
            for name, aliases, opts in _SAMPLERS]


def default_schedulers() -> list[dict[str, Any]]:
    """GET /schedulers of a stock v1.10.1."""
    return [{"name": n, "label": label, "aliases": aliases, "default_rho": rho,
             "need_inner_model": inner}
            for n, label, aliases, rho, inner in _SCHEDULERS]


@dataclass
class FakeModel:
    """A checkpoint. `hashed` False = sha256 not computed yet (title without hash until loaded)."""

    name: str  # path relative to the models folder, e.g. "sdxl/sd_xl_base_1.0.safetensors"
    sha256: str
    legacy_hash: str  # the old 8-hex model hash
    hashed: bool = True

    @property
    def shorthash(self) -> str | None:
        return self.sha256[:10] if self.hashed else None

    @property
    def title(self) -> str:
        return f"{self.name} [{self.shorthash}]" if self.hashed else self.name

    @property
    def model_name(self) -> str:
        return self.name.rsplit(".", 1)[0].replace("/", "_").replace("\\", "_")

    @property
    def stem(self) -> str:
        return self.name.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]

    @property
    def filename(self) -> str:
        return "/opt/stable-diffusion-webui/models/Stable-diffusion/" + self.name

    def ids(self) -> list[str]:
        """`CheckpointInfo.ids`: every string POST /options accepts for this model."""
        ids = [self.legacy_hash, self.model_name, self.title, self.name, self.stem,
               f"{self.name} [{self.legacy_hash}]"]
        if self.hashed:
            ids += [self.sha256[:10], self.sha256, f"{self.name} [{self.sha256[:10]}]",
                    f"{self.stem} [{self.sha256[:10]}]"]
        return ids

    def api(self) -> dict[str, Any]:
        return {"title": self.title, "model_name": self.model_name, "hash": self.shorthash,
                "sha256": self.sha256 if self.hashed else None, "filename": self.filename,
                "config": None}


def default_models() -> list[FakeModel]:
    return [
        FakeModel("v1-5-pruned-emaonly.safetensors",
                  "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa", "a9263745"),
        FakeModel("sdxl/sd_xl_base_1.0.safetensors",
                  "31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b", "be9edd61"),
        FakeModel("sd-v1-5-inpainting.ckpt",
                  "c6bbc15e3224e6973459ba78de4998b80b50112b0ae5b5c67113d56b4e366b19", "dc57d8a3",
                  hashed=False),
    ]


def default_options(model_title: str) -> dict[str, Any]:
    """A small, type-faithful slice of GET /options (non-zero int defaults come back as floats)."""
    return {
        "samples_save": True, "samples_format": "png", "grid_save": True, "return_grid": True,
        "enable_pnginfo": True, "jpeg_quality": 80.0, "sd_model_checkpoint": model_title,
        "sd_checkpoints_limit": 1.0, "sd_vae": "Automatic", "CLIP_stop_at_last_layers": 1.0,
        "eta_noise_seed_delta": 0, "show_progress_every_n_steps": 10.0,
        "live_previews_enable": True, "live_preview_content": "Prompt", "return_mask": False,
        "return_mask_composite": False, "overlay_inpaint": True, "api_enable_requests": True,
        "api_forbid_local_requests": True, "img2img_fix_steps": False,
    }


# --- infotext and images ------------------------------------------------------------------------


def quote(value: Any) -> Any:
    """`infotext_utils.quote`: JSON-quote a value whose text contains `,`, `:` or a newline."""
    text = str(value)
    if "," not in text and "\n" not in text and ":" not in text:
        return value
    return json.dumps(text, ensure_ascii=False)


def create_infotext(prompt: str, negative: str, params: list[tuple[str, Any]]) -> str:
    """`processing.create_infotext` layout: prompt, optional negative line, parameter line."""
    line = ", ".join(k if k == v else f"{k}: {quote(v)}" for k, v in params if v is not None)
    negative_text = f"\nNegative prompt: {negative}" if negative else ""
    return f"{prompt}{negative_text}\n{line}".strip()


def make_png(width: int, height: int, colour: tuple[int, int, int], infotext: str | None) -> bytes:
    """A real PNG with the infotext in a `parameters` tEXt (or iTXt when not Latin-1) chunk."""
    image = Image.new("RGB", (width, height), colour)
    info = None
    if infotext is not None:
        info = PngInfo()
        info.add_text("parameters", infotext)
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info, compress_level=1)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny hand-made PNG whose IHDR claims `width` x `height` (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4)
    return (PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def _colour(seed: int) -> tuple[int, int, int]:
    rng = random.Random(seed)
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


# --- server plumbing ----------------------------------------------------------------------------


@dataclass
class Recorded:
    """One request as the fake received it. `path` has the prefix removed, no query."""

    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    headers: dict[str, str]
    time: float  # time.monotonic() on arrival
    body: bytes = b""


@dataclass
class JobRecord:
    kind: str  # "txt2img" | "img2img" | "other" (busy simulation)
    steps: int
    started: float
    ended: float | None = None
    steps_done: int = 0
    interrupted: bool = False
    images: int = 0


@dataclass
class _Reply:
    status: int
    body: Any = None  # bytes, or a JSON-able object
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    action: str | None = None  # drop | drop-partial | hang | slow


def _a1111_error(status: int, error: str, detail: str = "", errors: str = "") -> _Reply:
    return _Reply(status, {"error": error, "detail": detail, "body": "", "errors": errors})


class _FifoLock:
    """`modules/fifo_lock.FIFOLock`: waiters get the lock in arrival order."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: collections.deque[object] = collections.deque()
        self._held = False

    def acquire(self, stop: threading.Event) -> bool:
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            while self._held or self._queue[0] is not ticket:
                self._cond.wait(0.05)
                if stop.is_set():
                    self._queue.remove(ticket)
                    self._cond.notify_all()
                    return False
            self._queue.popleft()
            self._held = True
            return True

    def release(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()

    @property
    def locked(self) -> bool:
        return self._held


class _State:
    """`modules/shared_state.State`, only what /progress shows."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.skipped = False
        self.interrupted = False
        self.stopping_generation = False
        self.job = ""
        self.job_count = 0
        self.job_timestamp = "0"
        self.job_no = 0
        self.sampling_step = 0
        self.sampling_steps = 0
        self.time_start = 0.0
        self.current_image: bytes | None = None
        self.current_image_sampling_step = 0
        self.preview_size = (64, 64)

    def begin(self, job: str) -> None:
        with self.lock:
            self.sampling_step = 0
            self.time_start = time.time()
            self.job_count = -1
            self.job_no = 0
            self.job_timestamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
            self.current_image = None
            self.current_image_sampling_step = 0
            self.skipped = False
            self.interrupted = False
            self.stopping_generation = False
            self.job = job

    def end(self) -> None:
        with self.lock:
            self.job = ""
            self.job_count = 0

    def as_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped, "interrupted": self.interrupted,
                "stopping_generation": self.stopping_generation, "job": self.job,
                "job_count": self.job_count, "job_timestamp": self.job_timestamp,
                "job_no": self.job_no, "sampling_step": self.sampling_step,
                "sampling_steps": self.sampling_steps}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    fake: FakeA1111

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that went away (reset, killed process): normal for these tests
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY, as uvicorn sets it: no 40 ms stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._track(self.connection, False)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self.server.fake._handle(self, "GET")

    def do_POST(self) -> None:  # noqa: N802
        self.server.fake._handle(self, "POST")

    def do_PUT(self) -> None:  # noqa: N802
        self.server.fake._handle(self, "PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self.server.fake._handle(self, "DELETE")


_ROUTES: dict[str, set[str]] = {
    "sd-models": {"GET"}, "samplers": {"GET"}, "schedulers": {"GET"}, "options": {"GET", "POST"},
    "progress": {"GET"}, "interrupt": {"POST"}, "skip": {"POST"}, "txt2img": {"POST"},
    "img2img": {"POST"}, "sd-vae": {"GET"}, "cmd-flags": {"GET"}, "memory": {"GET"},
    "extra-single-image": {"POST"},  # tests/fakes/fake_a1111_extras.py
}
_OPEN_ROUTES = {"loras", "refresh-loras"}  # registered by the Lora extension, not behind auth


class FakeA1111:
    """Fake A1111 server; see the module docstring for the knobs and records."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, mode: str = MODE_UI_API,
                 prefix: str = "", auth: str | None = None, step_time: float = 0.005,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self.mode = mode
        self.prefix = prefix
        self.auth = auth
        self.step_time = step_time
        self.setup_time: float | None = None
        self.ssl_context = ssl_context
        self.models = default_models()
        self.loaded: FakeModel = self.models[0]
        self.model_load_time = 0.0
        self.samplers = default_samplers()
        self.schedulers = default_schedulers()
        self.schedulers_route = True
        self.options = default_options(self.loaded.title)
        self.grid: bool | None = None
        self.failure: str | None = None
        self.failure_count: int | None = 1
        self.fail_after_steps = 0
        self.slow_chunk = 64
        self.slow_delay = 0.01
        self.drip_delay = 1.0
        self.huge_bytes = 1024**3
        self.deep_levels = 100_000
        self.reported_seeds: list[Any] | None = None
        self.hostile_bytes_sent = 0
        self.route_failures: dict[str, str] = {}
        # /interrupt ends the running step at once and answers only after the job's own request
        # has its (partial) image: the client sees the image arrive as it cancels
        self.interrupt_answers_at_once = False
        # records
        self.requests: list[Recorded] = []
        self.unknown_keys: list[str] = []
        self.model_loads = 0
        self.preview_requests = 0
        self.previews_sent = 0
        self.interrupts = 0
        self.skips = 0
        self.jobs: list[JobRecord] = []
        self.max_open_generations = 0
        self.max_running_jobs = 0
        self.last_images: list[str] = []
        # internals
        self._state = _State()
        self._queue_lock = _FifoLock()
        self._counter_lock = threading.Lock()
        self._open_generations = 0
        self._running_jobs = 0
        self._stop = threading.Event()
        self._answer_now = threading.Event()  # see interrupt_answers_at_once
        self._job_ended = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeA1111:
        """Bind and serve in a daemon thread."""
        server = _Server((self.host, self.port), _Handler)
        server.fake = self
        if self.ssl_context is not None:
            server.socket = self.ssl_context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._stop.clear()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-a1111-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging requests are released and open connections closed."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            with self._conns_lock:
                conns = list(self._conns)
            for conn in conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FakeA1111:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL including the prefix, e.g. http://127.0.0.1:54321/sd."""
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}{self.prefix}"

    # --- records -----------------------------------------------------------------------------

    def requests_to(self, path: str, method: str | None = None) -> list[Recorded]:
        """Recorded requests whose path ends with `path` ("txt2img", "/sdapi/v1/progress")."""
        return [r for r in list(self.requests)
                if r.path.endswith(path) and (method is None or r.method == method)]

    def last_payload(self, path: str) -> Any:
        """JSON body of the last request to `path`; None if there was none."""
        found = self.requests_to(path)
        return found[-1].json if found else None

    # --- simulation helpers ------------------------------------------------------------------

    def busy(self, seconds: float, steps: int = 20) -> threading.Thread:
        """Pretend another client's job runs for `seconds` (lock held, /progress shows it)."""
        ready = threading.Event()

        def run() -> None:
            if not self._queue_lock.acquire(self._stop):
                ready.set()
                return
            try:
                self._state.begin("scripts_txt2img")
                with self._state.lock:
                    self._state.job_count = 1
                    self._state.sampling_steps = steps
                ready.set()
                record = JobRecord("other", steps, time.monotonic())
                self._sample(steps, seconds / steps, record)
            finally:
                self._state.end()
                self._queue_lock.release()

        thread = threading.Thread(target=run, name="fake-a1111-busy", daemon=True)
        thread.start()
        ready.wait(5)
        return thread

    def _sample(self, steps: int, step_time: float, record: JobRecord) -> bool:
        """Run `steps` sampling steps; False if interrupted/skipped/stopped."""
        for i in range(steps):
            if self.interrupt_answers_at_once:
                self._answer_now.wait(step_time)
                if self._stop.is_set():
                    return False
            elif self._stop.wait(step_time):
                return False
            with self._state.lock:
                if self._state.interrupted or self._state.skipped:
                    return False
                self._state.sampling_step = i
            record.steps_done = i + 1
        return True

    # --- HTTP --------------------------------------------------------------------------------

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _handle(self, h: _Handler, method: str) -> None:
        started = time.time()
        split = urlsplit(h.path)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length > 0 else b""
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        if self.prefix:
            if path == self.prefix or path.startswith(self.prefix + "/"):
                path = path[len(self.prefix):] or "/"
            else:
                path = "\x00outside-prefix"
        self.requests.append(Recorded(method, path, query, parsed, dict(h.headers.items()),
                                      time.monotonic(), body))
        try:
            reply = self._route(h, method, path, query, body)
        except Exception as exc:  # A1111's handle_exception: any exception becomes a 500 body
            reply = _a1111_error(500, type(exc).__name__, "", str(exc))
        self._send(h, reply, started)

    def _route(self, h: _Handler, method: str, path: str, query: dict[str, list[str]],
               body: bytes) -> _Reply:
        not_found = _Reply(404, {"detail": "Not Found"})
        if path == "/":
            if self.mode == MODE_API_ONLY:
                return not_found
            if method != "GET":
                return _Reply(405, {"detail": "Method Not Allowed"}, headers={"allow": "GET"})
            return _Reply(200, b"<!DOCTYPE html><html><head><title>Stable Diffusion</title></head>"
                               b"<body><gradio-app></gradio-app></body></html>", _HTML)
        if path in ("/docs", "/openapi.json"):
            if path == "/docs":
                return _Reply(200, b"<html><body>Swagger UI</body></html>", _HTML)
            return _Reply(200, {"openapi": "3.0.2",
                                "info": {"title": "FastAPI", "version": "0.1.0"}})
        if not path.startswith(API) or self.mode == MODE_API_OFF:
            return not_found
        route = path[len(API):]
        if route in _OPEN_ROUTES:
            return _Reply(200, [] if route == "loras" else None)
        if route == "schedulers" and not self.schedulers_route:
            return not_found
        methods = _ROUTES.get(route)
        if methods is None:
            return not_found
        if method not in methods:
            return _Reply(405, {"detail": "Method Not Allowed"},
                          headers={"allow": ", ".join(sorted(methods))})
        if self.auth:
            detail = self._check_auth(h.headers.get("Authorization"))
            if detail is not None:
                return _a1111_error(401, "HTTPException", detail)
        handler: Callable[[], _Reply]
        kind = self.route_failures.get(f"{method} {route}") or self.route_failures.get(route)
        if kind is not None:
            if kind in ("drop", "hang"):
                return _Reply(0, action=kind)
            if kind in HOSTILE_ACTIONS:
                return _Reply(200, {"detail": "x" * 200}, action=kind)
            if kind == "garbage":
                return _Reply(200, b"<html><body>Not an API</body></html>", "text/html")
            return self._error_reply(kind)
        if route in ("txt2img", "img2img"):
            return self._generation(route, h, body)
        if method == "POST" and route == "options":
            return self._post_options(h, body)
        if route == "extra-single-image":
            from tests.fakes.fake_a1111_extras import extra_single_image

            return extra_single_image(self, h, body)
        handler = {
            "sd-models": lambda: _Reply(200, [m.api() for m in self.models]),
            "samplers": lambda: _Reply(200, self.samplers),
            "schedulers": lambda: _Reply(200, self.schedulers),
            "options": lambda: _Reply(200, dict(self.options)),
            "progress": lambda: self._progress(query),
            "interrupt": self._interrupt,
            "skip": self._skip,
            "sd-vae": lambda: _Reply(200, []),
            "cmd-flags": lambda: _Reply(200, {"api": True, "nowebui": self.mode == MODE_API_ONLY,
                                              "api_auth": self.auth}),
            "memory": lambda: _Reply(200, {"ram": {}, "cuda": {}}),
        }[route]
        return handler()

    def _check_auth(self, header: str | None) -> str | None:
        """FastAPI HTTPBasic + A1111's auth(): the 401 detail, or None when allowed."""
        assert self.auth is not None
        credentials = {}
        for entry in self.auth.split(","):
            user, password = entry.split(":")  # A1111 fails on extra ':' too
            credentials[user] = password
        if not header:
            return "Not authenticated"
        scheme, _, param = header.partition(" ")
        if scheme.lower() != "basic":
            return "Not authenticated"
        try:
            data = base64.b64decode(param).decode("ascii")
        except (ValueError, UnicodeDecodeError, binascii.Error):
            return "Invalid authentication credentials"
        user, sep, password = data.partition(":")
        if not sep:
            return "Invalid authentication credentials"
        if user in credentials and hmac.compare_digest(password.encode(),
                                                       credentials[user].encode()):
            return None
        return "Incorrect username or password"

    def _parse_body(self, h: _Handler, body: bytes) -> tuple[Any, _Reply | None]:
        """FastAPI's body handling: (object, None) or (None, 422 reply)."""
        if not body:
            return None, _Reply(422, {"detail": [{"loc": ["body"], "msg": "field required",
                                                  "type": "value_error.missing"}]})
        content_type = h.headers.get("Content-Type")
        is_json = True
        if content_type:
            main = content_type.split(";")[0].strip().lower()
            is_json = main == "application/json" or (
                main.startswith("application/") and main.endswith("+json"))
        if not is_json:
            return None, _Reply(422, {"detail": [_NOT_A_DICT]})
        try:
            return json.loads(body), None
        except json.JSONDecodeError as exc:
            return None, _Reply(422, {"detail": [{
                "loc": ["body", exc.pos], "msg": exc.msg, "type": "value_error.jsondecode",
                "ctx": {"msg": exc.msg, "doc": exc.doc, "pos": exc.pos, "lineno": exc.lineno,
                        "colno": exc.colno}}]})
        except UnicodeDecodeError as exc:
            return None, _Reply(422, {"detail": [{"loc": ["body", 0], "msg": str(exc),
                                                  "type": "value_error.jsondecode"}]})

    def _as_dict_body(self, h: _Handler,
                      body: bytes) -> tuple[dict[str, Any] | None, _Reply | None]:
        obj, error = self._parse_body(h, body)
        if error is not None:
            return None, error
        try:
            return _coerce("dict", obj), None
        except _Invalid:
            return None, _Reply(422, {"detail": [_NOT_A_DICT]})

    # --- routes ------------------------------------------------------------------------------

    def _progress(self, query: dict[str, list[str]]) -> _Reply:
        raw = (query.get("skip_current_image") or ["false"])[-1].lower()
        if raw in ("true", "1", "yes", "on", "t", "y"):
            skip = True
        elif raw in ("false", "0", "no", "off", "f", "n"):
            skip = False
        else:
            return _Reply(422, {"detail": [{"loc": ["query", "skip_current_image"],
                                            "msg": "value could not be parsed to a boolean",
                                            "type": "type_error.bool"}]})
        if not skip:
            with self._counter_lock:
                self.preview_requests += 1
        st = self._state
        with st.lock:
            state = st.as_dict()
            if st.job_count == 0:
                return _Reply(200, {"progress": 0.0, "eta_relative": 0.0, "state": state,
                                    "current_image": None, "textinfo": None})
            progress = 0.01
            if st.job_count > 0:
                progress += st.job_no / st.job_count
            if st.sampling_steps > 0:
                progress += 1 / st.job_count * st.sampling_step / st.sampling_steps
            elapsed = time.time() - st.time_start
            eta_relative = elapsed / progress - elapsed
            progress = min(progress, 1)
            every = int(self.options.get("show_progress_every_n_steps", 10))
            if (every != -1 and self.options.get("live_previews_enable", True)
                    and st.sampling_step - st.current_image_sampling_step >= every):
                shade = int(255 * min(1.0, max(0.0, progress)))
                st.current_image = make_png(*st.preview_size, (shade, shade, shade), None)
                st.current_image_sampling_step = st.sampling_step
            current = None
            if st.current_image is not None and not skip:
                current = base64.b64encode(st.current_image).decode("ascii")
        if current is not None:
            with self._counter_lock:
                self.previews_sent += 1
        return _Reply(200, {"progress": progress, "eta_relative": eta_relative, "state": state,
                            "current_image": current, "textinfo": None})

    def _interrupt(self) -> _Reply:
        with self._state.lock:
            self._state.interrupted = True
            running = bool(self._state.job)
        with self._counter_lock:
            self.interrupts += 1
        if self.interrupt_answers_at_once and running:
            self._answer_now.set()
            self._job_ended.wait(10)  # the job's request gets its image before this answer
        return _Reply(200, {})

    def _skip(self) -> _Reply:
        with self._state.lock:
            self._state.skipped = True
        with self._counter_lock:
            self.skips += 1
        return _Reply(200, None)

    def _find_model(self, name: str) -> FakeModel | None:
        for model in self.models:
            if name in model.ids():
                return model
        return None

    def _post_options(self, h: _Handler, body: bytes) -> _Reply:
        req, error = self._as_dict_body(h, body)
        if error is not None or req is None:
            return error or _Reply(500)
        checkpoint = req.get("sd_model_checkpoint")
        if checkpoint is not None and self._find_model(str(checkpoint)) is None:
            return _a1111_error(500, "RuntimeError", "", f"model {checkpoint!r} not found")
        for key, value in req.items():
            if self.options.get(key) == value:
                continue
            if key not in self.options:
                return _a1111_error(500, "KeyError", "", repr(key))
            if key == "sd_model_checkpoint":
                self._load_model(str(value))
            else:
                self.options[key] = value
        return _Reply(200, None)

    def _load_model(self, name: str) -> None:
        model = self._find_model(name)
        assert model is not None
        if not self._queue_lock.acquire(self._stop):
            return
        try:
            if model is self.loaded:
                self.options["sd_model_checkpoint"] = name  # alias kept as sent
                return
            if self.model_load_time:
                self._stop.wait(self.model_load_time)
            model.hashed = True
            self.loaded = model
            self.model_loads += 1
            self.options["sd_model_checkpoint"] = model.title
        finally:
            self._queue_lock.release()

    def _take_failure(self) -> str | None:
        with self._counter_lock:
            kind = self.failure
            if kind is None:
                return None
            if kind not in FAILURES:
                raise ValueError(f"unknown failure kind {kind!r}")
            if self.failure_count is not None:
                self.failure_count -= 1
                if self.failure_count <= 0:
                    self.failure = None
                    self.failure_count = 1
            return kind

    def _error_reply(self, kind: str) -> _Reply:
        if kind == "validation":
            return _Reply(422, {"detail": [{"loc": ["body", "steps"],
                                            "msg": "value is not a valid integer",
                                            "type": "type_error.integer"}]})
        if kind == "script":
            return _a1111_error(422, "HTTPException", "Script 'x' not found")
        if kind == "oom":
            return _a1111_error(500, "OutOfMemoryError", "", OOM_MESSAGE)
        if kind == "forge-500":
            return _Reply(500, b"Internal Server Error", "text/plain; charset=utf-8")
        if kind == "detail-500":
            return _Reply(500, {"detail": "could not find upscaler named Lanczos2"})
        return _a1111_error(500, "TypeError", "", "'NoneType' object is not subscriptable")

    def _decode_image(self, encoded: Any) -> Image.Image | None:
        """`api.decode_base64_to_image` (lenient base64); None when it is not an image."""
        if not isinstance(encoded, str):
            return None
        if encoded.startswith("data:image/"):
            encoded = encoded.split(";")[1].split(",")[1]
        try:
            image = Image.open(io.BytesIO(base64.b64decode(encoded)))
            image.load()
            return image
        except Exception:
            return None

    def _generation(self, route: str, h: _Handler, body: bytes) -> _Reply:
        req, error = self._as_dict_body(h, body)
        if error is not None or req is None:
            return error or _Reply(500)
        fields = TXT2IMG_FIELDS if route == "txt2img" else IMG2IMG_FIELDS
        values, errors, unknown = validate_body(fields, req)
        if errors:
            return _Reply(422, {"detail": errors})
        with self._counter_lock:
            self.unknown_keys.extend(unknown)
        init: Image.Image | None = None
        mask: Image.Image | None = None
        if route == "img2img":
            if values["init_images"] is None:
                return _a1111_error(404, "HTTPException", "Init image not found")
            if values["mask"]:
                mask = self._decode_image(values["mask"])
                if mask is None:
                    return _a1111_error(500, "HTTPException", "Invalid encoded image")
        failure = self._take_failure()
        if failure in ("validation", "script"):
            return self._error_reply(failure)
        if failure == "hang":
            return _Reply(0, action="hang")
        with self._counter_lock:
            self._open_generations += 1
            self.max_open_generations = max(self.max_open_generations, self._open_generations)
        try:
            if not self._queue_lock.acquire(self._stop):
                return _Reply(0, action="drop")
            try:
                if route == "img2img":
                    images = [self._decode_image(x) for x in values["init_images"]]
                    if not images or any(x is None for x in images):
                        return _a1111_error(500, "HTTPException", "Invalid encoded image")
                    init = images[0]
                with self._counter_lock:
                    self._running_jobs += 1
                    self.max_running_jobs = max(self.max_running_jobs, self._running_jobs)
                try:
                    reply = self._run_job(route, values, init, mask, failure)
                finally:
                    with self._counter_lock:
                        self._running_jobs -= 1
            finally:
                self._queue_lock.release()
        finally:
            with self._counter_lock:
                self._open_generations -= 1
        return reply

    def _run_job(self, route: str, v: dict[str, Any], init: Image.Image | None,
                 mask: Image.Image | None, failure: str | None) -> _Reply:
        st = self._state
        steps = int(v["steps"]) if v["steps"] is not None else 50
        n_iter = max(1, int(v["n_iter"] or 1))
        batch_size = max(1, int(v["batch_size"] or 1))
        if route == "img2img":
            sampling_steps = int(min(float(v["denoising_strength"]), 0.999) * steps) + 1
        else:
            sampling_steps = steps
        record = JobRecord(route, sampling_steps, time.monotonic())
        self.jobs.append(record)
        self._answer_now.clear()
        self._job_ended.clear()
        st.begin(f"scripts_{route}")  # job_count -1, sampling_steps still the previous job's
        setup = self.step_time if self.setup_time is None else self.setup_time
        if setup:
            self._stop.wait(setup)
        with st.lock:
            st.job_count = n_iter
        seed = v["seed"]
        if seed is None or seed == -1:
            seed = random.randrange(4294967294)
        subseed = v["subseed"]
        if subseed is None or subseed == -1:
            subseed = random.randrange(4294967294)
        all_seeds = [seed + i for i in range(n_iter * batch_size)]
        width, height = int(v["width"] or 512), int(v["height"] or 512)
        out_w, out_h = width // 8 * 8, height // 8 * 8
        only_masked = bool(route == "img2img" and mask is not None and v["inpaint_full_res"]
                           and mask.convert("L").getbbox() is not None)
        if only_masked and init is not None:
            out_w, out_h = init.size
        sampler, schedule = self._sampler_and_schedule(v["sampler_name"] or v["sampler_index"],
                                                       v["scheduler"])
        params_base = self._infotext_params(route, v, sampler, schedule, width, height)
        produced: list[tuple[int, str]] = []
        try:
            for batch in range(n_iter):
                with st.lock:
                    if st.interrupted:
                        break
                    st.job_no = batch
                    st.skipped = False
                    if batch > 0:
                        st.job = f"Batch {batch + 1} out of {n_iter}"
                    st.sampling_step = 0
                    st.current_image_sampling_step = 0  # state.nextjob()
                    st.sampling_steps = sampling_steps
                    st.preview_size = (min(out_w, 256) or 8, min(out_h, 256) or 8)
                if failure in _ERROR_FAILURES:
                    self._sample(min(self.fail_after_steps, sampling_steps), self.step_time, record)
                    return self._error_reply(failure)
                self._sample(sampling_steps, self.step_time, record)
                for i in range(batch_size):
                    index = batch * batch_size + i
                    produced.append((all_seeds[index], create_infotext(
                        v["prompt"] or "", v["negative_prompt"] or "",
                        self._with_seed(params_base, all_seeds[index]))))
                if self._stop.is_set():
                    break
        finally:
            with st.lock:
                record.interrupted = st.interrupted
                record.ended = time.monotonic()
            st.end()
        images = [base64.b64encode(self._image_png(out_w, out_h, _colour(s), text, init, mask, v))
                  .decode("ascii") for s, text in produced]
        infotexts = [text for _, text in produced]
        index_of_first_image = 0
        want_grid = self.grid if self.grid is not None else (
            bool(v["save_images"]) and bool(self.options.get("return_grid", True)))
        if want_grid and len(images) >= 2:
            grid_text = infotexts[0]
            images.insert(0, base64.b64encode(make_png(out_w * min(len(images), batch_size),
                                                        out_h * max(1, len(images) // batch_size),
                                                        (0, 0, 0), grid_text)).decode("ascii"))
            infotexts.insert(0, grid_text)
            index_of_first_image = 1
        record.images = len(images)
        self._job_ended.set()
        if not v["send_images"]:
            images = []
        info = {
            "prompt": v["prompt"], "all_prompts": [v["prompt"]] * len(all_seeds),
            "negative_prompt": v["negative_prompt"],
            "all_negative_prompts": [v["negative_prompt"]] * len(all_seeds),
            "seed": seed, "all_seeds": all_seeds, "subseed": subseed,
            "all_subseeds": [subseed + i for i in range(len(all_seeds))],
            "subseed_strength": v["subseed_strength"], "width": width, "height": height,
            "sampler_name": sampler, "cfg_scale": v["cfg_scale"], "steps": steps,
            "batch_size": batch_size, "restore_faces": v["restore_faces"] or False,
            "face_restoration_model": None, "sd_model_name": self.loaded.model_name,
            "sd_model_hash": self.loaded.shorthash or self.loaded.legacy_hash,
            "sd_vae_name": None, "sd_vae_hash": None,
            "seed_resize_from_w": v["seed_resize_from_w"],
            "seed_resize_from_h": v["seed_resize_from_h"],
            "denoising_strength": v["denoising_strength"],
            "extra_generation_params": {k: val for k, val in params_base if k in _EXTRA_PARAMS},
            "index_of_first_image": index_of_first_image, "infotexts": infotexts,
            "styles": v["styles"] or [], "job_timestamp": st.job_timestamp, "clip_skip": 1,
            "is_using_inpainting_conditioning": False, "version": VERSION,
        }
        parameters = dict(v)
        if route == "img2img" and not v["include_init_images"]:
            parameters["init_images"] = None
            parameters["mask"] = None
        response = {"images": images, "parameters": parameters, "info": json.dumps(info)}
        self.last_images = list(images)
        if failure == "garbage":
            return _Reply(200, b"<html><body><h1>It works!</h1></body></html>", "text/html")
        if failure in ("bad-base64", "not-image", "bomb"):
            bad = {"bad-base64": "iVBORw0KGgo!!not*base64",
                   "not-image": base64.b64encode(b"this is not an image, just some text").decode(),
                   "bomb": base64.b64encode(bomb_png()).decode()}[failure]
            response["images"] = [bad] + images[1:]
        if self.reported_seeds is not None:
            info["seed"] = self.reported_seeds[0] if self.reported_seeds else None
            info["all_seeds"] = list(self.reported_seeds)
            response["info"] = json.dumps(info)  # NaN is written as NaN, as Python's json does
        action = failure if failure in ("drop", "drop-partial", "slow", *HOSTILE_ACTIONS) \
            else None
        return _Reply(200, response, action=action)

    @staticmethod
    def _image_png(width: int, height: int, colour: tuple[int, int, int], text: str,
                   init: Image.Image | None, mask: Image.Image | None, v: dict[str, Any]) -> bytes:
        """A generated image; with a mask, A1111's overlay keeps the init image's unmasked
        pixels (`fake_a1111_extras.inpaint_result_png`)."""
        if init is None or mask is None:
            return make_png(width, height, colour, text)
        from tests.fakes.fake_a1111_extras import inpaint_result_png

        return inpaint_result_png((width, height), colour, text, init, mask, v)

    def _sampler_and_schedule(self, name: str | None, scheduler: str | None) -> tuple[str, str]:
        """`sd_samplers.get_sampler_and_scheduler` (1.10: unknown sampler -> the first one)."""
        by_name = {s["name"]: s for s in self.samplers}
        default = self.samplers[0]
        sched_map = {**{s["name"]: s for s in self.schedulers},
                     **{s["label"]: s for s in self.schedulers}}
        found = sched_map.get(scheduler or "", self.schedulers[0])
        name = name or default["name"]
        for sched in self.schedulers:
            for option in [sched["label"], *(sched["aliases"] or [])]:
                if name.endswith(" " + option):
                    found = sched
                    name = name[: -(len(option) + 1)]
                    break
        sampler = by_name.get(name, default)
        default_sched = sampler["options"].get("scheduler")
        if found["name"] == "automatic" or found["name"] == default_sched:
            label = next((s["label"] for s in self.schedulers if s["name"] == default_sched),
                         "Automatic")
        else:
            label = found["label"]
        return sampler["name"], label

    def _infotext_params(self, route: str, v: dict[str, Any], sampler: str, schedule: str,
                         width: int, height: int) -> list[tuple[str, Any]]:
        model = self.loaded
        params: list[tuple[str, Any]] = [
            ("Steps", v["steps"]), ("Sampler", sampler), ("Schedule type", schedule),
            ("CFG scale", v["cfg_scale"]), ("Seed", None), ("Size", f"{width}x{height}"),
            ("Model hash", model.shorthash or model.legacy_hash), ("Model", model.model_name),
        ]
        if route == "img2img":
            params.append(("Denoising strength", v["denoising_strength"]))
            if v["mask"]:
                blur = v["mask_blur"] if v["mask_blur"] is not None else v["mask_blur_x"]
                params.append(("Mask blur", blur))
                if v["inpainting_mask_invert"]:
                    params.append(("Mask mode", "Inpaint not masked"))
                if v["inpaint_full_res"]:
                    params.append(("Inpaint area", "Only masked"))
                    params.append(("Masked area padding", v["inpaint_full_res_padding"]))
                fill = v["inpainting_fill"]
                if fill in (0, 2, 3):
                    params.append(("Masked content", _MASKED_CONTENT[fill]))
        params.append(("Version", VERSION))
        return params

    @staticmethod
    def _with_seed(params: list[tuple[str, Any]], seed: int) -> list[tuple[str, Any]]:
        return [(k, seed if k == "Seed" else v) for k, v in params]

    # --- sending -----------------------------------------------------------------------------

    def _send(self, h: _Handler, reply: _Reply, started: float) -> None:
        try:
            if reply.action == "hang":
                self._stop.wait()
                h.close_connection = True
                return
            if reply.action == "drop":
                self._drop(h)
                return
            if reply.action in ("endless", "huge-json", "deep-json"):
                self._send_hostile(h, reply.action)
                return
            if isinstance(reply.body, (bytes, bytearray)):
                payload = bytes(reply.body)
            else:
                payload = json.dumps(reply.body, separators=(",", ":"), ensure_ascii=False).encode()
            headers = {"Content-Type": reply.content_type, **reply.headers}
            accept = h.headers.get("Accept-Encoding", "")
            if len(payload) >= 1000 and "gzip" in accept.lower() and reply.action != "drop-partial":
                payload = gzip.compress(payload, compresslevel=1)
                headers["Content-Encoding"] = "gzip"
            headers["X-Process-Time"] = f"{time.time() - started:.4f}"
            h.send_response(reply.status)
            for key, value in headers.items():
                h.send_header(key, value)
            if reply.action == "drop-partial":
                h.send_header("Content-Length", str(len(payload) + 4096))
                h.end_headers()
                h.wfile.write(payload[: len(payload) // 2])
                h.wfile.flush()
                self._drop(h)
                return
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            if reply.action in ("slow", "drip"):
                chunk, delay = ((1, self.drip_delay) if reply.action == "drip"
                                else (self.slow_chunk, self.slow_delay))
                for offset in range(0, len(payload), max(1, chunk)):
                    h.wfile.write(payload[offset: offset + chunk])
                    h.wfile.flush()
                    with self._counter_lock:
                        self.hostile_bytes_sent += len(payload[offset: offset + chunk])
                    if self._stop.wait(delay):
                        break
            else:
                h.wfile.write(payload)
            h.wfile.flush()
        except OSError:
            h.close_connection = True

    def _send_hostile(self, h: _Handler, action: str) -> None:
        """Answers no real server sends: endless, huge or absurdly nested JSON."""
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        piece = b"A" * 65536
        if action == "deep-json":
            payload = b"[" * self.deep_levels + b"]" * self.deep_levels
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            h.wfile.flush()
            return
        head, tail = b'{"images":["', b'"],"info":"{}"}'
        if action == "huge-json":
            h.send_header("Content-Length", str(self.huge_bytes))
            remaining = self.huge_bytes - len(head) - len(tail)
        else:
            h.send_header("Connection", "close")  # no length: the body ends when we close
            remaining = -1
        h.end_headers()
        h.wfile.write(head)
        while remaining != 0 and not self._stop.is_set():
            part = piece if remaining < 0 else piece[: min(len(piece), remaining)]
            h.wfile.write(part)  # OSError once the client has gone: ends the loop
            with self._counter_lock:
                self.hostile_bytes_sent += len(part)
            if remaining > 0:
                remaining -= len(part)
        if remaining == 0:
            h.wfile.write(tail)
        h.wfile.flush()

    @staticmethod
    def _drop(h: _Handler) -> None:
        h.close_connection = True
        with contextlib.suppress(OSError):
            h.connection.shutdown(socket.SHUT_RDWR)


def main(argv: list[str] | None = None) -> int:
    """Run the fake standalone until Ctrl+C."""
    parser = argparse.ArgumentParser(description="Fake AUTOMATIC1111 WebUI API (v1.10.1)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--auth", default=None, help="user:pass like --api-auth")
    parser.add_argument("--step-time", type=float, default=0.05)
    parser.add_argument("--mode", choices=[MODE_UI_API, MODE_API_ONLY, MODE_API_OFF],
                        default=MODE_UI_API)
    parser.add_argument("--prefix", default="")
    args = parser.parse_args(argv)
    fake = FakeA1111(host=args.host, port=args.port, mode=args.mode, prefix=args.prefix,
                     auth=args.auth, step_time=args.step_time)
    fake.start()
    print(f"Fake A1111 ({args.mode}) listening on {fake.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
