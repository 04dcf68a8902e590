"""The studio window: names, first run, projects, persistence, backends, settings, lock, entry."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QLabel,
    QListView,
    QMessageBox,
    QPushButton,
    QWidget,
)

from dlx_art.errors import LibraryLocked
from dlx_art.gui.main_window import LibraryLock, png_size
from tests.gui.conftest import closed_port_url

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("fail_on_dangling_tasks")]

REPO = Path(__file__).resolve().parents[2]


def when_modal(action, cls=QDialog, errors=None, tries=500):
    """Run `action(dialog)` as soon as a modal `cls` is open (dialogs block in exec())."""
    errors = errors if errors is not None else []

    def poll(left=tries):
        widget = QApplication.activeModalWidget()
        if isinstance(widget, cls):
            try:
                action(widget)
            except Exception as exc:  # never leave a modal dialog blocking the test
                errors.append(exc)
                widget.reject() if isinstance(widget, QDialog) else widget.close()
        elif left:
            QTimer.singleShot(10, lambda: poll(left - 1))

    QTimer.singleShot(0, poll)
    return errors


def submit_project_dialog(dialog):
    """Click OK in a project dialog and wait for its work (on a worker thread) to finish."""
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    submit_project_dialog_wait(dialog)


def submit_project_dialog_wait(dialog):
    deadline = time.monotonic() + 10
    while dialog.busy and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.002)
    assert not dialog.busy


def fill_name_and_ok(name):
    def act(dialog):
        dialog.name_edit.setText(name)
        submit_project_dialog(dialog)
        if dialog.isVisible():  # an inline error kept it open: report and close
            message = dialog.error_label.text()
            dialog.reject()
            raise AssertionError(f"dialog refused {name!r}: {message}")
    return act


# --- names and first run ----------------------------------------------------------------------


def test_object_names(studio):
    window = studio.open(start_background=False)
    window.project_bar.create_project("Names")
    names = {
        "projectCombo": QComboBox, "promptEdit": QWidget, "negativePromptEdit": QWidget,
        "modelCombo": QComboBox, "samplerCombo": QComboBox, "stepsSpin": QWidget,
        "cfgSpin": QWidget, "seedSpin": QWidget, "widthSpin": QWidget, "heightSpin": QWidget,
        "batchSpin": QWidget, "generateButton": QPushButton, "cancelButton": QPushButton,
        "jobList": QListView, "backendStatus": QWidget, "galleryView": QWidget,
        "detailsPanel": QWidget,
    }
    for name, cls in names.items():
        assert window.findChild(cls, name) is not None, name


def test_first_run_empty_state_creates_first_project(qtbot, studio):
    window = studio.open(start_background=False)
    assert window.central.currentWidget() is window.empty_page
    button = window.findChild(QPushButton, "createFirstProjectButton")
    assert button.isVisible()
    assert not window.prompt_panel.generate_button.isEnabled()
    assert window.windowTitle() == "DLX Art Studio"
    errors = when_modal(fill_name_and_ok("My First Project"))
    button.click()
    assert not errors
    assert window.central.currentWidget() is window.workspace
    assert window.windowTitle() == "My First Project — DLX Art Studio"
    assert window.prompt_panel.generate_button.isEnabled()
    assert window.project_bar.combo.currentText() == "My First Project"


def test_projects_create_rename_archive_switch_through_the_ui(qtbot, studio):
    window = studio.open(start_background=False)
    bar = window.project_bar
    combo = window.findChild(QComboBox, "projectCombo")
    for name in ("Alpha", "Beta"):
        errors = when_modal(fill_name_and_ok(name))
        bar.new_action.trigger()
        assert not errors
    assert combo.currentText() == "Beta"
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert texts[:2] == ["Beta", "Alpha"] and texts[-1] == "New project…"

    # switching through the combo switches the window at once
    combo.setCurrentIndex(combo.findText("Alpha"))
    assert window.current_project().name == "Alpha"
    assert window.windowTitle() == "Alpha — DLX Art Studio"

    # a clashing name is refused inside the dialog, which stays open
    seen = {}

    def clash(dialog):
        dialog.name_edit.setText("beta")
        submit_project_dialog(dialog)
        seen["open"] = dialog.isVisible()
        seen["error"] = dialog.error_label.text()
        dialog.reject()

    when_modal(clash)
    bar.rename_action.trigger()
    assert seen["open"] and seen["error"]

    errors = when_modal(fill_name_and_ok("Alpha Prime"))
    bar.rename_action.trigger()
    assert not errors
    assert combo.currentText() == "Alpha Prime"
    assert window.windowTitle() == "Alpha Prime — DLX Art Studio"
    assert window.library.get_project("Alpha Prime").folder

    # archive (on a worker thread): it leaves the list and the window switches to the rest
    bar.archive_action.trigger()
    assert not bar.archive_action.isEnabled()  # until it is done
    qtbot.waitUntil(lambda: window.current_project().name == "Beta")
    assert combo.findText("Alpha Prime") < 0
    bar.show_archived_action.setChecked(True)
    index = combo.findText("Alpha Prime (archived)")
    assert index > 0
    combo.setCurrentIndex(index)
    assert bar.archive_action.text().replace("&", "") == "Unarchive Project"
    bar.archive_action.trigger()
    qtbot.waitUntil(lambda: combo.findText("Alpha Prime") >= 0)
    assert window.library.get_project("Alpha Prime").status == "active"

    # the "New project…" item opens the dialog and keeps the current project on cancel
    current = window.current_project().id
    when_modal(lambda d: d.reject())
    combo.setCurrentIndex(combo.count() - 1)
    assert window.current_project().id == current


def test_renaming_a_big_project_does_not_freeze_the_window(qtbot, studio, heartbeat,
                                                          monkeypatch):
    """The dialog's library work runs on a worker thread while the dialog shows it is busy."""
    window = studio.open(start_background=False)
    bar = window.project_bar
    bar.create_project("Huge")
    real = window.library.rename_project

    def slow_rename(project_id, name):
        time.sleep(0.5)  # what rewriting the paths of 100,000 images costs
        return real(project_id, name)

    monkeypatch.setattr(window.library, "rename_project", slow_rename)
    seen = {}

    def rename(dialog):
        dialog.name_edit.setText("Huge, renamed")
        heartbeat.start()
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
        seen["busy"] = (dialog.busy, dialog.error_label.text(), dialog.name_edit.isEnabled())
        submit_project_dialog_wait(dialog)
        heartbeat.stop()

    errors = when_modal(rename)
    bar.rename_action.trigger()
    assert not errors
    assert seen["busy"] == (True, "Renaming the project and its folder…", False)
    heartbeat.assert_responsive()
    assert window.current_project().name == "Huge, renamed"
    assert window.windowTitle() == "Huge, renamed — DLX Art Studio"


