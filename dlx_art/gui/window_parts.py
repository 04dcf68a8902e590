"""Small pieces of the studio window: the first-run page, the "no backend" banner, the
About box and the "quit while a job runs?" question."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dlx_art import APP_NAME, __version__
from dlx_art.gui.status import NO_BACKEND_TITLE


class EmptyStatePage(QWidget):
    """Shown when the library has no project yet: says exactly what to do."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        title = QLabel("Welcome to DLX Art Studio")
        title.setProperty("role", "title")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel("Images live in projects. Create your first project, write a prompt on the "
                      "left and press Generate (Ctrl+Enter).")
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setProperty("role", "hint")
        text.setFixedWidth(440)
        text.setMinimumHeight(text.heightForWidth(440))
        self.button = QPushButton("Create Your First Project")
        self.button.setObjectName("createFirstProjectButton")
        self.button.setProperty("role", "primary")
        self.button.setMinimumHeight(36)
        box = QVBoxLayout()
        box.setSpacing(14)
        for widget in (title, text, self.button):
            row = QHBoxLayout()
            row.addStretch(1)
            row.addWidget(widget)
            row.addStretch(1)
            box.addLayout(row)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addLayout(box)
        layout.addStretch(3)


class Banner(QFrame):
    """A one-line notice above the gallery with action buttons (e.g. no backend reachable)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("backendBanner")
        self.setProperty("role", "banner")
        self.title = QLabel(NO_BACKEND_TITLE)
        self.title.setObjectName("backendBannerTitle")
        self.title.setStyleSheet("font-weight: 600;")
        self.label = QLabel()
        self.label.setObjectName("backendBannerText")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.title)
        text.addWidget(self.label)
        self.retry_button = QPushButton("Check Again")
        self.retry_button.setObjectName("bannerRetryButton")
        self.settings_button = QPushButton("Settings…")
        self.settings_button.setObjectName("bannerSettingsButton")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.setSpacing(8)
        layout.addLayout(text, 1)
        layout.addWidget(self.retry_button)
        layout.addWidget(self.settings_button)


def show_about_box(parent: QWidget, backends: list[str], library_root: Path, paths: Any) -> None:
    """Version, where the library, settings and logs are, and the backends' last state."""
    from html import escape  # here: html.entities is not needed before the window shows

    box = QMessageBox(parent)
    box.setObjectName("aboutBox")
    box.setWindowTitle(f"About {APP_NAME}")
    box.setIcon(QMessageBox.Icon.NoIcon)
    if not parent.windowIcon().isNull():
        box.setIconPixmap(parent.windowIcon().pixmap(64, 64))
    box.setTextFormat(Qt.TextFormat.RichText)
    rows = "".join(f"<li>{escape(b)}</li>" for b in backends) or "<li>Not checked yet</li>"
    box.setText(
        f"<h3>{APP_NAME} {escape(__version__)}</h3>"
        "<p>A local-first studio for AI image generation with AUTOMATIC1111 and "
        "Hugging Face.</p>"
        f"<p><b>Library:</b> {escape(str(library_root))}<br>"
        f"<b>Settings:</b> {escape(str(paths.settings_file))}<br>"
        f"<b>Logs:</b> {escape(str(paths.log_dir))}</p>"
        f"<p><b>Backends:</b></p><ul>{rows}</ul>"
    )
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    box.exec()
    box.deleteLater()


def ask_quit_while_busy(parent: QWidget, count: int) -> bool:
    """Ask whether to quit while `count` jobs run or wait. True: quit."""
    box = QMessageBox(parent)
    box.setObjectName("quitWhileBusyBox")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Quit DLX Art Studio")
    box.setText("A job is still running." if count == 1 else
                f"{count} jobs are running or queued.")
    box.setInformativeText("Quit anyway? The running job is stopped on the server and runs "
                           "again, with the same seed, when you next open the studio; queued "
                           "jobs wait until then. Finished images are already saved.")
    quit_button = box.addButton("Stop Jobs and Quit", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Keep Working", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(quit_button)
    box.setStyleSheet("QLabel { min-width: 320px; }")
    box.exec()
    answer = box.clickedButton() is quit_button
    box.deleteLater()
    return answer


class MoveProgressDialog(QProgressDialog):
    """"Moving the library…" with a Stop button, while the session copies and verifies."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__("Moving the library…", "Stop", 0, 1000, parent)
        self.setObjectName("moveProgressDialog")
        self.setWindowTitle("Move Library")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumDuration(0)
        self.setAutoClose(False)
        self.setAutoReset(False)

    def show_progress(self, text: str, done: int, total: int) -> None:
        self.setLabelText(text)
        if total:
            self.setValue(int(done * 1000 / total))

    def finish(self) -> None:
        self.canceled.disconnect()
        self.reset()
        self.deleteLater()
