"""`setup_logging(rotate_later=True)` + `start_rotating()`: the window's start-up logging."""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlx_art import log as dlx_log
from dlx_art.paths import AppPaths


@pytest.fixture
def fresh_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    root = logging.getLogger("dlx_art")
    before = list(root.handlers)
    monkeypatch.setattr(dlx_log, "_configured", None)
    yield
    for handler in list(root.handlers):
        if handler not in before:
            root.removeHandler(handler)
            handler.close()


def _ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger("dlx_art").handlers if getattr(h, "_dlx", False)]


def test_the_file_is_written_before_and_after_the_rotating_handler_takes_over(
        tmp_path: Path, fresh_logging: None) -> None:
    paths = AppPaths.resolve(tmp_path / "home")
    log_file = dlx_log.setup_logging(paths=paths, rotate_later=True)
    (handler,) = _ours()
    assert type(handler) is logging.FileHandler  # not the rotating one yet
    logging.getLogger("dlx_art.test").warning("before the first frame")

    dlx_log.start_rotating()
    (rotating,) = _ours()
    assert isinstance(rotating, logging.handlers.RotatingFileHandler)
    assert Path(rotating.baseFilename) == log_file
    assert rotating.maxBytes == 2_000_000 and rotating.backupCount == 5
    logging.getLogger("dlx_art.test").warning("after it, hf_abcdefghijkl")
    rotating.flush()

    text = log_file.read_text(encoding="utf-8")
    assert "before the first frame" in text
    assert "after it, hf_***" in text  # still redacted
    dlx_log.start_rotating()  # nothing left to swap: a no-op
    assert _ours() == [rotating]


def test_without_rotate_later_the_rotating_handler_is_there_at_once(
        tmp_path: Path, fresh_logging: None) -> None:
    dlx_log.setup_logging(paths=AppPaths.resolve(tmp_path / "home"))
    (handler,) = _ours()
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