# --- persistence ------------------------------------------------------------------------------


def test_restart_restores_project_prompt_and_layout(qtbot, studio):
    window = studio.open(start_background=False)
    bar = window.project_bar
    first = bar.create_project("First")
    bar.create_project("Second")  # the most recently used one
    bar.select_project(first.id)
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText("a misty forest")
    panel.negative_edit.setPlainText("text")
    panel.steps_spin.setValue(31)
    panel.set_size(640, 896)
    panel.batch_spin.setValue(2)
    window.jobs_dock.hide()
    window.resize(760, 560)  # the offscreen screen is 800 x 600
    size = (window.width(), window.height())
    assert size != (1360, 860)
    studio.close(window)

    again = studio.open(start_background=False)
    assert again.current_project().id == first.id
    assert again.windowTitle() == "First — DLX Art Studio"
    p = again.prompt_panel
    assert p.prompt_edit.toPlainText() == "a misty forest"
    assert p.negative_edit.toPlainText() == "text"
    assert (p.steps_spin.value(), p.width_spin.value(), p.height_spin.value(),
            p.batch_spin.value()) == (31, 640, 896, 2)
    assert not again.jobs_dock.isVisible()
    assert again.height() == size[1]  # (the width is clamped to the 800 px offscreen screen)


# --- backends ---------------------------------------------------------------------------------


def test_no_backend_reachable_is_detected_and_explained(qtbot, studio):
    studio.configure(a1111=[closed_port_url()], hf_token=None)
    window = studio.open()
    window.project_bar.create_project("P")
    qtbot.waitUntil(lambda: window.monitor.latest is not None, timeout=10_000)
    assert window.banner.isVisible()
    text = window.banner.label.text()
    assert "--api" in text and "hf auth login" in text
    status = window.findChild(QWidget, "backendStatus")
    assert "A1111 not running" in status.text()
    assert "Hugging Face not signed in" in status.text()


