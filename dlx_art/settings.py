"""User settings: a JSON file in the config folder, with environment overrides for scripts."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from dlx_art.errors import UsageError

log = logging.getLogger("dlx_art.settings")

DEFAULT_A1111_URL = "http://127.0.0.1:7860"
DEFAULT_HF_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
THEMES = ("dark", "light", "system")
INPAINT_MODELS = ("auto", "off")
"""`a1111_inpaint_model`: "auto" = masked refinements use the model's inpainting partner
(e.g. `dreamshaper_8-inpainting` for `dreamshaper_8`) when the server has one; "off" = always
the image's own model."""


@dataclass
class A1111Server:
    url: str
    user: str = ""
    password: str = ""

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.user, self.password) if self.user else None


@dataclass
class Settings:
    storage_root: str | None = None
    a1111_servers: list[A1111Server] = field(
        default_factory=lambda: [A1111Server(DEFAULT_A1111_URL)]
    )
    connect_timeout: float = 3.05
    read_timeout: float = 900.0
    busy_wait: float = 5.0
    hf_fallback: bool = True
    hf_token: str | None = None  # None = use the Hugging Face login (`hf auth login`, HF_TOKEN)
    hf_model: str = DEFAULT_HF_MODEL
    hf_provider: str = "hf-inference"
    hf_endpoint: str | None = None
    hf_timeout: float = 180.0
    theme: str = "dark"
    a1111_inpaint_model: str = "auto"  # INPAINT_MODELS

    def __repr__(self) -> str:  # never print secrets
        return f"Settings(storage_root={self.storage_root!r}, servers={len(self.a1111_servers)})"

    # --- persistence ------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> Settings:
        """Read `path`; a missing file gives defaults, a damaged one is kept aside and ignored."""
        if not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            return cls.from_dict(raw)
        except (OSError, ValueError, TypeError) as exc:
            aside = path.with_suffix(".damaged.json")
            log.warning("settings file %s is damaged (%s); using defaults, kept as %s",
                        path, exc, aside.name)
            with contextlib.suppress(OSError):
                path.replace(aside)
            return cls()

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Settings:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        servers = values.pop("a1111_servers", None)
        settings = cls(**values)
        if isinstance(servers, list):
            settings.a1111_servers = [
                A1111Server(**{k: str(v) for k, v in s.items() if k in ("url", "user", "password")})
                for s in servers
                if isinstance(s, dict) and s.get("url")
            ]
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.theme not in THEMES:
            self.theme = "dark"
        if self.a1111_inpaint_model not in INPAINT_MODELS:
            raise UsageError(f"Setting a1111_inpaint_model must be one of "
                             f"{', '.join(INPAINT_MODELS)}, not {self.a1111_inpaint_model!r}.")
        for name in ("connect_timeout", "read_timeout", "busy_wait", "hf_timeout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise UsageError(f"Setting {name} must be a number of seconds, not {value!r}.")

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        with contextlib.suppress(OSError):  # not every file system has modes
            os.chmod(tmp, 0o600)  # it may hold a password or token
        os.replace(tmp, path)

    # --- environment ------------------------------------------------------------------------

    def with_env(self, env: dict[str, str] | None = None) -> Settings:
        """A copy with the scripting overrides applied (DLX_ART_A1111_URL, ...)."""
        env = dict(os.environ if env is None else env)
        copy = Settings.from_dict(json.loads(json.dumps(asdict(self))))
        auth = env.get("DLX_ART_A1111_AUTH")
        user, _, password = auth.partition(":") if auth else ("", "", "")
        if urls := env.get("DLX_ART_A1111_URL"):
            copy.a1111_servers = [
                A1111Server(u.strip(), user, password) for u in urls.split(",") if u.strip()
            ]
        elif auth:
            for server in copy.a1111_servers:
                server.user, server.password = user, password
        if model := env.get("DLX_ART_HF_MODEL"):
            copy.hf_model = model
        if endpoint := env.get("DLX_ART_HF_ENDPOINT"):
            copy.hf_endpoint = endpoint
        if inpaint_model := env.get("DLX_ART_A1111_INPAINT_MODEL"):
            copy.a1111_inpaint_model = inpaint_model.strip().lower()
            copy.validate()
        return copy
