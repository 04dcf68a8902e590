"""The GUI entry point: `dlx_art.app.main(argv)`.

Behaviour (the same whether `main` created the QApplication or found one):

* `main` returns when the window has closed, with 0 (or 1 when the window could not be
  opened: library locked by another instance, unreadable catalog, ...).
* With a QApplication it created itself, it runs `app.exec()`. With one that already exists
  (tests, an embedding program) it runs a local `QEventLoop` until the window closes instead,
  so it never calls `exec()` twice and never leaves a window behind.
* The window is shown first and opens the catalog in a background thread (importing the
  database layer takes longer than showing the window); projects and images appear when it
  is open (`MainWindow.library_ready`).
* `--smoke` opens the full window on the real library, shows it, waits until the library is
  open and then lets the event loop run `SMOKE_DELAY_MS` more (`QTimer.singleShot`), closes
  it cleanly and returns 0; it returns 1 when anything failed (an unreadable catalog, an
  uncaught exception in a slot when `main` created the QApplication).
* With DLX_ART_TIMING=1 it prints `timing: shown=<ms> usable=<ms>` (since process start) to
  stderr for `bench/bench_startup.py`.
* A library is opened by one process at a time (`.dlx-art.lock` in its storage root). A second
  start on the same library shows a message (on stderr with `--smoke` or a headless platform)
  and returns 1. Different libraries can be open in one process.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from dlx_art import APP_NAME, ORG_NAME, __version__

log = logging.getLogger("dlx_art.app")

SMOKE_DELAY_MS = 300
HEADLESS = {"offscreen", "minimal", "vnc"}


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    from dlx_art.cli import build_parser

    return build_parser().parse_args(list(argv))


def _set_app_identity(app: object, *, icon: bool = True) -> None:
    """The application's names (and its icon unless `icon=False`: see `_set_app_icon`)."""
    from PySide6.QtGui import QGuiApplication

    QGuiApplication.setApplicationName(APP_NAME)
    QGuiApplication.setApplicationDisplayName(APP_NAME)
    QGuiApplication.setOrganizationName(ORG_NAME)
    QGuiApplication.setApplicationVersion(__version__)
    QGuiApplication.setDesktopFileName("dlx-art")
    if icon:
        _set_app_icon()


#: How long after the library is shown `main` sets the window icon and starts rotating the log
#: (the window paints the library within a frame or two of `library_ready`).
AFTER_READY_MS = 200


def _after_ready() -> None:
    """What `main` leaves until the library is on screen (`AFTER_READY_MS` after it is)."""
    from dlx_art.log import start_rotating

    _set_app_icon()
    start_rotating()


def _set_app_icon() -> None:
    """The window icon in every size (decoding its PNGs takes about 20 ms: `main` sets it
    once the library is on screen; the window manager picks it up then)."""
    from PySide6.QtGui import QGuiApplication, QIcon

    from dlx_art.paths import resources_dir

    icons = resources_dir() / "icons"
    icon = QIcon()
    svg = icons / "dlx-art.svg"
    if svg.is_file():
        icon.addFile(str(svg))
    for png in sorted(icons.glob("dlx-art-*.png")) if icons.is_dir() else []:
        icon.addFile(str(png))
    if not icon.isNull():
        QGuiApplication.setWindowIcon(icon)


GIL_SWITCH_INTERVAL = 0.001


def tune_process(session: object | None = None) -> None:
    """The process-wide speed settings, all here, set once at start-up.

    * GIL switch interval 1 ms (Python's default is 5 ms): thumbnail, import and preview
      workers run Python code beside the GUI thread; each time the GUI thread returns from
      Qt it must win the GIL back, and with two busy workers it can lose that race several
      switch intervals in a row. Costs a little throughput.
    * `gc.freeze()` each time the session shows a library (connect after the window, so
      it runs once the window has filled its views): the start-up objects (Qt
      wrappers, modules, SQLAlchemy, the first page) live as long as the window; frozen, they
      stay out of the collector's full scans, which otherwise hold the GIL for tens of
      milliseconds at a time (see the tests/gui heartbeat tests). (`library.service` also
      freezes once after loading SQLAlchemy, for the command line and other hosts.)

    Idempotent for the switch interval; tests that build windows directly call it too.
    """
    import gc

    if sys.getswitchinterval() > GIL_SWITCH_INTERVAL:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    if session is not None:
        def freeze(library: object) -> None:
            if library is not None:
                gc.freeze()

        session.library_opened.connect(freeze)  # type: ignore[attr-defined]


