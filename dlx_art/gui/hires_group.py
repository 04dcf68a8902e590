"""The prompt panel's A1111-only groups: hires fix and variations.

Both are collapsible and off by default; their values become the request's `enable_hr`,
`hr_scale`, `hr_upscaler`, `hr_second_pass_steps`, `denoising_strength` and `subseed`,
`subseed_strength` (see `params`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLabel, QWidget

from dlx_art.generation.types import MAX_HR_SCALE, MAX_STEPS, MIN_HR_SCALE, SEED_MAX
from dlx_art.gui.panel_parts import CollapsibleSection
from dlx_art.gui.spin_boxes import CheckedDoubleSpinBox, CheckedSpinBox

#: What the upscaler list offers until a server answered (A1111's latent modes and the
#: upscalers every install has).
DEFAULT_HIRES_UPSCALERS = ["Latent", "Latent (antialiased)", "Latent (bicubic)",
                           "Latent (bicubic antialiased)", "Latent (nearest)",
                           "Latent (nearest-exact)", "Lanczos", "Nearest"]
DEFAULT_HIRES_DENOISE = 0.7
#: The strength "More like this" uses when the panel's variation strength is 0 (off).
DEFAULT_VARIATION_STRENGTH = 0.3


def hires_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The final size of a hires-fixed image, as A1111 computes it (`int(side * scale)`)."""
    return int(width * scale), int(height * scale)


def _form(body: QWidget) -> QFormLayout:
    form = QFormLayout(body)
    form.setContentsMargins(8, 0, 0, 4)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setHorizontalSpacing(8)
    form.setVerticalSpacing(6)
    return form


def _mark_labels(form: QFormLayout) -> None:
    for row in range(form.rowCount()):
        item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        if item is not None and isinstance(item.widget(), QLabel):
            item.widget().setProperty("role", "formLabel")


