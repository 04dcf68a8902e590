"""LoRA, embedding and style browsers: a popup opened from the buttons under the prompt box.

The lists come from the first reachable AUTOMATIC1111 server (`BackendRouter.toolbox()`, run
by the window on the session's "backends" lane); the popup only shows them. A popup rather
than a dock: it needs no room of its own in the window (which must fit 1366×768), and the
prompt box it writes into stays in view beside it.

* A LoRA is inserted as `<lora:NAME:WEIGHT>` at the prompt box's cursor, with the weight of
  the browser's weight box; the weight is then selected in the prompt, so typing replaces it.
* An embedding's name is inserted at the cursor of the prompt box that had the focus last
  (prompt or negative).
* Styles are checked in the list; the chosen ones show as chips under the prompts and are sent
  as `styles`.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication, QKeyEvent, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from dlx_art.generation.types import StyleInfo, Toolbox, lora_tag
from dlx_art.gui.panel_parts import a1111_badge
from dlx_art.gui.spin_boxes import CheckedDoubleSpinBox

NAME_ROLE = Qt.ItemDataRole.UserRole
TABS = ("loras", "embeddings", "styles")


def insert_at_cursor(edit: QPlainTextEdit, text: str,
                     select: tuple[int, int] | None = None) -> None:
    """Insert `text` at `edit`'s cursor, spaced from the words around it.

    `select` = (start, length) inside `text` to select afterwards (e.g. a LoRA's weight).
    """
    cursor = edit.textCursor()
    if cursor.hasSelection():
        cursor.removeSelectedText()
    before = edit.toPlainText()[:cursor.position()]
    lead = " " if before and not before[-1].isspace() and before[-1] != "(" else ""
    after = edit.toPlainText()[cursor.position():]
    trail = " " if after and not after[0].isspace() and after[0] not in ",)" else ""
    start = cursor.position() + len(lead)
    cursor.insertText(lead + text + trail)
    if select is not None:
        cursor.setPosition(start + select[0])
        cursor.setPosition(start + select[0] + select[1], QTextCursor.MoveMode.KeepAnchor)
    edit.setTextCursor(cursor)


def style_tip(style: StyleInfo) -> str:
    """A style's text, as its tooltip shows it."""
    parts = [f"Prompt: {style.prompt}" if style.prompt else "Prompt: (none)"]
    parts.append(f"Negative: {style.negative_prompt}" if style.negative_prompt
                 else "Negative: (none)")
    return "\n".join(parts)


class _Browser(QWidget):
    """A filter box over a list."""

    def __init__(self, name: str, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"{name}Browser")
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName(f"{name}Filter")
        self.filter_edit.setPlaceholderText(placeholder)
        self.filter_edit.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setObjectName(f"{name}List")
        self.list.setUniformItemSizes(True)
        self.empty_label = QLabel()
        self.empty_label.setObjectName(f"{name}Empty")
        self.empty_label.setWordWrap(True)
        self.empty_label.setProperty("role", "formLabel")
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(6, 6, 6, 6)
        self.layout_.setSpacing(4)
        self.layout_.addWidget(self.filter_edit)
        self.layout_.addWidget(self.list, 1)
        self.layout_.addWidget(self.empty_label)
        self.filter_edit.textChanged.connect(self._apply_filter)
        self.filter_edit.returnPressed.connect(self._on_return)

    def visible_names(self) -> list[str]:
        return [self.list.item(i).data(NAME_ROLE) for i in range(self.list.count())
                if not self.list.item(i).isHidden()]

    @Slot(str)
    def _apply_filter(self, text: str) -> None:
        words = text.lower().split()
        first: QListWidgetItem | None = None
        for i in range(self.list.count()):
            item = self.list.item(i)
            hay = (item.text() + " " + (item.toolTip() or "")).lower()
            hidden = not all(w in hay for w in words)
            item.setHidden(hidden)
            if not hidden and first is None:
                first = item
        if first is not None and (self.list.currentItem() is None
                                  or self.list.currentItem().isHidden()):
            self.list.setCurrentItem(first)

    @Slot()
    def _on_return(self) -> None:
        item = self.list.currentItem()
        if item is not None and not item.isHidden():
            self.list.itemActivated.emit(item)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        # arrows in the filter box move through the list
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up) and self.filter_edit.hasFocus():
            self.list.setFocus()
            self.list.keyPressEvent(event)
            return
        super().keyPressEvent(event)

    def set_empty(self, text: str) -> None:
        self.empty_label.setText(text)
        self.empty_label.setVisible(bool(text))


