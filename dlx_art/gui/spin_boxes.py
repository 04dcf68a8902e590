"""Spin boxes that never change a typed number silently.

A plain `QSpinBox` refuses the keystroke that takes the text out of range: typing 200 into a
box whose maximum is 150 leaves "20", and the person finds out (if ever) after generating.
These boxes let any number be typed, and when the edit ends they clamp it to the nearest limit
and say so (a tooltip at the box and the `out_of_range` signal, for a status line).
"""

from __future__ import annotations

import math
import re

from PySide6.QtCore import QPoint, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QDoubleSpinBox, QSpinBox, QToolTip, QWidget

_INT = re.compile(r"^[+-]?\d{1,40}$")
_FLOAT = re.compile(r"^[+-]?(\d{1,40}([.,]\d{0,20})?|[.,]\d{1,20})$")


def _name(box: QWidget) -> str:
    return box.accessibleName() or "The value"


def _show_tip(box: QWidget, text: str) -> None:
    if box.isVisible():
        QToolTip.showText(box.mapToGlobal(QPoint(0, box.height())), text, box)


class _Checked:
    """What both boxes share: let an out-of-range number be typed, then clamp it and say so.

    A mixin placed before the Qt class; the subclass declares the signals (they must live on
    the QObject class), `_NUMBER` (what counts as a typed number) and `fixup`.
    """

    _NUMBER: re.Pattern[str]

    def _setup(self) -> None:
        self.last_message = ""
        self._clamped = False
        self._typed = False  # typed since the last end of an edit (focus-out ends one too)
        self.lineEdit().textEdited.connect(self._on_text_edited)  # type: ignore[attr-defined]
        self.editingFinished.connect(self._on_editing_finished)  # type: ignore[attr-defined]

    def _on_text_edited(self, _text: str) -> None:
        self._typed = True

    def _on_editing_finished(self) -> None:
        if self._typed and not self._clamped:
            self.value_accepted.emit(self.last_message)  # type: ignore[attr-defined]
        self._typed = self._clamped = False

    def validate(self, text: str, pos: int) -> object:  # noqa: D102
        state = super().validate(text, pos)  # type: ignore[misc]
        result = state[0] if isinstance(state, tuple) else state
        if result == QValidator.State.Invalid and self._NUMBER.match(self._bare(text)):
            # a number, only out of range: let it be typed, `fixup` clamps it visibly
            return QValidator.State.Intermediate, text, pos
        return state

    def _bare(self, text: str) -> str:
        text = text.strip()
        prefix, suffix = self.prefix(), self.suffix()  # type: ignore[attr-defined]
        if prefix and text.startswith(prefix):
            text = text[len(prefix):]
        if suffix and text.endswith(suffix):
            text = text[: -len(suffix)]
        return text.strip()

    def _say(self, message: str) -> None:
        self._clamped = True
        self.last_message = message
        _show_tip(self, message)  # type: ignore[arg-type]
        self.out_of_range.emit(message)  # type: ignore[attr-defined]


class CheckedSpinBox(_Checked, QSpinBox):
    """A `QSpinBox` that clamps a typed out-of-range number to the limit and says so.

    Signals:
        out_of_range(str): a typed value was clamped; the message for the person.
        value_accepted(str): an edit ended without clamping; the message it replaces (or "").
    """

    out_of_range = Signal(str)
    value_accepted = Signal(str)
    _NUMBER = _INT

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._setup()

    def fixup(self, text: str) -> str:  # noqa: D102
        bare = self._bare(text)
        if not _INT.match(bare):
            return super().fixup(text)
        typed = int(bare)
        low, high = self.minimum(), self.maximum()
        if low <= typed <= high:
            return super().fixup(text)
        limit = high if typed > high else low
        self._say(f"{_name(self)} can be {low} to {high}: {typed} was set to {limit}.")
        return self.textFromValue(limit)


class CheckedDoubleSpinBox(_Checked, QDoubleSpinBox):
    """A `QDoubleSpinBox` that clamps a typed out-of-range number to the limit and says so.

    Signals:
        out_of_range(str): a typed value was clamped; the message for the person.
        value_accepted(str): an edit ended without clamping; the message it replaces (or "").
    """

    out_of_range = Signal(str)
    value_accepted = Signal(str)
    _NUMBER = _FLOAT

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._setup()

    def fixup(self, text: str) -> str:  # noqa: D102
        bare = self._bare(text)
        if not _FLOAT.match(bare):
            return super().fixup(text)
        typed = float(bare.replace(",", "."))
        low, high = self.minimum(), self.maximum()
        if not math.isfinite(typed) or low <= typed <= high:
            return super().fixup(text)
        limit = high if typed > high else low
        self._say(f"{_name(self)} can be {self.textFromValue(low)} to {self.textFromValue(high)}: "
                  f"{bare} was set to {self.textFromValue(limit)}.")
        return self.textFromValue(limit)
