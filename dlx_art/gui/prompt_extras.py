"""The prompt panel's A1111 toolbox parts, as a mixin of `PromptPanel`.

Kept apart so `prompt_panel.py` stays readable: the LoRA / embedding / style buttons and
their popup (`gui/toolbox.py`), the chosen-style chips, the prompt history button
(`gui/prompt_history.py`), the hires fix and variation groups (`gui/hires_group.py`), the batch
size, and the warning shown when the form uses features only AUTOMATIC1111 can do while
Hugging Face would run the job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QToolButton, QWidget

from dlx_art.generation.types import MAX_IMAGES, BackendChoice, Toolbox
from dlx_art.gui.hires_group import HiresGroup, VariationGroup
from dlx_art.gui.panel_parts import A1111_ONLY_TIP, a1111_badge
from dlx_art.gui.prompt_history import PromptHistory
from dlx_art.gui.spin_boxes import CheckedSpinBox
from dlx_art.gui.toolbox import StyleChips, ToolboxPopup, insert_at_cursor, style_tip

#: What the toolbox popup says before a server answered.
TOOLBOX_WAITING = "Asking AUTOMATIC1111 for its LoRAs, embeddings and styles…"
TOOLBOX_NO_SERVER = ("AUTOMATIC1111 is not reachable: start it to list its LoRAs, embeddings "
                     "and styles (Refresh asks again).")


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


class _FocusTracker(QObject):
    """Remembers which prompt box (prompt or negative) had the focus last."""

    def __init__(self, boxes: tuple[QPlainTextEdit, ...], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.last = boxes[0]
        for box in boxes:
            box.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.FocusIn and isinstance(watched, QPlainTextEdit):
            self.last = watched
        return False


class PromptExtras:
    """Mixin of `PromptPanel` (uses its prompt boxes, backend combo and signals)."""

    prompt_edit: QPlainTextEdit
    negative_edit: QPlainTextEdit
    backend_combo: Any
    toolbox_wanted: Any  # Signal(bool): load the toolbox (True: the server rescans first)

    def _build_extras(self) -> None:
        owner = self if isinstance(self, QWidget) else None

        def tool(text: str, name: str, tip: str, badge: bool = True) -> QToolButton:
            button = QToolButton()
            button.setObjectName(name)
            button.setText(text)
            button.setToolTip(tip + ("\n" + A1111_ONLY_TIP if badge else ""))
            button.setAccessibleName(text.rstrip("…"))
            button.setAutoRaise(True)
            return button

        self.lora_button = tool("LoRA…", "loraButton",
                                "Insert a LoRA at the cursor (<lora:NAME:WEIGHT>)")
        self.embedding_button = tool("Embedding…", "embeddingButton",
                                     "Insert an embedding's name at the cursor")
        self.styles_button = tool("Styles…", "stylesButton",
                                  "Choose saved styles the server merges into the prompts")
        self.history_button = tool("History…", "promptHistoryButton",
                                   "Last prompts of this project", badge=False)
        self.tool_row = QHBoxLayout()
        self.tool_row.setSpacing(0)
        for button in (self.lora_button, self.embedding_button, self.styles_button):
            self.tool_row.addWidget(button)
        self.tool_row.addWidget(a1111_badge(None, "toolboxButtonsBadge"))
        self.tool_row.addStretch(1)
        self.tool_row.addWidget(self.history_button)
        self.lora_button.clicked.connect(lambda: self.open_toolbox("loras"))
        self.embedding_button.clicked.connect(lambda: self.open_toolbox("embeddings"))
        self.styles_button.clicked.connect(lambda: self.open_toolbox("styles"))

        self.style_chips = StyleChips()
        self.style_chips.set_tip_source(self._style_tip)
        self.style_chips.remove_requested.connect(self._remove_style)
        self.hires_group = HiresGroup()
        self.variation_group = VariationGroup()
        self.batch_size_spin = CheckedSpinBox()
        self.batch_size_spin.setObjectName("batchSizeSpin")
        self.batch_size_spin.setRange(1, MAX_IMAGES)
        self.batch_size_spin.setValue(1)
        self.batch_size_spin.setAccessibleName("Batch size")
        self.batch_size_spin.setToolTip("Batch size: images made together in one batch "
                                        "(faster, but needs more graphics memory)")
        self.a1111_warning = QLabel()
        self.a1111_warning.setObjectName("a1111Warning")
        self.a1111_warning.setWordWrap(True)
        self.a1111_warning.setProperty("role", "warning")
        self.a1111_warning.setVisible(False)

        self.history = PromptHistory(self.prompt_edit, self.history_button, owner)
        self._focus = _FocusTracker((self.prompt_edit, self.negative_edit), owner)
        self._styles: list[str] = []
        self._toolbox: Toolbox | None = None
        self._toolbox_status = TOOLBOX_WAITING
        self._toolbox_loaded = False
        self._popup: ToolboxPopup | None = None
        self._hf_only = False

        for signal in (self.hires_group.changed, self.variation_group.changed,
                       self.prompt_edit.textChanged, self.negative_edit.textChanged,
                       self.backend_combo.currentIndexChanged):
            signal.connect(self.update_a1111_warning)

    # --- the toolbox --------------------------------------------------------------------------

    def toolbox_popup(self) -> ToolboxPopup:
        """The browsers' popup (built on first use: it is not on the start-up path)."""
        if self._popup is None:
            popup = ToolboxPopup(self if isinstance(self, QWidget) else None)
            popup.set_chosen_styles(self._styles)
            popup.set_toolbox(self._toolbox, self._toolbox_status)
            popup.lora_chosen.connect(self.insert_lora)
            popup.embedding_chosen.connect(self.insert_embedding)
            popup.styles_changed.connect(self.set_styles)
            popup.refresh_requested.connect(self._on_toolbox_refresh)
            self._popup = popup
        return self._popup

    def open_toolbox(self, tab: str) -> ToolboxPopup:
        popup = self.toolbox_popup()
        if not self._toolbox_loaded:
            self.toolbox_wanted.emit(False)
        # beside the panel, level with the prompt: the prompt box and the style chips it
        # writes into stay in view (below the buttons when the panel has no room on its right)
        popup.popup_at(self.prompt_edit, tab, self if isinstance(self, QWidget) else None)
        return popup

    def _on_toolbox_refresh(self) -> None:
        self._toolbox_status = "Asking the server to look for new files…"
        if self._popup is not None:
            self._popup.status_label.setText(self._toolbox_status)
        self.toolbox_wanted.emit(True)

    def set_toolbox(self, toolbox: Toolbox | None, status: str | None = None) -> None:
        """Show what the server offers (None: no A1111 server answered)."""
        self._toolbox = toolbox
        self._toolbox_loaded = True
        if status is None:
            if toolbox is None:
                status = TOOLBOX_NO_SERVER
            else:
                status = (f"{len(toolbox.loras)} LoRAs, {len(toolbox.embeddings)} embeddings, "
                          f"{len(toolbox.styles)} styles")
        self._toolbox_status = status
        if toolbox is not None:
            self.hires_group.set_upscalers(toolbox.hires_upscalers)
        if self._popup is not None:
            self._popup.set_toolbox(toolbox, status)
        self.style_chips.set_styles(self._styles)  # tooltips now know the styles' text

    def toolbox(self) -> Toolbox | None:
        return self._toolbox

    def _style_tip(self, name: str) -> str:
        for style in self._toolbox.styles if self._toolbox else []:
            if style.name == name:
                return style_tip(style)
        return "" if self._toolbox is None else "(not on this server: ignored)"

    def insert_lora(self, tag: str) -> None:
        """Insert a `<lora:NAME:WEIGHT>` tag at the prompt's cursor, the weight selected."""
        weight_at = tag.rfind(":") + 1
        if self._popup is not None:
            self._popup.hide()
        insert_at_cursor(self.prompt_edit, tag, (weight_at, len(tag) - 1 - weight_at))
        self.prompt_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def insert_embedding(self, name: str) -> None:
        """Insert an embedding's name where the person wrote last (prompt or negative)."""
        box = self._focus.last
        if self._popup is not None:
            self._popup.hide()
        insert_at_cursor(box, name)
        box.setFocus(Qt.FocusReason.OtherFocusReason)

    def styles(self) -> list[str]:
        return list(self._styles)

    def set_styles(self, names: list[str]) -> None:
        """The chosen styles (in the order A1111 applies them)."""
        self._styles = list(dict.fromkeys(n for n in names if n))
        self.style_chips.set_styles(self._styles)
        if self._popup is not None:
            self._popup.set_chosen_styles(self._styles)
        self.update_a1111_warning()

    def _remove_style(self, name: str) -> None:
        self.set_styles([n for n in self._styles if n != name])

    # --- the request --------------------------------------------------------------------------

    def extra_params(self) -> dict[str, Any]:
        """The request fields of these parts (styles, hires fix, variations, batch size)."""
        values: dict[str, Any] = {"styles": self.styles(), "batch_size":
                                  self.batch_size_spin.value()}
        values.update(self.hires_group.params())
        values.update(self.variation_group.params())
        return values

    def a1111_features(self) -> list[str]:
        """Features the form uses that Hugging Face cannot do (the router's names)."""
        found: list[str] = []
        if self.hires_group.enabled():
            found.append("hires fix")
        if self._styles:
            found.append("styles")
        text = (self.prompt_edit.toPlainText() + self.negative_edit.toPlainText()).lower()
        if "<lora:" in text:
            found.append("LoRAs")
        if self.variation_group.strength() > 0:
            found.append("variations")
        return found

    def set_hf_only(self, hf_only: bool) -> None:
        """True when AUTOMATIC1111 is not reachable but Hugging Face is (the status monitor)."""
        self._hf_only = hf_only
        self.update_a1111_warning()

    def update_a1111_warning(self, *_args: Any) -> None:
        features = self.a1111_features()
        hf_chosen = self.backend_combo.currentData() == BackendChoice.hf.value
        text = ""
        if features and (hf_chosen or self._hf_only):
            names = _join(features)
            verb = "needs" if len(features) == 1 else "need"
            names = names[0].upper() + names[1:]
            if hf_chosen:
                text = (f"{names} {verb} AUTOMATIC1111, but “Hugging Face only” is chosen: "
                        "choose Automatic, or turn them off before generating.")
            else:
                text = (f"{names} {verb} AUTOMATIC1111, which is not reachable (only Hugging "
                        "Face is): start it, or turn them off before generating.")
        self.a1111_warning.setText(text)
        self.a1111_warning.setVisible(bool(text))

    def apply_extras(self, values: Mapping[str, Any], *, styles_known: bool) -> None:
        """Restore hires fix, variation and (when the infotext says) styles from reuse."""
        self.hires_group.apply(values)
        self.variation_group.apply(values)
        if styles_known:
            self.set_styles(list(values.get("styles") or []))

    # --- persistence --------------------------------------------------------------------------

    def save_extras(self, state: Any) -> None:
        state.set("prompt/styles", "\n".join(self._styles))
        state.set("prompt/batch_size", self.batch_size_spin.value())
        self.hires_group.save_state(state)
        self.variation_group.save_state(state)

    def restore_extras(self, state: Any) -> None:
        self.set_styles([n for n in state.get_str("prompt/styles").split("\n") if n])
        self.batch_size_spin.setValue(state.get_int("prompt/batch_size", 1))
        self.hires_group.restore_state(state)
        self.variation_group.restore_state(state)
