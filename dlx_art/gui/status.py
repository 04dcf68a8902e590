"""Backend health in the status bar, polled off the GUI thread.

`BackendMonitor` asks `router.statuses()` (network: up to a connect timeout per server) on the
task runner's one-thread `backends` lane, on start, every `interval_ms`, and on demand. It
pauses while a job runs: our own job would make the server look "busy".
`BackendStatusWidget` (objectName `backendStatus`) shows the result, and which backend made
the last image and why.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

from dlx_art.errors import DlxError
from dlx_art.generation.types import BackendStatus
from dlx_art.gui.tasks import TaskRunner, default_runner

log = logging.getLogger("dlx_art.gui.status")

POLL_INTERVAL_MS = 30_000

A1111_STATES = {
    "up": ("ready", "ok"),
    "busy": ("busy", "warn"),
    "api-off": ("API off", "bad"),
    "down": ("not running", "bad"),
    "auth-failed": ("login failed", "bad"),
}
HF_STATES = {
    "available": ("available", "ok"),
    "unavailable": ("not signed in", "off"),
}
LEVEL_COLORS = {"ok": "#3fb96b", "warn": "#e0a43a", "bad": "#e05757", "off": "#7c828c",
                "busy": "#4c8dff", "unknown": "#7c828c"}

NO_BACKEND_TITLE = "No image backend is reachable."
NO_BACKEND_HINT = (
    "Start AUTOMATIC1111 with --api (for example ./webui.sh --api), or sign in to Hugging Face "
    "with “hf auth login” so the studio can use it instead."
)
NO_BACKEND_HELP = f"{NO_BACKEND_TITLE} {NO_BACKEND_HINT}"


def usable(statuses: list[BackendStatus]) -> bool:
    """True when at least one backend can take a job now (or soon: busy counts)."""
    return any(s.state in ("up", "busy", "available") for s in statuses)


def a1111_reachable(statuses: list[BackendStatus]) -> bool:
    return any(s.name == "a1111" and s.state in ("up", "busy") for s in statuses)


def catalogue(statuses: list[BackendStatus]) -> tuple[list[str], list[str], list[str], str | None]:
    """Models, samplers, schedulers and current model of the first reachable A1111 server."""
    for status in statuses:
        if status.name == "a1111" and status.state in ("up", "busy"):
            return status.models, status.samplers, status.schedulers, status.current_model
    return [], [], [], None


class BackendMonitor(QObject):
    """Polls backend statuses in the background.

    Signals:
        statuses_changed(object): a list of `BackendStatus`, newest poll.
        checking_changed(bool): a poll started / ended.
    """

    statuses_changed = Signal(object)
    checking_changed = Signal(bool)

    def __init__(self, routers: Any, parent: QObject | None = None,
                 interval_ms: int = POLL_INTERVAL_MS, *, runner: TaskRunner | None = None) -> None:
        super().__init__(parent)
        self._routers = routers
        self._lane = (runner or default_runner()).backends
        self.pool = self._lane.pool
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.refresh)
        self._in_flight = False
        self._again = False
        self._paused = False
        self._stopped = False
        self.latest: list[BackendStatus] | None = None

    def start(self) -> None:
        self._stopped = False
        self._timer.start()
        self.refresh()

    def stop(self, timeout_ms: int = 5000) -> bool:
        self._stopped = True
        self._timer.stop()
        return self.pool.waitForDone(timeout_ms)

    def set_paused(self, paused: bool) -> None:
        """Pause polling while our own job runs; resume with a fresh poll."""
        if paused == self._paused:
            return
        self._paused = paused
        if not paused:
            self.refresh()

    @property
    def checking(self) -> bool:
        return self._in_flight

    @Slot()
    def refresh(self) -> None:
        if self._stopped or self._paused:
            return
        if self._in_flight:
            self._again = True
            return
        self._in_flight = True
        self.checking_changed.emit(True)
        self._lane.run(self._poll, owner=self, on_done=self._on_done, on_error=self._on_error)

    def _poll(self) -> list[BackendStatus]:  # pool thread
        return self._routers.get().statuses()

    def _on_done(self, statuses: list[BackendStatus]) -> None:
        self._in_flight = False
        self.latest = list(statuses)
        self.checking_changed.emit(False)
        if not self._stopped:
            self.statuses_changed.emit(self.latest)
        self._again_if_needed()

    def _on_error(self, exc: BaseException) -> None:
        self._in_flight = False
        message = exc.user_message if isinstance(exc, DlxError) else (
            "Could not check the backends; see the log.")
        self.latest = [BackendStatus("a1111", "AUTOMATIC1111", "down", message)]
        self.checking_changed.emit(False)
        if not self._stopped:
            self.statuses_changed.emit(self.latest)
        self._again_if_needed()

    def _again_if_needed(self) -> None:
        if self._again:
            self._again = False
            self.refresh()


class _Dot(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.color = QColor(LEVEL_COLORS["unknown"])
        self.setFixedSize(10, 10)

    def set_level(self, level: str) -> None:
        self.color = QColor(LEVEL_COLORS.get(level, LEVEL_COLORS["unknown"]))
        self.update()

    def paintEvent(self, _event: Any) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.color)
        painter.drawEllipse(1, 1, 8, 8)


class ElidedLabel(QLabel):
    """A one-line label that elides its text instead of forcing its parent wider.

    `text()` returns the full text; the painted text is elided on the right.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:  # noqa: N802
        self._full = text
        self.updateGeometry()
        self._elide()

    def text(self) -> str:
        return self._full

    def sizeHint(self) -> QSize:  # noqa: N802
        hint = super().sizeHint()
        padding = max(0, self.width() - self.contentsRect().width())  # style sheet padding
        return QSize(min(self.fontMetrics().horizontalAdvance(self._full) + 4 + padding, 720),
                     hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(80, super().minimumSizeHint().height())

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        # the contents rect, not the width: the style sheet's padding would clip the last letters
        width = min(self.width(), self.contentsRect().width()) - 2
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight,
                                              max(0, width))
        super().setText(shown)