class ToolboxPopup(QFrame):
    """The browsers in tabs, with a Refresh button (see the module docstring).

    Signals:
        lora_chosen(str): insert this LoRA tag (with the weight) into the prompt.
        embedding_chosen(str): insert this embedding's name.
        styles_changed(list): the checked style names, in list order.
        refresh_requested(): the person asked the server to rescan its folders.
    """

    lora_chosen = Signal(str)
    embedding_chosen = Signal(str)
    styles_changed = Signal(list)
    refresh_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("toolboxPopup")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        # a popup over the panel needs an edge of its own; check boxes visible in both themes
        self.setStyleSheet(
            "QFrame#toolboxPopup { border: 1px solid palette(highlight); }"
            "QListWidget::indicator { width: 13px; height: 13px; border-radius: 2px;"
            " border: 1px solid palette(text); background: palette(base); }"
            "QListWidget::indicator:checked { background: palette(highlight);"
            " border: 1px solid palette(highlighted-text); }")
        self.setAccessibleName("LoRAs, embeddings and styles")
        self._styles: list[str] = []

        self.lora_browser = _Browser("lora", "Filter LoRAs…")
        self.weight_spin = CheckedDoubleSpinBox()
        self.weight_spin.setObjectName("loraWeight")
        self.weight_spin.setRange(-2.0, 3.0)
        self.weight_spin.setSingleStep(0.05)
        self.weight_spin.setDecimals(2)
        self.weight_spin.setValue(1.0)
        self.weight_spin.setAccessibleName("LoRA weight")
        self.weight_spin.setToolTip("The weight written into the tag (change it later in the "
                                    "prompt: it is selected after inserting)")
        self.lora_insert = QPushButton("Insert")
        self.lora_insert.setObjectName("loraInsert")
        self.lora_insert.setToolTip("Insert <lora:NAME:WEIGHT> at the prompt's cursor "
                                    "(or double-click, or Enter)")
        row = QHBoxLayout()
        row.setSpacing(4)
        row.addWidget(QLabel("Weight"))
        row.addWidget(self.weight_spin, 1)
        row.addWidget(self.lora_insert)
        self.lora_browser.layout_.addLayout(row)

        self.embedding_browser = _Browser("embedding", "Filter embeddings…")
        self.embedding_insert = QPushButton("Insert")
        self.embedding_insert.setObjectName("embeddingInsert")
        self.embedding_insert.setToolTip("Insert the name at the cursor of the prompt (or the "
                                         "negative prompt, when it had the focus last)")
        self.embedding_browser.layout_.addWidget(self.embedding_insert)

        self.style_browser = _Browser("style", "Filter styles…")
        self.style_browser.list.setToolTip("Check the styles to use: the server merges their "
                                           "text into the prompts")

        self.tabs = QTabWidget()
        self.tabs.setObjectName("toolboxTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.lora_browser, "LoRAs")
        self.tabs.addTab(self.embedding_browser, "Embeddings")
        self.tabs.addTab(self.style_browser, "Styles")

        self.status_label = QLabel()
        self.status_label.setObjectName("toolboxStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setProperty("role", "formLabel")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setObjectName("toolboxRefresh")
        self.refresh_button.setToolTip("Ask the server to look for new LoRAs, embeddings and "
                                       "models (styles are read when the server starts)")
        footer = QHBoxLayout()
        footer.setSpacing(6)
        footer.addWidget(a1111_badge(self, "toolboxBadge"))
        footer.addWidget(self.status_label, 1)
        footer.addWidget(self.refresh_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 6)
        layout.setSpacing(4)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(footer)
        self.resize(360, 430)

        self.lora_browser.list.itemActivated.connect(self._insert_lora)
        self.lora_insert.clicked.connect(self._insert_lora)
        self.embedding_browser.list.itemActivated.connect(self._insert_embedding)
        self.embedding_insert.clicked.connect(self._insert_embedding)
        self.style_browser.list.itemChanged.connect(self._on_style_item_changed)
        self.style_browser.list.itemActivated.connect(self._toggle_style)
        self.style_browser.list.itemClicked.connect(self._on_style_clicked)
        self._toggled_by_box: QListWidgetItem | None = None
        self.refresh_button.clicked.connect(self.refresh_requested)
        self.set_toolbox(None, "")

    # --- contents -----------------------------------------------------------------------------

    def set_toolbox(self, toolbox: Toolbox | None, status: str) -> None:
        """Show `toolbox` (None: nothing known yet / no server) and a status line."""
        self.status_label.setText(status)
        loras = toolbox.loras if toolbox else []
        embeddings = toolbox.embeddings if toolbox else []
        styles = toolbox.styles if toolbox else []
        lb = self.lora_browser.list
        lb.clear()
        for lora in sorted(loras, key=lambda x: x.name.lower()):
            item = QListWidgetItem(lora.name if lora.alias in ("", lora.name)
                                   else f"{lora.name}  ({lora.alias})")
            item.setData(NAME_ROLE, lora.name)
            tip = [lora.path] if lora.path else []
            base = lora.metadata.get("ss_sd_model_name") if lora.metadata else None
            if base:
                tip.append(f"Trained on {base}")
            item.setToolTip("\n".join(tip))
            lb.addItem(item)
        eb = self.embedding_browser.list
        eb.clear()
        for emb in sorted(embeddings, key=lambda x: (x.skipped, x.name.lower())):
            label = emb.name + ("  (does not fit the loaded model)" if emb.skipped else "")
            item = QListWidgetItem(label)
            item.setData(NAME_ROLE, emb.name)
            details = []
            if emb.vectors:
                details.append(f"{emb.vectors} token{'s' if emb.vectors != 1 else ''}")
            if emb.shape:
                details.append(f"width {emb.shape}")
            item.setToolTip(", ".join(details))
            eb.addItem(item)
        self._fill_styles(styles)
        none = "" if toolbox else "Nothing to show: AUTOMATIC1111 is not reachable."
        self.lora_browser.set_empty("" if loras else none or "The server has no LoRAs.")
        self.embedding_browser.set_empty("" if embeddings
                                         else none or "The server has no embeddings.")
        self.style_browser.set_empty("" if styles else none or "The server has no saved styles.")
        for browser in (self.lora_browser, self.embedding_browser, self.style_browser):
            browser._apply_filter(browser.filter_edit.text())

    def _fill_styles(self, styles: list[StyleInfo]) -> None:
        sb = self.style_browser.list
        with QSignalBlocker(sb):
            sb.clear()
            known = {s.name for s in styles}
            for style in styles:
                item = QListWidgetItem(style.name)
                item.setData(NAME_ROLE, style.name)
                item.setToolTip(style_tip(style))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if style.name in self._styles
                                   else Qt.CheckState.Unchecked)
                sb.addItem(item)
            for name in self._styles:  # chosen earlier, not (or no longer) on the server
                if name not in known:
                    item = QListWidgetItem(f"{name}  (missing on the server)")
                    item.setData(NAME_ROLE, name)
                    item.setToolTip("This server has no style of this name: it is ignored")
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    item.setCheckState(Qt.CheckState.Checked)
                    sb.addItem(item)

    def set_chosen_styles(self, names: list[str]) -> None:
        """Check `names` (the panel's chosen styles) without emitting `styles_changed`."""
        self._styles = list(names)
        sb = self.style_browser.list
        with QSignalBlocker(sb):
            for i in range(sb.count()):
                item = sb.item(i)
                item.setCheckState(Qt.CheckState.Checked if item.data(NAME_ROLE) in names
                                   else Qt.CheckState.Unchecked)

    def show_tab(self, tab: str) -> None:
        self.tabs.setCurrentIndex(TABS.index(tab))
        browser = self.tabs.currentWidget()
        if isinstance(browser, _Browser):
            browser.filter_edit.setFocus(Qt.FocusReason.PopupFocusReason)
            browser.filter_edit.selectAll()

    def popup_at(self, anchor: QWidget, tab: str, beside: QWidget | None = None) -> None:
        """Open beside `beside` (right of it, level with `anchor`'s top) when the screen has
        room there, else below `anchor` (above it when there is no room); inside the screen."""
        self.show_tab(tab)
        screen = anchor.screen() or QGuiApplication.primaryScreen()
        area = screen.availableGeometry()
        height = min(self.height(), max(240, area.height() - 40))
        self.resize(min(self.width(), area.width()), height)
        top = anchor.mapToGlobal(QPoint(0, 0))
        if beside is not None:
            right = beside.mapToGlobal(QPoint(beside.width(), 0)).x() + 2
            if right + self.width() <= area.right():
                self.move(right, max(area.top(), min(top.y(), area.bottom() - self.height())))
                self.show()
                self.show_tab(tab)
                return
        below = anchor.mapToGlobal(QPoint(0, anchor.height()))
        x = max(area.left(), min(below.x(), area.right() - self.width()))
        y = below.y()
        if y + self.height() > area.bottom():
            y = max(area.top(), top.y() - self.height())
        self.move(x, y)
        self.show()
        self.show_tab(tab)

    # --- actions ------------------------------------------------------------------------------

    def _current_name(self, browser: _Browser) -> str | None:
        item = browser.list.currentItem()
        if item is None or item.isHidden():
            names = browser.visible_names()
            return names[0] if len(names) == 1 else None
        return str(item.data(NAME_ROLE))

    @Slot()
    def _insert_lora(self, *_args: object) -> None:
        name = self._current_name(self.lora_browser)
        if name:
            self.lora_chosen.emit(lora_tag(name, round(self.weight_spin.value(), 2)))

    @Slot()
    def _insert_embedding(self, *_args: object) -> None:
        name = self._current_name(self.embedding_browser)
        if name:
            self.embedding_chosen.emit(name)

    @Slot(QListWidgetItem)
    def _toggle_style(self, item: QListWidgetItem) -> None:
        checked = item.checkState() == Qt.CheckState.Checked
        item.setCheckState(Qt.CheckState.Unchecked if checked else Qt.CheckState.Checked)

    def _forget_toggle(self) -> None:
        self._toggled_by_box = None

    @Slot(QListWidgetItem)
    def _on_style_clicked(self, item: QListWidgetItem) -> None:
        # a click on the name toggles too; a click on the box itself has toggled already
        if self._toggled_by_box is item:
            self._toggled_by_box = None
            return
        self._toggle_style(item)

    @Slot(QListWidgetItem)
    def _on_style_item_changed(self, item: QListWidgetItem) -> None:
        # the view emits `clicked` right after toggling from a click on the box, in the same
        # event: remembered until then only
        self._toggled_by_box = item
        QTimer.singleShot(0, self._forget_toggle)
        sb = self.style_browser.list
        checked = [str(sb.item(i).data(NAME_ROLE)) for i in range(sb.count())
                   if sb.item(i).checkState() == Qt.CheckState.Checked]
        # keep the order they were chosen in: A1111 applies styles in list order
        order = [n for n in self._styles if n in checked] + \
                [n for n in checked if n not in self._styles]
        self._styles = order
        self.styles_changed.emit(order)


class StyleChips(QLabel):
    """The chosen styles under the prompts: "Styles: Cinematic ✕  Watercolor ✕".

    Signals:
        remove_requested(str): the ✕ of a style was clicked.
    """

    remove_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("styleChips")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse
                                     | Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
        self.linkActivated.connect(self._on_link)
        self._tips: Callable[[str], str] = lambda _name: ""
        self.set_styles([])

    def set_tip_source(self, tips: Callable[[str], str]) -> None:
        self._tips = tips

    def set_styles(self, names: list[str]) -> None:
        import html

        chips = "&nbsp;&nbsp; ".join(
            f"<b>{html.escape(n)}</b>&nbsp;<a href='remove:{i}' title='Remove'>✕</a>"
            for i, n in enumerate(names))
        self._names = list(names)
        self.setText(f"Styles: {chips}" if names else "")
        self.setVisible(bool(names))
        self.setToolTip("\n\n".join(f"{n}\n{self._tips(n)}".strip() for n in names))

    @Slot(str)
    def _on_link(self, link: str) -> None:
        if link.startswith("remove:"):
            index = int(link.split(":", 1)[1])
            if 0 <= index < len(self._names):
                self.remove_requested.emit(self._names[index])
