"""What the window remembers between runs: geometry, dock layout, last project, prompt values.

Kept in an INI file in the config folder (never the registry or `~/.config/DLX`), so `--home`
isolates it like everything else and a person can delete it to reset the layout. Settings a
person chooses on purpose (servers, theme, storage root) live in `settings.json`, not here.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

log = logging.getLogger("dlx_art.gui.state")

STATE_FILE = "ui-state.ini"


class UiState:
    """A thin typed layer over a QSettings INI file.

    Values written by an older or newer version that do not have the expected type are
    ignored (the default is returned), so a damaged file never stops the window from opening.
    """

    def __init__(self, config_dir: Path) -> None:
        config_dir.mkdir(parents=True, exist_ok=True)
        self.path = config_dir / STATE_FILE
        self._qs = QSettings(str(self.path), QSettings.Format.IniFormat)

    # --- typed access -----------------------------------------------------------------------

    def get_str(self, key: str, default: str = "") -> str:
        value = self._qs.value(key, default)
        return value if isinstance(value, str) else default

    def get_int(self, key: str, default: int = 0) -> int:
        value = self._qs.value(key, default)
        try:
            return int(value)
        except (TypeError, ValueError):
            return default

    def get_float(self, key: str, default: float = 0.0) -> float:
        value = self._qs.value(key, default)
        try:
            return float(value)
        except (TypeError, ValueError):
            return default

    def get_bool(self, key: str, default: bool = False) -> bool:
        value = self._qs.value(key, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return value.lower() in ("true", "1", "yes")
        return default

    def get_bytes(self, key: str) -> QByteArray | None:
        value = self._qs.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def get_json(self, key: str, default: Any = None) -> Any:
        text = self.get_str(key)
        if not text:
            return default
        try:
            return json.loads(text)
        except ValueError:
            log.info("ignoring unreadable UI state %s", key)
            return default

    def set(self, key: str, value: Any) -> None:
        self._qs.setValue(key, value)

    def set_json(self, key: str, value: Any) -> None:
        self._qs.setValue(key, json.dumps(value))

    def remove(self, key: str) -> None:
        self._qs.remove(key)

    def sync(self) -> None:
        self._qs.sync()
        if self._qs.status() != QSettings.Status.NoError:
            log.warning("could not save the window state to %s", self.path)
