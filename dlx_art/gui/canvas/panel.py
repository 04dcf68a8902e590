"""The canvas widget: the view, a tool bar and the inpaint controls, self-contained.

It knows nothing about the library or the backends. The main window loads an image into it,
listens to `inpaint_requested`, and reports the job back with `set_busy`, `show_progress` and
`show_result`.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF, QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QImage, QKeySequence, QShortcut, QUndoStack
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dlx_art.generation.types import InpaintArea, MaskedContent
from dlx_art.gui.canvas.mask import PressureCurve, encode_png
from dlx_art.gui.canvas.outpaint import OutpaintBox, OutpaintController
from dlx_art.gui.canvas.view import MAX_BRUSH, MIN_BRUSH, CanvasView, Tool

MASKED_CONTENT_LABELS = {
    MaskedContent.fill: "Fill",
    MaskedContent.original: "Original",
    MaskedContent.noise: "Latent noise",
    MaskedContent.nothing: "Latent nothing",
}
SEED_MAX = 2**32 - 2  # A1111 draws seeds in [0, 4294967294)
EMPTY_MASK_TIP = "Paint over the area to repaint first: Inpaint only changes the masked pixels."
BUSY_TIP = "A job is running; wait for it to finish or cancel it."
PANEL_MIN_WIDTH = 220  # the controls' column at its narrowest (it scrolls sideways then)


@dataclass(frozen=True)
class InpaintSettings:
    prompt: str
    negative: str
    denoising_strength: float
    mask_blur: int
    masked_content: MaskedContent
    inpaint_area: InpaintArea
    padding: int
    seed: int
    whole_image: bool  # True = "Refine whole image" (img2img, no mask)


@dataclass(frozen=True)
class InpaintRequestData:
    settings: InpaintSettings
    image_png: bytes
    mask_png: bytes | None  # None for "Refine whole image"
    asset_id: str


class InpaintPanel(QWidget):
    """Prompt, inpaint parameters, pen settings and the two action buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inpaintPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(10)

        # the one prompt the canvas uses: said plainly, since the Generate panel has its own
        box = QGroupBox("Canvas prompt (used by Inpaint and Refine)")
        box.setObjectName("canvasPromptBox")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setObjectName("inpaintPromptEdit")
        self.prompt_edit.setPlaceholderText("What the masked area should become")
        self.prompt_edit.setFixedHeight(84)
        self.negative_edit = QPlainTextEdit()
        self.negative_edit.setObjectName("inpaintNegativeEdit")
        self.negative_edit.setPlaceholderText("What to avoid")
        self.negative_edit.setFixedHeight(52)
        for edit in (self.prompt_edit, self.negative_edit):
            edit.setTabChangesFocus(True)
        form.addRow("Prompt", self.prompt_edit)
        form.addRow("Negative", self.negative_edit)

        self.denoise_spin = QDoubleSpinBox()
        self.denoise_spin.setObjectName("denoiseSpin")
        self.denoise_spin.setRange(0.0, 1.0)
        self.denoise_spin.setSingleStep(0.05)
        self.denoise_spin.setDecimals(2)
        self.denoise_spin.setValue(0.75)
        self.denoise_spin.setToolTip(
            "How much the masked area may change: 0 keeps it, 1 ignores it."
        )
        form.addRow("Denoising", self.denoise_spin)

        self.mask_blur_spin = QSpinBox()
        self.mask_blur_spin.setObjectName("maskBlurSpin")
        self.mask_blur_spin.setRange(0, 64)
        self.mask_blur_spin.setValue(4)
        self.mask_blur_spin.setSuffix(" px")
        self.mask_blur_spin.setToolTip("Blur of the mask edge, so the repainted area blends in.")
        form.addRow("Mask blur", self.mask_blur_spin)

        self.masked_content_combo = QComboBox()
        self.masked_content_combo.setObjectName("maskedContentCombo")
        for content, label in MASKED_CONTENT_LABELS.items():
            self.masked_content_combo.addItem(label, content)
        self.masked_content_combo.setCurrentIndex(
            list(MASKED_CONTENT_LABELS).index(MaskedContent.original)
        )
        self.masked_content_combo.setToolTip(
            "What the masked area starts from: colours filled in from around it, the original\n"
            "pixels, fresh noise, or nothing (flat)."
        )
        form.addRow("Masked content", self.masked_content_combo)

        area_row = QWidget()
        area_layout = QVBoxLayout(area_row)
        area_layout.setContentsMargins(0, 0, 0, 0)
        self.whole_radio = QRadioButton("Whole picture")
        self.whole_radio.setObjectName("inpaintWholeRadio")
        self.masked_radio = QRadioButton("Only masked")
        self.masked_radio.setObjectName("inpaintMaskedRadio")
        self.masked_radio.setToolTip(
            "Generate only a box around the mask (grown by the padding) at full resolution,\n"
            "then paste it back. The box is drawn on the canvas."
        )
        self.area_group = QButtonGroup(self)
        self.area_group.addButton(self.whole_radio)
        self.area_group.addButton(self.masked_radio)
        self.whole_radio.setChecked(True)
        area_layout.addWidget(self.whole_radio)
        area_layout.addWidget(self.masked_radio)
        form.addRow("Inpaint area", area_row)

        self.padding_spin = QSpinBox()
        self.padding_spin.setObjectName("paddingSpin")
        self.padding_spin.setRange(0, 256)
        self.padding_spin.setValue(32)
        self.padding_spin.setSuffix(" px")
        self.padding_spin.setEnabled(False)
        form.addRow("Padding", self.padding_spin)

        seed_row = QWidget()
        seed_layout = QHBoxLayout(seed_row)
        seed_layout.setContentsMargins(0, 0, 0, 0)
        # A1111 seeds go up to 2**32 - 2, beyond a QSpinBox (a C int): a whole-number double
        self.seed_spin = QDoubleSpinBox()
        self.seed_spin.setObjectName("canvasSeedSpin")  # "seedSpin" is the prompt panel's
        self.seed_spin.setDecimals(0)
        self.seed_spin.setRange(-1, SEED_MAX)
        self.seed_spin.setValue(-1)
        self.seed_spin.setSpecialValueText("Random")
        self.seed_random_button = QToolButton()
        self.seed_random_button.setText("Random")
        self.seed_random_button.setToolTip("Use a new random seed (-1)")
        self.seed_random_button.clicked.connect(lambda: self.seed_spin.setValue(-1))
        seed_layout.addWidget(self.seed_spin, 1)
        seed_layout.addWidget(self.seed_random_button)
        form.addRow("Seed", seed_row)

        buttons = QHBoxLayout()
        self.refine_button = QPushButton("Refine whole image")
        self.refine_button.setObjectName("refineButton")
        self.refine_button.setToolTip("Image to image on the whole picture, without a mask.")
        self.inpaint_button = QPushButton("Inpaint")
        self.inpaint_button.setObjectName("inpaintButton")
        self.inpaint_button.setDefault(True)
        buttons.addWidget(self.refine_button)
        buttons.addWidget(self.inpaint_button, 1)
        form.addRow(buttons)
        self.hint_label = QLabel()
        self.hint_label.setObjectName("inpaintHintLabel")
        self.hint_label.setWordWrap(True)
        self.hint_label.setEnabled(False)  # drawn in the palette's disabled (muted) text colour
        form.addRow(self.hint_label)
        layout.addWidget(box)

        self.outpaint_box = OutpaintBox()
        layout.addWidget(self.outpaint_box)

        pen_box = QGroupBox("Pen")
        pen_form = QFormLayout(pen_box)
        self.gamma_spin = QDoubleSpinBox()
        self.gamma_spin.setObjectName("pressureGammaSpin")
        self.gamma_spin.setRange(0.2, 5.0)
        self.gamma_spin.setSingleStep(0.1)
        self.gamma_spin.setValue(1.0)
        self.gamma_spin.setToolTip(
            "Pressure curve: below 1 a light touch paints wide sooner,\n"
            "above 1 it needs a firmer press."
        )
        pen_form.addRow("Pressure curve", self.gamma_spin)
        self.min_size_spin = QSpinBox()
        self.min_size_spin.setObjectName("pressureMinSizeSpin")
        self.min_size_spin.setRange(0, 100)
        self.min_size_spin.setValue(10)
        self.min_size_spin.setSuffix(" %")
        self.min_size_spin.setToolTip(
            "Brush size at the lightest touch, as a share of the brush size."
        )
        pen_form.addRow("Minimum size", self.min_size_spin)
        self.pressure_opacity_check = QCheckBox("Pressure controls opacity")
        self.pressure_opacity_check.setObjectName("pressureOpacityCheck")
        pen_form.addRow(self.pressure_opacity_check)
        layout.addWidget(pen_box)
        layout.addStretch()

        self.masked_radio.toggled.connect(self.padding_spin.setEnabled)

    def inpaint_area(self) -> InpaintArea:
        return InpaintArea.masked if self.masked_radio.isChecked() else InpaintArea.whole

    def set_inpaint_area(self, area: InpaintArea) -> None:
        (self.masked_radio if area == InpaintArea.masked else self.whole_radio).setChecked(True)

    def settings(self, *, whole_image: bool = False) -> InpaintSettings:
        return InpaintSettings(
            prompt=self.prompt_edit.toPlainText().strip(),
            negative=self.negative_edit.toPlainText().strip(),
            denoising_strength=round(self.denoise_spin.value(), 2),
            mask_blur=self.mask_blur_spin.value(),
            masked_content=self.masked_content_combo.currentData(),
            inpaint_area=self.inpaint_area(),
            padding=self.padding_spin.value(),
            seed=int(self.seed_spin.value()),
            whole_image=whole_image,
        )

    def pressure_curve(self) -> PressureCurve:
        return PressureCurve(
            gamma=self.gamma_spin.value(), min_size=self.min_size_spin.value() / 100
        )


