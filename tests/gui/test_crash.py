"""The crash handler: uncaught exceptions reach the log and a dialog, never a silent exit."""

from __future__ import annotations

import sys
import threading

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from dlx_art.gui import crash
from dlx_art.log import setup_logging
from dlx_art.paths import AppPaths

# pytest-qt would otherwise swap sys.excepthook around each test and report our exceptions itself
pytestmark = [pytest.mark.gui, pytest.mark.qt_no_exception_capture]


@pytest.fixture
def log_file(qapp, isolated_home, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(
        crash, "_state", {"log_file": None, "showing": False, "count": 0, "bridge": None}
    )
    path = setup_logging(paths=AppPaths.resolve(isolated_home).ensure())
    crash.install_crash_handler(path)
    yield path
    for box in crash_dialogs():
        box.close()


def crash_dialogs() -> list[QMessageBox]:
    return [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, QMessageBox) and w.objectName() == "dlx_crash_dialog" and w.isVisible()
    ]


def raise_in_slot(message: str) -> None:
    def slot() -> None:
        raise RuntimeError(message)

    QTimer.singleShot(0, slot)


def test_exception_in_a_slot_is_logged_and_shown(qtbot, log_file):
    raise_in_slot("brush exploded")
    qtbot.waitUntil(lambda: len(crash_dialogs()) == 1)

    box = crash_dialogs()[0]
    assert "RuntimeError: brush exploded" in box.text()
    assert str(log_file) in box.informativeText()
    assert "Traceback" in box.detailedText()
    text = log_file.read_text(encoding="utf-8")
    assert "CRITICAL" in text and "uncaught exception in thread MainThread" in text
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: brush exploded" in text
    assert crash.uncaught_count() == 1

    box.button(QMessageBox.StandardButton.Close).click()
    qtbot.waitUntil(lambda: not crash_dialogs())
    assert crash._state["showing"] is False


def test_blocking_dialog_on_a_real_display(qtbot, log_file, monkeypatch):
    # what a desktop session does: a modal exec(); a timer plays the person closing it
    monkeypatch.setattr(crash, "_headless", lambda: False)
    seen: list[str] = []

    def close_when_shown() -> None:
        modal = QApplication.activeModalWidget()
        if isinstance(modal, QMessageBox) and modal.objectName() == "dlx_crash_dialog":
            seen.append(modal.text())
            modal.button(QMessageBox.StandardButton.Close).click()

    closer = QTimer()
    closer.setInterval(20)
    closer.timeout.connect(close_when_shown)
    closer.start()
    raise_in_slot("modal trouble")
    qtbot.waitUntil(lambda: bool(seen))
    closer.stop()

    assert "modal trouble" in seen[0]
    assert "RuntimeError: modal trouble" in log_file.read_text(encoding="utf-8")
    assert crash._state["showing"] is False


def test_second_exception_while_the_dialog_is_up_is_only_logged(qtbot, log_file):
    raise_in_slot("first")
    qtbot.waitUntil(lambda: len(crash_dialogs()) == 1)
    raise_in_slot("second")
    qtbot.waitUntil(lambda: crash.uncaught_count() == 2)
    qtbot.wait(50)

    assert len(crash_dialogs()) == 1
    assert "first" in crash_dialogs()[0].text()
    text = log_file.read_text(encoding="utf-8")
    assert "RuntimeError: first" in text and "RuntimeError: second" in text


def test_a_failing_dialog_does_not_reenter(qtbot, log_file, monkeypatch):
    def broken(self, text):
        raise ValueError("dialog is broken")

    monkeypatch.setattr(QMessageBox, "setDetailedText", broken)
    raise_in_slot("original problem")
    qtbot.waitUntil(lambda: crash.uncaught_count() == 1)
    qtbot.wait(50)

    assert crash.uncaught_count() == 1  # the dialog's own failure did not come back round
    assert not crash_dialogs()
    assert crash._state["showing"] is False
    text = log_file.read_text(encoding="utf-8")
    assert "RuntimeError: original problem" in text
    assert "could not show the crash dialog" in text and "ValueError: dialog is broken" in text


def test_exception_in_a_plain_thread_shows_the_dialog_on_the_gui_thread(qtbot, log_file):
    def work() -> None:
        raise OSError("disk on fire")

    thread = threading.Thread(target=work, name="exporter")
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: len(crash_dialogs()) == 1)

    assert "OSError: disk on fire" in crash_dialogs()[0].text()
    text = log_file.read_text(encoding="utf-8")
    assert "uncaught exception in thread exporter" in text and "OSError: disk on fire" in text


def test_secrets_are_kept_out_of_the_dialog(qtbot, log_file):
    raise_in_slot("bad token hf_abcdefghijklmnop")
    qtbot.waitUntil(lambda: len(crash_dialogs()) == 1)

    box = crash_dialogs()[0]
    assert "hf_abcdefghijklmnop" not in box.text() + box.detailedText()
    assert "hf_abcdefghijklmnop" not in log_file.read_text(encoding="utf-8")


def test_keyboard_interrupt_is_left_to_python(log_file, monkeypatch):
    calls = []
    monkeypatch.setattr(sys, "__excepthook__", lambda *a: calls.append(a[0]))
    sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)

    assert calls == [KeyboardInterrupt]
    assert crash.uncaught_count() == 0
    assert not crash_dialogs()