class HiresGroup(CollapsibleSection):
    """Hires fix: a second pass that upscales the image and adds detail (A1111 only).

    Signals:
        changed(): a value changed (the panel re-checks what needs AUTOMATIC1111).
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Hires fix", "hiresGroup", a1111_only=True, parent=parent)
        self._base = (512, 512)
        self._from_server = False  # the upscaler list came from a server (else the defaults)
        self.enable_box = QCheckBox("Upscale in a second pass")
        self.enable_box.setObjectName("hiresEnable")
        self.enable_box.setToolTip("Make the image at the size above, then upscale it and "
                                   "let the model add detail (A1111 hires fix)")
        self.scale_spin = CheckedDoubleSpinBox()
        self.scale_spin.setObjectName("hiresScale")
        self.scale_spin.setRange(MIN_HR_SCALE, MAX_HR_SCALE)
        self.scale_spin.setSingleStep(0.25)
        self.scale_spin.setDecimals(2)
        self.scale_spin.setValue(2.0)
        self.scale_spin.setSuffix(" ×")
        self.scale_spin.setAccessibleName("Hires scale")
        self.upscaler_combo = QComboBox()
        self.upscaler_combo.setObjectName("hiresUpscaler")
        self.upscaler_combo.setAccessibleName("Hires upscaler")
        self.upscaler_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.upscaler_combo.setMinimumContentsLength(8)
        self.upscaler_combo.setToolTip("Latent modes upscale inside the model; the others "
                                       "upscale the picture first")
        self.steps_spin = CheckedSpinBox()
        self.steps_spin.setObjectName("hiresSteps")
        self.steps_spin.setRange(0, MAX_STEPS)
        self.steps_spin.setSpecialValueText("Same as Steps")
        self.steps_spin.setAccessibleName("Hires steps")
        self.steps_spin.setToolTip("Steps of the second pass (0 = as many as Steps)")
        self.denoise_spin = CheckedDoubleSpinBox()
        self.denoise_spin.setObjectName("hiresDenoise")
        self.denoise_spin.setRange(0.0, 1.0)
        self.denoise_spin.setSingleStep(0.05)
        self.denoise_spin.setDecimals(2)
        self.denoise_spin.setValue(DEFAULT_HIRES_DENOISE)
        self.denoise_spin.setAccessibleName("Hires denoising strength")
        self.denoise_spin.setToolTip("How much the second pass may change the picture "
                                     "(denoising strength)")
        self.final_label = QLabel()
        self.final_label.setObjectName("hiresFinalSize")
        self.final_label.setAccessibleName("Final size")

        form = _form(self.body)
        form.addRow(self.enable_box)
        form.addRow("Scale", self.scale_spin)
        form.addRow("Upscaler", self.upscaler_combo)
        form.addRow("Steps", self.steps_spin)
        form.addRow("Denoise", self.denoise_spin)
        form.addRow("Size", self.final_label)
        _mark_labels(form)
        self.spins = (self.scale_spin, self.steps_spin, self.denoise_spin)

        self.set_upscalers([])
        self.enable_box.toggled.connect(self._update)
        self.scale_spin.valueChanged.connect(self._update)
        for widget in (self.upscaler_combo,):
            widget.currentIndexChanged.connect(self.changed)
        self._update()

    # --- values -------------------------------------------------------------------------------

    def enabled(self) -> bool:
        return self.enable_box.isChecked()

    def upscaler(self) -> str:
        return str(self.upscaler_combo.currentData() or "Latent")

    def final_size(self) -> tuple[int, int]:
        return hires_size(*self._base, self.scale_spin.value())

    def params(self) -> dict[str, Any]:
        """The request fields; the hires denoise only when the hires fix is on."""
        values: dict[str, Any] = {
            "enable_hr": self.enabled(),
            "hr_scale": round(self.scale_spin.value(), 2),
            "hr_upscaler": self.upscaler(),
            "hr_second_pass_steps": self.steps_spin.value(),
        }
        if self.enabled():
            values["denoising_strength"] = round(self.denoise_spin.value(), 2)
        return values

    def set_base_size(self, width: int, height: int) -> None:
        """The first-pass size (the panel's width and height)."""
        self._base = (width, height)
        self._update()

    def set_upscalers(self, names: list[str]) -> None:
        """Fill the upscaler list (latent modes first); the current choice is kept."""
        current = self.upscaler_combo.currentData() or "Latent"
        self._from_server = bool(names)
        with QSignalBlocker(self.upscaler_combo):
            self.upscaler_combo.clear()
            for name in names or DEFAULT_HIRES_UPSCALERS:
                self.upscaler_combo.addItem(name, name)
            self.select_upscaler(str(current))

    def select_upscaler(self, name: str) -> None:
        index = self.upscaler_combo.findData(name)
        if index < 0:  # chosen earlier, not on this server (or no server yet): keep it, marked
            missing = self._from_server
            self.upscaler_combo.addItem(name + (" (missing on the server)" if missing else ""),
                                        name)
            index = self.upscaler_combo.count() - 1
        self.upscaler_combo.setCurrentIndex(index)

    def apply(self, values: Mapping[str, Any]) -> None:
        """Set the fields from request-style `values` (as reuse finds them in an infotext)."""
        on = bool(values.get("enable_hr"))
        self.enable_box.setChecked(on)
        if on:
            if values.get("hr_scale") is not None:
                self.scale_spin.setValue(float(values["hr_scale"]))
            if values.get("hr_upscaler"):
                self.select_upscaler(str(values["hr_upscaler"]))
            self.steps_spin.setValue(int(values.get("hr_second_pass_steps") or 0))
            if values.get("denoising_strength") is not None:
                self.denoise_spin.setValue(float(values["denoising_strength"]))
            self.set_open(True)
        self._update()

    @Slot()
    def _update(self, *_args: Any) -> None:
        on = self.enabled()
        for widget in (self.scale_spin, self.upscaler_combo, self.steps_spin, self.denoise_spin):
            widget.setEnabled(on)
        w, h = self._base
        fw, fh = self.final_size()
        self.final_label.setText(f"{w}×{h} → {fw}×{fh}")
        self.summary.setText(f"→ {fw}×{fh}" if on else "off")
        self.changed.emit()

    # --- persistence --------------------------------------------------------------------------

    def save_state(self, state: Any) -> None:
        state.set("prompt/hires_enabled", self.enabled())
        state.set("prompt/hires_scale", self.scale_spin.value())
        state.set("prompt/hires_upscaler", self.upscaler())
        state.set("prompt/hires_steps", self.steps_spin.value())
        state.set("prompt/hires_denoise", self.denoise_spin.value())
        state.set("prompt/hires_open", self.is_open())

    def restore_state(self, state: Any) -> None:
        self.scale_spin.setValue(state.get_float("prompt/hires_scale", 2.0))
        self.select_upscaler(state.get_str("prompt/hires_upscaler", "Latent") or "Latent")
        self.steps_spin.setValue(state.get_int("prompt/hires_steps", 0))
        self.denoise_spin.setValue(state.get_float("prompt/hires_denoise", DEFAULT_HIRES_DENOISE))
        self.enable_box.setChecked(state.get_bool("prompt/hires_enabled", False))
        self.set_open(state.get_bool("prompt/hires_open", False))
        self._update()


class VariationGroup(CollapsibleSection):
    """Variations: mix a second (variation) seed into the image's seed (A1111 only).

    Signals:
        changed(): a value changed.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Variations", "variationGroup", a1111_only=True, parent=parent)
        self.strength_spin = CheckedDoubleSpinBox()
        self.strength_spin.setObjectName("variationStrength")
        self.strength_spin.setRange(0.0, 1.0)
        self.strength_spin.setSingleStep(0.05)
        self.strength_spin.setDecimals(2)
        self.strength_spin.setValue(0.0)
        self.strength_spin.setSpecialValueText("Off")
        self.strength_spin.setAccessibleName("Variation strength")
        self.strength_spin.setToolTip(
            "How far images move from the seed towards the variation seed (0 = off). "
            f"“More like this” uses it too ({DEFAULT_VARIATION_STRENGTH:g} while it is off).")
        self.seed_spin = CheckedDoubleSpinBox()  # up to 2**32 - 1: beyond a QSpinBox
        self.seed_spin.setObjectName("variationSeed")
        self.seed_spin.setDecimals(0)
        self.seed_spin.setRange(-1, SEED_MAX)
        self.seed_spin.setValue(-1)
        self.seed_spin.setSpecialValueText("Random")
        self.seed_spin.setAccessibleName("Variation seed")
        self.seed_spin.setToolTip("The variation seed (-1 = a random one)")
        form = _form(self.body)
        form.addRow("Strength", self.strength_spin)
        form.addRow("Seed", self.seed_spin)
        _mark_labels(form)
        self.spins = (self.strength_spin, self.seed_spin)
        self.strength_spin.valueChanged.connect(self._update)
        self.seed_spin.valueChanged.connect(self.changed)
        self._update()

    def strength(self) -> float:
        return round(self.strength_spin.value(), 2)

    def more_like_this_strength(self) -> float:
        """The strength "More like this" uses: the panel's, or the default while it is off."""
        return self.strength() or DEFAULT_VARIATION_STRENGTH

    def params(self) -> dict[str, Any]:
        return {"subseed": int(self.seed_spin.value()), "subseed_strength": self.strength()}

    def apply(self, values: Mapping[str, Any]) -> None:
        strength = float(values.get("subseed_strength") or 0.0)
        self.strength_spin.setValue(strength)
        subseed = values.get("subseed")
        self.seed_spin.setValue(int(subseed) if isinstance(subseed, int) and strength else -1)
        if strength:
            self.set_open(True)

    @Slot()
    def _update(self, *_args: Any) -> None:
        strength = self.strength()
        self.summary.setText(f"strength {strength:g}" if strength else "off")
        self.changed.emit()

    def save_state(self, state: Any) -> None:
        state.set("prompt/variation_strength", self.strength_spin.value())
        state.set("prompt/variation_seed", str(int(self.seed_spin.value())))
        state.set("prompt/variation_open", self.is_open())

    def restore_state(self, state: Any) -> None:
        self.strength_spin.setValue(state.get_float("prompt/variation_strength", 0.0))
        try:
            seed = int(state.get_str("prompt/variation_seed", "-1"))
        except ValueError:
            seed = -1
        self.seed_spin.setValue(seed if -1 <= seed <= SEED_MAX else -1)
        self.set_open(state.get_bool("prompt/variation_open", False))
