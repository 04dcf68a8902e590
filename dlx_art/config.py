"""One place that turns `--home` / the environment / the settings file into a running context."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dlx_art.paths import AppPaths
from dlx_art.settings import Settings


@dataclass
class Context:
    paths: AppPaths
    settings: Settings  # as saved in the settings file
    effective: Settings  # with the environment overrides applied (what backends use)

    @property
    def storage_root(self) -> Path:
        if self.settings.storage_root:
            return Path(self.settings.storage_root).expanduser()
        return self.paths.default_storage_root

    def open_library(self):  # -> Library (imported lazily: keeps start-up light)
        from dlx_art.library.service import Library

        return Library.open(self.storage_root)

    def save_settings(self, settings: Settings) -> None:
        settings.save(self.paths.settings_file)
        self.settings = settings
        self.effective = settings.with_env()


def load_context(home: str | None = None) -> Context:
    paths = AppPaths.resolve(home).ensure()
    settings = Settings.load(paths.settings_file)
    return Context(paths=paths, settings=settings, effective=settings.with_env())
