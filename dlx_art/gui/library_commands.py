"""The window's side of moving and switching the library: ask the session, show how it goes.

The session does the work in the background; this asks it, turns a refusal into a message,
shows the move's progress dialog (with Stop) and the outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Slot

from dlx_art.errors import LibraryLocked, UsageError
from dlx_art.gui.window_parts import MoveProgressDialog

if TYPE_CHECKING:
    from dlx_art.gui.main_window import MainWindow

MOVE_TITLE = "Move Library"
SWITCH_TITLE = "Use Another Library"


class LibraryCommands(QObject):
    """Move / switch the window's library through its session."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._dialog: MoveProgressDialog | None = None
        session = window.session
        session.switch_finished.connect(self._on_switch_finished)
        session.move_progress.connect(self._on_move_progress)
        session.move_finished.connect(self._on_move_finished)

    def move(self, target: Path) -> bool:
        """Start copying + verifying the library into `target`; True when it started.

        A progress dialog (with Stop) shows how far it is; the session's `move_finished`
        follows, and the library is then used from `target` (the old copy stays).
        """
        session = self._window.session
        if not self._run(MOVE_TITLE, session.move_library, target):
            return False
        dialog = MoveProgressDialog(self._window)
        dialog.canceled.connect(session.stop_move)
        dialog.show()
        self._dialog = dialog
        return True

    def switch(self, folder: Path) -> bool:
        """Start using the library in `folder` (created when empty); True when it started."""
        return self._run(SWITCH_TITLE, self._window.session.switch_library, folder)

    def _run(self, title: str, command: Any, folder: Path) -> bool:
        window = self._window
        try:
            command(Path(folder))
        except UsageError as exc:
            if exc.user_message.startswith("Wait for"):
                window.show_message(exc.user_message)
            else:
                window.error_box(title, exc.user_message)
            return False
        except (LibraryLocked, OSError) as exc:
            window.error_box(title, getattr(exc, "user_message", str(exc)))
            return False
        return True

    @Slot(int, int)
    def _on_move_progress(self, done: int, total: int) -> None:
        if self._dialog is not None:
            self._dialog.show_progress(self._window.session.move_text(), done, total)

    @Slot(bool, str)
    def _on_move_finished(self, ok: bool, message: str) -> None:
        if self._dialog is not None:
            self._dialog.finish()
            self._dialog = None
        if ok:
            self._window.show_message(message, 0)
        else:
            self._window.error_box(MOVE_TITLE, message)

    @Slot(bool, str)
    def _on_switch_finished(self, ok: bool, message: str) -> None:
        if ok:
            self._window.show_message(message)
        else:
            self._window.error_box(SWITCH_TITLE, message)
