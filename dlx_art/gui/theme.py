"""Look of the app: Fusion with a calm dark palette (default), a light one, or the system's.

The palette carries the colours; `resources/style/app.qss` only adjusts spacing and a few
shapes and refers to palette roles, so one style sheet serves every theme.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

from dlx_art.paths import resources_dir

log = logging.getLogger("dlx_art.gui.theme")

THEME_LABELS = {"dark": "Dark", "light": "Light", "system": "Follow the system"}

# Accent used for selection, focus, progress and the Generate button.
ACCENT_DARK = "#2f6fe0"  # white text on it: 4.7:1 (WCAG AA)
ACCENT_LIGHT = "#2a64cc"  # 5.6:1

_DARK = {
    QPalette.ColorRole.Window: "#1f2124",
    QPalette.ColorRole.WindowText: "#e3e5e8",
    QPalette.ColorRole.Base: "#17181b",
    QPalette.ColorRole.AlternateBase: "#24262a",
    QPalette.ColorRole.ToolTipBase: "#2b2e33",
    QPalette.ColorRole.ToolTipText: "#e3e5e8",
    QPalette.ColorRole.PlaceholderText: "#959ba4",
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
# Disabled text still carries information (counts, empty notices use it as the muted colour):
# dimmer than the normal text, yet 4.5:1 on its background like every other text.
_DARK_DISABLED = {
    QPalette.ColorRole.WindowText: "#8c929b",
    QPalette.ColorRole.Text: "#8c929b",
    QPalette.ColorRole.ButtonText: "#8c929b",
    QPalette.ColorRole.Button: "#232529",
    QPalette.ColorRole.Base: "#1b1c1f",
    QPalette.ColorRole.Highlight: "#3a3f47",
    QPalette.ColorRole.HighlightedText: "#c3c7cd",
    QPalette.ColorRole.PlaceholderText: "#8c929b",
}

_LIGHT = {
    QPalette.ColorRole.Window: "#f3f4f6",
    QPalette.ColorRole.WindowText: "#1d1f23",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#f0f1f4",
    QPalette.ColorRole.ToolTipBase: "#ffffff",
    QPalette.ColorRole.ToolTipText: "#1d1f23",
    QPalette.ColorRole.PlaceholderText: "#676d76",
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
    QPalette.ColorRole.WindowText: "#62676f",
    QPalette.ColorRole.Text: "#62676f",
    QPalette.ColorRole.ButtonText: "#62676f",
    QPalette.ColorRole.Highlight: "#c5c9d0",
    QPalette.ColorRole.HighlightedText: "#1d1f23",
    QPalette.ColorRole.PlaceholderText: "#62676f",
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
        "muted": "#969ca5", "error": "#ff7b7b", "accent": ACCENT_DARK, "accent_hover": "#2c68d3",
        "accent_pressed": "#2458b4", "accent_border": "#4c8dff", "disabled_bg": "#2a2d31",
        "banner_bg": "#3a2f1c", "banner_border": "#5a4522", "banner_text": "#f3dcb0",
    },
    "light": {
        "window": "#f3f4f6", "base": "#ffffff", "panel": "#e9ebef", "border": "#d3d6dc",
        "muted": "#5b6169", "error": "#b3352a", "accent": ACCENT_LIGHT, "accent_hover": "#2459bd",
        "accent_pressed": "#1f4fa8", "accent_border": "#1f4fa8", "disabled_bg": "#e2e4e8",
        "banner_bg": "#fff4da", "banner_border": "#ecd49a", "banner_text": "#5b4511",
    },
}


# --- contrast (WCAG 2) ---------------------------------------------------------------------

AA_TEXT = 4.5  # WCAG AA for normal-size text


def _linear(channel: float) -> float:
    return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4


def luminance(color: QColor) -> float:
    """WCAG relative luminance of an opaque colour (0 black .. 1 white)."""
    return (0.2126 * _linear(color.redF()) + 0.7152 * _linear(color.greenF())
            + 0.0722 * _linear(color.blueF()))


def contrast_ratio(foreground: QColor, background: QColor) -> float:
    """WCAG contrast ratio (1..21); a translucent foreground is first blended onto the back."""
    fg = blend(foreground, background)
    high, low = sorted((luminance(fg), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def blend(color: QColor, background: QColor) -> QColor:
    """`color` (maybe translucent) painted over the opaque `background`."""
    a = color.alphaF()
    return QColor.fromRgbF(color.redF() * a + background.redF() * (1 - a),
                           color.greenF() * a + background.greenF() * (1 - a),
                           color.blueF() * a + background.blueF() * (1 - a))


def readable(color: QColor, background: QColor, ratio: float = AA_TEXT) -> QColor:
    """`color`, darkened or lightened just enough to reach `ratio` on `background`.

    Status colours (green done, red failed...) keep their hue; on a background where they would
    be hard to read they move towards black or white.
    """
    if contrast_ratio(color, background) >= ratio:
        return QColor(color)
    toward_white = luminance(background) < 0.18
    target = QColor("#ffffff") if toward_white else QColor("#000000")
    base = blend(color, background)
    for step in range(1, 21):
        k = step / 20
        mixed = QColor.fromRgbF(base.redF() * (1 - k) + target.redF() * k,
                                base.greenF() * (1 - k) + target.greenF() * k,
                                base.blueF() * (1 - k) + target.blueF() * k)
        if contrast_ratio(mixed, background) >= ratio:
            return mixed
    return target


def job_row_background(palette: QPalette, selected: bool, hovered: bool) -> QColor:
    """The job list's row background: a tint of the accent when selected, never so light
    or so dark that its text (palette Text) loses contrast."""
    base = palette.color(QPalette.ColorRole.Base)
    if selected:
        highlight = palette.color(QPalette.ColorRole.Highlight)
        return highlight.darker(180) if luminance(base) < 0.18 else highlight.lighter(185)
    if hovered:
        return palette.color(QPalette.ColorRole.AlternateBase)
    return base


def job_row_title(palette: QPalette, selected: bool, hovered: bool) -> QColor:
    """The job title's colour on `job_row_background` (Text: the tint is light in the light
    theme, where HighlightedText, white, would be unreadable)."""
    return readable(palette.color(QPalette.ColorRole.Text),
                    job_row_background(palette, selected, hovered))


def job_badge_colors(color: QColor, background: QColor) -> tuple[QColor, QColor]:
    """(opaque fill, text colour) of a job state badge on `background`."""
    tint = QColor(color)
    tint.setAlpha(48)
    fill = blend(tint, background)
    return fill, readable(color, fill)


def text_pairs(palette: QPalette, scheme: str) -> list[tuple[str, QColor, QColor]]:
    """Every (what, text colour, background) pair the app paints text with, for `scheme`.

    The palette's text roles on their backgrounds in the Active, Inactive and Disabled groups,
    the style sheet's tokens (muted, error, banner, the Generate button) and the job list.
    A test holds each to WCAG AA (`AA_TEXT`).
    """
    role = QPalette.ColorRole
    pairs: list[tuple[str, QColor, QColor]] = []
    on = [(role.WindowText, role.Window), (role.Text, role.Base), (role.Text, role.AlternateBase),
          (role.ButtonText, role.Button), (role.HighlightedText, role.Highlight),
          (role.ToolTipText, role.ToolTipBase), (role.PlaceholderText, role.Base),
          (role.PlaceholderText, role.Window), (role.PlaceholderText, role.AlternateBase),
          (role.Link, role.Base), (role.LinkVisited, role.Base), (role.Link, role.Window),
          (role.Text, role.Window)]
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive,
                  QPalette.ColorGroup.Disabled):
        for fg, bg in on:
            pairs.append((f"{group.name} {fg.name} on {bg.name}",
                          palette.color(group, fg), palette.color(group, bg)))
    tokens = {k: QColor(v) for k, v in _TOKENS["light" if scheme == "light" else "dark"].items()}
    white = QColor("#ffffff")
    for fg, bg in (("muted", "window"), ("muted", "panel"), ("muted", "base"),
                   ("error", "window"), ("error", "base"), ("banner_text", "banner_bg"),
                   ("muted", "disabled_bg")):
        pairs.append((f"qss @{fg} on @{bg}", tokens[fg], tokens[bg]))
    for bg in ("accent", "accent_hover", "accent_pressed"):
        pairs.append((f"qss white on @{bg} (Generate)", white, tokens[bg]))
    for selected in (False, True):
        for hovered in (False, True):
            back = job_row_background(palette, selected, hovered)
            where = f"job row{' selected' if selected else ''}{' hovered' if hovered else ''}"
            pairs.append((f"{where}: title", job_row_title(palette, selected, hovered), back))
            pairs.append((f"{where}: status line", readable(
                palette.color(QPalette.ColorRole.PlaceholderText), back), back))
            for name, color in JOB_STATE_COLORS.items():
                fill, text = job_badge_colors(QColor(color), back)
                pairs.append((f"{where}: {name} badge", text, fill))
                pairs.append((f"{where}: {name} line", readable(QColor(color), back), back))
    return pairs


#: Job states' colours (badges, the failed job's error line); drawn through `readable`.
JOB_STATE_COLORS = {"queued": "#8a9099", "running": "#4c8dff", "done": "#3fb96b",
                    "failed": "#e05757", "cancelled": "#8a9099", "interrupted": "#d9912b"}


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


def apply_theme(app: QApplication, theme: str) -> None:
    """Fusion + the palette and style sheet for `theme`; re-applied when the system scheme
    changes ("system").

    Dialog buttons carry no icons (they come from the desktop's icon theme and look out of
    place next to the flat palette): the sheet says so (`dialogbuttonbox-buttons-have-icons`)
    rather than a Python `QProxyStyle`, whose `styleHint` the widgets call thousands of times
    while they are built and painted.
    """
    global _current, _scheme_hooked
    _current = theme if theme in THEME_LABELS else "dark"
    if not app.property("dlxArtFusion"):  # once: setStyle re-polishes every widget
        fusion = QStyleFactory.create("Fusion")
        if fusion is not None:
            app.setStyle(fusion)
            app.setProperty("dlxArtFusion", True)
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
