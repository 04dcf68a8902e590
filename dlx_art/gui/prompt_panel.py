"""The prompt panel: the form that becomes a `GenerationRequest`.

Checkpoint, sampler and scheduler lists come from the backend status (polled off the GUI
thread by the main window); until a server answered, the panel offers common defaults and
keeps whatever was chosen last time, so a saved choice is never lost to a server that is down.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dlx_art.errors import UsageError
from dlx_art.generation.types import (
    MAX_CFG_SCALE,
    MAX_IMAGES,
    MAX_STEPS,
    BackendChoice,
    GenerationRequest,
    Kind,
)
from dlx_art.gui.prompt_extras import PromptExtras
from dlx_art.gui.reuse import request_params_of, reuse_notes
from dlx_art.gui.spin_boxes import CheckedDoubleSpinBox, CheckedSpinBox

log = logging.getLogger("dlx_art.gui.prompt_panel")

MIN_SIZE, MAX_SIZE = 64, 2048
SEED_MAX = 2**32 - 1
DEFAULT_SAMPLERS = ["DPM++ 2M", "Euler a", "Euler", "DPM++ SDE", "DDIM", "UniPC"]
DEFAULT_SCHEDULERS = ["automatic", "karras", "exponential", "uniform"]
SIZE_PRESETS = [
    ("Square 512", 512, 512),
    ("Square 768", 768, 768),
    ("Square 1024", 1024, 1024),
    ("Portrait 512×768", 512, 768),
    ("Landscape 768×512", 768, 512),
    ("Portrait 832×1216", 832, 1216),
    ("Landscape 1216×832", 1216, 832),
    ("Wide 1344×768", 1344, 768),
]
CUSTOM_SIZE = "Custom"
SEED_MODES = [("random", "Random"), ("fixed", "Fixed"), ("reuse", "Reuse last")]
BACKENDS = [(BackendChoice.auto, "Automatic"),
            (BackendChoice.a1111, "AUTOMATIC1111 only"),
            (BackendChoice.hf, "Hugging Face only")]
BACKEND_TIPS = {
    BackendChoice.auto: "AUTOMATIC1111 first; Hugging Face when it is busy or not reachable",
    BackendChoice.a1111: "Only AUTOMATIC1111: fail rather than fall back",
    BackendChoice.hf: "Only the Hugging Face Inference API",
}
SERVER_MODEL = "Server default"


def round8(value: int) -> int:
    """Nearest multiple of 8 inside the allowed size range."""
    return max(MIN_SIZE, min(MAX_SIZE, int(round(value / 8.0)) * 8))


def scheduler_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


class SizeSpinBox(CheckedSpinBox):
    """A pixel size that only accepts multiples of 8 (typed values are rounded, typed values
    out of range are clamped with a message)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRange(MIN_SIZE, MAX_SIZE)
        self.setSingleStep(8)
        self.setValue(512)
        self.setAccelerated(True)
        self.editingFinished.connect(self._snap)

    def validate(self, text: str, pos: int) -> object:
        state = super().validate(text, pos)
        result = state[0] if isinstance(state, tuple) else state
        if result == QValidator.State.Acceptable:
            value = self.valueFromText(text)
            if value % 8:
                return QValidator.State.Intermediate
        return state

    def fixup(self, text: str) -> str:
        clamped = super().fixup(text)  # out of range: the limit, with a message
        if clamped != text:
            return clamped
        try:
            value = int("".join(ch for ch in text if ch.isdigit()) or MIN_SIZE)
        except ValueError:
            value = self.value()
        return str(round8(value))

    def set_size(self, value: int) -> None:
        self.setValue(round8(value))

    @Slot()
    def _snap(self) -> None:
        if self.value() % 8:
            self.setValue(round8(self.value()))


