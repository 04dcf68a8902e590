"""Prompt history: the project's last prompts, reachable from the prompt box.

* The history button beside the prompt opens a menu of the last prompts (newest first;
  the full prompt and its negative prompt in the tooltip); choosing one puts it in the box.
* Alt+Up in the prompt box steps to the previous (older) prompt, Alt+Down back to newer ones
  and finally to the text that was being typed, as a shell's history does.

The list is read from the catalog (`library.prompt_history.recent_prompts`) on the task
runner's "reads" lane: when the project changes and after each finished job.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeyEvent
from PySide6.QtWidgets import QMenu, QPlainTextEdit, QToolButton, QWidget

from dlx_art.library.prompt_history import HISTORY_SIZE, PromptEntry, recent_prompts

log = logging.getLogger("dlx_art.gui.prompt_history")

MENU_TEXT_CHARS = 70
SHORTCUT_TIP = "Alt+Up / Alt+Down in the prompt box step through them"


def _one_line(text: str, limit: int = MENU_TEXT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class PromptHistory(QObject):
    """The history of `edit` (the prompt box), shown by `button`.

    Signals:
        loaded(): a new list arrived from the catalog.
        used(object): a `PromptEntry` was put in the prompt box.
    """

    loaded = Signal()
    used = Signal(object)

    def __init__(self, edit: QPlainTextEdit, button: QToolButton,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.edit = edit
        self.button = button
        self.entries: list[PromptEntry] = []
        self._index = -1  # -1: the person's own text; 0 = newest entry
        self._draft = ""
        self._library: Any = None
        self._project_id: str | None = None
        self._lane: Any = None
        self._token = 0
        self._setting = False
        button.setToolTip(f"Last prompts of this project ({SHORTCUT_TIP})")
        button.clicked.connect(self.show_menu)
        edit.installEventFilter(self)
        edit.textChanged.connect(self._on_text_changed)
        self._update_button()

    # --- source -------------------------------------------------------------------------------

    def set_source(self, library: Any, project_id: str | None, lane: Any) -> None:
        """Follow `project_id` in `library`, reading on `lane` (a `tasks.Lane`)."""
        changed = (library, project_id) != (self._library, self._project_id)
        self._library, self._project_id, self._lane = library, project_id, lane
        if changed:
            self.entries = []
            self._index = -1
            self._update_button()
        self.reload()

    def reload(self) -> None:
        """Read the list again (after a job finished, or the project changed)."""
        self._token += 1
        token = self._token
        library, project = self._library, self._project_id
        if library is None or project is None or self._lane is None:
            self.entries = []
            self._update_button()
            return

        def done(entries: list[PromptEntry]) -> None:
            if token == self._token:
                self.set_entries(entries)

        def failed(exc: BaseException) -> None:
            log.info("prompt history not read: %s", exc)

        self._lane.run(recent_prompts, library, project, HISTORY_SIZE, owner=self,
                       on_done=done, on_error=failed)

    def set_entries(self, entries: list[PromptEntry]) -> None:
        self.entries = list(entries)
        self._index = -1
        self._update_button()
        self.loaded.emit()

    # --- use ----------------------------------------------------------------------------------

    @Slot()
    def show_menu(self) -> QMenu:
        """The menu of prompts under the button (returned for tests)."""
        menu = self.build_menu()
        menu.popup(self.button.mapToGlobal(self.button.rect().bottomLeft()))
        return menu

    def build_menu(self) -> QMenu:
        menu = QMenu(self.button)
        menu.setObjectName("promptHistoryMenu")
        menu.setToolTipsVisible(True)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if not self.entries:
            empty = menu.addAction("No prompts in this project yet")
            empty.setEnabled(False)
            return menu
        for position, entry in enumerate(self.entries):
            action = QAction(_one_line(entry.prompt), menu)
            tip = entry.prompt + (f"\n\nNegative: {entry.negative}" if entry.negative else "")
            action.setToolTip(tip)
            action.triggered.connect(lambda _=False, i=position: self.use(i))
            menu.addAction(action)
        return menu

    def use(self, index: int) -> None:
        """Put entry `index` (0 = newest) in the prompt box."""
        if not 0 <= index < len(self.entries):
            return
        if self._index == -1:
            self._draft = self.edit.toPlainText()
        self._index = index
        self._set_text(self.entries[index].prompt)
        self.used.emit(self.entries[index])

    def step(self, delta: int) -> bool:
        """Older (+1) or newer (-1) prompt; past the newest comes the draft back."""
        if not self.entries:
            return False
        target = max(-1, min(len(self.entries) - 1, self._index + delta))
        if target == self._index:
            return False
        if self._index == -1:
            self._draft = self.edit.toPlainText()
        self._index = target
        self._set_text(self._draft if target == -1 else self.entries[target].prompt)
        return True

    def _set_text(self, text: str) -> None:
        self._setting = True
        try:
            self.edit.setPlainText(text)
            cursor = self.edit.textCursor()
            cursor.movePosition(cursor.MoveOperation.End)
            self.edit.setTextCursor(cursor)
        finally:
            self._setting = False

    @Slot()
    def _on_text_changed(self) -> None:
        if not self._setting:
            self._index = -1  # the person edits: the next Alt+Up starts from the newest

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self.edit and event.type() == QEvent.Type.KeyPress:
            key_event = event if isinstance(event, QKeyEvent) else None
            if key_event is not None and key_event.modifiers() == Qt.KeyboardModifier.AltModifier:
                if key_event.key() == Qt.Key.Key_Up:
                    self.step(+1)
                    return True
                if key_event.key() == Qt.Key.Key_Down:
                    self.step(-1)
                    return True
        return super().eventFilter(watched, event)

    def _update_button(self) -> None:
        count = len(self.entries)
        widget: QWidget = self.button
        widget.setEnabled(True)
        widget.setAccessibleDescription(f"{count} earlier prompt{'s' if count != 1 else ''}")