class BackendStatusWidget(QWidget):
    """Status-bar item: a coloured dot and one line about the backends (`backendStatus`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("backendStatus")
        self.dot = _Dot(self)
        self.label = ElidedLabel(self)
        self.label.setObjectName("backendStatusText")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(6)
        layout.addWidget(self.dot)
        layout.addWidget(self.label)
        self._statuses: list[BackendStatus] | None = None
        self._checking = False
        self._working = False
        self._last_label = ""
        self._last_reason: str | None = None
        self.setAccessibleName("Backend status")
        self._render()

    # --- API ----------------------------------------------------------------------------------

    def text(self) -> str:
        return self.label.text()

    def set_statuses(self, statuses: list[BackendStatus]) -> None:
        self._statuses = list(statuses)
        self._render()

    def set_checking(self, checking: bool) -> None:
        self._checking = checking
        self._render()

    def set_working(self, working: bool) -> None:
        self._working = working
        self._render()

    def set_last_job(self, backend_label: str, fallback_reason: str | None) -> None:
        self._last_label = backend_label
        self._last_reason = fallback_reason
        self._render()

    @property
    def fallback_reason(self) -> str | None:
        return self._last_reason

    # --- rendering ----------------------------------------------------------------------------

    def _render(self) -> None:
        parts: list[str] = []
        tips: list[str] = []
        level = "unknown"
        statuses = self._statuses
        if statuses is None:
            parts.append("Checking backends…")
        else:
            a1111 = [s for s in statuses if s.name == "a1111"]
            hf = [s for s in statuses if s.name == "hf"]
            if a1111:
                best = min(a1111, key=lambda s: list(A1111_STATES).index(s.state)
                           if s.state in A1111_STATES else 99)
                word, level = A1111_STATES.get(best.state, (best.state, "bad"))
                count = sum(s.state in ("up", "busy") for s in a1111)
                suffix = f" ({count} of {len(a1111)})" if len(a1111) > 1 else ""
                parts.append(f"A1111 {word}{suffix}")
            for status in hf:
                word, hf_level = HF_STATES.get(status.state, (status.state, "off"))
                parts.append(f"Hugging Face {word}")
                if level != "ok" and hf_level == "ok":
                    level = "warn" if a1111 else "ok"
            for status in statuses:
                tip = f"{status.label}: {status.state}"
                if status.detail:
                    tip += f" — {status.detail}"
                tips.append(tip)
            if not usable(statuses):
                level = "bad"
                tips.append(NO_BACKEND_HELP)
        if self._working:
            level = "busy"
            parts.insert(0, "Generating")
        if self._last_reason:
            parts.append(f"Fell back: {self._last_reason}")
            tips.append(f"Last job: {self._last_label}. {self._last_reason}")
        elif self._last_label:
            tips.append(f"Last job: {self._last_label}.")
        if self._checking and statuses is not None:
            tips.append("Checking again…")
        self.dot.set_level(level)
        self.label.setText(" · ".join(parts))
        self.setToolTip("\n".join(tips))