class PromptPanel(PromptExtras, QWidget):
    """Prompt, negative prompt and every generation parameter.

    Signals:
        generate_requested(): the Generate button was pressed.
        interrupt_requested(): Interrupt (beside Generate) was pressed: cancel the running job.
        skip_requested(): Skip was pressed: end the batch's current image, go on with the next.
        refresh_requested(): the person asked to reload the backend lists.
        toolbox_wanted(bool): load the server's LoRAs, embeddings, styles and upscalers (True:
            let the server rescan its folders first); answered with `set_toolbox`.
    """

    generate_requested = Signal()
    refresh_requested = Signal()
    interrupt_requested = Signal()
    skip_requested = Signal()
    toolbox_wanted = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("promptPanel")
        self._last_seed: int | None = None
        self._current_model: str | None = None
        self._build()
        self.set_catalogue([], DEFAULT_SAMPLERS, DEFAULT_SCHEDULERS, None)
        self._on_seed_mode_changed()

    # --- construction -------------------------------------------------------------------------

    def _build(self) -> None:
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setObjectName("promptEdit")
        self.prompt_edit.setPlaceholderText("Describe the image you want… (Ctrl+Enter generates)")
        self.prompt_edit.setTabChangesFocus(True)
        self.prompt_edit.setMinimumHeight(96)
        self.prompt_edit.setAccessibleName("Prompt")

        self.negative_edit = QPlainTextEdit()
        self.negative_edit.setObjectName("negativePromptEdit")
        self.negative_edit.setPlaceholderText("What to keep out of the image (optional)")
        self.negative_edit.setTabChangesFocus(True)
        self.negative_edit.setMinimumHeight(56)
        self.negative_edit.setMaximumHeight(110)
        self.negative_edit.setAccessibleName("Negative prompt")

        self.model_combo = QComboBox()
        self.model_combo.setObjectName("modelCombo")
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(12)
        self.model_combo.setAccessibleName("Checkpoint")
        self.refresh_button = QToolButton()
        self.refresh_button.setObjectName("refreshBackendsButton")
        self.refresh_button.setText("⟳")
        self.refresh_button.setToolTip("Reload models, samplers and schedulers from the server")
        self.refresh_button.setAccessibleName("Reload backend lists")
        self.refresh_button.clicked.connect(self.refresh_requested)

        self.sampler_combo = QComboBox()
        self.sampler_combo.setObjectName("samplerCombo")
        self.sampler_combo.setAccessibleName("Sampler")
        self.scheduler_combo = QComboBox()
        self.scheduler_combo.setObjectName("schedulerCombo")
        self.scheduler_combo.setAccessibleName("Scheduler")
        for combo in (self.sampler_combo, self.scheduler_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)

        # the ranges GenerationRequest accepts; a typed value beyond them is clamped visibly
        self.steps_spin = CheckedSpinBox()
        self.steps_spin.setObjectName("stepsSpin")
        self.steps_spin.setRange(1, MAX_STEPS)
        self.steps_spin.setValue(20)
        self.steps_spin.setAccessibleName("Steps")
        self.cfg_spin = CheckedDoubleSpinBox()
        self.cfg_spin.setObjectName("cfgSpin")
        self.cfg_spin.setRange(0.0, MAX_CFG_SCALE)
        self.cfg_spin.setSingleStep(0.5)
        self.cfg_spin.setDecimals(1)
        self.cfg_spin.setValue(7.0)
        self.cfg_spin.setAccessibleName("CFG scale")
        self.cfg_spin.setToolTip("How strictly the image follows the prompt (CFG scale)")

        self.size_combo = QComboBox()
        self.size_combo.setObjectName("sizePresetCombo")
        for label, w, h in SIZE_PRESETS:
            self.size_combo.addItem(label, (w, h))
        self.size_combo.addItem(CUSTOM_SIZE, None)
        self.size_combo.setAccessibleName("Size preset")
        self.width_spin = SizeSpinBox()
        self.width_spin.setObjectName("widthSpin")
        self.width_spin.setAccessibleName("Width")
        self.width_spin.setToolTip("Width in pixels (a multiple of 8)")
        self.height_spin = SizeSpinBox()
        self.height_spin.setObjectName("heightSpin")
        self.height_spin.setAccessibleName("Height")
        self.height_spin.setToolTip("Height in pixels (a multiple of 8)")
        self.swap_button = QToolButton()
        self.swap_button.setObjectName("swapSizeButton")
        self.swap_button.setText("⇄")
        self.swap_button.setToolTip("Swap width and height")
        self.swap_button.setAccessibleName("Swap width and height")

        self.seed_mode_combo = QComboBox()
        self.seed_mode_combo.setObjectName("seedModeCombo")
        for key, label in SEED_MODES:
            self.seed_mode_combo.addItem(label, key)
        self.seed_mode_combo.setAccessibleName("Seed mode")
        self.seed_spin = CheckedDoubleSpinBox()  # seeds go up to 2**32 - 1: beyond a QSpinBox
        self.seed_spin.setObjectName("seedSpin")
        self.seed_spin.setDecimals(0)
        self.seed_spin.setRange(-1, SEED_MAX)
        self.seed_spin.setValue(-1)
        self.seed_spin.setSpecialValueText("Random")
        self.seed_spin.setAccessibleName("Seed")
        self.seed_spin.setKeyboardTracking(False)

        self.batch_spin = CheckedSpinBox()
        self.batch_spin.setObjectName("batchSpin")
        self.batch_spin.setRange(1, MAX_IMAGES)
        self.batch_spin.setValue(1)
        self.batch_spin.setAccessibleName("Batch count")
        self.batch_spin.setToolTip("Batch count: how many batches to make, one after the other")

        self.backend_combo = QComboBox()
        self.backend_combo.setObjectName("backendCombo")
        for choice, label in BACKENDS:
            self.backend_combo.addItem(label, choice.value)
            self.backend_combo.setItemData(self.backend_combo.count() - 1, BACKEND_TIPS[choice],
                                           Qt.ItemDataRole.ToolTipRole)
        self.backend_combo.setAccessibleName("Backend")
        self._build_extras()  # toolbox buttons, styles, hires fix, variations, batch size

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.setToolTip("Generate (Ctrl+Enter)")
        self.generate_button.setDefault(False)
        self.generate_button.setAutoDefault(False)
        self.generate_button.setMinimumHeight(36)
        self.generate_button.clicked.connect(self.generate_requested)
        # While a job runs, Interrupt (and Skip for batches) sit beside Generate, as in A1111;
        # Generate then says it queues (see `show_jobs`).
        self.interrupt_button = QPushButton("Interrupt")
        self.interrupt_button.setObjectName("interruptButton")
        self.interrupt_button.setToolTip("Stop the running job (the queued ones still run)")
        self.skip_button = QPushButton("Skip")
        self.skip_button.setObjectName("skipButton")
        self.skip_button.setToolTip("End the image being made now and go on with the next one "
                                    "of the batch (AUTOMATIC1111)")
        for button in (self.interrupt_button, self.skip_button):
            button.setAutoDefault(False)
            button.setMinimumHeight(30)
            button.hide()
        self.interrupt_button.clicked.connect(self.interrupt_requested)
        self.skip_button.clicked.connect(self.skip_requested)

        self.hint_label = QLabel()
        self.hint_label.setObjectName("promptHint")
        self.hint_label.setWordWrap(True)
        self.hint_label.setVisible(False)

        # layout
        form = QWidget()
        form.setObjectName("promptForm")
        outer = QVBoxLayout(form)
        outer.setContentsMargins(10, 8, 10, 10)
        outer.setSpacing(6)

        outer.addWidget(_section("Prompt"))
        outer.addWidget(self.prompt_edit, 3)
        outer.addLayout(self.tool_row)
        outer.addWidget(_section("Negative prompt"))
        outer.addWidget(self.negative_edit, 1)
        outer.addWidget(self.style_chips)

        outer.addSpacing(4)
        outer.addWidget(_section("Model"))
        model_row = QHBoxLayout()
        model_row.setSpacing(4)
        model_row.addWidget(self.model_combo, 1)
        model_row.addWidget(self.refresh_button)
        outer.addLayout(model_row)

        grid = QFormLayout()
        grid.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        grid.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        grid.addRow("Sampler", self.sampler_combo)
        grid.addRow("Scheduler", self.scheduler_combo)
        steps_row = QHBoxLayout()
        steps_row.setSpacing(8)
        steps_row.addWidget(self.steps_spin, 1)
        cfg_label = QLabel("CFG")
        cfg_label.setBuddy(self.cfg_spin)
        steps_row.addWidget(cfg_label)
        steps_row.addWidget(self.cfg_spin, 1)
        grid.addRow("Steps", steps_row)

        grid.addRow("Size", self.size_combo)
        size_row = QHBoxLayout()
        size_row.setSpacing(4)
        size_row.addWidget(self.width_spin, 1)
        times = QLabel("×")
        times.setAlignment(Qt.AlignmentFlag.AlignCenter)
        size_row.addWidget(times)
        size_row.addWidget(self.height_spin, 1)
        size_row.addWidget(self.swap_button)
        grid.addRow("", size_row)

        seed_row = QHBoxLayout()
        seed_row.setSpacing(4)
        seed_row.addWidget(self.seed_mode_combo)
        seed_row.addWidget(self.seed_spin, 1)
        grid.addRow("Seed", seed_row)
        batch_row = QHBoxLayout()
        batch_row.setSpacing(4)
        batch_row.addWidget(self.batch_spin, 1)
        times = QLabel("×")
        times.setAlignment(Qt.AlignmentFlag.AlignCenter)
        batch_row.addWidget(times)
        batch_row.addWidget(self.batch_size_spin, 1)
        grid.addRow("Batches", batch_row)
        grid.addRow("Backend", self.backend_combo)
        for row in range(grid.rowCount()):
            item = grid.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if item is not None and isinstance(item.widget(), QLabel):
                item.widget().setProperty("role", "formLabel")
        outer.addWidget(_section("Parameters"))
        outer.addLayout(grid)
        outer.addSpacing(2)
        outer.addWidget(self.hires_group)
        outer.addWidget(self.variation_group)
        outer.addStretch(0)

        for combo in (self.size_combo, self.seed_mode_combo, self.backend_combo):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(6)
        scroll = QScrollArea()
        scroll.setObjectName("promptScroll")
        scroll.setWidget(form)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # never narrower than the form: nothing is clipped on the right
        scroll.setMinimumWidth(form.minimumSizeHint().width()
                               + scroll.verticalScrollBar().sizeHint().width())

        footer = QWidget()
        footer.setObjectName("promptFooter")
        footer_layout = QVBoxLayout(footer)
        footer_layout.setContentsMargins(10, 6, 10, 10)
        footer_layout.setSpacing(6)
        footer_layout.addWidget(self.a1111_warning)
        footer_layout.addWidget(self.hint_label)
        # Interrupt and Skip right above Generate (a row of their own, so the panel keeps its
        # width), shown only while a job runs
        running_row = QHBoxLayout()
        running_row.setSpacing(6)
        running_row.addWidget(self.interrupt_button, 1)
        running_row.addWidget(self.skip_button, 1)
        footer_layout.addLayout(running_row)
        footer_layout.addWidget(self.generate_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(scroll, 1)
        layout.addWidget(footer)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

        self.size_combo.currentIndexChanged.connect(self._on_size_combo_changed)
        self.width_spin.valueChanged.connect(self._sync_size_preset)
        self.height_spin.valueChanged.connect(self._sync_size_preset)
        self.swap_button.clicked.connect(self._on_swap_clicked)
        self.seed_mode_combo.currentIndexChanged.connect(self._on_seed_mode_changed)
        self.seed_spin.valueChanged.connect(self._on_seed_spin_changed)
        self.width_spin.valueChanged.connect(self._on_base_size_changed)
        self.height_spin.valueChanged.connect(self._on_base_size_changed)
        for box in (self.steps_spin, self.cfg_spin, self.batch_spin, self.width_spin,
                    self.height_spin, self.seed_spin, self.batch_size_spin,
                    *self.hires_group.spins, *self.variation_group.spins):
            box.out_of_range.connect(self.set_hint)
            box.value_accepted.connect(self._on_value_accepted)

    # --- backend lists ------------------------------------------------------------------------

    def set_catalogue(self, models: list[str], samplers: list[str], schedulers: list[str],
                      current_model: str | None) -> None:
        """Fill the lists from a backend status; the current choices are kept when possible."""
        self._current_model = current_model
        model = self.model()
        with QSignalBlocker(self.model_combo):
            self.model_combo.clear()
            label = SERVER_MODEL + (f" ({_short_model(current_model)})" if current_model else "")
            self.model_combo.addItem(label, None)
            for title in models:
                self.model_combo.addItem(title, title)
            self._select_model(model)
        self._samplers_from_server = bool(samplers)
        sampler = self.sampler_combo.currentData() or (samplers[0] if samplers else None)
        _refill(self.sampler_combo, [(s, s) for s in (samplers or DEFAULT_SAMPLERS)], sampler)
        scheduler = self.scheduler_combo.currentData() or "automatic"
        _refill(self.scheduler_combo,
                [(s, scheduler_label(s)) for s in (schedulers or DEFAULT_SCHEDULERS)], scheduler)

    def _select_model(self, model: str | None) -> None:
        if not model:
            self.model_combo.setCurrentIndex(0)
            return
        index = _find_model(self.model_combo, model)
        if index < 0:  # chosen earlier but the server does not list it (now): keep it
            # ... marked, so it is never mistaken for an installed model
            self.model_combo.addItem(f"{model} (missing on the server)", model)
            index = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(index)

    # --- values -------------------------------------------------------------------------------

    def prompt(self) -> str:
        return self.prompt_edit.toPlainText().strip()

    def negative(self) -> str:
        return self.negative_edit.toPlainText().strip()

    def model(self) -> str | None:
        data = self.model_combo.currentData()
        return data if isinstance(data, str) and data else None

    def sampler(self) -> str | None:
        data = self.sampler_combo.currentData()
        return data if isinstance(data, str) and data else None

    def scheduler(self) -> str | None:
        data = self.scheduler_combo.currentData()
        return data if isinstance(data, str) and data else None

    def seed_mode(self) -> str:
        return str(self.seed_mode_combo.currentData())

    def seed(self) -> int:
        mode = self.seed_mode()
        if mode == "fixed":
            return int(self.seed_spin.value())
        if mode == "reuse":
            return self._last_seed if self._last_seed is not None else -1
        return -1

    def backend(self) -> BackendChoice:
        return BackendChoice(self.backend_combo.currentData())

    def build_request(self, project_id: str) -> GenerationRequest:
        """The form as a request. Raises `UsageError` with a message when it is not usable."""
        prompt = self.prompt()
        if not prompt:
            raise UsageError("Type a prompt first: describe the image you want.")
        return GenerationRequest.from_params(Kind.txt2img, project_id, {
            **self.extra_params(),  # styles, hires fix, variations, batch size
            "prompt": prompt,
            "negative": self.negative(),
            "model": self.model(),
            "sampler": self.sampler(),
            "scheduler": self.scheduler(),
            "steps": self.steps_spin.value(),
            "cfg_scale": round(self.cfg_spin.value(), 2),
            "seed": self.seed(),
            "width": self.width_spin.value(),
            "height": self.height_spin.value(),
            "batch_count": self.batch_spin.value(),
            "backend": self.backend(),
        })

    def set_size(self, width: int, height: int) -> None:
        self.width_spin.set_size(width)
        self.height_spin.set_size(height)

    def set_last_seed(self, seed: int | None) -> None:
        """The seed of the newest finished image (shown and used in "Reuse last" mode)."""
        if seed is None or seed < 0:
            return
        self._last_seed = min(int(seed), SEED_MAX)
        if self.seed_mode() == "reuse":
            with QSignalBlocker(self.seed_spin):
                self.seed_spin.setValue(self._last_seed)

    def apply_asset(self, asset: Any, part: str = "all") -> list[str]:
        """Reuse an image's parameters: prompt, model, sampler, scheduler, steps, CFG, size, seed,
        and from its infotext the hires fix, variation seed and strength (and styles when named).

        `part` is "all", "prompt" (prompt and negative only) or "seed" (the seed only).
        Returns notes for the person (shown as the panel's hint too): a model or sampler the
        server does not list, and infotext settings this panel has no field for.
        """
        if part == "seed":
            if asset.seed is not None and asset.seed >= 0:
                self.seed_mode_combo.setCurrentIndex(self.seed_mode_combo.findData("fixed"))
                self.seed_spin.setValue(min(int(asset.seed), SEED_MAX))
            return []
        self.prompt_edit.setPlainText(asset.prompt or "")
        self.negative_edit.setPlainText(asset.negative or "")
        if part == "prompt":
            self.prompt_edit.setFocus(Qt.FocusReason.OtherFocusReason)
            return []
        notes = reuse_notes(self, asset)
        if asset.model:
            with QSignalBlocker(self.model_combo):
                self._select_model(asset.model)
        if asset.sampler:
            missing = any("sampler" in note for note in notes)
            _select_or_add(self.sampler_combo, asset.sampler, asset.sampler
                           + (" (missing on the server)" if missing else ""))
        if asset.scheduler:
            key = asset.scheduler.lower().replace(" ", "_")
            _select_or_add(self.scheduler_combo, key, scheduler_label(key))
        if asset.steps:
            self.steps_spin.setValue(int(asset.steps))
        if asset.cfgScale:
            self.cfg_spin.setValue(float(asset.cfgScale))
        extras = request_params_of(getattr(asset, "infotext", None))
        if extras.get("width") and extras.get("height"):  # the first pass (before hires fix)
            self.set_size(int(extras["width"]), int(extras["height"]))
        elif asset.width and asset.height:
            self.set_size(int(asset.width), int(asset.height))
        self.apply_extras(extras, styles_known="styles" in extras)
        if asset.seed is not None and asset.seed >= 0:
            self.seed_mode_combo.setCurrentIndex(self.seed_mode_combo.findData("fixed"))
            self.seed_spin.setValue(min(int(asset.seed), SEED_MAX))
        self.prompt_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self.set_hint(" ".join(notes))
        return notes

    def show_jobs(self, running: Any | None, waiting: int) -> None:
        """Show the queue beside Generate: `running` is the running `Job` (or None),
        `waiting` how many more are queued."""
        enabled = self.generate_button.isEnabled()  # else the window's tooltip says why
        if running is None and not waiting:
            self.generate_button.setText("Generate")
            if enabled:
                self.generate_button.setToolTip("Generate (Ctrl+Enter)")
        else:
            ahead = waiting + (1 if running is not None else 0)
            self.generate_button.setText(f"Add to Queue ({ahead} ahead)")
            if enabled:
                self.generate_button.setToolTip("Add this prompt to the queue (Ctrl+Enter); it "
                                                "starts when the jobs before it are done")
        self.interrupt_button.setVisible(running is not None)
        batch = running is not None and running.request.batch_count > 1
        self.skip_button.setVisible(batch)
        self.interrupt_button.setEnabled(running is not None and not running.cancel_requested)
        self.skip_button.setEnabled(batch and not running.cancel_requested)

    def watch_jobs(self, controller: Any) -> None:
        """Follow `controller` (a `JobController`): Interrupt / Skip / "Add to Queue" track it."""

        def update(*_: Any) -> None:
            # "N ahead" counts every job before a new one, another program's included
            running = controller.running_job
            self.show_jobs(running, controller.active_count() - (running is not None))

        for signal in (controller.job_added, controller.job_started, controller.job_finished,
                       controller.busy_changed, controller.job_progress,
                       controller.jobs_changed):
            signal.connect(update)
        self.interrupt_requested.connect(controller.cancel_running)
        self.skip_requested.connect(controller.skip_running)
        update()

    @Slot(str)
    def _on_value_accepted(self, earlier_message: str) -> None:
        # a value typed in range replaces that box's own "was set to" message, nothing else
        if earlier_message and self.hint_label.text() == earlier_message:
            self.set_hint("")

    def set_hint(self, text: str) -> None:
        self.hint_label.setText(text)
        self.hint_label.setVisible(bool(text))

    # --- persistence --------------------------------------------------------------------------

    def save_state(self, state: Any) -> None:
        state.set("prompt/prompt", self.prompt_edit.toPlainText())
        state.set("prompt/negative", self.negative_edit.toPlainText())
        state.set("prompt/model", self.model() or "")
        state.set("prompt/sampler", self.sampler() or "")
        state.set("prompt/scheduler", self.scheduler() or "")
        state.set("prompt/steps", self.steps_spin.value())
        state.set("prompt/cfg", self.cfg_spin.value())
        state.set("prompt/width", self.width_spin.value())
        state.set("prompt/height", self.height_spin.value())
        state.set("prompt/seed_mode", self.seed_mode())
        state.set("prompt/seed", str(int(self.seed_spin.value())))
        state.set("prompt/last_seed", "" if self._last_seed is None else str(self._last_seed))
        state.set("prompt/batch", self.batch_spin.value())
        state.set("prompt/backend", self.backend().value)
        self.save_extras(state)

    def restore_state(self, state: Any) -> None:
        self.prompt_edit.setPlainText(state.get_str("prompt/prompt"))
        self.negative_edit.setPlainText(state.get_str("prompt/negative"))
        model = state.get_str("prompt/model")
        with QSignalBlocker(self.model_combo):
            self._select_model(model or None)
        if sampler := state.get_str("prompt/sampler"):
            _select_or_add(self.sampler_combo, sampler, sampler)
        if scheduler := state.get_str("prompt/scheduler"):
            _select_or_add(self.scheduler_combo, scheduler, scheduler_label(scheduler))
        self.steps_spin.setValue(state.get_int("prompt/steps", 20))
        self.cfg_spin.setValue(state.get_float("prompt/cfg", 7.0))
        self.set_size(state.get_int("prompt/width", 512), state.get_int("prompt/height", 512))
        self.batch_spin.setValue(state.get_int("prompt/batch", 1))
        last = state.get_str("prompt/last_seed")
        self._last_seed = int(last) if last.isdigit() else None
        mode = state.get_str("prompt/seed_mode", "random")
        index = self.seed_mode_combo.findData(mode)
        self.seed_mode_combo.setCurrentIndex(max(0, index))
        seed = state.get_str("prompt/seed", "-1")
        try:
            seed_value = int(seed)
        except ValueError:
            seed_value = -1
        if mode == "fixed":
            self.seed_spin.setValue(seed_value)
        self._on_seed_mode_changed()
        backend = self.backend_combo.findData(state.get_str("prompt/backend", "auto"))
        self.backend_combo.setCurrentIndex(max(0, backend))
        self.restore_extras(state)

    # --- slots --------------------------------------------------------------------------------

    @Slot(int)
    def _on_size_combo_changed(self, _index: int) -> None:
        data = self.size_combo.currentData()
        if data is None:
            return
        w, h = data
        with QSignalBlocker(self.width_spin), QSignalBlocker(self.height_spin):
            self.width_spin.setValue(w)
            self.height_spin.setValue(h)
        self._on_base_size_changed()

    @Slot()
    def _on_base_size_changed(self, *_args: Any) -> None:
        self.hires_group.set_base_size(self.width_spin.value(), self.height_spin.value())

    @Slot()
    def _sync_size_preset(self) -> None:
        size = (self.width_spin.value(), self.height_spin.value())
        index = next((i for i in range(self.size_combo.count())
                      if self.size_combo.itemData(i) == size), self.size_combo.count() - 1)
        with QSignalBlocker(self.size_combo):
            self.size_combo.setCurrentIndex(index)

    @Slot()
    def _on_swap_clicked(self) -> None:
        w, h = self.width_spin.value(), self.height_spin.value()
        with QSignalBlocker(self.width_spin), QSignalBlocker(self.height_spin):
            self.width_spin.setValue(h)
            self.height_spin.setValue(w)
        self._on_base_size_changed()
        self._sync_size_preset()

    @Slot()
    def _on_seed_mode_changed(self) -> None:
        mode = self.seed_mode()
        with QSignalBlocker(self.seed_spin):
            if mode == "random":
                self.seed_spin.setValue(-1)
            elif mode == "reuse":
                self.seed_spin.setValue(self._last_seed if self._last_seed is not None else -1)
            elif self.seed_spin.value() < 0:
                self.seed_spin.setValue(self._last_seed if self._last_seed is not None else 0)
        self.seed_spin.setEnabled(mode == "fixed")
        tips = {"random": "A new random seed for every image",
                "fixed": "Use this seed (same seed + same settings = same image)",
                "reuse": "Use the seed of the last image generated"}
        self.seed_spin.setToolTip(tips[mode])
        if mode == "reuse" and self._last_seed is None:
            self.seed_spin.setSpecialValueText("No image yet")
        else:
            self.seed_spin.setSpecialValueText("Random")

    @Slot(float)
    def _on_seed_spin_changed(self, value: float) -> None:
        if value >= 0 and self.seed_mode() == "random":
            with QSignalBlocker(self.seed_mode_combo):
                self.seed_mode_combo.setCurrentIndex(self.seed_mode_combo.findData("fixed"))
            self.seed_spin.setEnabled(True)


def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "section")
    return label


