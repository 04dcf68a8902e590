"""Small pieces the prompt panel's groups share: the "A1111" badge and a collapsible section."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

#: What the badge's tooltip says (and the warning names).
A1111_ONLY_TIP = ("Needs AUTOMATIC1111: the Hugging Face backend cannot do this, so a job "
                  "using it runs only on an AUTOMATIC1111 server.")


def a1111_badge(parent: QWidget | None = None, name: str = "") -> QLabel:
    """A small "A1111" tag marking a feature Hugging Face cannot do."""
    badge = QLabel("A1111", parent)
    badge.setObjectName(name or "a1111Badge")
    badge.setProperty("role", "badge")
    badge.setToolTip(A1111_ONLY_TIP)
    badge.setAccessibleName("AUTOMATIC1111 only")
    # readable in both themes without a stylesheet of its own colours: the palette's mid tone
    # frame, the normal text colour
    badge.setStyleSheet("QLabel { border: 1px solid palette(mid); border-radius: 3px; "
                        "padding: 0px 3px; font-size: 8pt; }")
    return badge


class CollapsibleSection(QWidget):
    """A titled section whose body opens and closes with the arrow in its header.

    The header also holds an optional "A1111" badge and a one-line summary that stays visible
    while the section is closed (e.g. "512×512 → 1024×1024").

    Signals:
        toggled(bool): the section was opened (True) or closed.
    """

    toggled = Signal(bool)

    def __init__(self, title: str, name: str, *, a1111_only: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.toggle_button = QToolButton()
        self.toggle_button.setObjectName(f"{name}Toggle")
        self.toggle_button.setText(title)
        self.toggle_button.setCheckable(True)
        self.toggle_button.setChecked(False)
        self.toggle_button.setAutoRaise(True)
        self.toggle_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle_button.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle_button.setAccessibleName(f"Show {title.lower()}")
        self.toggle_button.setProperty("role", "section")
        # a heading that opens, not a pressed button
        self.toggle_button.setStyleSheet("QToolButton { border: none; font-weight: 600; }")
        self.badge = a1111_badge(self, f"{name}Badge") if a1111_only else None
        self.summary = QLabel()
        self.summary.setObjectName(f"{name}Summary")
        self.summary.setProperty("role", "formLabel")
        self.summary.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.setSpacing(4)
        header.addWidget(self.toggle_button)
        if self.badge is not None:
            header.addWidget(self.badge)
        header.addStretch(1)
        header.addWidget(self.summary)

        self.body = QWidget()
        self.body.setObjectName(f"{name}Body")
        self.body.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.body)
        self.toggle_button.toggled.connect(self._on_toggled)

    def is_open(self) -> bool:
        return self.toggle_button.isChecked()

    def set_open(self, on: bool) -> None:
        self.toggle_button.setChecked(on)

    @Slot(bool)
    def _on_toggled(self, on: bool) -> None:
        self.toggle_button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.body.setVisible(on)
        self.toggled.emit(on)
