"""Where DLX Art Studio keeps its config, logs, cache, resources and default library.

Every other module asks here; nothing else builds these paths. `--home DIR` / `DLX_ART_HOME`
put everything under one folder (used by tests and scripts).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from platformdirs import PlatformDirs

from dlx_art import APP_NAME

HOME_ENV = "DLX_ART_HOME"
_SOURCE_ROOT = Path(__file__).resolve().parents[1]


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def source_checkout() -> Path | None:
    """The repository folder when running from a source checkout, else None."""
    if is_frozen():
        return None
    if (_SOURCE_ROOT / "pyproject.toml").is_file() and (_SOURCE_ROOT / "storage").is_dir():
        return _SOURCE_ROOT
    return None


def resources_dir() -> Path:
    """The `resources/` folder, found the same way from source, a wheel or a frozen app."""
    if is_frozen():
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "resources"
    checkout = _SOURCE_ROOT / "resources"
    if checkout.is_dir():
        return checkout
    return Path(__file__).resolve().parent / "_resources"


@dataclass(frozen=True)
class AppPaths:
    """The folders of one installation (or of one `--home`)."""

    config_dir: Path
    log_dir: Path
    cache_dir: Path
    default_storage_root: Path
    home: Path | None = None

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> AppPaths:
        """Paths for `home` (argument, else $DLX_ART_HOME), else the platform's folders."""
        home = home or os.environ.get(HOME_ENV) or None
        if home:
            base = Path(home).expanduser().resolve()
            return cls(
                config_dir=base / "config",
                log_dir=base / "logs",
                cache_dir=base / "cache",
                default_storage_root=base,
                home=base,
            )
        dirs = PlatformDirs(APP_NAME, appauthor=False)
        checkout = source_checkout()
        storage = checkout / "storage" if checkout else dirs.user_data_path / "Library"
        return cls(
            config_dir=dirs.user_config_path,
            log_dir=dirs.user_log_path,
            cache_dir=dirs.user_cache_path,
            default_storage_root=storage,
        )

    def ensure(self) -> AppPaths:
        for path in (self.config_dir, self.log_dir, self.cache_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self
