"""Uncaught exceptions: into the log, and in front of the person instead of a silent exit.

`install_crash_handler(log_file)` replaces `sys.excepthook` and `threading.excepthook`. Every
uncaught exception (a slot, the event loop, `main`, a plain thread) is logged at CRITICAL with its
traceback. When a `QApplication` exists, a dialog shows the message and where the log is: directly
when the exception happened on the GUI thread, queued to the GUI thread otherwise. The app keeps
running after a slot fails, so the person can still save their work.

The handler never raises and never re-enters: an exception while the dialog is up, or from the
dialog itself, is only logged. On a headless platform (offscreen, minimal) the dialog is opened
without blocking, since nobody can click it; a `--smoke` run can check `uncaught_count()`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

log = logging.getLogger("dlx_art.crash")

_HEADLESS_PLATFORMS = {"offscreen", "minimal", "vnc"}
_state: dict[str, Any] = {"log_file": None, "showing": False, "count": 0, "bridge": None}
_lock = threading.Lock()


def install_crash_handler(log_file: Path) -> None:
    """Route every uncaught exception to the log and, with a QApplication, to a dialog."""
    _state["log_file"] = Path(log_file)
    _ensure_log_handler(Path(log_file))
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook


def uncaught_count() -> int:
    """How many uncaught exceptions the handler has seen in this process."""
    return int(_state["count"])


def _ensure_log_handler(log_file: Path) -> None:
    # `dlx_art.log.setup_logging` normally runs first; without it the traceback would only
    # reach stderr, which a windowed app does not have
    root = logging.getLogger("dlx_art")
    if root.handlers:
        return
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8", delay=True)
    except OSError:
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler._dlx = True  # type: ignore[attr-defined]  # setup_logging replaces it later
    root.addHandler(handler)


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    _handle(exc_type, exc, tb, threading.current_thread().name)


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:  # what the default hook ignores too
        return
    exc = args.exc_value if args.exc_value is not None else args.exc_type()
    name = args.thread.name if args.thread is not None else "unknown thread"
    _handle(args.exc_type, exc, args.exc_traceback, name)


def _handle(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None, thread_name: str
) -> None:
    try:
        with _lock:
            _state["count"] += 1
        log.critical("uncaught exception in thread %s", thread_name, exc_info=(exc_type, exc, tb))
        _print_stderr(exc_type, exc, tb)
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        _notify(_summary(exc_type, exc), details)
    except Exception:  # noqa: BLE001 - the last line of defence must not raise
        with contextlib.suppress(Exception):
            sys.__excepthook__(exc_type, exc, tb)


def _summary(exc_type: type[BaseException], exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 400:
        text = text[:400] + "…"
    return f"{exc_type.__name__}: {text}" if text else exc_type.__name__


def _print_stderr(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    # a windowed (console=False) frozen app has no stderr at all
    if sys.stderr is None:
        return
    with contextlib.suppress(Exception):
        traceback.print_exception(exc_type, exc, tb, file=sys.stderr)


def _notify(summary: str, details: str) -> None:
    widgets = sys.modules.get("PySide6.QtWidgets")
    if widgets is None:  # crashed before Qt was loaded: the log is all we can do
        return
    app = widgets.QApplication.instance()
    if not isinstance(app, widgets.QApplication):
        return
    from PySide6.QtCore import QThread

    if QThread.currentThread() == app.thread():
        _show_dialog(summary, details)
    else:
        _bridge(app).requested.emit(summary, details)


def _bridge(app: Any) -> Any:
    """A QObject in the GUI thread that shows the dialog for exceptions from other threads."""
    with _lock:
        bridge = _state["bridge"]
        if bridge is None:
            from PySide6.QtCore import QObject, Signal

            class _DialogBridge(QObject):
                """Signals: requested(summary, details), delivered queued to the GUI thread."""

                requested = Signal(str, str)

            bridge = _DialogBridge()
            bridge.moveToThread(app.thread())
            bridge.requested.connect(_show_dialog)
            _state["bridge"] = bridge
        return bridge


def _headless() -> bool:
    from PySide6.QtGui import QGuiApplication

    return QGuiApplication.platformName() in _HEADLESS_PLATFORMS


def _show_dialog(summary: str, details: str) -> None:
    if _state["showing"]:  # an exception while the dialog is up: logged above, nothing more
        return
    _state["showing"] = True
    try:
        from PySide6.QtWidgets import QApplication, QMessageBox

        from dlx_art import APP_NAME
        from dlx_art.log import redact

        log_file = _state["log_file"]
        box = QMessageBox(QApplication.activeWindow())
        box.setObjectName("dlx_crash_dialog")
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle(f"{APP_NAME}: unexpected error")
        box.setText(f"{APP_NAME} ran into an unexpected error.\n\n{redact(summary)}")
        box.setInformativeText(
            f"The details were written to the log file:\n{log_file}\n\n"
            "The app is still running; save your work and restart it if something looks wrong."
        )
        box.setDetailedText(redact(details))
        box.setStandardButtons(QMessageBox.StandardButton.Close)
        open_folder = box.addButton("Open Log Folder", QMessageBox.ButtonRole.ActionRole)
        box.setDefaultButton(QMessageBox.StandardButton.Close)

        def finished(_result: int) -> None:
            _state["showing"] = False
            if box.clickedButton() is open_folder and log_file is not None:
                _open_folder(Path(log_file).parent)

        box.finished.connect(finished)
        if _headless():
            box.setModal(True)
            box.open()  # returns at once; `finished` clears the guard when it is closed
        else:
            box.exec()
    except Exception:  # noqa: BLE001 - the dialog itself failed: never try again for this one
        _state["showing"] = False
        log.exception("could not show the crash dialog")


def _open_folder(folder: Path) -> None:
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices

    if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
        log.warning("could not open %s", folder)
