"""Logging: named loggers under `dlx_art`, a rotating file in the log folder, no secrets."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

from dlx_art.paths import AppPaths

LOG_FILE = "dlx-art.log"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Hugging Face tokens, bearer/basic credentials and user:password@ in URLs
_SECRETS = [
    (re.compile(r"hf_[A-Za-z0-9]{8,}"), "hf_***"),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic)\s+)[^\s'\",}]+"),
     r"\1***"),
    (re.compile(r"(://[^/\s:@]+:)[^@/\s]+@"), r"\1***@"),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


_configured: Path | None = None
_MAX_BYTES = 2_000_000
_BACKUPS = 5


def _rotating_handler(log_file: Path) -> logging.Handler:
    import logging.handlers  # socket, pickle, queue...: see `setup_logging(rotate_later=...)`

    return logging.handlers.RotatingFileHandler(
        log_file, maxBytes=_MAX_BYTES, backupCount=_BACKUPS, encoding="utf-8", delay=True)


def setup_logging(*, console: bool = False, level: int = logging.INFO,
                  paths: AppPaths | None = None, rotate_later: bool = False) -> Path:
    """Log to `<log dir>/dlx-art.log` (rotating, 5 x 2 MB). Returns the log file's path.

    `rotate_later=True` (the window's start-up): log to the same file through a plain
    `FileHandler` until `start_rotating()` swaps in the rotating one. `logging.handlers` loads
    socket, pickle and queue (about 7 ms), which the window's first frame does not need; the
    only difference meanwhile is that a full log rolls over at the first record after the swap.
    """
    global _configured
    paths = paths or AppPaths.resolve()
    log_file = paths.log_dir / LOG_FILE
    root = logging.getLogger("dlx_art")
    if _configured == log_file:
        return log_file
    for handler in list(root.handlers):
        if getattr(handler, "_dlx", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    try:
        paths.log_dir.mkdir(parents=True, exist_ok=True)
        if rotate_later:
            file_handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8",
                                                                delay=True)
            file_handler._dlx_rotate_later = True  # type: ignore[attr-defined]
        else:
            file_handler = _rotating_handler(log_file)
    except OSError:
        file_handler = logging.StreamHandler(sys.stderr)
    file_handler.setFormatter(RedactingFormatter(_FORMAT))
    file_handler._dlx = True  # type: ignore[attr-defined]
    root.addHandler(file_handler)
    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
        stream.setLevel(logging.WARNING)
        stream._dlx = True  # type: ignore[attr-defined]
        root.addHandler(stream)
    _configured = log_file
    return log_file


def start_rotating() -> None:
    """After `setup_logging(rotate_later=True)`: the rotating handler takes over the file."""
    root = logging.getLogger("dlx_art")
    for handler in list(root.handlers):
        if not getattr(handler, "_dlx_rotate_later", False):
            continue
        assert isinstance(handler, logging.FileHandler)
        try:
            rotating = _rotating_handler(Path(handler.baseFilename))
        except OSError:
            return  # keep the plain handler
        rotating.setFormatter(handler.formatter)
        rotating._dlx = True  # type: ignore[attr-defined]
        root.addHandler(rotating)
        root.removeHandler(handler)
        handler.close()
