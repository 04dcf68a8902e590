"""The details panel: everything known about the current image, and what to do with it.

A preview (decoded and scaled in a pool thread), every generation parameter, where the file
is, the parent and the children as links (`jump_to`), and the actions: copy prompt, copy
infotext, reuse parameters, open in canvas, show in the file manager. The parent's and
children's records are read in the background too, so showing an image never waits on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRectF, QSize, Qt, QUrl, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QColor,
    QGuiApplication,
    QImage,
    QImageReader,
    QPainter,
    QPainterPath,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGridLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from dlx_art.errors import BadImageFile, DlxError
from dlx_art.gui.gallery.delegate import tile_color
from dlx_art.gui.tasks import TaskRunner, default_runner

if TYPE_CHECKING:
    from dlx_art.library.models import AssetInfo
    from dlx_art.library.service import Library

PREVIEW_BOX = QSize(1024, 1024)
MAX_PREVIEW_HEIGHT = 420

KIND_TEXT = {"txt2img": "Text to image", "img2img": "Image to image (refine)",
             "inpaint": "Inpaint", "import": "Imported", "upscale": "Upscaled",
             "outpaint": "Expanded (outpaint)"}
BACKEND_TEXT = {"a1111": "AUTOMATIC1111", "hf": "Hugging Face"}
APPROXIMATE_TEXT = "approximate (Hugging Face)"
APPROXIMATE_TIP = ("Hugging Face has no true inpainting here: the whole image was regenerated "
                   "and composited through the mask, so the result only approximates an inpaint.")

# (key, label) in display order
FIELDS = (
    ("prompt", "Prompt"),
    ("negative", "Negative"),
    ("model", "Model"),
    ("seed", "Seed"),
    ("steps", "Steps"),
    ("cfg", "CFG scale"),
    ("sampler", "Sampler"),
    ("scheduler", "Scheduler"),
    ("size", "Size"),
    ("denoising", "Denoising"),
    ("kind", "Kind"),
    ("backend", "Backend"),
    ("fallback", "Fallback"),
    ("created", "Created"),
    ("file", "File"),
    ("file_size", "File size"),
    ("parent", "Parent"),
    ("children", "Children"),
)
OPTIONAL_FIELDS = {"denoising", "fallback"}  # hidden when empty
EMPTY = "—"


def open_url(url: QUrl) -> bool:
    """QDesktopServices.openUrl (a module function, so tests can replace it)."""
    from PySide6.QtGui import QDesktopServices

    return QDesktopServices.openUrl(url)


def human_size(size: int | None) -> str:
    if size is None:
        return EMPTY
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value):,} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover


def _number(value: float | None) -> str:
    if value is None:
        return EMPTY
    return f"{value:g}"


def load_preview(path: Path, box: QSize = PREVIEW_BOX) -> QImage:
    """Pool thread: decode `path` scaled down to fit `box` (QImage is safe off the GUI thread)."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and (size.width() > box.width() or size.height() > box.height()):
        reader.setScaledSize(size.scaled(box, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        if not path.exists():
            raise BadImageFile(f"The file {path.name} is missing.")
        raise BadImageFile(f"{path.name} cannot be shown: {reader.errorString()}.")
    return image


def _related(library: Library, asset: AssetInfo) -> tuple[AssetInfo | None, list[AssetInfo]]:
    parent = None
    if asset.parentId:
        found = library.get_assets([asset.parentId])
        parent = found[0] if found else None
    return parent, library.children(asset.id)


def _link_label(asset: AssetInfo) -> str:
    kind = KIND_TEXT.get(asset.kind or "", asset.kind or "image")
    when = asset.createdAt.astimezone().strftime("%Y-%m-%d %H:%M")
    trashed = " (in the trash)" if asset.trashedAt is not None else ""
    return f"{kind} · {when} · {asset.id[:8]}{trashed}"


def _link(asset_id: str, text: str) -> str:
    from html import escape

    return f'<a href="asset:{escape(asset_id)}">{escape(text)}</a>'


class _Preview(QWidget):
    """The image, fitted and centred on a rounded tile; or a short message.

    Double-click asks for the full-size viewer; a live preview carries a caption.
    """

    double_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detailsPreview")
        self.setToolTip("Double-click (or Space) to view full size")
        self._pixmap: QPixmap | None = None
        self._caption = ""
        self._aspect = 1.0
        self._message = ""
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setMinimumHeight(80)

    def set_aspect(self, width: int | None, height: int | None) -> None:
        self._aspect = (height / width) if width and height else 1.0
        self.updateGeometry()

    def set_live(self, pixmap: QPixmap, caption: str) -> None:
        self.set_pixmap(pixmap)
        self._caption = caption

    def is_live(self) -> bool:
        return bool(self._caption)

    def caption(self) -> str:
        return self._caption

    def mouseDoubleClickEvent(self, event: Any) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self.double_clicked.emit()
        super().mouseDoubleClickEvent(event)

    def set_pixmap(self, pixmap: QPixmap | None) -> None:
        self._pixmap = pixmap
        self._message = ""
        self._caption = ""
        if pixmap is not None and not pixmap.isNull():
            self.set_aspect(pixmap.width(), pixmap.height())
        self.update()

    def set_message(self, text: str) -> None:
        self._pixmap = None
        self._message = text
        self._caption = ""
        self.update()

    def pixmap(self) -> QPixmap | None:
        return self._pixmap

    def message(self) -> str:
        return self._message

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return max(80, min(MAX_PREVIEW_HEIGHT, round(width * self._aspect)))

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(280, self.heightForWidth(280))

    def paintEvent(self, _event: Any) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        area = QRectF(self.rect())
        path = QPainterPath()
        path.addRoundedRect(area, 6, 6)
        painter.fillPath(path, tile_color(self.palette()))
        if self._pixmap is not None and not self._pixmap.isNull():
            pm = self._pixmap
            scale = min(area.width() / pm.width(), area.height() / pm.height())
            w, h = pm.width() * scale, pm.height() * scale
            target = QRectF(area.center().x() - w / 2, area.center().y() - h / 2, w, h)
            clip = QPainterPath()
            clip.addRoundedRect(target, 6, 6)
            painter.setClipPath(clip)
            painter.drawPixmap(target, pm, QRectF(pm.rect()))
            if self._caption:
                painter.setClipping(False)
                band = QRectF(area.left(), area.bottom() - 26, area.width(), 26)
                painter.fillRect(band, QColor(0, 0, 0, 160))
                painter.setPen(QColor(255, 255, 255))
                painter.drawText(band.adjusted(8, 0, -8, 0), Qt.AlignmentFlag.AlignVCenter
                                 | Qt.AlignmentFlag.AlignLeft, self._caption)
        elif self._message:
            color = QColor(self.palette().color(QPalette.ColorRole.Text))
            color.setAlphaF(0.6)
            painter.setPen(color)
            painter.drawText(area.adjusted(12, 12, -12, -12),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self._message)
        painter.end()


class _Value(QLabel):
    """A value in the form: selectable, wrapped, never widening the panel."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"details_{name}")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                     | Qt.TextInteractionFlag.LinksAccessibleByMouse
                                     | Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
        self.setOpenExternalLinks(False)
        policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)


class DetailsPanel(QWidget):
    """Parameters and actions for one image.

    Signals:
        reuse_parameters(object): fill the prompt panel from this `AssetInfo` ("Use all").
        reuse_prompt(object): only its prompt and negative prompt ("Use prompt").
        reuse_seed(object): only its seed ("Use seed").
        more_like_this(object): queue variations of this `AssetInfo` (same seed, new subseed).
        open_viewer(object): show this `AssetInfo` full size (double-click on the preview).
        open_in_canvas(object): refine this `AssetInfo` in the canvas.
        jump_to(str): the id of a parent or child link that was clicked.
        status_message(str): a line for the status bar (e.g. "Prompt copied").
    """

    reuse_parameters = Signal(object)
    reuse_prompt = Signal(object)
    reuse_seed = Signal(object)
    more_like_this = Signal(object)
    open_in_canvas = Signal(object)
    upscale_requested = Signal(object)
    open_viewer = Signal(object)
    jump_to = Signal(str)
    status_message = Signal(str)

    def __init__(self, library: Library | None = None, parent: QWidget | None = None, *,
                 runner: TaskRunner | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detailsPanel")
        self._library = library
        self._asset: AssetInfo | None = None
        self._token = 0
        self._closed = False
        self._lane = (runner or default_runner()).reads
        self._values: dict[str, _Value] = {}
        self._labels: dict[str, QLabel] = {}

        self._empty = QLabel("Select an image in the gallery to see how it was made.", self)
        self._empty.setObjectName("detailsEmpty")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setWordWrap(True)
        self._empty.setEnabled(False)  # muted palette colour

        content = QWidget()
        content.setObjectName("detailsContent")
        column = QVBoxLayout(content)
        column.setContentsMargins(10, 10, 10, 10)
        column.setSpacing(10)
        self.preview = _Preview(content)
        column.addWidget(self.preview)
        self.approximate_label = QLabel(APPROXIMATE_TEXT, content)
        self.approximate_label.setObjectName("detailsApproximate")
        self.approximate_label.setToolTip(APPROXIMATE_TIP)
        self.approximate_label.setAlignment(Qt.AlignmentFlag.AlignLeft)
        self.approximate_label.setStyleSheet(
            "QLabel { border: 1px solid palette(mid); border-radius: 9px; padding: 1px 8px; }")
        self.approximate_label.hide()
        column.addWidget(self.approximate_label, 0, Qt.AlignmentFlag.AlignLeft)

        self._form = QFormLayout()
        self._form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self._form.setFormAlignment(Qt.AlignmentFlag.AlignTop)
        self._form.setHorizontalSpacing(10)
        self._form.setVerticalSpacing(5)
        self._form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self._form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for key, label in FIELDS:
            name = QLabel(label, content)
            name.setEnabled(False)  # muted
            value = _Value(key, content)
            value.linkActivated.connect(self._on_value_link_activated)
            self._labels[key] = name
            self._values[key] = value
            self._form.addRow(name, value)
        column.addLayout(self._form)

        buttons = QGridLayout()
        buttons.setHorizontalSpacing(6)
        buttons.setVerticalSpacing(6)
        self.reuse_button = self._button("Reuse parameters", "detailsReuseButton",
                                         self._on_reuse_clicked)
        self.reuse_button.setDefault(True)
        self.reuse_button.setToolTip("Fill the prompt panel with this image's parameters")
        self.canvas_button = self._button("Open in canvas", "detailsOpenCanvasButton",
                                          self._on_canvas_clicked)
        self.copy_prompt_button = self._button("Copy prompt", "detailsCopyPromptButton",
                                               self.copy_prompt)
        self.copy_infotext_button = self._button("Copy infotext", "detailsCopyInfotextButton",
                                                 self.copy_infotext)
        self.copy_infotext_button.setToolTip("The A1111 parameters text (paste into A1111's "
                                             "prompt box to read it back)")
        self.folder_button = self._button("Show in file manager", "detailsShowInFolderButton",
                                          self.show_in_file_manager)
        buttons.addWidget(self.reuse_button, 0, 0)
        buttons.addWidget(self.canvas_button, 0, 1)
        buttons.addWidget(self.copy_prompt_button, 1, 0)
        buttons.addWidget(self.copy_infotext_button, 1, 1)
        buttons.addWidget(self.folder_button, 2, 0, 1, 2)
        column.addLayout(buttons)
        column.addStretch(1)

        self.toolbar = self._build_toolbar()

        self._scroll = QScrollArea(self)
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toolbar)  # outside the scroll area: always visible
        layout.addWidget(self._empty, 1)  # the space below the toolbar: it keeps its height
        layout.addWidget(self._scroll, 1)
        self.preview.double_clicked.connect(self._on_preview_double_clicked)
        self._live = False
        self.show_asset(None)

    def _build_toolbar(self) -> QWidget:
        """The image's actions in two short rows, so a narrow dock never hides one."""
        bar = QWidget(self)
        bar.setObjectName("detailsToolbar")
        bar.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        grid = QGridLayout(bar)
        grid.setContentsMargins(8, 4, 8, 4)
        grid.setHorizontalSpacing(2)
        grid.setVerticalSpacing(2)

        def add(text: str, name: str, tip: str, slot: Any, row: int, column: int) -> QAction:
            action = QAction(text, bar)
            action.setObjectName(name)
            action.setToolTip(tip)
            action.triggered.connect(slot)
            bar.addAction(action)
            button = QToolButton(bar)
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            grid.addWidget(button, row, column)
            return action

        self.use_all_action = add("Use all", "detailsUseAllAction",
                                  "Fill the prompt panel with every parameter of this image",
                                  self._on_reuse_clicked, 0, 0)
        self.use_prompt_action = add("Use prompt", "detailsUsePromptAction",
                                     "Use only this image's prompt and negative prompt",
                                     lambda: self._emit(self.reuse_prompt), 0, 1)
        self.use_seed_action = add("Use seed", "detailsUseSeedAction",
                                   "Use only this image's seed",
                                   lambda: self._emit(self.reuse_seed), 0, 2)
        self.canvas_action = add("Open in canvas", "detailsCanvasAction",
                                 "Refine or inpaint this image (Enter)", self._on_canvas_clicked,
                                 1, 0)
        self.copy_prompt_action = add("Copy prompt", "detailsCopyPromptAction",
                                      "Copy the prompt to the clipboard", self.copy_prompt, 1, 1)
        self.copy_infotext_action = add("Copy infotext", "detailsCopyInfotextAction",
                                        "Copy the A1111 parameters text", self.copy_infotext,
                                        1, 2)
        self.more_like_this_action = add(
            "More like this", "detailsMoreLikeThisAction",
            "Queue variations of this image: same seed and parameters, a random variation seed, "
            "the strength of the prompt panel's Variations (AUTOMATIC1111 only)",
            lambda: self._emit(self.more_like_this), 2, 0)
        self.upscale_action = add("Upscale…", "detailsUpscaleAction",
                                  "A larger copy of this image, made by an upscaler "
                                  "(A1111 only)", lambda: self._emit(self.upscale_requested),
                                  2, 1)
        return bar

    def _emit(self, signal: Any) -> None:
        if self._asset is not None:
            signal.emit(self._asset)

    def _button(self, text: str, name: str, slot: Any) -> QPushButton:
        button = QPushButton(text)
        button.setObjectName(name)
        button.clicked.connect(slot)
        return button

    # --- public API ---------------------------------------------------------------------------

    def asset(self) -> AssetInfo | None:
        return self._asset

    def field_text(self, key: str) -> str:
        """The shown text of a field, without markup (for tests and accessibility)."""
        label = self._values[key]
        doc = label.text()
        if label.textFormat() == Qt.TextFormat.RichText or "<a " in doc:
            from PySide6.QtGui import QTextDocument

            rich = QTextDocument()
            rich.setHtml(doc)
            return rich.toPlainText()
        return doc

    def field_links(self, key: str) -> list[str]:
        """Asset ids linked from a field (parent, children)."""
        import re

        return re.findall(r'href="asset:([^"]+)"', self._values[key].text())

    def is_field_shown(self, key: str) -> bool:
        return not self._values[key].isHidden()

    def show_asset(self, asset: AssetInfo | None) -> None:
        """Show an image (None: the empty state)."""
        previous = self._asset
        if self._library is None:
            asset = None
        self._asset = asset
        self._live = False
        for action in self.toolbar.actions():
            action.setEnabled(asset is not None)
        if asset is None:
            self._token += 1
            self._scroll.hide()
            self._empty.show()
            return
        self._empty.hide()
        self._scroll.show()
        if previous is None or previous.id != asset.id:
            self._scroll.verticalScrollBar().setValue(0)  # a new image starts at its top
        self._fill(asset)
        same_file = previous is not None and previous.id == asset.id and \
            previous.filePath == asset.filePath and previous.trashedAt == asset.trashedAt
        if same_file and not self.preview.is_live() and (
                self.preview.pixmap() is not None or self.preview.message()):
            return  # favourite toggled or similar: no need to decode again
        self._token += 1
        token = self._token
        self.preview.set_aspect(asset.width, asset.height)
        self.preview.set_message("Loading preview…")
        try:
            path = self._library.path_of(asset)
        except DlxError as exc:
            self.preview.set_message(exc.user_message)
            return
        self._lane.cancel(self)  # an older preview still queued is not wanted any more
        self._lane.run(load_preview, path, owner=self,
                       on_done=lambda image: self._on_preview_loaded(token, image),
                       on_error=lambda exc: self._on_preview_failed(token, exc))
        self._lane.run(_related, self._library, asset, owner=self,
                       on_done=lambda result: self._on_related_loaded(token, result),
                       on_error=lambda exc: self._on_related_failed(token, exc))

    def show_live_preview(self, image: QImage, caption: str = "") -> None:
        """Show a running job's live preview large, where the current image is.

        The next `show_asset` (the result, or the person picking an image) replaces it.
        """
        if image.isNull():
            return
        self._token += 1  # a preview of the current image still loading is not wanted now
        self._live = True
        self._empty.hide()
        self._scroll.show()
        self.preview.set_live(QPixmap.fromImage(image), caption or "Generating…")

    def is_showing_live_preview(self) -> bool:
        return self._live and self.preview.is_live()

    def end_live_preview(self) -> None:
        """The job ended: show the current image again."""
        if self._live:
            self._live = False
            asset, self._asset = self._asset, None
            self.show_asset(asset)

    @property
    def library(self) -> Library | None:
        return self._library

    def set_library(self, library: Library | None) -> None:
        """Describe images of another library (None: none yet); shows nothing selected."""
        self.show_asset(None)
        self._lane.cancel(self)
        self._library = library
        self._closed = False

    def shutdown(self, timeout_ms: int = 5000) -> None:
        self._closed = True
        self._lane.cancel(self)
        self._lane.wait(timeout_ms, self)

    def is_loading(self) -> bool:
        return self._lane.active(self) > 0

    # --- actions ------------------------------------------------------------------------------

    def copy_prompt(self) -> None:
        if self._asset is not None:
            QGuiApplication.clipboard().setText(self._asset.prompt or "")
            self.status_message.emit("Prompt copied.")

    def copy_infotext(self) -> None:
        if self._asset is not None and self._asset.infotext:
            QGuiApplication.clipboard().setText(self._asset.infotext)
            self.status_message.emit("Infotext copied.")

    def show_in_file_manager(self) -> None:
        if self._asset is None:
            return
        try:
            folder = self._library.path_of(self._asset).parent
        except DlxError as exc:
            self.status_message.emit(exc.user_message)
            return
        # Selecting the file itself is not portable on Linux: open its folder.
        if not open_url(QUrl.fromLocalFile(str(folder))):
            self.status_message.emit(f"Could not open {folder}.")

    # --- filling ------------------------------------------------------------------------------

    def _set(self, key: str, text: str, rich: bool = False) -> None:
        value = self._values[key]
        value.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
        value.setText(text)
        visible = not (key in OPTIONAL_FIELDS and text in ("", EMPTY))
        self._form.setRowVisible(value, visible)

    def _fill(self, asset: AssetInfo) -> None:
        self._set("prompt", asset.prompt or EMPTY)
        self._set("negative", asset.negative or EMPTY)
        self._set("model", asset.model or EMPTY)
        self._set("seed", EMPTY if asset.seed is None else str(asset.seed))
        self._set("steps", EMPTY if asset.steps is None else str(asset.steps))
        self._set("cfg", _number(asset.cfgScale))
        self._set("sampler", asset.sampler or EMPTY)
        self._set("scheduler", asset.scheduler or EMPTY)
        self._set("size", f"{asset.width} × {asset.height}" if asset.width and asset.height
                  else EMPTY)
        self._set("denoising", _number(asset.denoisingStrength)
                  if asset.kind in ("img2img", "inpaint") else "")
        self._set("kind", KIND_TEXT.get(asset.kind or "", asset.kind or EMPTY))
        backend = BACKEND_TEXT.get(asset.backend or "", asset.backend or EMPTY)
        if asset.approximate:
            backend += f" · {APPROXIMATE_TEXT}"
        self._set("backend", backend)
        self._set("fallback", asset.backendReason or "")
        self.approximate_label.setVisible(bool(asset.approximate))
        self._set("created", asset.createdAt.astimezone().strftime("%Y-%m-%d %H:%M:%S"))
        try:
            path = str(self._library.path_of(asset))
        except DlxError:
            path = asset.filePath
        notes = []
        if asset.trashedAt is not None:
            notes.append("in the trash")
        if asset.missingAt is not None:
            notes.append("missing")
        self._set("file", path + (f" ({', '.join(notes)})" if notes else ""))
        self._values["file"].setToolTip(path)
        self._set("file_size", human_size(asset.fileSize))
        if asset.parentId:
            self._set("parent", _link(asset.parentId, asset.parentId[:8]), rich=True)
        else:
            self._set("parent", "None (an original)")
        self._set("children", "…")
        self.copy_infotext_button.setEnabled(bool(asset.infotext))
        self.copy_prompt_button.setEnabled(bool(asset.prompt))
        self.copy_infotext_action.setEnabled(bool(asset.infotext))
        self.copy_prompt_action.setEnabled(bool(asset.prompt))
        self.use_prompt_action.setEnabled(bool(asset.prompt))
        self.use_seed_action.setEnabled(asset.seed is not None and asset.seed >= 0)
        self.canvas_action.setEnabled(asset.trashedAt is None)

    # --- slots --------------------------------------------------------------------------------

    def _alive(self, token: int) -> bool:
        return isValid(self) and not self._closed and token == self._token

    def _on_preview_loaded(self, token: int, image: QImage) -> None:
        if self._alive(token):
            self.preview.set_pixmap(QPixmap.fromImage(image))

    def _on_preview_failed(self, token: int, exc: BaseException) -> None:
        if self._alive(token):
            message = exc.user_message if isinstance(exc, DlxError) else \
                "The preview could not be loaded."
            self.preview.set_message(message)

    def _on_related_loaded(self, token: int,
                           result: tuple[AssetInfo | None, list[AssetInfo]]) -> None:
        if not self._alive(token) or self._asset is None:
            return
        parent, children = result
        if self._asset.parentId:
            if parent is not None:
                self._set("parent", _link(parent.id, _link_label(parent)), rich=True)
            else:
                self._set("parent", f"{self._asset.parentId[:8]} (no longer in the library)")
        if children:
            self._set("children", "<br>".join(_link(c.id, _link_label(c)) for c in children),
                      rich=True)
        else:
            self._set("children", "None")

    def _on_related_failed(self, token: int, exc: BaseException) -> None:
        if self._alive(token):
            self._set("children", exc.user_message if isinstance(exc, DlxError) else EMPTY)

    @Slot(str)
    def _on_value_link_activated(self, link: str) -> None:
        if link.startswith("asset:"):
            self.jump_to.emit(link.removeprefix("asset:"))

    @Slot()
    def _on_preview_double_clicked(self) -> None:
        if self._asset is not None and not self._live:
            self.open_viewer.emit(self._asset)

    @Slot()
    def _on_reuse_clicked(self) -> None:
        if self._asset is not None:
            self.reuse_parameters.emit(self._asset)

    @Slot()
    def _on_canvas_clicked(self) -> None:
        if self._asset is not None:
            self.open_in_canvas.emit(self._asset)
