"""Settings: library folder, AUTOMATIC1111 servers, Hugging Face, timeouts, theme.

The dialog edits a copy of `Settings`; the main window saves it and applies it (new backend
router, theme, library) after OK. Moving the library is `dlx_art.library.relocate` (run by the
session): every file is copied and verified (size and SHA-256) before the studio switches to
the new folder; the old folder is left untouched, so nothing is lost if anything goes wrong,
and the person deletes it when they are satisfied. Passwords and tokens are never logged.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from dlx_art.errors import DlxError, UsageError
from dlx_art.gui.connection_test import Probe, probe_a1111, probe_hf
from dlx_art.gui.tasks import TaskRunner, default_runner, run_task
from dlx_art.gui.theme import THEME_LABELS
from dlx_art.library.relocate import (  # noqa: F401 - the names this module used to define
    MoveProgress,
    check_move_target,
    copy_library,
    describe_move,
    library_files,
)
from dlx_art.settings import DEFAULT_A1111_URL, A1111Server, Settings

log = logging.getLogger("dlx_art.gui.settings")

HF_PROVIDERS = ["hf-inference", "auto", "fal-ai", "replicate", "together", "nebius", "nscale",
                "wavespeed"]


# --- widgets ----------------------------------------------------------------------------------


class _PasswordDelegate(QStyledItemDelegate):
    """Shows passwords as bullets and edits them in a password field."""

    def displayText(self, value: Any, _locale: Any) -> str:  # noqa: N802
        return "•" * min(len(str(value or "")), 12)

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem,  # noqa: N802
                     index: QModelIndex | QPersistentModelIndex) -> QWidget:
        editor = QLineEdit(parent)
        editor.setEchoMode(QLineEdit.EchoMode.Password)
        return editor


class SettingsDialog(QDialog):
    """Edits a copy of the settings. After `exec()` == Accepted read `result_settings` and
    `library_change` ((action, folder) with action "move" or "open", or None)."""

    def __init__(self, settings: Settings, storage_root: Path, *, parent: QWidget | None = None,
                 tab: str | None = None, runner: TaskRunner | None = None) -> None:
        super().__init__(parent)
        #: connection tests run on the runner's `backends` lane (network timeouts)
        self._runner = runner or default_runner()
        #: the Hugging Face Hub the HF connection test asks (None: huggingface_hub's default)
        self.hf_hub_url: str | None = None
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setModal(True)
        self._settings = copy.deepcopy(settings)
        self._root = storage_root
        self.result_settings: Settings | None = None
        self.library_change: tuple[str, Path] | None = None

        self.tabs = QTabWidget()
        self.tabs.setObjectName("settingsTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._library_tab(), "Library")
        self.tabs.addTab(self._a1111_tab(), "AUTOMATIC1111")
        self.tabs.addTab(self._hf_tab(), "Hugging Face")
        self.tabs.addTab(self._network_tab(), "Network")
        self.tabs.addTab(self._appearance_tab(), "Appearance")
        names = ["library", "a1111", "hf", "network", "appearance"]
        if tab in names:
            self.tabs.setCurrentIndex(names.index(tab))

        self.error_label = QLabel()
        self.error_label.setObjectName("settingsError")
        self.error_label.setProperty("role", "error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._on_ok)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(10)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.resize(640, 460)
        self._check_hf_login()

    # --- tabs ---------------------------------------------------------------------------------

    def _page(self) -> tuple[QWidget, QVBoxLayout]:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(14, 14, 14, 14)
        layout.setSpacing(10)
        return page, layout

    def _library_tab(self) -> QWidget:
        page, layout = self._page()
        self.root_edit = QLineEdit(str(self._root))
        self.root_edit.setObjectName("storageRootEdit")
        self.root_edit.setReadOnly(True)
        self.move_button = QPushButton("Move Library…")
        self.move_button.setObjectName("moveLibraryButton")
        self.move_button.setToolTip("Copy every image and the catalog to another folder, verify "
                                    "the copy, then use it. The old folder is kept.")
        self.open_button = QPushButton("Use Another Library…")
        self.open_button.setObjectName("openLibraryButton")
        self.open_button.setToolTip("Switch to a library in another folder (a new one is "
                                    "created when the folder is empty).")
        self.move_button.clicked.connect(lambda: self._choose_folder("move"))
        self.open_button.clicked.connect(lambda: self._choose_folder("open"))
        row = QHBoxLayout()
        row.addWidget(self.root_edit, 1)
        layout.addWidget(_label("Storage folder: the catalog and every project's images."))
        layout.addLayout(row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.move_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.library_note = QLabel()
        self.library_note.setObjectName("libraryChangeNote")
        self.library_note.setWordWrap(True)
        self.library_note.setProperty("role", "hint")
        layout.addWidget(self.library_note)
        layout.addWidget(_label(
            "Moving copies the catalog, the project folders, the trash and the catalog backups, "
            "checks every copied file against its original, and only then switches. The old "
            "folder stays untouched until you delete it.", hint=True))
        layout.addStretch(1)
        return page

    def _a1111_tab(self) -> QWidget:
        page, layout = self._page()
        layout.addWidget(_label("Servers are tried in this order; the first one that is up and "
                                "idle gets the job. Start the WebUI with --api."))
        self.server_table = QTableWidget(0, 4)
        self.server_table.setObjectName("serverTable")
        self.server_table.setHorizontalHeaderLabels(["Address", "User", "Password", ""])
        header = self.server_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.server_table.setColumnWidth(1, 110)
        self.server_table.setColumnWidth(2, 110)
        self.server_table.verticalHeader().hide()
        self.server_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.server_table.setItemDelegateForColumn(2, _PasswordDelegate(self.server_table))
        for server in self._settings.a1111_servers:
            self._add_server_row(server.url, server.user, server.password)
        layout.addWidget(self.server_table, 1)
        self.server_test_label = _result_label("serverTestResult")
        layout.addWidget(self.server_test_label)
        buttons = QHBoxLayout()
        add = QPushButton("Add")
        add.setObjectName("addServerButton")
        add.setToolTip(f"Add a server (the WebUI's usual address is {DEFAULT_A1111_URL})")
        add.clicked.connect(lambda: self._add_server_row("", "", "", edit=True))
        remove = QPushButton("Remove")
        remove.setObjectName("removeServerButton")
        remove.clicked.connect(self._remove_server_row)
        up = QPushButton("Move Up")
        up.clicked.connect(lambda: self._move_server_row(-1))
        down = QPushButton("Move Down")
        down.clicked.connect(lambda: self._move_server_row(1))
        for button in (add, remove, up, down):
            button.setAutoDefault(False)
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.inpaint_model_check = QCheckBox("Inpaint with the model's inpainting checkpoint when "
                                             "the server has one")
        self.inpaint_model_check.setObjectName("inpaintModelCheck")
        self.inpaint_model_check.setToolTip(
            "A masked refinement of an image made with “dreamshaper_8” uses "
            "“dreamshaper_8-inpainting” when the server lists it (the job names the model it "
            "used). Off: always the image's own model.")
        self.inpaint_model_check.setChecked(self._settings.a1111_inpaint_model == "auto")
        layout.addWidget(self.inpaint_model_check)
        return page

    def _hf_tab(self) -> QWidget:
        page, layout = self._page()
        self.hf_fallback_check = QCheckBox("Use Hugging Face when AUTOMATIC1111 is busy or not "
                                           "reachable")
        self.hf_fallback_check.setObjectName("hfFallbackCheck")
        self.hf_fallback_check.setChecked(self._settings.hf_fallback)
        layout.addWidget(self.hf_fallback_check)
        self.hf_login_radio = QRadioButton("Use my Hugging Face login (hf auth login or HF_TOKEN)")
        self.hf_login_radio.setObjectName("hfLoginRadio")
        self.hf_token_radio = QRadioButton("Use this access token:")
        self.hf_token_radio.setObjectName("hfTokenRadio")
        self.hf_login_status = QLabel("Checking for a login…")
        self.hf_login_status.setObjectName("hfLoginStatus")
        self.hf_login_status.setProperty("role", "hint")
        self.hf_token_edit = QLineEdit(self._settings.hf_token or "")
        self.hf_token_edit.setObjectName("hfTokenEdit")
        self.hf_token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.hf_token_edit.setPlaceholderText("hf_…")
        reveal = QAction("Show", self.hf_token_edit)
        reveal.setCheckable(True)
        reveal.toggled.connect(lambda on: self.hf_token_edit.setEchoMode(
            QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password))
        self.hf_token_edit.addAction(reveal, QLineEdit.ActionPosition.TrailingPosition)
        (self.hf_token_radio if self._settings.hf_token else self.hf_login_radio).setChecked(True)
        self.hf_token_radio.toggled.connect(self.hf_token_edit.setEnabled)
        self.hf_token_edit.setEnabled(self.hf_token_radio.isChecked())
        layout.addWidget(self.hf_login_radio)
        indent = QHBoxLayout()
        indent.setContentsMargins(24, 0, 0, 0)
        indent.addWidget(self.hf_login_status)
        layout.addLayout(indent)
        layout.addWidget(self.hf_token_radio)
        indent2 = QHBoxLayout()
        indent2.setContentsMargins(24, 0, 0, 0)
        indent2.addWidget(self.hf_token_edit)
        layout.addLayout(indent2)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.hf_model_edit = QLineEdit(self._settings.hf_model)
        self.hf_model_edit.setObjectName("hfModelEdit")
        self.hf_model_edit.setPlaceholderText("e.g. stabilityai/stable-diffusion-xl-base-1.0")
        self.hf_provider_combo = QComboBox()
        self.hf_provider_combo.setObjectName("hfProviderCombo")
        self.hf_provider_combo.setEditable(True)
        self.hf_provider_combo.addItems(HF_PROVIDERS)
        self.hf_provider_combo.setCurrentText(self._settings.hf_provider)
        self.hf_endpoint_edit = QLineEdit(self._settings.hf_endpoint or "")
        self.hf_endpoint_edit.setObjectName("hfEndpointEdit")
        self.hf_endpoint_edit.setPlaceholderText("Optional: URL of a dedicated Inference Endpoint")
        form.addRow("Model", self.hf_model_edit)
        form.addRow("Provider", self.hf_provider_combo)
        form.addRow("Endpoint URL", self.hf_endpoint_edit)
        layout.addSpacing(6)
        layout.addLayout(form)
        test_row = QHBoxLayout()
        self.hf_test_button = QPushButton("Test Connection")
        self.hf_test_button.setObjectName("hfTestButton")
        self.hf_test_button.setAutoDefault(False)
        self.hf_test_button.setToolTip("Check the sign-in and the model (no image is made)")
        self.hf_test_button.clicked.connect(self.test_hf)
        test_row.addWidget(self.hf_test_button)
        test_row.addStretch(1)
        layout.addLayout(test_row)
        self.hf_test_label = _result_label("hfTestResult")
        layout.addWidget(self.hf_test_label)
        layout.addStretch(1)
        return page

    def _network_tab(self) -> QWidget:
        page, layout = self._page()
        form = QFormLayout()
        self.connect_timeout_spin = _seconds(self._settings.connect_timeout, 0.5, 60,
                                             "connectTimeoutSpin")
        self.read_timeout_spin = _seconds(self._settings.read_timeout, 10, 7200, "readTimeoutSpin")
        self.busy_wait_spin = _seconds(self._settings.busy_wait, 0, 600, "busyWaitSpin")
        self.hf_timeout_spin = _seconds(self._settings.hf_timeout, 10, 3600, "hfTimeoutSpin")
        form.addRow("Connect timeout", self.connect_timeout_spin)
        form.addRow("Generation timeout", self.read_timeout_spin)
        form.addRow("Wait for a busy server", self.busy_wait_spin)
        form.addRow("Hugging Face timeout", self.hf_timeout_spin)
        layout.addLayout(form)
        layout.addWidget(_label("A busy server (another program's job) is waited for this long "
                                "before the job goes to Hugging Face.", hint=True))
        layout.addStretch(1)
        return page

    def _appearance_tab(self) -> QWidget:
        page, layout = self._page()
        form = QFormLayout()
        self.theme_combo = QComboBox()
        self.theme_combo.setObjectName("themeCombo")
        for key, label in THEME_LABELS.items():
            self.theme_combo.addItem(label, key)
        self.theme_combo.setCurrentIndex(max(0, self.theme_combo.findData(self._settings.theme)))
        form.addRow("Theme", self.theme_combo)
        layout.addLayout(form)
        layout.addStretch(1)
        return page

    # --- servers ------------------------------------------------------------------------------

    def _add_server_row(self, url: str, user: str, password: str, *, edit: bool = False) -> None:
        row = self.server_table.rowCount()
        self.server_table.insertRow(row)
        for column, value in enumerate((url, user, password)):
            self.server_table.setItem(row, column, QTableWidgetItem(value))
        self._set_test_button(row)
        if edit:
            self.server_table.setCurrentCell(row, 0)
            self.server_table.editItem(self.server_table.item(row, 0))

    @Slot()
    def _remove_server_row(self) -> None:
        row = self.server_table.currentRow()
        if row >= 0:
            self.server_table.removeRow(row)

    def _move_server_row(self, delta: int) -> None:
        row = self.server_table.currentRow()
        target = row + delta
        if row < 0 or not 0 <= target < self.server_table.rowCount():
            return
        values = [self._cell(row, c) for c in range(3)]
        self.server_table.removeRow(row)
        self.server_table.insertRow(target)
        for column, value in enumerate(values):
            self.server_table.setItem(target, column, QTableWidgetItem(value))
        self._set_test_button(target)
        self.server_table.setCurrentCell(target, 0)

    def _set_test_button(self, row: int) -> None:
        button = QPushButton("Test")
        button.setObjectName("testServerButton")
        button.setAutoDefault(False)
        button.setToolTip("Test the connection: what the server has, and whether sign-in works")
        button.clicked.connect(lambda: self._on_test_server_clicked(button))
        self.server_table.setCellWidget(row, 3, button)

    def _on_test_server_clicked(self, button: QPushButton) -> None:
        for row in range(self.server_table.rowCount()):
            if self.server_table.cellWidget(row, 3) is button:
                self.test_server(row)
                return

    def test_server(self, row: int) -> None:
        """Test the server in `row` on the backends lane; the result shows under the table."""
        url = self._cell(row, 0)
        label = self.server_test_label
        if not url:
            _show_result(label, Probe(False, "Enter the server's address first."))
            return
        password_item = self.server_table.item(row, 2)
        server = A1111Server(url, self._cell(row, 1),
                             password_item.text() if password_item is not None else "")
        button = self.server_table.cellWidget(row, 3)
        if button is not None:
            button.setEnabled(False)
        label.setText(f"Testing {url}…")
        label.setProperty("role", "hint")
        _repolish(label)
        label.show()
        timeout = self.connect_timeout_spin.value()

        def done(probe: Probe) -> None:
            if not isValid(self):
                return
            _show_result(label, probe)
            if button is not None and isValid(button):
                button.setEnabled(True)

        self._runner.backends.run(probe_a1111, server, timeout, owner=self, on_done=done)

    @Slot()
    def test_hf(self) -> None:
        """Test the Hugging Face sign-in and model on the backends lane."""
        token = self.hf_token_edit.text().strip() if self.hf_token_radio.isChecked() else None
        if self.hf_token_radio.isChecked() and not token:
            _show_result(self.hf_test_label, Probe(False, "Enter a token first."))
            return
        model = self.hf_model_edit.text().strip()
        endpoint = self.hf_endpoint_edit.text().strip() or None
        self.hf_test_button.setEnabled(False)
        self.hf_test_label.setText("Testing Hugging Face…")
        self.hf_test_label.setProperty("role", "hint")
        _repolish(self.hf_test_label)
        self.hf_test_label.show()

        def done(probe: Probe) -> None:
            if not isValid(self):
                return
            _show_result(self.hf_test_label, probe)
            self.hf_test_button.setEnabled(True)

        self._runner.backends.run(probe_hf, token, model, endpoint, self.hf_timeout_spin.value(),
                                  self.hf_hub_url, owner=self, on_done=done)

    def _cell(self, row: int, column: int) -> str:
        item = self.server_table.item(row, column)
        return item.text().strip() if item is not None else ""

    def servers(self) -> list[A1111Server]:
        servers = []
        for row in range(self.server_table.rowCount()):
            url = self._cell(row, 0)
            if url:
                password_item = self.server_table.item(row, 2)
                password = password_item.text() if password_item is not None else ""
                servers.append(A1111Server(url, self._cell(row, 1), password))
        return servers

    # --- library ------------------------------------------------------------------------------

    def _choose_folder(self, action: str) -> None:
        title = "Move the Library to…" if action == "move" else "Use the Library in…"
        folder = QFileDialog.getExistingDirectory(self, title, str(self._root.parent))
        if folder:
            self.set_library_change(action, Path(folder))

    def set_library_change(self, action: str, folder: Path) -> None:
        """Plan a library move ("move") or switch ("open"); done by the main window after OK."""
        try:
            if action == "move":
                check_move_target(self._root, folder)
        except UsageError as exc:
            self.library_note.setText(exc.user_message)
            self.library_change = None
            return
        self.library_change = (action, folder)
        if action == "move":
            note = f"After OK the library is copied to {folder}, verified, and used from there."
        else:
            note = f"After OK the studio uses the library in {folder}."
        self.library_note.setText(note)

    # --- Hugging Face login -------------------------------------------------------------------

    def _check_hf_login(self) -> None:
        def probe() -> bool:
            from dlx_art.generation.hf import find_token

            return find_token(None) is not None

        def shown(found: bool) -> None:
            with contextlib.suppress(RuntimeError):  # the dialog closed meanwhile
                self.hf_login_status.setText(
                    "Signed in: a Hugging Face token was found." if found else
                    "Not signed in. Run `hf auth login` in a terminal, or enter a token below.")

        run_task(probe, on_done=shown, on_error=lambda _e: shown(False))

    # --- OK -----------------------------------------------------------------------------------

    @Slot()
    def _on_ok(self) -> None:
        try:
            self.result_settings = self.collect()
        except DlxError as exc:
            self.error_label.setText(exc.user_message)
            self.error_label.show()
            return
        self.accept()

    def collect(self) -> Settings:
        """The edited settings; raises `UsageError` for values that cannot work."""
        from dlx_art.generation.a1111 import normalise_base_url

        settings = copy.deepcopy(self._settings)
        servers = self.servers()
        for server in servers:
            server.url, url_auth = normalise_base_url(server.url)
            if url_auth and not server.user:
                server.user, server.password = url_auth
        settings.a1111_servers = servers
        settings.a1111_inpaint_model = "auto" if self.inpaint_model_check.isChecked() else "off"
        settings.hf_fallback = self.hf_fallback_check.isChecked()
        if self.hf_token_radio.isChecked():
            token = self.hf_token_edit.text().strip()
            if not token:
                raise UsageError("Enter a Hugging Face token, or choose “Use my Hugging Face "
                                 "login”.")
            settings.hf_token = token
        else:
            settings.hf_token = None
        model = self.hf_model_edit.text().strip()
        endpoint = self.hf_endpoint_edit.text().strip() or None
        if not model and not endpoint:
            raise UsageError("Enter a Hugging Face model id (or an endpoint URL).")
        if endpoint and not endpoint.startswith(("http://", "https://")):
            raise UsageError("The Hugging Face endpoint URL must start with https:// (or "
                             "http://).")
        settings.hf_model = model
        settings.hf_endpoint = endpoint
        settings.hf_provider = self.hf_provider_combo.currentText().strip() or "hf-inference"
        settings.connect_timeout = self.connect_timeout_spin.value()
        settings.read_timeout = self.read_timeout_spin.value()
        settings.busy_wait = self.busy_wait_spin.value()
        settings.hf_timeout = self.hf_timeout_spin.value()
        settings.theme = str(self.theme_combo.currentData())
        settings.validate()
        return settings


def _result_label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def _repolish(widget: QWidget) -> None:
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def _show_result(label: QLabel, probe: Probe) -> None:
    label.setText(("✓ " if probe.ok else "✗ ") + probe.text)
    label.setProperty("role", "hint" if probe.ok else "error")
    _repolish(label)
    label.show()


def _label(text: str, *, hint: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if hint:
        label.setProperty("role", "hint")
    return label


def _seconds(value: float, low: float, high: float, name: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setObjectName(name)
    spin.setRange(low, high)
    spin.setDecimals(1)
    spin.setSuffix(" s")
    spin.setValue(value)
    return spin