def _process_start_ns() -> int:
    """When this process started: $BENCH_T0_NS (set by bench/bench_startup.py), else /proc."""
    if value := os.environ.get("BENCH_T0_NS"):
        return int(value)
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as handle:
            uptime = float(handle.read().split()[0])
        ticks = os.sysconf("SC_CLK_TCK")
        boot_ns = time.time_ns() - int(uptime * 1e9)
        return boot_ns + int(int(fields[19]) * 1e9 / ticks)
    except (OSError, ValueError, IndexError):
        return _IMPORTED_NS


_IMPORTED_NS = time.time_ns()


class _StartupTimer:
    """With DLX_ART_TIMING=1: prints `timing: shown=<ms> usable=<ms>` to stderr.

    shown: the window's first frame is painted (all its widgets: Qt paints the window first and
    its children after it, in one pass; the mark is taken when that pass has returned to the
    event loop). usable: the library is open, the projects are listed and the first screen of
    the gallery is painted with its thumbnails loaded (also when its paint has returned). Both
    in ms since the process started; `first_paint` / `usable_paint` (information) are the
    moments those paints began.
    """

    def __init__(self, window: object) -> None:
        from PySide6.QtCore import QEvent, QObject, QTimer

        self.t0 = _process_start_ns()
        self.shown: float | None = None
        self.usable: float | None = None
        self.first_paint: float | None = None
        self.usable_paint: float | None = None
        self._window = window
        self._ready = False
        timer = self

        class Filter(QObject):
            def eventFilter(self, obj: object, event: object) -> bool:  # noqa: N802
                if event.type() == QEvent.Type.Paint:  # type: ignore[attr-defined]
                    timer._on_paint(obj)
                return False

        # on the window (painted first in every pass) and later on the usable target only: an
        # application-wide Python filter would be called for every event of every object
        # while the window starts, slowing what it measures
        self._filter = Filter()
        window.installEventFilter(self._filter)  # type: ignore[attr-defined]
        self._watched: list[object] = [window]
        self._poll = QTimer()
        self._poll.setInterval(5)
        self._poll.timeout.connect(self._check_usable)
        window.library_ready.connect(self._on_ready)  # type: ignore[attr-defined]

    def _ms(self) -> float:
        return (time.time_ns() - self.t0) / 1e6

    def _on_paint(self, obj: object) -> None:
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QWidget

        if not isinstance(obj, QWidget) or obj.window() is not self._window:
            return
        if self.first_paint is None:
            self.first_paint = self._ms()
            # the window is painted first, then its children: the frame is done when the
            # paint pass returns to the event loop
            QTimer.singleShot(0, self._frame_done)
        if self._ready and self.usable_paint is None and obj is self._usable_target():
            self.usable_paint = self._ms()
            QTimer.singleShot(0, self._usable_done)

    def _frame_done(self) -> None:
        self.shown = self._ms()

    def _usable_done(self) -> None:
        self.usable = self._ms()
        self.stop()
        self.report()

    def _usable_target(self) -> object:
        """What must be painted for the window to count as usable (None: not yet)."""
        window = self._window
        if window.central.currentWidget() is window.empty_page:  # type: ignore[attr-defined]
            return window.empty_page  # type: ignore[attr-defined]
        gallery = window.gallery  # type: ignore[attr-defined]
        if not gallery.loader.is_idle():
            return None
        return gallery.view.viewport()

    def _on_ready(self) -> None:
        self._ready = True
        self._poll.start()

    def _check_usable(self) -> None:
        target = self._usable_target()
        if target is not None:
            if not any(target is each for each in self._watched):
                target.installEventFilter(self._filter)  # type: ignore[attr-defined]
                self._watched.append(target)
            target.update()  # type: ignore[attr-defined]  # its next paint is "usable"

    def stop(self) -> None:
        from shiboken6 import isValid

        self._poll.stop()
        for each in self._watched:
            if isValid(each):
                each.removeEventFilter(self._filter)  # type: ignore[attr-defined]
        self._watched = []

    def report(self) -> None:
        if self.shown is None or getattr(self, "_reported", False):
            return
        self._reported = True
        usable = f" usable={self.usable:.1f}" if self.usable is not None else ""
        info = f" first_paint={self.first_paint:.1f}" if self.first_paint is not None else ""
        if self.usable_paint is not None:
            info += f" usable_paint={self.usable_paint:.1f}"
        print(f"timing: shown={self.shown:.1f}{usable}{info}", file=sys.stderr, flush=True)