class CanvasWidget(QWidget):
    """Canvas view + tool bar + inpaint controls; embed it anywhere.

    Signals:
        inpaint_requested(object): an `InpaintRequestData` (settings, image PNG, mask PNG or
            None for "Refine whole image", and the asset id of the image being refined).
        mask_changed(): a stroke ended or the mask was cleared / inverted / filled / undone.
        base_changed(str): "Continue from result" made the result (this asset id) the new base.
        outpaint_requested(object): an `OutpaintRequestData` ("Expand" in the outpaint box).
        closed(): the person clicked Close.
    """

    inpaint_requested = Signal(object)
    outpaint_requested = Signal(object)
    mask_changed = Signal()
    base_changed = Signal(str)
    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("canvasWidget")
        self.view = CanvasView()
        self.undo_stack: QUndoStack = self.view.undo_stack
        self.panel = InpaintPanel()
        self._asset_id = ""
        self._busy = False
        self._result: tuple[QImage, str] | None = None
        self._job_area = InpaintArea.whole

        self.toolbar = self._build_toolbar()
        self.compare_bar = self._build_compare_bar()

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(0)
        left_layout.addWidget(self.compare_bar)
        left_layout.addWidget(self.view, 1)

        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        # Its full width by default (the splitter sizes); narrower only when the window is
        # short of room (side panels shown on a small screen), then it scrolls sideways
        # instead of widening the window past the screen.
        scroll.setMinimumWidth(PANEL_MIN_WIDTH)
        self.panel_scroll = scroll

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setCollapsible(0, False)
        self.splitter.setSizes(
            [900, self.panel.sizeHint().width() + scroll.verticalScrollBar().sizeHint().width()]
        )

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.brush_bar)
        layout.addWidget(self.splitter, 1)

        self.outpaint = OutpaintController(self)
        self.outpaint.requested.connect(self.outpaint_requested)
        self._connect()
        self._update_buttons()

    # --- construction ------------------------------------------------------------------------

    def _action(self, text: str, tip: str, slot=None, *, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        action.setToolTip(tip)
        action.setCheckable(checkable)
        if slot is not None:
            action.triggered.connect(slot)
        return action

    def _build_toolbar(self) -> QToolBar:
        bar = QToolBar("Canvas tools")
        bar.setObjectName("canvasToolBar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)

        view = self.view
        self.brush_action = self._action(
            "Brush", "Brush (B): paint the mask; X swaps with the eraser", checkable=True
        )
        self.eraser_action = self._action(
            "Eraser", "Eraser (E): erase the mask; X swaps, or turn the pen over", checkable=True
        )
        self.pan_action = self._action(
            "Pan",
            "Pan: drag to move the image (or hold Space, or drag with the middle button)",
            checkable=True,
        )
        group = QActionGroup(self)
        for action, tool in (
            (self.brush_action, Tool.brush),
            (self.eraser_action, Tool.eraser),
            (self.pan_action, Tool.pan),
        ):
            group.addAction(action)
            action.setData(tool.value)
            bar.addAction(action)
        self.brush_action.setChecked(True)
        group.triggered.connect(lambda action: view.set_tool(action.data()))
        bar.addSeparator()
        self._add_essentials(bar)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        bar.addAction(self._action("Close", "Close the canvas", lambda: self.closed.emit()))

        # brush settings and mask actions: a second row, so the first never overflows
        self.brush_bar = QToolBar("Brush and mask")
        self.brush_bar.setObjectName("canvasBrushBar")
        self.brush_bar.setMovable(False)
        self.brush_bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self._fill_brush_bar(self.brush_bar)
        for tool_bar in (bar, self.brush_bar):
            # Tool bar buttons must not take the keyboard focus away from the canvas.
            for button in tool_bar.findChildren(QToolButton):
                button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        return bar

    def _fill_brush_bar(self, bar: QToolBar) -> None:
        view = self.view
        bar.addWidget(QLabel(" Size "))
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setObjectName("brushSizeSlider")
        self.size_slider.setRange(MIN_BRUSH, MAX_BRUSH)
        self.size_slider.setValue(view.brush_size)
        self.size_slider.setFixedWidth(140)
        self.size_slider.setToolTip("Brush diameter in image pixels ([ and ] change it)")
        bar.addWidget(self.size_slider)
        self.size_spin = QSpinBox()
        self.size_spin.setObjectName("brushSizeSpin")
        self.size_spin.setRange(MIN_BRUSH, MAX_BRUSH)
        self.size_spin.setValue(view.brush_size)
        self.size_spin.setSuffix(" px")
        self.size_spin.setKeyboardTracking(False)
        bar.addWidget(self.size_spin)
        bar.addWidget(QLabel("  Hardness "))
        self.hardness_slider = QSlider(Qt.Orientation.Horizontal)
        self.hardness_slider.setObjectName("brushHardnessSlider")
        self.hardness_slider.setRange(0, 100)
        self.hardness_slider.setValue(100)
        self.hardness_slider.setFixedWidth(80)
        self.hardness_slider.setToolTip(
            "Hardness: 100 % is a crisp edge, lower values fade the edge out"
        )
        bar.addWidget(self.hardness_slider)
        bar.addSeparator()

        self.show_mask_action = self._action(
            "Mask", "Show or hide the mask overlay (H)", view.set_overlay_visible, checkable=True
        )
        self.show_mask_action.setChecked(True)
        bar.addAction(self.show_mask_action)
        bar.addAction(self._action("Clear", "Clear the mask", view.clear_mask))
        bar.addAction(self._action("Invert", "Invert the mask", view.invert_mask))
        bar.addAction(self._action("All", "Mask the whole image", view.fill_mask))

    def _add_essentials(self, bar: QToolBar) -> None:
        """Undo, redo, fit, 100 % and the zoom level: always visible (issue 14)."""
        view = self.view
        self.undo_action = self._action("Undo", "Undo the last mask change (Ctrl+Z)", view.undo)
        self.undo_action.setEnabled(False)
        self.undo_stack.canUndoChanged.connect(self.undo_action.setEnabled)
        self.redo_action = self._action("Redo", "Redo (Ctrl+Shift+Z or Ctrl+Y)", view.redo)
        self.redo_action.setEnabled(False)
        self.undo_stack.canRedoChanged.connect(self.redo_action.setEnabled)
        bar.addAction(self.undo_action)
        bar.addAction(self.redo_action)
        bar.addSeparator()

        bar.addAction(self._action("Fit", "Fit the image in the window (0)", view.fit))
        bar.addAction(self._action("100 %", "Actual pixels (1)", lambda: view.zoom_to(1.0)))
        self.zoom_label = QLabel()
        self.zoom_label.setObjectName("canvasZoomLabel")
        self.zoom_label.setMinimumWidth(56)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.zoom_label.setToolTip("Zoom: wheel or pinch, + and −")
        bar.addWidget(self.zoom_label)

    def _build_compare_bar(self) -> QFrame:
        bar = QFrame()
        bar.setObjectName("canvasCompareBar")
        bar.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(bar)
        layout.setContentsMargins(8, 4, 8, 4)
        label = QLabel("Result: drag the line to compare with the original")
        label.setToolTip(label.text())
        # clipped rather than widening the canvas (and the window) when room is short
        label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout.addWidget(label, 1)
        self.before_button = QPushButton("Before (\\)")
        self.before_button.setObjectName("compareBeforeButton")
        self.before_button.setCheckable(True)
        self.before_button.setToolTip("Show the original only while pressed in (\\)")
        self.keep_button = QPushButton("Keep original")
        self.keep_button.setObjectName("compareKeepButton")
        self.keep_button.setToolTip("Close the comparison and go on refining the original")
        self.continue_button = QPushButton("Continue from result")
        self.continue_button.setObjectName("continueFromResultButton")
        self.continue_button.setToolTip("Make the result the image you refine next")
        for button in (self.before_button, self.keep_button, self.continue_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            layout.addWidget(button)
        bar.hide()
        return bar

    def _connect(self) -> None:
        view, panel = self.view, self.panel
        self.size_slider.valueChanged.connect(view.set_brush_size)
        self.size_spin.valueChanged.connect(view.set_brush_size)
        view.brush_size_changed.connect(self._on_view_brush_size_changed)
        self.hardness_slider.valueChanged.connect(lambda v: view.set_hardness(v / 100))
        view.tool_changed.connect(self._on_view_tool_changed)
        view.overlay_visible_changed.connect(self.show_mask_action.setChecked)
        view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        view.mask_edited.connect(self._on_view_mask_edited)
        view.show_before_changed.connect(self.before_button.setChecked)
        self.before_button.toggled.connect(view.set_show_before)
        self.keep_button.clicked.connect(self.keep_original)
        self.continue_button.clicked.connect(self.continue_from_result)

        panel.inpaint_button.clicked.connect(self._on_inpaint_clicked)
        panel.refine_button.clicked.connect(self._on_refine_clicked)
        panel.masked_radio.toggled.connect(self._update_padding_box)
        panel.padding_spin.valueChanged.connect(self._update_padding_box)
        panel.gamma_spin.valueChanged.connect(self._update_pen)
        panel.min_size_spin.valueChanged.connect(self._update_pen)
        panel.pressure_opacity_check.toggled.connect(self._update_pen)

        shortcut = QShortcut(QKeySequence("Ctrl+Return"), self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(self._on_inpaint_clicked)

    # --- public API --------------------------------------------------------------------------

    def load_image(
        self, image: QImage, *, asset_id: str, prompt: str = "", negative: str = "", seed: int = -1
    ) -> None:
        """Open `image` for refinement: fitted, empty mask, prompt fields prefilled."""
        self._asset_id = asset_id
        self._result = None
        self.compare_bar.hide()
        self.view.load_image(image)
        self.panel.prompt_edit.setPlainText(prompt)
        self.panel.negative_edit.setPlainText(negative)
        self.panel.seed_spin.setValue(max(-1, min(SEED_MAX, seed)))
        self.outpaint.image_changed()
        self._update_padding_box()
        self._update_buttons()
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def adopt_result(self, image: QImage, asset_id: str) -> None:
        """Make `image` the picture at once (an outpaint result: larger, so a fresh mask)."""
        self._asset_id = asset_id
        self._result = None
        self.compare_bar.hide()
        self.view.load_image(image)
        self.outpaint.image_changed()
        self._update_padding_box()
        self._update_buttons()
        self.base_changed.emit(asset_id)

    @property
    def asset_id(self) -> str:
        return self._asset_id

    @property
    def busy(self) -> bool:
        return self._busy

    def set_busy(self, busy: bool) -> None:
        """Disable Inpaint and Refine while a job runs; leaving busy removes the progress."""
        self._busy = busy
        if not busy:
            self.view.clear_progress()
        elif self.focusWidget() in (self.panel.inpaint_button, self.panel.refine_button,
                                    self.outpaint.box.run_button):
            # the clicked button is disabled next: the focus goes to the picture, not on to
            # the next field (the pen's pressure curve), which typing would then change
            self.view.setFocus(Qt.FocusReason.OtherFocusReason)
        self._update_buttons()
        self.outpaint.update()

    def show_progress(self, fraction: float, preview: QImage | None) -> None:
        target = None
        if self._job_area == InpaintArea.masked:
            rect = self.view.padding_rect()
            target = QRectF(rect) if rect is not None else None
        if self.outpaint.frame.isVisible():  # an outpaint paints the whole larger canvas
            target = QRectF(self.outpaint.frame.frame)
        self.view.show_progress(fraction, preview, target)

    def show_result(self, image: QImage, asset_id: str) -> None:
        """Compare `image` with the current base (split line); the base stays until Continue."""
        self._result = (QImage(image), asset_id)
        self.view.show_comparison(image)
        self.before_button.setChecked(False)
        self.compare_bar.show()
        self._update_padding_box()
        self.outpaint.update()

    def continue_from_result(self) -> None:
        if self._result is None:
            return
        image, asset_id = self._result
        self._result = None
        self.compare_bar.hide()
        self.view.replace_image(image)
        self._asset_id = asset_id
        self.outpaint.image_changed()
        self._update_padding_box()
        self._update_buttons()
        self.base_changed.emit(asset_id)
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def keep_original(self) -> None:
        self._result = None
        self.compare_bar.hide()
        self.view.end_comparison()
        self.outpaint.update()
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def mask_png(self) -> bytes:
        return self.view.mask.png_bytes()

    def mask_image(self) -> QImage:
        return self.view.mask.mask_image()

    # --- slots -------------------------------------------------------------------------------

    @Slot(int)
    def _on_view_brush_size_changed(self, size: int) -> None:
        for widget in (self.size_slider, self.size_spin):
            with QSignalBlocker(widget):
                widget.setValue(size)

    @Slot(str)
    def _on_view_tool_changed(self, tool: str) -> None:
        {Tool.brush: self.brush_action, Tool.eraser: self.eraser_action, Tool.pan: self.pan_action}[
            Tool(tool)
        ].setChecked(True)

    @Slot()
    def _on_view_mask_edited(self) -> None:
        self._update_buttons()
        self.mask_changed.emit()

    @Slot()
    def _update_padding_box(self) -> None:
        masked = self.panel.inpaint_area() == InpaintArea.masked
        self.view.set_padding(self.panel.padding_spin.value() if masked else None)

    @Slot()
    def _update_pen(self) -> None:
        self.view.pressure_curve = self.panel.pressure_curve()
        self.view.pressure_opacity = self.panel.pressure_opacity_check.isChecked()

    def _update_buttons(self) -> None:
        has_image = self.view.has_image()
        empty = self.view.mask.is_empty()
        inpaint = self.panel.inpaint_button
        inpaint.setEnabled(has_image and not empty and not self._busy)
        if self._busy:
            tip = BUSY_TIP
        elif not has_image:
            tip = "Open an image first."
        elif empty:
            tip = EMPTY_MASK_TIP
        else:
            tip = "Repaint the masked area (Ctrl+Enter)"
        inpaint.setToolTip(tip)
        refine = self.panel.refine_button
        refine.setEnabled(has_image and not self._busy)
        refine.setToolTip(
            BUSY_TIP if self._busy else "Image to image on the whole picture, without a mask."
        )
        if self._busy:
            hint = "Generating… the result will open here for comparison."
        elif has_image and empty:
            hint = "Paint over what should change, then press Inpaint."
        else:
            hint = ""
        self.panel.hint_label.setText(hint)
        self.panel.hint_label.setVisible(bool(hint))

    def _on_inpaint_clicked(self) -> None:
        if self.panel.inpaint_button.isEnabled():
            self._emit_request(whole_image=False)

    def _on_refine_clicked(self) -> None:
        if self.panel.refine_button.isEnabled():
            self._emit_request(whole_image=True)

    def _emit_request(self, *, whole_image: bool) -> None:
        settings = self.panel.settings(whole_image=whole_image)
        self._job_area = InpaintArea.whole if whole_image else settings.inpaint_area
        data = InpaintRequestData(
            settings=settings,
            image_png=encode_png(self.view.image),
            mask_png=None if whole_image else self.mask_png(),
            asset_id=self._asset_id,
        )
        self.inpaint_requested.emit(data)
