"""Every text the app paints meets WCAG AA (4.5:1) in both themes (issue 14)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PySide6.QtGui import QColor, QPalette

from dlx_art.gui import theme
from dlx_art.gui.job_panel import JobDelegate  # noqa: F401 - the delegate draws with theme's

pytestmark = [pytest.mark.gui]

PALETTES = {"dark": theme.dark_palette, "light": theme.light_palette}


def test_contrast_ratio_matches_known_values(qapp):
    assert theme.contrast_ratio(QColor("#000000"), QColor("#ffffff")) == pytest.approx(21.0)
    assert theme.contrast_ratio(QColor("#777777"), QColor("#ffffff")) == pytest.approx(4.48, 0.01)
    # the example: white on (202, 221, 255) is about 1.3:1
    assert theme.contrast_ratio(QColor("#ffffff"), QColor(202, 221, 255)) < 1.4


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_every_text_pair_meets_wcag_aa(qapp, scheme):
    pairs = theme.text_pairs(PALETTES[scheme](), scheme)
    assert len(pairs) > 60  # the palette groups, the style sheet and the job rows
    poor = [f"{what}: {fg.name()} on {bg.name()} = {theme.contrast_ratio(fg, bg):.2f}"
            for what, fg, bg in pairs if theme.contrast_ratio(fg, bg) < theme.AA_TEXT]
    assert not poor, "\n".join(poor)


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_a_selected_job_title_is_readable(qapp, scheme):
    palette = PALETTES[scheme]()
    back = theme.job_row_background(palette, True, False)
    title = theme.job_row_title(palette, True, False)
    assert theme.contrast_ratio(title, back) >= theme.AA_TEXT
    assert back != palette.color(QPalette.ColorRole.Base)  # the selection still shows


@given(fg=st.tuples(*[st.integers(0, 255)] * 3), bg=st.tuples(*[st.integers(0, 255)] * 3))
def test_readable_always_reaches_the_ratio(qapp, fg, bg):
    back = QColor(*bg)
    assert theme.contrast_ratio(theme.readable(QColor(*fg), back), back) >= theme.AA_TEXT


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_dialog_buttons_carry_no_icons(qapp, scheme):
    """The theme's style sheet turns the desktop's dialog button icons off (a style hint)."""
    from PySide6.QtWidgets import QDialogButtonBox, QStyle

    buttons = QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    before = qapp.styleSheet()
    try:
        theme.apply_theme(qapp, scheme)
        sheet = qapp.styleSheet()
        box = QDialogButtonBox(buttons)
        hint = QStyle.StyleHint.SH_DialogButtonBox_ButtonsHaveIcons
        assert box.style().styleHint(hint, None, box) == 0
        assert all(button.icon().isNull() for button in box.buttons())
        # the hint is what decides: the same sheet saying 1 gives the buttons their icons
        qapp.setStyleSheet(sheet.replace("dialogbuttonbox-buttons-have-icons: 0",
                                         "dialogbuttonbox-buttons-have-icons: 1"))
        with_icons = QDialogButtonBox(buttons)
        assert with_icons.style().styleHint(hint, None, with_icons) == 1
    finally:
        theme.apply_theme(qapp, "dark")
        qapp.setStyleSheet(before)