def test_backend_up_fills_lists_and_hides_banner(qtbot, studio, fake_a1111):
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    window.project_bar.create_project("P")
    qtbot.waitUntil(lambda: window.monitor.latest is not None, timeout=10_000)
    assert not window.banner.isVisible()
    assert "A1111 ready" in window.backend_status.text()
    models = [window.prompt_panel.model_combo.itemData(i)
              for i in range(window.prompt_panel.model_combo.count())]
    assert any(m and "v1-5-pruned-emaonly" in m for m in models)
    samplers = [window.prompt_panel.sampler_combo.itemData(i)
                for i in range(window.prompt_panel.sampler_combo.count())]
    assert "DPM++ 2M" in samplers and "LCM" in samplers

    # the server goes away: "Check Backends" notices it
    fake_a1111.stop()
    window.refresh_action.trigger()
    qtbot.waitUntil(lambda: "not running" in window.backend_status.text(), timeout=10_000)
    assert window.banner.isVisible()


# --- settings ---------------------------------------------------------------------------------


def test_settings_dialog_saves_and_applies(qtbot, studio, caplog):
    window = studio.open(start_background=False)

    def edit(dialog):
        dialog.server_table.item(0, 0).setText("127.0.0.1:7861/")
        dialog.server_table.item(0, 1).setText("artist")
        dialog.server_table.item(0, 2).setText("pa55-word-xyz")
        dialog.hf_token_radio.setChecked(True)
        dialog.hf_token_edit.setText("hf_abcdefghijklmnop")
        dialog.hf_model_edit.setText("org/model")
        dialog.hf_fallback_check.setChecked(False)
        assert dialog.inpaint_model_check.isChecked()  # "auto" by default
        dialog.inpaint_model_check.setChecked(False)
        dialog.read_timeout_spin.setValue(120)
        dialog.theme_combo.setCurrentIndex(dialog.theme_combo.findData("light"))
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()

    caplog.set_level("DEBUG", logger="dlx_art")
    errors = when_modal(edit)
    assert window.open_settings()
    assert not errors
    settings = window.context.settings
    assert settings.a1111_servers[0].url == "http://127.0.0.1:7861"
    assert (settings.a1111_servers[0].user, settings.a1111_servers[0].password) == \
        ("artist", "pa55-word-xyz")
    assert settings.hf_token == "hf_abcdefghijklmnop" and settings.hf_model == "org/model"
    assert settings.hf_fallback is False and settings.read_timeout == 120
    assert settings.a1111_inpaint_model == "off"
    assert settings.theme == "light"
    assert window.theme_actions["light"].isChecked()
    assert QApplication.palette().window().color().lightness() > 128
    reloaded = type(settings).load(window.context.paths.settings_file)
    assert reloaded.a1111_servers[0].password == "pa55-word-xyz"
    assert "pa55-word-xyz" not in caplog.text and "hf_abcdefghijklmnop" not in caplog.text
    window.theme_actions["dark"].trigger()
    assert QApplication.palette().window().color().lightness() < 128


def test_settings_dialog_refuses_unusable_values(qtbot, studio):
    window = studio.open(start_background=False)
    seen = {}

    def edit(dialog):
        dialog.hf_token_radio.setChecked(True)
        dialog.hf_token_edit.setText("")
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
        seen["open"] = dialog.isVisible()
        seen["error"] = dialog.error_label.text()
        dialog.reject()

    when_modal(edit)
    assert not window.open_settings()
    assert seen["open"] and "token" in seen["error"]


def test_move_library_copies_verifies_and_switches(qtbot, studio, tmp_path):
    from tests.support.images import png_bytes

    window = studio.open(start_background=False)
    project = window.project_bar.create_project("Movable")
    asset = window.library.add_image(project.id, png_bytes(64, 64), values={"prompt": "keep me"})
    old_root = Path(window.library.root)
    original = window.library.path_of(asset).read_bytes()
    target = tmp_path / "moved library"
    with qtbot.waitSignal(window.session.move_finished, timeout=30_000) as finished:
        assert window.move_library(target)  # starts it; the window does not wait
    assert finished.args[0] is True
    assert Path(window.library.root) == target.resolve()
    assert window.context.settings.storage_root == str(target)
    moved = window.library.get_asset(asset.id)
    assert window.library.path_of(moved).read_bytes() == original
    assert (old_root / "library.sqlite3").exists()  # the original stays until deleted
    assert window.current_project().name == "Movable"
    assert (target / ".dlx-art.lock").exists()
    assert not (old_root / ".dlx-art.lock").exists()
    # a second move into a non-empty folder is refused without touching anything
    assert not window.move_library(old_root)
    assert Path(window.library.root) == target.resolve()