def _bench_remote(window: object) -> object:
    """With DLX_ART_TIMING=1 and DLX_ART_BENCH_STDIN=1: `bench/bench_startup.py`'s remote.

    A line `quit` on stdin prints `timing: close_ns=<epoch ns>` and triggers the window's
    Quit action (Ctrl+Q), so the bench times "window closed -> process exited" on the path a
    person takes, after it has read the window's memory from /proc.
    """
    from PySide6.QtCore import QSocketNotifier

    notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)

    def on_input() -> None:
        line = sys.stdin.readline()
        if not line or line.strip() == "quit":
            notifier.setEnabled(False)
            print(f"timing: close_ns={time.time_ns()}", file=sys.stderr, flush=True)
            window.quit_action.trigger()  # type: ignore[attr-defined]

    notifier.activated.connect(on_input)
    return notifier


#: Set by `main` when its window ended cleanly in a QApplication it created (see
#: `finish_process`); reset at each start.
_ended_cleanly = False


def finish_process(code: int) -> int:
    """For the program's entry point, after `main` returned: end the process now if it is safe.

    A normal interpreter exit after the window closed takes 100-300 ms (tearing down Qt's
    objects and thousands of modules, joining finished threads) for nothing. When `main` ended
    cleanly (the session's threads all ended, so no write is in flight; the catalog was
    committed and closed by `Library.close`; every image file was fsynced when it was written;
    the window state was synced; the lock released), all that is left is the exit handlers:
    run them (logging flushes its files, the thumbnail processes are told to stop), stop any
    worker process still alive (they only write thumbnail cache files, atomically) and
    `os._exit`. Otherwise return `code` for the ordinary exit, which waits for what still runs.
    Only for the process's own entry point (`python -m dlx_art`, the scripts): never call it
    from code that goes on after `main`.
    """
    if not _ended_cleanly:
        return code
    import atexit
    import multiprocessing

    try:
        atexit._run_exitfuncs()  # what the interpreter would run first at exit
        for child in multiprocessing.active_children():
            child.terminate()
        for child in multiprocessing.active_children():
            child.join(1.0)
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - then the ordinary, slower exit does it all
        return code
    os._exit(code)


