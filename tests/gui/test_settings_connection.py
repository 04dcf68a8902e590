"""Settings' "Test connection" for each A1111 server and for Hugging Face (issue 14), against
the fake servers over loopback; the tests run on the backends lane, never the GUI thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlx_art.gui.settings_dialog import SettingsDialog
from dlx_art.gui.tasks import TaskRunner
from dlx_art.settings import A1111Server, Settings
from tests.fakes.fake_a1111 import FakeA1111
from tests.gui.conftest import closed_port_url

pytestmark = [pytest.mark.gui, pytest.mark.integration]


@pytest.fixture
def runner(qapp):
    lanes = TaskRunner()
    yield lanes
    lanes.stop(10_000)
    lanes.deleteLater()


@pytest.fixture
def locked_a1111():
    fake = FakeA1111(host="127.0.0.1", port=0, auth="artist:pa55-word-xyz")
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def make_dialog(qtbot, runner, settings: Settings) -> SettingsDialog:
    dialog = SettingsDialog(settings, Path("/tmp/unused-library"), runner=runner)
    qtbot.addWidget(dialog)
    return dialog


def result_of(qtbot, label) -> str:
    # the click returned before the answer: the test runs in the background, not on this thread
    assert label.text().startswith("Testing"), label.text()
    qtbot.waitUntil(lambda: label.text()[:1] in ("✓", "✗"), timeout=20_000)
    return label.text()


def test_each_server_row_tests_its_own_server(qtbot, runner, fake_a1111, locked_a1111):
    settings = Settings()
    settings.a1111_servers = [A1111Server(fake_a1111.url),
                              A1111Server(locked_a1111.url, "artist", "wrong-password"),
                              A1111Server(locked_a1111.url, "artist", "pa55-word-xyz"),
                              A1111Server(closed_port_url())]
    dialog = make_dialog(qtbot, runner, settings)
    table, label = dialog.server_table, dialog.server_test_label
    buttons = [table.cellWidget(row, 3) for row in range(table.rowCount())]
    assert [b.text() for b in buttons] == ["Test"] * 4

    buttons[0].click()
    text = result_of(qtbot, label)
    models = len(fake_a1111.models)
    assert text.startswith("✓") and f"{models} model" in text and "sampler" in text, text
    assert label.property("role") == "hint"

    buttons[1].click()
    text = result_of(qtbot, label)
    assert text.startswith("✗") and "Sign-in failed" in text, text
    assert label.property("role") == "error"
    assert "wrong-password" not in text  # passwords never shown

    buttons[2].click()
    text = result_of(qtbot, label)
    assert text.startswith("✓") and "Sign-in OK" in text, text

    buttons[3].click()
    text = result_of(qtbot, label)
    assert text.startswith("✗") and len(text) > 20, text


def test_a_new_server_row_starts_empty_and_asks_for_an_address(qtbot, runner):
    dialog = make_dialog(qtbot, runner, Settings())
    before = dialog.server_table.rowCount()
    dialog.findChild(type(dialog.hf_test_button), "addServerButton").click()
    row = dialog.server_table.rowCount() - 1
    assert row == before
    assert [dialog._cell(row, c) for c in range(3)] == ["", "", ""]
    dialog.server_table.cellWidget(row, 3).click()
    assert "address first" in dialog.server_test_label.text()
    assert dialog.servers() == dialog.servers()[:before]  # an empty row is no server


def test_moving_a_row_keeps_its_test_button(qtbot, runner):
    settings = Settings()
    settings.a1111_servers = [A1111Server("http://127.0.0.1:1"), A1111Server("http://127.0.0.1:2")]
    dialog = make_dialog(qtbot, runner, settings)
    dialog.server_table.setCurrentCell(1, 0)
    dialog._move_server_row(-1)
    assert dialog._cell(0, 0) == "http://127.0.0.1:2"
    assert all(dialog.server_table.cellWidget(r, 3) is not None for r in range(2))


def test_hugging_face_test_shows_the_model_or_that_the_hub_is_unreachable(qtbot, runner,
                                                                         fake_hf):
    settings = Settings()
    settings.hf_token = "hf_testtoken1234567890"
    settings.hf_model = "org/tiny-model"
    dialog = make_dialog(qtbot, runner, settings)
    dialog.hf_hub_url = fake_hf.url
    dialog.hf_test_button.click()
    text = result_of(qtbot, dialog.hf_test_label)
    assert text.startswith("✓") and "org/tiny-model found" in text, text
    assert "hf_testtoken" not in text

    dialog.hf_hub_url = closed_port_url()
    dialog.hf_test_label.clear()
    dialog.hf_test_button.click()
    text = result_of(qtbot, dialog.hf_test_label)
    assert text.startswith("✗") and "Could not reach" in text, text


def test_hugging_face_without_any_token_says_not_signed_in(qtbot, runner):
    settings = Settings()
    settings.hf_token = None
    settings.hf_endpoint = None
    dialog = make_dialog(qtbot, runner, settings)
    dialog.hf_login_radio.setChecked(True)
    dialog.hf_test_button.click()
    qtbot.waitUntil(lambda: dialog.hf_test_label.text()[:1] in ("✓", "✗"), timeout=10_000)
    assert "Not signed in" in dialog.hf_test_label.text()