# --- quitting ---------------------------------------------------------------------------------


def test_quit_with_running_job_asks_then_cancels(qtbot, studio, fake_a1111):
    fake_a1111.step_time = 0.05
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    window.project_bar.create_project("Q")
    window.prompt_panel.prompt_edit.setPlainText("long job")
    window.prompt_panel.steps_spin.setValue(150)
    job = window.generate()
    qtbot.waitUntil(lambda: job.step is not None, timeout=10_000)

    def keep(box):
        box.button = [b for b in box.buttons() if "Keep" in b.text()][0]
        box.button.click()

    when_modal(keep, QMessageBox)
    window.close()
    assert window.isVisible() and not window._shut_down

    when_modal(lambda box: [b for b in box.buttons() if "Quit" in b.text()][0].click(),
               QMessageBox)
    window.close()
    assert window._shut_down and not window.isVisible()
    assert job.state.finished or window.jobs.pool.activeThreadCount() == 0
    assert fake_a1111.interrupts >= 1


# --- single instance and entry point ----------------------------------------------------------


def test_second_instance_on_same_library_is_refused(studio, tmp_path):
    window = studio.open(start_background=False)
    with pytest.raises(LibraryLocked, match="already has the library"):
        LibraryLock(Path(window.library.root)).acquire()
    other = LibraryLock(tmp_path / "other").acquire()  # another library is fine
    other.release()


def test_app_main_refuses_a_locked_library(qtbot, studio, capsys):
    from dlx_art import app

    window = studio.open(start_background=False)
    home = os.environ["DLX_ART_HOME"]
    assert Path(window.library.root) == Path(home).resolve()
    assert app.main(["--home", home, "--smoke"]) == 1
    assert "already has the library" in capsys.readouterr().err


def test_app_main_smoke_in_process(qtbot, tmp_path, capsys):
    from dlx_art import app

    home = tmp_path / "smoke-home"
    assert app.main(["--home", str(home), "--smoke"]) == 0
    assert "smoke test passed" in capsys.readouterr().err
    assert (home / "library.sqlite3").exists()
    assert not (home / ".dlx-art.lock").exists()
    assert not QApplication.windowIcon().isNull()
    assert QApplication.applicationName() == "DLX Art Studio"
    # two different libraries can be opened one after the other in one process
    assert app.main(["--home", str(tmp_path / "second"), "--smoke"]) == 0


@pytest.mark.integration
def test_dlx_art_smoke_subprocess(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("DLX_ART_HOME", None)
    exe = Path(sys.executable).with_name("dlx-art")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "dlx_art"]
    result = subprocess.run([*command, "--smoke", "--home", str(tmp_path / "home")], env=env,
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "home" / "library.sqlite3").exists()


# --- misc -------------------------------------------------------------------------------------


def test_about_shows_version_library_and_backends(qtbot, studio):
    from dlx_art import __version__

    window = studio.open(start_background=False)
    seen = {}

    def read(box):
        seen["text"] = box.text()
        box.close()

    when_modal(read, QMessageBox)
    window.about_action.trigger()
    assert __version__ in seen["text"]
    assert str(window.library.root) in seen["text"]
    assert "Backends" in seen["text"]


def test_png_size_reads_header_only():
    from tests.support.images import png_bytes

    assert png_size(png_bytes(72, 40)) == (72, 40)
    assert png_size(b"not a png") is None


def test_status_label_never_forces_the_window_wider(studio):
    window = studio.open(start_background=False)
    window.backend_status.set_last_job("Hugging Face x", "A1111 at http://127.0.0.1:1 is not "
                                       "running. " * 20 + "Used Hugging Face instead.")
    label = window.backend_status.findChild(QLabel, "backendStatusText")
    assert label.minimumSizeHint().width() < 200
    assert "Used Hugging Face instead." in window.backend_status.text()


