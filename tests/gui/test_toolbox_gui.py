"""Issue 12 in the window: LoRA / embedding / style browsers, hires fix, variations, batches,
prompt history, A1111-only marking and reuse, against the real fake A1111 server.

The payloads the fake received are checked field by field against the API contract.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QListWidget, QPushButton, QToolButton, QWidget

from dlx_art.gui.jobs import JobState
from dlx_art.gui.prompt_panel import PromptPanel
from dlx_art.gui.shortcuts_dialog import WIDGET_KEYS
from tests.fakes.fake_a1111 import FakeLora, create_infotext, make_png

pytestmark = pytest.mark.gui

HIRES_INFOTEXT = create_infotext(
    "a lighthouse at dusk <lora:ink-line:0.7>", "blurry",
    [("Steps", 12), ("Sampler", "Euler a"), ("Schedule type", "Karras"), ("CFG scale", 6.5),
     ("Seed", 4242), ("Size", "64x96"), ("Model hash", "6ce0161689"),
     ("Model", "v1-5-pruned-emaonly"), ("Variation seed", 777),
     ("Variation seed strength", 0.25), ("Denoising strength", 0.45),
     ("Hires upscale", 1.5), ("Hires steps", 3), ("Hires upscaler", "Latent (bicubic)"),
     ("Version", "v1.10.1")])


def _window(studio, fake_a1111, name="Toolbox"):
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    window.project_bar.create_project(name)
    return window


def _wait_toolbox(qtbot, panel):
    qtbot.waitUntil(lambda: panel.toolbox() is not None, timeout=30_000)
    return panel.toolbox()


def _generate(qtbot, window):
    job = window.generate()
    assert job is not None, window.prompt_panel.hint_label.text()
    qtbot.waitUntil(lambda: job.state.finished, timeout=60_000)
    assert job.state is JobState.done, job.error
    return job


# --- toolbox browsers ---------------------------------------------------------------------------


def test_browsers_list_the_servers_toolbox_and_refresh_rescans(qtbot, studio, fake_a1111):
    window = _window(studio, fake_a1111)
    panel = window.prompt_panel
    toolbox = _wait_toolbox(qtbot, panel)  # read on the backends lane once A1111 was up
    assert [lora.name for lora in toolbox.loras] == ["ink-line", "plain"]

    popup = panel.open_toolbox("loras")
    assert popup.isVisible()
    for name in ("loraBrowser", "embeddingBrowser", "styleBrowser"):
        assert popup.findChild(QWidget, name) is not None, name
    assert popup.findChild(QPushButton, "toolboxRefresh") is not None
    assert popup.lora_browser.visible_names() == ["ink-line", "plain"]
    popup.lora_browser.filter_edit.setText("INKLINE")  # the alias matches too
    assert popup.lora_browser.visible_names() == ["ink-line"]
    popup.lora_browser.filter_edit.setText("pla")
    assert popup.lora_browser.visible_names() == ["plain"]
    assert sorted(popup.embedding_browser.visible_names()) == ["bad-hands", "sd2-negative"]
    assert popup.style_browser.visible_names() == ["Cinematic", "Watercolor"]
    tip = popup.style_browser.list.item(0).toolTip()
    assert "cinematic still of {prompt}" in tip and "cartoon, drawing" in tip

    # a LoRA copied into the server's folder shows after Refresh (the server rescans)
    fake_a1111.disk_loras.append(FakeLora("paper-cut", "ab" * 32))
    popup.refresh_button.click()
    qtbot.waitUntil(lambda: "paper-cut" in [x.name for x in (panel.toolbox() or toolbox).loras],
                    timeout=30_000)
    assert fake_a1111.requests_to("refresh-loras", "POST")
    assert fake_a1111.requests_to("refresh-embeddings", "POST")
    popup.lora_browser.filter_edit.clear()
    assert "paper-cut" in popup.lora_browser.visible_names()
    popup.hide()


def test_a_lora_goes_in_at_the_cursor_with_its_weight_selected_and_is_sent(
        qtbot, studio, fake_a1111):
    window = _window(studio, fake_a1111)
    panel = window.prompt_panel
    _wait_toolbox(qtbot, panel)
    panel.set_size(64, 64)
    panel.prompt_edit.setPlainText("a fox, in snow")
    cursor = panel.prompt_edit.textCursor()
    cursor.setPosition(len("a fox,"))
    panel.prompt_edit.setTextCursor(cursor)

    popup = panel.open_toolbox("loras")
    popup.lora_browser.filter_edit.setText("ink")
    popup.weight_spin.setValue(0.8)
    QTest.keyClick(popup.lora_browser.filter_edit, Qt.Key.Key_Return)
    assert not popup.isVisible()  # back to the prompt, to adjust the weight
    assert panel.prompt_edit.toPlainText() == "a fox, <lora:ink-line:0.8> in snow"
    assert panel.prompt_edit.textCursor().selectedText() == "0.8"
    panel.prompt_edit.insertPlainText("0.55")  # typing replaces the selected weight
    assert panel.prompt_edit.toPlainText() == "a fox, <lora:ink-line:0.55> in snow"

    _generate(qtbot, window)
    payload = fake_a1111.last_payload("txt2img")
    assert payload["prompt"] == "a fox, <lora:ink-line:0.55> in snow"


def test_an_embedding_goes_into_the_box_that_had_the_focus_last(qtbot, studio, fake_a1111):
    window = _window(studio, fake_a1111)
    panel = window.prompt_panel
    _wait_toolbox(qtbot, panel)
    panel.prompt_edit.setPlainText("a fox")
    panel.negative_edit.setPlainText("blurry")
    window.activateWindow()
    panel.negative_edit.setFocus()
    qtbot.waitUntil(lambda: panel._focus.last is panel.negative_edit, timeout=5000)
    panel.negative_edit.moveCursor(panel.negative_edit.textCursor().MoveOperation.End)
    popup = panel.open_toolbox("embeddings")
    popup.embedding_browser.filter_edit.setText("hands")
    popup.embedding_insert.click()
    assert panel.negative_edit.toPlainText() == "blurry bad-hands"
    assert panel.prompt_edit.toPlainText() == "a fox"


def test_styles_are_chips_with_their_text_and_are_sent(qtbot, studio, fake_a1111):
    window = _window(studio, fake_a1111)
    panel = window.prompt_panel
    _wait_toolbox(qtbot, panel)
    panel.set_size(64, 64)
    panel.prompt_edit.setPlainText("a red fox")
    popup = panel.open_toolbox("styles")
    items = {popup.style_browser.list.item(i).text(): popup.style_browser.list.item(i)
             for i in range(popup.style_browser.list.count())}
    items["Watercolor"].setCheckState(Qt.CheckState.Checked)
    items["Cinematic"].setCheckState(Qt.CheckState.Checked)
    popup.hide()
    assert panel.styles() == ["Watercolor", "Cinematic"]  # the order they were chosen in
    chips = panel.findChild(QLabel, "styleChips")
    assert chips.isVisible() and "Watercolor" in chips.text() and "Cinematic" in chips.text()
    assert "watercolor painting, soft edges" in chips.toolTip()
    assert "cinematic still of {prompt}" in chips.toolTip()

    _generate(qtbot, window)
    assert fake_a1111.last_payload("txt2img")["styles"] == ["Watercolor", "Cinematic"]

    chips.linkActivated.emit("remove:0")  # the ✕ of Watercolor
    assert panel.styles() == ["Cinematic"]
    item = popup.style_browser.list.findItems("Watercolor", Qt.MatchFlag.MatchExactly)[0]
    assert item.checkState() == Qt.CheckState.Unchecked


# --- hires fix, variations, batches -------------------------------------------------------------


def test_hires_fix_is_off_by_default_shows_the_final_size_and_is_sent(qtbot, studio, fake_a1111):
    window = _window(studio, fake_a1111)
    panel = window.prompt_panel
    _wait_toolbox(qtbot, panel)
    hires = panel.hires_group
    assert not hires.enabled() and not hires.is_open()
    panel.prompt_edit.setPlainText("a lighthouse")
    request = panel.build_request("p")
    assert request.enable_hr is False
    upscalers = [hires.upscaler_combo.itemData(i) for i in range(hires.upscaler_combo.count())]
    assert upscalers[0] == "Latent" and "R-ESRGAN 4x+" in upscalers and "None" not in upscalers

    panel.set_size(64, 96)
    hires.set_open(True)
    hires.enable_box.setChecked(True)
    hires.scale_spin.setValue(1.5)
    hires.select_upscaler("Latent (bicubic)")
    hires.steps_spin.setValue(3)
    hires.denoise_spin.setValue(0.45)
    assert hires.final_label.text() == "64×96 → 96×144"
    assert hires.summary.text() == "→ 96×144"

    job = _generate(qtbot, window)
    payload = fake_a1111.last_payload("txt2img")
    assert payload["enable_hr"] is True
    assert payload["hr_scale"] == 1.5
    assert payload["hr_upscaler"] == "Latent (bicubic)"
    assert payload["hr_second_pass_steps"] == 3
    assert payload["denoising_strength"] == 0.45
    assert (payload["width"], payload["height"]) == (64, 96)
    assert (job.assets[0].width, job.assets[0].height) == (96, 144)  # the final size is stored


def test_variation_strength_seed_and_both_batch_numbers_are_sent(qtbot, studio, fake_a1111):
    window = _window(studio, fake_a1111)
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText("a heron")
    panel.set_size(64, 64)
    panel.variation_group.set_open(True)
    panel.variation_group.strength_spin.setValue(0.3)
    panel.variation_group.seed_spin.setValue(777)
    panel.batch_spin.setValue(2)
    panel.batch_size_spin.setValue(2)
    job = _generate(qtbot, window)
    payload = fake_a1111.last_payload("txt2img")
    assert (payload["n_iter"], payload["batch_size"]) == (2, 2)
    assert (payload["subseed"], payload["subseed_strength"]) == (777, 0.3)
    assert len(job.assets) == 4


def test_more_like_this_queues_the_images_seed_with_a_random_variation_seed(
        qtbot, studio, fake_a1111):
    window = _window(studio, fake_a1111)
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText("an old sailor")
    panel.set_size(64, 64)
    panel.steps_spin.setValue(9)
    panel.seed_mode_combo.setCurrentIndex(panel.seed_mode_combo.findData("fixed"))
    panel.seed_spin.setValue(1234)
    first = _generate(qtbot, window)
    asset = first.assets[0]
    qtbot.waitUntil(lambda: window.details.asset() is not None
                    and window.details.asset().id == asset.id, timeout=10_000)
    panel.prompt_edit.setPlainText("something else entirely")  # the image's prompt is used

    window.details.more_like_this_action.trigger()  # strength off: the default 0.3
    qtbot.waitUntil(lambda: len(fake_a1111.requests_to("txt2img")) == 2, timeout=30_000)
    qtbot.waitUntil(lambda: not window.jobs.is_busy(), timeout=30_000)
    payload = fake_a1111.last_payload("txt2img")
    assert payload["prompt"] == "an old sailor"
    assert (payload["seed"], payload["steps"]) == (1234, 9)
    assert (payload["subseed"], payload["subseed_strength"]) == (-1, 0.3)

    panel.variation_group.strength_spin.setValue(0.15)  # the panel's strength when set
    window.gallery.select_asset(asset.id)
    menu = window.gallery.build_context_menu()
    action = next(a for a in menu.actions() if a.objectName() == "moreLikeThisAction")
    action.trigger()
    qtbot.waitUntil(lambda: len(fake_a1111.requests_to("txt2img")) == 3, timeout=30_000)
    payload = fake_a1111.last_payload("txt2img")
    assert (payload["seed"], payload["subseed"], payload["subseed_strength"]) == (1234, -1, 0.15)
    qtbot.waitUntil(lambda: not window.jobs.is_busy(), timeout=30_000)


# --- prompt history -----------------------------------------------------------------------------


def test_prompt_history_from_the_project_with_alt_up_and_the_menu(qtbot, studio, fake_a1111):
    window = _window(studio, fake_a1111, "History")
    panel = window.prompt_panel
    panel.set_size(64, 64)
    for prompt in ("first prompt", "second prompt"):
        panel.prompt_edit.setPlainText(prompt)
        _generate(qtbot, window)
    history = panel.history
    qtbot.waitUntil(lambda: [e.prompt for e in history.entries]
                    == ["second prompt", "first prompt"], timeout=10_000)

    panel.prompt_edit.setPlainText("my draft")
    QTest.keyClick(panel.prompt_edit, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert panel.prompt() == "second prompt"
    QTest.keyClick(panel.prompt_edit, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert panel.prompt() == "first prompt"
    QTest.keyClick(panel.prompt_edit, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert panel.prompt() == "first prompt"  # the oldest stays
    QTest.keyClick(panel.prompt_edit, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    QTest.keyClick(panel.prompt_edit, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert panel.prompt() == "my draft"  # back to what was being typed

    button = panel.findChild(QToolButton, "promptHistoryButton")
    assert "Alt+Up" in button.toolTip()
    menu = history.build_menu()
    texts = [a.text() for a in menu.actions()]
    assert texts == ["second prompt", "first prompt"]
    menu.actions()[1].trigger()
    assert panel.prompt() == "first prompt"
    assert any("Alt+Up" in keys for _place, keys, _what in WIDGET_KEYS)

    # another project has its own history
    window.project_bar.create_project("Empty")
    qtbot.waitUntil(lambda: history.entries == [], timeout=10_000)
    assert [a.text() for a in history.build_menu().actions()] == \
        ["No prompts in this project yet"]


# --- A1111 only ---------------------------------------------------------------------------------


def test_a1111_only_features_are_marked_and_warned_about_with_hugging_face(qtbot):
    panel = PromptPanel()
    qtbot.addWidget(panel)
    panel.resize(340, 760)
    panel.show()
    for name in ("hiresGroupBadge", "variationGroupBadge", "toolboxButtonsBadge"):
        badge = panel.findChild(QLabel, name)
        assert badge is not None and "AUTOMATIC1111" in badge.toolTip(), name
    for name in ("loraButton", "stylesButton"):
        assert "AUTOMATIC1111" in panel.findChild(QToolButton, name).toolTip()
    warning = panel.findChild(QLabel, "a1111Warning")
    panel.prompt_edit.setPlainText("a fox <lora:ink-line:1>")
    panel.hires_group.enable_box.setChecked(True)
    assert not warning.isVisible()  # A1111 may run it: nothing to say
    panel.backend_combo.setCurrentIndex(panel.backend_combo.findData("hf"))
    assert warning.isVisible()
    assert "Hires fix and LoRAs need AUTOMATIC1111" in warning.text()
    assert "Hugging Face only" in warning.text()
    panel.backend_combo.setCurrentIndex(panel.backend_combo.findData("auto"))
    assert not warning.isVisible()
    panel.set_hf_only(True)  # the monitor: A1111 down, Hugging Face up
    assert warning.isVisible() and "not reachable" in warning.text()
    panel.hires_group.enable_box.setChecked(False)
    panel.prompt_edit.setPlainText("a fox")
    assert not warning.isVisible()


def test_with_only_hugging_face_a_hires_job_fails_with_a_readable_message(
        qtbot, studio, fake_hf):
    from tests.gui.conftest import closed_port_url

    studio.configure(a1111=[closed_port_url()], hf_token="hf_testtoken1234567890",
                     hf_endpoint=fake_hf.model_url("org/tiny-model"), hf_model="org/tiny-model")
    window = studio.open()
    window.project_bar.create_project("HF")
    panel = window.prompt_panel
    qtbot.waitUntil(lambda: panel._hf_only, timeout=30_000)
    panel.prompt_edit.setPlainText("a fox")
    panel.set_size(64, 64)
    panel.hires_group.enable_box.setChecked(True)
    warning = panel.findChild(QLabel, "a1111Warning")
    assert warning.isVisible() and "Hires fix needs AUTOMATIC1111" in warning.text()
    job = window.generate()
    qtbot.waitUntil(lambda: job.state.finished, timeout=30_000)
    assert job.state is JobState.failed
    assert "hires fix" in (job.error or "").lower()
    assert fake_hf.posts == []  # refused before anything was sent: never run without it
    jobs = window.job_panel
    jobs.select_job(job.id)  # the whole message, wrapped, where the job is
    assert jobs.error_label.isVisible() and jobs.error_label.wordWrap()
    assert jobs.error_label.text() == f"Error: {job.error}"
    QApplication.processEvents()
    assert jobs.error_label.width() <= jobs.width()


# --- reuse --------------------------------------------------------------------------------------


def test_reuse_restores_hires_fields(qtbot, studio, fake_a1111):
    window = _window(studio, fake_a1111, "Reuse")
    panel = window.prompt_panel
    project = window.current_project()
    asset = window.library.add_image(
        project.id, make_png(96, 144, (10, 120, 200), HIRES_INFOTEXT),
        values={"prompt": "a lighthouse at dusk <lora:ink-line:0.7>", "negative": "blurry",
                "seed": 4242, "steps": 12, "cfgScale": 6.5, "sampler": "Euler a",
                "scheduler": "Karras", "model": "v1-5-pruned-emaonly",
                "infotext": HIRES_INFOTEXT})
    window.gallery.refresh()
    qtbot.waitUntil(lambda: window.gallery.select_asset(asset.id), timeout=10_000)
    qtbot.waitUntil(lambda: window.details.asset() is not None
                    and window.details.asset().id == asset.id, timeout=10_000)
    panel.set_styles(["Cinematic"])

    window.details.use_all_action.trigger()

    hires = panel.hires_group
    assert hires.enabled() and hires.is_open()
    assert hires.scale_spin.value() == 1.5
    assert hires.upscaler() == "Latent (bicubic)"
    assert hires.steps_spin.value() == 3
    assert hires.denoise_spin.value() == 0.45
    assert hires.final_label.text() == "64×96 → 96×144"
    assert (panel.width_spin.value(), panel.height_spin.value()) == (64, 96)  # the first pass
    assert panel.variation_group.strength() == 0.25
    assert int(panel.variation_group.seed_spin.value()) == 777
    assert panel.prompt() == "a lighthouse at dusk <lora:ink-line:0.7>"  # the LoRA stays
    assert (panel.sampler(), panel.scheduler()) == ("Euler a", "karras")
    # the infotext does not name styles: they are left alone, and the hint says so truly
    assert panel.styles() == ["Cinematic"]
    hint = panel.hint_label.text()
    assert "hires" not in hint.lower() and "variation" not in hint.lower()
    assert "styles stay" in hint

    request = panel.build_request(project.id)
    assert (request.enable_hr, request.hr_scale, request.hr_upscaler,
            request.hr_second_pass_steps, request.denoising_strength) == \
        (True, 1.5, "Latent (bicubic)", 3, 0.45)
    assert (request.subseed, request.subseed_strength) == (777, 0.25)
    assert (request.width, request.height, request.seed) == (64, 96, 4242)

    panel.set_styles([])
    _generate(qtbot, window)
    payload = fake_a1111.last_payload("txt2img")
    assert (payload["enable_hr"], payload["hr_scale"], payload["hr_upscaler"],
            payload["hr_second_pass_steps"], payload["denoising_strength"]) == \
        (True, 1.5, "Latent (bicubic)", 3, 0.45)


def test_toolbox_widgets_have_stable_object_names(qtbot):
    panel = PromptPanel()
    qtbot.addWidget(panel)
    popup = panel.toolbox_popup()
    for name in ("loraBrowser", "embeddingBrowser", "styleBrowser"):
        assert popup.findChild(QListWidget, name.replace("Browser", "List")) is not None, name
        assert popup.findChild(QWidget, name) is not None, name
    assert popup.findChild(QPushButton, "toolboxRefresh") is not None
    for name in ("loraButton", "embeddingButton", "stylesButton", "promptHistoryButton"):
        assert panel.findChild(QToolButton, name) is not None, name
    for name in ("hiresGroup", "variationGroup"):
        assert panel.findChild(QWidget, name) is not None, name


def test_the_new_groups_never_make_the_window_taller_or_wider_than_1366x768(qtbot, studio):
    window = studio.open()
    panel = window.prompt_panel
    before = window.minimumSizeHint()
    panel.hires_group.set_open(True)
    panel.hires_group.enable_box.setChecked(True)
    panel.variation_group.set_open(True)
    panel.set_styles(["Cinematic", "Watercolor", "A style with a rather long name"])
    panel.backend_combo.setCurrentIndex(panel.backend_combo.findData("hf"))  # the warning shows
    QTest.qWait(50)
    after = window.minimumSizeHint()
    # the prompt form scrolls: opening groups adds nothing to the window's minimum
    assert after.height() <= max(before.height(), 768 - 60)
    assert after.width() <= 1366 and after.width() == before.width()
    panel_min = panel.minimumSizeHint()
    assert panel_min.height() < 600


def test_styles_hires_variation_and_batch_size_persist(qtbot, tmp_path):
    from dlx_art.gui.state import UiState

    first = PromptPanel()
    qtbot.addWidget(first)
    first.prompt_edit.setPlainText("a castle")
    first.set_size(512, 768)
    first.set_styles(["Watercolor", "Cinematic"])
    first.batch_spin.setValue(3)
    first.batch_size_spin.setValue(2)
    first.hires_group.set_open(True)
    first.hires_group.enable_box.setChecked(True)
    first.hires_group.scale_spin.setValue(1.75)
    first.hires_group.select_upscaler("R-ESRGAN 4x+")  # not listed until a server answers
    first.hires_group.steps_spin.setValue(8)
    first.hires_group.denoise_spin.setValue(0.35)
    first.variation_group.strength_spin.setValue(0.2)
    first.variation_group.seed_spin.setValue(4_000_000_000)
    state = UiState(tmp_path)
    first.save_state(state)
    state.sync()

    second = PromptPanel()
    qtbot.addWidget(second)
    second.restore_state(UiState(tmp_path))
    request = second.build_request("p")
    assert request == first.build_request("p")
    assert request.styles == ("Watercolor", "Cinematic")
    assert (request.batch_count, request.batch_size) == (3, 2)
    assert (request.enable_hr, request.hr_scale, request.hr_upscaler,
            request.hr_second_pass_steps, request.denoising_strength) == \
        (True, 1.75, "R-ESRGAN 4x+", 8, 0.35)
    assert (request.subseed, request.subseed_strength) == (4_000_000_000, 0.2)
    assert second.hires_group.is_open()
    assert second.hires_group.final_label.text() == "512×768 → 896×1344"


def test_a_click_on_a_styles_name_or_its_box_toggles_it_once(qtbot):
    from dlx_art.generation.types import StyleInfo, Toolbox

    panel = PromptPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_toolbox(Toolbox([], [], [StyleInfo("Cinematic", "cinematic {prompt}", "cartoon"),
                                       StyleInfo("Watercolor")], [], []))
    popup = panel.open_toolbox("styles")
    qtbot.waitExposed(popup)
    view = popup.style_browser.list
    item = view.item(0)
    rect = view.visualItemRect(item)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.styles() == ["Cinematic"]  # the name
    QTest.qWait(20)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.styles() == []
    QTest.qWait(20)
    box = rect.topLeft() + type(rect.topLeft())(10, rect.height() // 2)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=box)
    assert panel.styles() == ["Cinematic"]  # the box: once, not twice
    QTest.qWait(20)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.styles() == []
    popup.hide()


def test_reuse_of_a_refinement_says_its_denoising_strength_is_not_restored(qtbot):
    from types import SimpleNamespace

    panel = PromptPanel()
    qtbot.addWidget(panel)
    infotext = ("a castle\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 64x64, "
                "Model: m, Denoising strength: 0.6")
    asset = SimpleNamespace(prompt="a castle", negative="", model="m", sampler="Euler a",
                            scheduler=None, steps=20, cfgScale=7.0, width=64, height=64,
                            seed=5, infotext=infotext)
    panel.hires_group.enable_box.setChecked(True)
    notes = panel.apply_asset(asset)
    assert not panel.hires_group.enabled()  # the image had no hires fix
    assert any("denoising strength (of a refinement)" in n for n in notes)
    assert not any("styles" in n for n in notes)  # no styles chosen: nothing to say
