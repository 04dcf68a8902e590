"""Upscale an image: the dialog (factor, upscalers) and the job it queues.

A1111's "Extras" upscale (`/sdapi/v1/extra-single-image`): the result is a new image of kind
"upscale" whose parent is the source, so it shows in the lineage. Hugging Face cannot do it,
so the dialog says "A1111 only" and the job asks for the A1111 backend.

The upscaler names come from the server's toolbox (`BackendRouter.toolbox()`, read on the
session's "backends" lane) when the router offers it; until then, and when no server answers,
the dialog lists A1111's stock upscalers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from dlx_art.errors import DlxError, UsageError
from dlx_art.generation.types import MAX_UPSCALE, BackendChoice, GenerationRequest, Kind

if TYPE_CHECKING:
    from dlx_art.gui.main_window import MainWindow

#: A1111 v1.10's built-in upscalers (`/sdapi/v1/upscalers` of a fresh install, "None" apart).
STOCK_UPSCALERS = ("Lanczos", "Nearest", "R-ESRGAN 4x+", "R-ESRGAN 4x+ Anime6B", "ESRGAN_4x",
                   "DAT x2", "DAT x4", "LDSR", "ScuNET GAN", "SwinIR 4x")
NO_UPSCALER = "None"
A1111_ONLY = "A1111 only: Hugging Face has no upscaler, so this runs on your A1111 server."


def server_upscalers(router: Any) -> list[str] | None:
    """The upscaler names of the first A1111 server the router reaches (lane thread), or None
    when the router has no toolbox or no server answers."""
    toolbox = getattr(router, "toolbox", None)
    if not callable(toolbox):
        return None
    try:
        box = toolbox()
    except (DlxError, OSError):
        return None
    names = [str(n) for n in getattr(box, "upscalers", None) or [] if str(n) != NO_UPSCALER]
    return names or None


class UpscaleDialog(QDialog):
    """Factor, upscaler, optional second upscaler and its visibility; the result's size."""

    def __init__(self, asset: Any, upscalers: list[str] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("upscaleDialog")
        self.setWindowTitle("Upscale")
        self.asset = asset
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.factor_spin = QDoubleSpinBox()
        self.factor_spin.setObjectName("upscaleFactor")
        self.factor_spin.setRange(1.0, MAX_UPSCALE)
        self.factor_spin.setSingleStep(0.5)
        self.factor_spin.setDecimals(2)
        self.factor_spin.setValue(2.0)
        self.factor_spin.setSuffix(" ×")
        form.addRow("Scale by", self.factor_spin)
        self.upscaler_combo = QComboBox()
        self.upscaler_combo.setObjectName("upscaleUpscaler")
        self.upscaler_combo.setToolTip("How the new pixels are made: Lanczos and Nearest only "
                                       "resample; the ESRGAN family redraws detail.")
        form.addRow("Upscaler", self.upscaler_combo)
        self.second_combo = QComboBox()
        self.second_combo.setObjectName("upscaleUpscaler2")
        self.second_combo.setToolTip("Optionally blend in a second upscaler's result")
        form.addRow("Second upscaler", self.second_combo)
        self.visibility_spin = QDoubleSpinBox()
        self.visibility_spin.setObjectName("upscaleVisibility")
        self.visibility_spin.setRange(0.0, 1.0)
        self.visibility_spin.setSingleStep(0.1)
        self.visibility_spin.setDecimals(2)
        self.visibility_spin.setToolTip("How much of the second upscaler shows (0 to 1)")
        form.addRow("Its visibility", self.visibility_spin)
        self.size_label = QLabel()
        self.size_label.setObjectName("upscaleSizeLabel")
        form.addRow("Result", self.size_label)
        layout.addLayout(form)
        self.source_label = QLabel()
        self.source_label.setObjectName("upscaleSourceLabel")
        self.source_label.setWordWrap(True)
        self.source_label.setEnabled(False)  # muted
        layout.addWidget(self.source_label)
        note = QLabel(A1111_ONLY)
        note.setObjectName("upscaleA1111Note")
        note.setWordWrap(True)
        layout.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Upscale")
        self.ok_button.setObjectName("upscaleRun")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        self.set_upscalers(upscalers)
        self.factor_spin.valueChanged.connect(self._update)
        self.second_combo.currentIndexChanged.connect(self._update)
        self._update()

    def set_upscalers(self, names: list[str] | None) -> None:
        """Fill the lists (the server's names, or A1111's stock ones for None)."""
        from_server = names is not None
        names = list(names) if names else list(STOCK_UPSCALERS)
        for combo, first in ((self.upscaler_combo, []), (self.second_combo, [NO_UPSCALER])):
            current = combo.currentText()
            combo.clear()
            combo.addItems(first + names)
            index = combo.findText(current)
            combo.setCurrentIndex(max(0, index))
        self.source_label.setText("Upscalers of your A1111 server." if from_server else
                                  "A1111's standard upscalers (the server's own list shows "
                                  "when it answers).")

    @Slot()
    def _update(self, *_args: Any) -> None:
        second = self.second_combo.currentText() != NO_UPSCALER
        self.visibility_spin.setEnabled(second)
        w, h = self.asset.width or 0, self.asset.height or 0
        factor = self.factor_spin.value()
        if w and h:
            # as A1111 rounds it (and the request builder): down to a multiple of 8
            self.size_label.setText(f"{w}×{h} → {int(w * factor) // 8 * 8}×"
                                    f"{int(h * factor) // 8 * 8}")
        else:
            self.size_label.setText(f"{factor:g} times larger")

    def params(self) -> dict[str, object]:
        """The upscale fields for `GenerationRequest.from_params`."""
        second = self.second_combo.currentText()
        return {
            "upscaling_resize": round(self.factor_spin.value(), 2),
            "upscaler_1": self.upscaler_combo.currentText(),
            "upscaler_2": second,
            "upscaler_2_visibility": (round(self.visibility_spin.value(), 2)
                                      if second != NO_UPSCALER else 0.0),
        }


class UpscaleLink(QObject):
    """Asks for the settings and queues the upscale job of an image (the window's part)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._upscalers: list[str] | None = None
        self.dialog: UpscaleDialog | None = None

    @Slot(object)
    def ask(self, asset: Any) -> None:
        """Open the dialog for `asset`: modal to the window, without a nested event loop (the
        upscalers arrive while it is open)."""
        w = self._window
        if asset is None or w.library is None:
            return
        if self.dialog is not None:
            self.dialog.close()
        dialog = UpscaleDialog(asset, self._upscalers, w)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.submit(asset, dialog.params()))
        dialog.destroyed.connect(lambda *_: self._forget(dialog))
        self.dialog = dialog
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.open()
        dialog.activateWindow()  # the keyboard goes to the dialog even without a window manager
        self._load_upscalers()

    def _forget(self, dialog: UpscaleDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def _load_upscalers(self) -> None:
        routers = self._window.routers

        def done(names: list[str] | None) -> None:
            if names is not None:
                self._upscalers = names
                if self.dialog is not None:
                    self.dialog.set_upscalers(names)

        self._window.session.runner.backends.run(
            lambda: server_upscalers(routers.get()), owner=self, on_done=done)

    def submit(self, asset: Any, params: dict[str, object]) -> None:
        """Read the source file (reads lane) and queue the upscale job."""
        w = self._window
        library = w.library
        if library is None:
            return

        def queue(data: bytes) -> None:
            try:
                request = GenerationRequest.from_params(Kind.upscale, asset.projectId, {
                    **params, "parent_id": asset.id, "backend": BackendChoice.a1111.value,
                }, parent=asset, init_image=data)
            except UsageError as exc:
                w.show_message(exc.user_message)
                return
            w.jobs.submit(request)
            w.show_message(f"Upscaling to {request.width}×{request.height}…")

        w.session.runner.reads.run(
            library.read_bytes, asset, owner=self, on_done=queue,
            on_error=lambda exc: w.show_message(
                exc.user_message if isinstance(exc, DlxError)
                else "Could not read the image to upscale."))