def test_startup_checks_run_in_background_and_report(qtbot, studio):
    from dlx_art.config import load_context

    context = load_context()
    library = context.open_library()
    project = library.create_project("Checked")
    images = Path(library.root) / "Projects" / project.folder / "Assets" / "Images"
    images.mkdir(parents=True, exist_ok=True)
    (images / ".half-written.png.abc123.part").write_bytes(b"partial")
    library.close()

    window = studio.open()
    qtbot.waitUntil(lambda: "Library check" in window.statusBar().currentMessage(),
                    timeout=10_000)
    assert "temporary files removed" in window.statusBar().currentMessage()
    assert not (images / ".half-written.png.abc123.part").exists()
    qtbot.waitUntil(window.session.runner.idle, timeout=10_000)
    assert list((Path(window.library.root) / ".backups").glob("library-*.sqlite3"))


def test_switch_to_another_library(qtbot, studio, tmp_path):
    window = studio.open(start_background=False)
    window.project_bar.create_project("Here")
    other = tmp_path / "other library"
    with qtbot.waitSignal(window.session.switch_finished, timeout=30_000) as finished:
        assert window.switch_library(other)
    assert finished.args[0] is True
    assert Path(window.library.root) == other.resolve()
    assert window.central.currentWidget() is window.empty_page  # a new, empty library
    assert window.context.settings.storage_root == str(other)
    assert (other / ".dlx-art.lock").exists()
    window.project_bar.create_project("There")
    assert window.windowTitle() == "There — DLX Art Studio"


def test_previews_are_asked_for_only_while_someone_can_see_them(qtbot, studio):
    window = studio.open(start_background=False)
    window.project_bar.create_project("P")
    window._update_preview_wanted()
    assert window.jobs._want_preview()
    window.jobs_dock.hide()
    window._update_preview_wanted()
    assert not window.jobs._want_preview()
    window.tabs.setCurrentWidget(window.canvas)  # the canvas shows previews too
    assert window.jobs._want_preview()


def test_ctrl_enter_generates_from_anywhere_but_the_canvas(qtbot, studio):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    window = studio.open(start_background=False)
    window.project_bar.create_project("Keys")
    window.prompt_panel.prompt_edit.setPlainText("from the gallery")
    window.activateWindow()
    QTest.qWaitForWindowActive(window, 2000)
    generated = []
    window.generate_action.triggered.disconnect()
    window.generate_action.triggered.connect(lambda: generated.append(1))
    window.gallery.view.setFocus()
    QTest.keyClick(window.gallery.view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    window.job_panel.view.setFocus()
    QTest.keyClick(window.job_panel.view, Qt.Key.Key_Enter, Qt.KeyboardModifier.ControlModifier)
    assert len(generated) == 2
    window.tabs.setCurrentWidget(window.canvas)
    window.canvas.view.setFocus()
    QTest.keyClick(window.canvas.view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert len(generated) == 2  # the canvas's own Ctrl+Enter (Inpaint) wins there


def test_app_main_reports_an_unreadable_catalog(qtbot, tmp_path, capsys):
    from dlx_art import app

    home = tmp_path / "broken-home"
    home.mkdir()
    (home / "library.sqlite3").write_bytes(b"this is not a database" * 100)
    assert app.main(["--home", str(home), "--smoke"]) == 1
    err = capsys.readouterr().err
    assert "library.sqlite3" in err or "catalog" in err.lower()
    assert not (home / ".dlx-art.lock").exists()


def test_window_opens_its_library_in_the_background(qtbot, studio):
    from dlx_art.config import load_context
    from dlx_art.gui.main_window import MainWindow
    from dlx_art.gui.session import Session

    context = load_context()
    window = MainWindow(Session.locked(context), start_background=False)
    studio.windows.append(window)
    assert window.library is None
    assert window.gallery.library is None  # the real gallery, saying the library is opening
    assert window.gallery.view.empty_text == "Opening the library…"
    assert not window.project_bar.isEnabled()
    window.show()
    with qtbot.waitSignal(window.library_ready, timeout=20_000):
        pass
    assert window.library is not None
    assert window.project_bar.isEnabled()
    assert window.central.currentWidget() is window.empty_page
    assert window.gallery.library is window.library


def test_title_ends_with_the_app_name_so_qt_does_not_repeat_it(qtbot, studio):
    """Qt appends the display name to a title that does not end with it ("A — P — A")."""
    from PySide6.QtGui import QGuiApplication

    from dlx_art.app import _set_app_identity

    _set_app_identity(QGuiApplication.instance())  # as dlx_art.app.main does
    window = studio.open(start_background=False)
    window.project_bar.create_project("Harbor")
    assert QGuiApplication.applicationDisplayName() == "DLX Art Studio"
    assert window.windowTitle().endswith(QGuiApplication.applicationDisplayName())
