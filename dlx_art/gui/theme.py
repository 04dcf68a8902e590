"""Look of the app: Fusion with a calm dark palette (default), a light one, or the system's.

The palette carries the colours; `resources/style/app.qss` only adjusts spacing and a few
shapes and refers to palette roles, so one style sheet serves every theme.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle, QStyleFactory

from dlx_art.paths import resources_dir

log = logging.getLogger("dlx_art.gui.theme")

THEME_LABELS = {"dark": "Dark", "light": "Light", "system": "Follow the system"}

# Accent used for selection, focus, progress and the Generate button.
ACCENT_DARK = "#4c8dff"
ACCENT_LIGHT = "#2f6fe0"

_DARK = {
    QPalette.ColorRole.Window: "#1f2124",
    QPalette.ColorRole.WindowText: "#e3e5e8",
    QPalette.ColorRole.Base: "#17181b",
    QPalette.ColorRole.AlternateBase: "#24262a",
    QPalette.ColorRole.ToolTipBase: "#2b2e33",
    QPalette.ColorRole.ToolTipText: "#e3e5e8",
    QPalette.ColorRole.PlaceholderText: "#7c828c",
    QPalette.ColorRole.Text: "#e3e5e8",
    QPalette.ColorRole.Button: "#2a2d31",
    QPalette.ColorRole.ButtonText: "#e3e5e8",
    QPalette.ColorRole.BrightText: "#ffffff",
    QPalette.ColorRole.Light: "#3a3e44",
    QPalette.ColorRole.Midlight: "#30333a",
    QPalette.ColorRole.Mid: "#25272b",
    QPalette.ColorRole.Dark: "#141517",
    QPalette.ColorRole.Shadow: "#0b0c0d",
    QPalette.ColorRole.Highlight: ACCENT_DARK,
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#7fb0ff",
    QPalette.ColorRole.LinkVisited: "#b59cff",
}
_DARK_DISABLED = {
    QPalette.ColorRole.WindowText: "#6c7179",
    QPalette.ColorRole.Text: "#6c7179",
    QPalette.ColorRole.ButtonText: "#6c7179",
    QPalette.ColorRole.Button: "#232529",
    QPalette.ColorRole.Base: "#1b1c1f",
    QPalette.ColorRole.Highlight: "#3a3f47",
    QPalette.ColorRole.HighlightedText: "#9aa0a8",
}

_LIGHT = {
    QPalette.ColorRole.Window: "#f3f4f6",
    QPalette.ColorRole.WindowText: "#1d1f23",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#f0f1f4",
    QPalette.ColorRole.ToolTipBase: "#ffffff",
    QPalette.ColorRole.ToolTipText: "#1d1f23",
    QPalette.ColorRole.PlaceholderText: "#8a9099",
    QPalette.ColorRole.Text: "#1d1f23",
    QPalette.ColorRole.Button: "#e9ebef",
    QPalette.ColorRole.ButtonText: "#1d1f23",
    QPalette.ColorRole.BrightText: "#000000",
    QPalette.ColorRole.Light: "#ffffff",
    QPalette.ColorRole.Midlight: "#e2e4e8",
    QPalette.ColorRole.Mid: "#c9ccd2",
    QPalette.ColorRole.Dark: "#a9adb5",
    QPalette.ColorRole.Shadow: "#6d7179",
    QPalette.ColorRole.Highlight: ACCENT_LIGHT,
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#1f5fcf",
    QPalette.ColorRole.LinkVisited: "#6a3fc7",
}
_LIGHT_DISABLED = {
    QPalette.ColorRole.WindowText: "#a0a4ab",
    QPalette.ColorRole.Text: "#a0a4ab",
    QPalette.ColorRole.ButtonText: "#a0a4ab",
    QPalette.ColorRole.Highlight: "#c5c9d0",
}

_current = "dark"
_scheme_hooked = False


def _palette(colors: dict, disabled: dict) -> QPalette:
    palette = QPalette()
    for role, color in colors.items():
        palette.setColor(QPalette.ColorGroup.All, role, QColor(color))
    for role, color in disabled.items():
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(color))
    return palette


def dark_palette() -> QPalette:
    return _palette(_DARK, _DARK_DISABLED)


def light_palette() -> QPalette:
    return _palette(_LIGHT, _LIGHT_DISABLED)


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def resolved(theme: str) -> str:
    """"dark" or "light": what `theme` ("dark" | "light" | "system") looks like right now."""
    if theme == "system":
        return "dark" if system_is_dark() else "light"
    return "light" if theme == "light" else "dark"


def is_dark() -> bool:
    return resolved(_current) == "dark"


def accent() -> QColor:
    return QColor(ACCENT_DARK if is_dark() else ACCENT_LIGHT)


_TOKENS = {
    "dark": {
        "window": "#1f2124", "base": "#17181b", "panel": "#24262a", "border": "#303338",
        "muted": "#8e949d", "error": "#ff7b7b", "accent": ACCENT_DARK, "accent_hover": "#5e99ff",
        "accent_pressed": "#3b78e6", "accent_border": "#3f7ff0", "disabled_bg": "#2a2d31",
        "banner_bg": "#3a2f1c", "banner_border": "#5a4522", "banner_text": "#f3dcb0",
    },
    "light": {
        "window": "#f3f4f6", "base": "#ffffff", "panel": "#e9ebef", "border": "#d3d6dc",
        "muted": "#646a73", "error": "#c0392b", "accent": ACCENT_LIGHT, "accent_hover": "#3d7cec",
        "accent_pressed": "#2660c8", "accent_border": "#2a64cc", "disabled_bg": "#e2e4e8",
        "banner_bg": "#fff4da", "banner_border": "#ecd49a", "banner_text": "#5b4511",
    },
}


def style_sheet(scheme: str = "dark") -> str:
    """`resources/style/app.qss` with the @tokens of `scheme` ("dark" | "light") filled in."""
    path = resources_dir() / "style" / "app.qss"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    tokens = _TOKENS["light" if scheme == "light" else "dark"]
    for name in sorted(tokens, key=len, reverse=True):  # @accent_hover before @accent
        text = text.replace(f"@{name}", tokens[name])
    return text


class StudioStyle(QProxyStyle):
    """Fusion without icons on dialog buttons (they come from the desktop's icon theme and
    look out of place next to the flat palette)."""

    def styleHint(self, hint, option=None, widget=None, data=None):  # noqa: N802
        if hint == QStyle.StyleHint.SH_DialogButtonBox_ButtonsHaveIcons:
            return 0
        return super().styleHint(hint, option, widget, data)


def apply_theme(app: QApplication, theme: str) -> None:
    """Fusion + the palette for `theme`; re-applied when the system scheme changes ("system")."""
    global _current, _scheme_hooked
    _current = theme if theme in THEME_LABELS else "dark"
    if not isinstance(app.style(), StudioStyle):
        fusion = QStyleFactory.create("Fusion")
        if fusion is not None:
            app.setStyle(StudioStyle(fusion))
    scheme = resolved(_current)
    app.setPalette(dark_palette() if scheme == "dark" else light_palette())
    app.setStyleSheet(style_sheet(scheme))
    if not _scheme_hooked:
        _scheme_hooked = True
        QGuiApplication.styleHints().colorSchemeChanged.connect(_on_scheme_changed)
    log.info("theme %s (%s)", _current, resolved(_current))


def _on_scheme_changed(*_args: object) -> None:
    app = QApplication.instance()
    if _current == "system" and isinstance(app, QApplication):
        apply_theme(app, "system")


def current_theme() -> str:
    return _current
