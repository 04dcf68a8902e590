"""The prompt panel: form values → GenerationRequest, sizes, seeds, reuse, persistence."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QPlainTextEdit, QPushButton, QSpinBox

from dlx_art.errors import UsageError
from dlx_art.generation.types import BackendChoice, Kind
from dlx_art.gui.prompt_panel import PromptPanel, round8
from dlx_art.gui.state import UiState

pytestmark = pytest.mark.gui


@pytest.fixture
def panel(qtbot):
    widget = PromptPanel()
    qtbot.addWidget(widget)
    widget.resize(340, 760)
    widget.show()
    return widget


def test_object_names_and_types(panel):
    expected = {
        "promptEdit": QPlainTextEdit, "negativePromptEdit": QPlainTextEdit,
        "modelCombo": QComboBox, "samplerCombo": QComboBox, "schedulerCombo": QComboBox,
        "stepsSpin": QSpinBox, "cfgSpin": QDoubleSpinBox, "seedSpin": QDoubleSpinBox,
        "widthSpin": QSpinBox, "heightSpin": QSpinBox, "batchSpin": QSpinBox,
        "generateButton": QPushButton,
    }
    for name, cls in expected.items():
        widget = panel.findChild(cls, name)
        assert widget is not None, name


def test_form_maps_to_request(panel):
    panel.set_catalogue(["a.safetensors [1]", "b.safetensors [2]"], ["Euler a", "DPM++ 2M"],
                        ["automatic", "karras"], "a.safetensors [1]")
    panel.prompt_edit.setPlainText("  a red fox in snow \n")
    panel.negative_edit.setPlainText("blurry")
    panel.model_combo.setCurrentIndex(panel.model_combo.findData("b.safetensors [2]"))
    panel.sampler_combo.setCurrentIndex(panel.sampler_combo.findData("Euler a"))
    panel.scheduler_combo.setCurrentIndex(panel.scheduler_combo.findData("karras"))
    panel.steps_spin.setValue(33)
    panel.cfg_spin.setValue(5.5)
    panel.set_size(768, 512)
    panel.seed_mode_combo.setCurrentIndex(panel.seed_mode_combo.findData("fixed"))
    panel.seed_spin.setValue(4_000_000_000)  # above 2**31: A1111 seeds are unsigned 32-bit
    panel.batch_spin.setValue(3)
    panel.backend_combo.setCurrentIndex(panel.backend_combo.findData("a1111"))

    request = panel.build_request("project-1")

    assert request.project_id == "project-1"
    assert request.kind is Kind.txt2img
    assert request.prompt == "a red fox in snow"
    assert request.negative == "blurry"
    assert request.model == "b.safetensors [2]"
    assert (request.sampler, request.scheduler) == ("Euler a", "karras")
    assert (request.steps, request.cfg_scale) == (33, 5.5)
    assert (request.width, request.height) == (768, 512)
    assert request.seed == 4_000_000_000
    assert (request.batch_count, request.batch_size) == (3, 1)
    assert request.backend is BackendChoice.a1111


def test_server_model_means_none(panel):
    panel.set_catalogue(["a.safetensors [1]"], [], [], "a.safetensors [1]")
    panel.prompt_edit.setPlainText("x")
    assert panel.model_combo.currentIndex() == 0
    assert "a" in panel.model_combo.currentText()
    assert panel.build_request("p").model is None


def test_empty_prompt_is_refused(panel):
    with pytest.raises(UsageError, match="prompt"):
        panel.build_request("p")


def test_sizes_are_multiples_of_8(panel, qtbot):
    assert panel.width_spin.singleStep() == 8
    panel.width_spin.lineEdit().selectAll()
    QTest.keyClicks(panel.width_spin.lineEdit(), "517")
    QTest.keyClick(panel.width_spin.lineEdit(), Qt.Key.Key_Return)
    assert panel.width_spin.value() == 520
    panel.height_spin.setValue(300)  # programmatic values are snapped on editing end too
    panel.height_spin.editingFinished.emit()
    assert panel.height_spin.value() == 304
    panel.prompt_edit.setPlainText("x")
    request = panel.build_request("p")
    assert request.width % 8 == 0 and request.height % 8 == 0
    assert [round8(v) for v in (1, 63, 65, 515, 517, 9999)] == [64, 64, 64, 512, 520, 2048]


def test_size_presets_and_swap(panel):
    index = next(i for i in range(panel.size_combo.count())
                 if panel.size_combo.itemData(i) == (832, 1216))
    panel.size_combo.setCurrentIndex(index)
    assert (panel.width_spin.value(), panel.height_spin.value()) == (832, 1216)
    panel.swap_button.click()
    assert (panel.width_spin.value(), panel.height_spin.value()) == (1216, 832)
    assert panel.size_combo.currentData() == (1216, 832)
    panel.set_size(640, 520)
    assert panel.size_combo.currentText() == "Custom"


def test_seed_modes(panel):
    panel.prompt_edit.setPlainText("x")
    assert panel.seed_mode() == "random"
    assert not panel.seed_spin.isEnabled()
    assert panel.build_request("p").seed == -1

    panel.set_last_seed(1234)
    panel.seed_mode_combo.setCurrentIndex(panel.seed_mode_combo.findData("reuse"))
    assert panel.seed_spin.value() == 1234
    assert panel.build_request("p").seed == 1234
    panel.set_last_seed(999)  # a newer image: "reuse last" follows it
    assert panel.build_request("p").seed == 999

    panel.seed_mode_combo.setCurrentIndex(panel.seed_mode_combo.findData("fixed"))
    assert panel.seed_spin.isEnabled()
    panel.seed_spin.setValue(42)
    assert panel.build_request("p").seed == 42

    panel.seed_mode_combo.setCurrentIndex(panel.seed_mode_combo.findData("random"))
    assert panel.build_request("p").seed == -1


def test_apply_asset_reuses_parameters(panel):
    panel.set_catalogue(["v1-5-pruned-emaonly.safetensors [6ce0161689]", "other.ckpt"],
                        ["Euler", "DPM++ 2M"], ["automatic", "karras"], None)
    asset = SimpleNamespace(prompt="a lighthouse", negative="fog", model="v1-5-pruned-emaonly",
                            sampler="DPM++ 2M", scheduler="Karras", steps=28, cfgScale=6.5,
                            width=640, height=448, seed=3_900_000_000)
    panel.apply_asset(asset)
    request = panel.build_request("p")
    assert request.prompt == "a lighthouse" and request.negative == "fog"
    assert request.model == "v1-5-pruned-emaonly.safetensors [6ce0161689]"
    assert (request.sampler, request.scheduler) == ("DPM++ 2M", "karras")
    assert (request.steps, request.cfg_scale) == (28, 6.5)
    assert (request.width, request.height) == (640, 448)
    assert request.seed == 3_900_000_000
    assert panel.seed_mode() == "fixed"


def test_catalogue_refresh_keeps_choices(panel):
    panel.set_catalogue(["a [1]", "b [2]"], ["Euler", "LMS"], ["automatic"], None)
    panel.model_combo.setCurrentIndex(panel.model_combo.findData("b [2]"))
    panel.sampler_combo.setCurrentIndex(panel.sampler_combo.findData("LMS"))
    panel.set_catalogue(["c [3]", "b [2]"], ["LMS", "Euler"], ["automatic"], "c [3]")
    assert panel.model() == "b [2]"
    assert panel.sampler() == "LMS"
    panel.set_catalogue([], [], [], None)  # the server went away: the choice is kept
    assert panel.model() == "b [2]"


def test_values_persist(qtbot, tmp_path):
    first = PromptPanel()
    qtbot.addWidget(first)
    first.prompt_edit.setPlainText("castle at dusk")
    first.negative_edit.setPlainText("people")
    first.steps_spin.setValue(40)
    first.cfg_spin.setValue(9.0)
    first.set_size(1024, 768)
    first.batch_spin.setValue(4)
    first.seed_mode_combo.setCurrentIndex(first.seed_mode_combo.findData("fixed"))
    first.seed_spin.setValue(3_000_000_001)
    first.set_catalogue(["m [1]"], ["Heun"], ["karras"], None)
    first.model_combo.setCurrentIndex(first.model_combo.findData("m [1]"))
    first.sampler_combo.setCurrentIndex(first.sampler_combo.findData("Heun"))
    first.backend_combo.setCurrentIndex(first.backend_combo.findData("hf"))
    state = UiState(tmp_path)
    first.save_state(state)
    state.sync()

    second = PromptPanel()  # no server lists yet: the saved choices must still come back
    qtbot.addWidget(second)
    second.restore_state(UiState(tmp_path))
    assert second.build_request("p") == first.build_request("p")
