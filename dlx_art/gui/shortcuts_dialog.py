"""Help → Keyboard Shortcuts: every key the studio answers to, where it works.

Single-key shortcuts only work where they cannot be meant otherwise (never in a text field),
so each is listed with the place it works in. The window's own menu shortcuts are read from
its actions, so this list follows them.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

#: (place, keys, what) for keys handled by widgets themselves (not menu actions)
WIDGET_KEYS: list[tuple[str, str, str]] = [
    ("Gallery", "Space", "Show the current image full size (again: close)"),
    ("Gallery", "Enter / double-click", "Open the image in the canvas"),
    ("Gallery", "F", "Add to or remove from favorites"),
    ("Gallery", "Delete", "Move to the trash"),
    ("Gallery", "Ctrl+C", "Copy the image"),
    ("Gallery", "Ctrl+wheel", "Bigger or smaller thumbnails"),
    ("Search box", "model:  negative:  seed:", "Search a field, e.g. model:dreamshaper"),
    ("Prompt box", "Alt+Up / Alt+Down", "Previous / next prompt of this project (history)"),
    ("Viewer", "Space / Esc", "Close the viewer"),
    ("Viewer", "← →", "Previous / next image"),
    ("Viewer", "F / 1", "Fit to the window / actual size (100 %)"),
    ("Viewer", "C", "Compare with the parent image (drag the line)"),
    ("Canvas", "B", "Brush"),
    ("Canvas", "E", "Eraser"),
    ("Canvas", "X", "Swap brush and eraser"),
    ("Canvas", "Space (hold)", "Pan"),
    ("Canvas", "[ ]", "Smaller / bigger brush"),
    ("Canvas", "H", "Show or hide the mask"),
    ("Canvas", "\\", "Before / after, while comparing a result"),
    ("Canvas", "0 / 1", "Fit / 100 %"),
    ("Canvas", "+ −", "Zoom in / out"),
    ("Canvas", "Ctrl+Z / Ctrl+Shift+Z", "Undo / redo a mask change"),
]


def menu_keys(window: Any) -> list[tuple[str, str, str]]:
    """(menu, keys, action text) for every menu action of `window` that has a shortcut."""
    rows: list[tuple[str, str, str]] = []
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        if menu is None:
            continue
        title = menu_action.text().replace("&", "")
        for action in menu.actions():
            keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()]
            if keys and action.text():
                rows.append((title, " / ".join(keys), action.text().replace("&", "")))
    return rows


class ShortcutsDialog(QDialog):
    """A searchable-looking table of shortcuts, grouped by where they work."""

    def __init__(self, window: Any | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard Shortcuts")
        self.resize(560, 600)
        self.tree = QTreeWidget(self)
        self.tree.setObjectName("shortcutsTree")
        self.tree.setHeaderLabels(["Keys", "What it does"])
        self.tree.setRootIsDecorated(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        groups: dict[str, QTreeWidgetItem] = {}
        rows = (menu_keys(window) if window is not None else []) + WIDGET_KEYS
        for place, keys, what in rows:
            group = groups.get(place)
            if group is None:
                group = QTreeWidgetItem([place])
                font = group.font(0)
                font.setBold(True)
                group.setFont(0, font)
                group.setFirstColumnSpanned(False)
                self.tree.addTopLevelItem(group)
                groups[place] = group
            group.addChild(QTreeWidgetItem([keys, what]))
        self.tree.expandAll()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree)
        layout.addWidget(buttons)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)

    def rows(self) -> list[tuple[str, str, str]]:
        """(place, keys, what) as listed (for tests)."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            for j in range(group.childCount()):
                child = group.child(j)
                out.append((group.text(0), child.text(0), child.text(1)))
        return out