def _short_model(title: str) -> str:
    name = title.split(" [", 1)[0]
    name = name.rsplit("/", 1)[-1]
    for ext in (".safetensors", ".ckpt"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    return name


def _find_model(combo: QComboBox, model: str) -> int:
    """Index of `model` (a title like "x.safetensors [hash]" or a short name like "x")."""
    wanted = model.strip()
    short = _short_model(wanted).lower()
    for i in range(1, combo.count()):
        title = combo.itemData(i)
        if not isinstance(title, str):
            continue
        if title == wanted:
            return i
    for i in range(1, combo.count()):
        title = combo.itemData(i)
        if isinstance(title, str) and _short_model(title).lower() == short:
            return i
    return -1


def _refill(combo: QComboBox, items: list[tuple[str, str]], selected: str | None) -> None:
    with QSignalBlocker(combo):
        combo.clear()
        for data, label in items:
            combo.addItem(label, data)
        if selected is not None:
            _select_or_add(combo, selected, selected)
        elif combo.count():
            combo.setCurrentIndex(0)


def _select_or_add(combo: QComboBox, data: str, label: str) -> None:
    index = combo.findData(data)
    if index < 0:
        lowered = data.lower()
        index = next((i for i in range(combo.count())
                      if str(combo.itemData(i)).lower() == lowered), -1)
    if index < 0:
        combo.addItem(label, data)
        index = combo.count() - 1
    combo.setCurrentIndex(index)