def _route_qt_messages() -> None:
    """Qt's own warnings go to our log (a windowed app has no console to print them on)."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    qt_log = logging.getLogger("dlx_art.qt")
    levels = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}

    def handler(kind: object, _context: object, message: str) -> None:
        if "propagateSizeHints" in message:  # the offscreen platform's harmless notice
            return
        qt_log.log(levels.get(kind, logging.WARNING), "%s", message)  # type: ignore[arg-type]

    qInstallMessageHandler(handler)


def _report(message: str, *, headless: bool, title: str = APP_NAME) -> None:
    """A problem that stops the start: a dialog, or stderr when nobody can see a dialog."""
    log.error("%s", message)
    if headless:
        print(f"dlx-art: {message}", file=sys.stderr)
        return
    from PySide6.QtWidgets import QMessageBox

    QMessageBox.warning(None, title, message)


def main(argv: Sequence[str], *, parsed: argparse.Namespace | None = None) -> int:
    """Start the studio window; see the module docstring. `argv` excludes the program name.

    `parsed`: `argv` as `dlx_art.cli` has parsed it already (saves building the parser again).
    """
    global _ended_cleanly
    _ended_cleanly = False
    args = parsed if parsed is not None else _parse(argv)
    if args.command is not None:  # a CLI command: not the window's business
        from dlx_art.cli import main as cli_main

        return cli_main(list(argv))
    if args.home:
        os.environ["DLX_ART_HOME"] = str(Path(args.home).expanduser().resolve())

    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from dlx_art.config import load_context
    from dlx_art.errors import DlxError
    from dlx_art.log import setup_logging

    context = load_context(args.home)
    log_file = setup_logging(paths=context.paths, rotate_later=True)  # see `_after_ready`
    log.info("starting %s %s (smoke=%s)", APP_NAME, __version__, args.smoke)

    app = QApplication.instance()
    created = app is None
    if created:
        app = QApplication([sys.argv[0] if sys.argv else "dlx-art"])
        from dlx_art.gui.crash import install_crash_handler, uncaught_count

        install_crash_handler(log_file)
        _route_qt_messages()
    else:
        uncaught_count = None  # type: ignore[assignment]
    assert isinstance(app, QApplication)
    _set_app_identity(app, icon=False)  # the icon follows (`_after_ready`)
    headless = args.smoke or QApplication.platformName() in HEADLESS
    before = uncaught_count() if uncaught_count is not None else 0

    from dlx_art.gui import theme
    from dlx_art.gui.main_window import MainWindow
    from dlx_art.gui.session import Session

    theme.apply_theme(app, context.settings.theme)
    try:
        session = Session.locked(context)
    except DlxError as exc:
        _report(exc.user_message, headless=headless, title="Library in use")
        return 1
    except OSError as exc:
        _report(f"Cannot use the library folder {context.storage_root}: {exc.strerror or exc}",
                headless=headless)
        return 1

    window = None
    try:
        # The window shows at once and the session opens the catalog in the background
        # (importing the database layer alone takes longer than showing the window).
        window = MainWindow(session)
        # the icon and the log's rotation wait until the library is on screen: the frame that
        # shows it comes first (set at once, they delayed it by about 25 ms)
        window.library_ready.connect(lambda: QTimer.singleShot(AFTER_READY_MS, _after_ready),
                                     Qt.ConnectionType.SingleShotConnection)
        tune_process(session)  # after the window: its freeze follows the window's filling
        result: dict[str, object] = {"closed": False, "failed": None}
        loop = QEventLoop()
        timing = os.environ.get("DLX_ART_TIMING") == "1"
        timer = _StartupTimer(window) if timing else None
        if timing and os.environ.get("DLX_ART_BENCH_STDIN") == "1":
            result["remote"] = _bench_remote(window)  # kept alive while the window runs

        def on_closed() -> None:
            result["closed"] = True
            if not created:
                loop.quit()

        def on_failed(message: str) -> None:
            result["failed"] = message
            _report(message, headless=headless)
            window.close()

        window.closed.connect(on_closed)
        window.library_failed.connect(on_failed)
        if args.smoke:
            # close once the library is shown and the event loop has run a little
            def smoke_close() -> None:
                if timing:
                    print(f"timing: close_ns={time.time_ns()}", file=sys.stderr, flush=True)
                window.close()

            window.library_ready.connect(lambda: QTimer.singleShot(SMOKE_DELAY_MS, smoke_close))
        window.show()
        if created:
            code = app.exec()
        else:
            if not result["closed"]:
                loop.exec()
            code = 0
        if not result["closed"]:  # e.g. the event loop was quit from elsewhere
            window.shutdown()
        if timer is not None:
            timer.report()
        if result["failed"] is not None:
            return 1
        failed = uncaught_count is not None and uncaught_count() > before
        if args.smoke:
            ok = code == 0 and not failed
            print("dlx-art: smoke test passed" if ok else "dlx-art: smoke test failed",
                  file=sys.stderr)
            return 0 if ok else 1
        return int(code)
    except Exception:
        log.exception("the window failed")
        if args.smoke or headless:
            print("dlx-art: the window failed to start; see the log", file=sys.stderr)
        return 1
    finally:
        session.shutdown()  # done already when the window closed; waits only if not
        closed = True
        try:
            if session.library is not None:
                session.library.close()
        except Exception:  # closing must not hide the real outcome
            closed = False
            log.exception("closing the library failed")
        if session.lock is not None:
            session.lock.release()
        if window is not None:
            window.deleteLater()
        _ended_cleanly = bool(created and closed and session.ended_cleanly)
        log.info("%s stopped", APP_NAME)
