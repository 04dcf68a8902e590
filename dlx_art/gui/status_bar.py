"""The window's status bar: messages in their own elided label, readable in full on demand.

`QStatusBar.showMessage` paints the text under the permanent widgets (the job progress and the
backend dot), clipped mid-letter. Here the message lives in a label of its own that the layout
keeps apart from them; a long message is elided with "…", its full text is the tooltip, and a
"Details" button beside it shows the whole message in a dialog where it can be read and copied.
`showMessage`, `currentMessage` and `clearMessage` keep QStatusBar's meaning for callers.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QMessageBox, QStatusBar, QToolButton, QWidget

from dlx_art.gui.status import ElidedLabel


class MessageLabel(ElidedLabel):
    """An `ElidedLabel` that says whether its text had to be elided."""

    def is_elided(self) -> bool:
        return bool(self.text()) and super(ElidedLabel, self).text() != self.text()

    def resizeEvent(self, event: object) -> None:  # noqa: N802
        super().resizeEvent(event)
        bar = self.parent()
        if isinstance(bar, StudioStatusBar):
            bar._update_details()


class StudioStatusBar(QStatusBar):
    """A `QStatusBar` whose messages never run into its permanent widgets."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statusBar")
        self._message = ""
        self.message_label = MessageLabel(self)
        self.message_label.setObjectName("statusMessage")
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QToolButton(self)
        self.details_button.setObjectName("statusDetailsButton")
        self.details_button.setText("Details…")
        self.details_button.setToolTip("Show the whole message")
        self.details_button.setAutoRaise(True)
        self.details_button.clicked.connect(self.show_details)
        self.details_button.hide()
        self.addWidget(self.message_label, 1)
        self.addWidget(self.details_button)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.clearMessage)

    def showMessage(self, text: str, timeout: int = 0) -> None:  # noqa: N802
        """Show `text` (for `timeout` ms; 0: until replaced)."""
        self._message = text
        self.message_label.setText(text)
        self.message_label.setToolTip(text)
        self._update_details()
        if timeout > 0:
            self._timer.start(timeout)
        else:
            self._timer.stop()

    def currentMessage(self) -> str:  # noqa: N802
        return self._message or super().currentMessage()

    def clearMessage(self) -> None:  # noqa: N802
        self._message = ""
        self._timer.stop()
        self.message_label.setText("")
        self.message_label.setToolTip("")
        self._update_details()
        super().clearMessage()

    @Slot()
    def show_details(self) -> None:
        """The whole message in a dialog (selectable, so it can be copied)."""
        box = QMessageBox(QMessageBox.Icon.Information, "Message", self._message,
                          QMessageBox.StandardButton.Close, self.window())
        box.setObjectName("statusDetails")
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.open()

    def _update_details(self) -> None:
        self.details_button.setVisible(self.message_label.is_elided())
