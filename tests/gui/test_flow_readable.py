"""Read everything (issue 14): status messages and job errors are readable in full."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

from dlx_art.gui.jobs import JobState
from tests.gui.test_main_window import when_modal

pytestmark = [pytest.mark.gui]

LONG = ("Generation failed: A1111 at http://127.0.0.1:7860 ran out of GPU memory (CUDA out of "
        "memory. Tried to allocate 20.00 GiB; 7.79 GiB total capacity). Try a smaller size, a "
        "smaller batch or fewer images, or close other programs that use the GPU.")


def test_a_long_status_message_never_runs_into_the_backend_status(qtbot, studio):
    window = studio.open(start_background=False)
    window.resize(900, 700)
    window.backend_status.set_working(True)
    window.progress_bar.show()
    window.show_message(LONG, 0)
    bar = window.statusBar()
    qtbot.waitUntil(lambda: bar.details_button.isVisible(), timeout=3000)
    assert bar.currentMessage() == LONG
    label = bar.message_label
    assert label.toolTip() == LONG
    shown = QLabel.text(label)  # what is painted: elided
    assert shown.endswith("…") and len(shown) < len(LONG)
    right = label.mapTo(window, label.rect().topRight()).x()
    for widget in (bar.details_button, window.progress_bar, window.backend_status):
        assert widget.isVisible()
        assert widget.mapTo(window, widget.rect().topLeft()).x() > right, widget.objectName()

    # the whole message in a dialog
    seen = []
    errors = when_modal(lambda box: (seen.append(box.text()), box.close()), QMessageBox)
    bar.details_button.click()
    qtbot.waitUntil(lambda: bool(seen) or bool(errors), timeout=3000)
    assert seen == [LONG] and not errors

    # a short message: no Details, nothing elided; cleared after its time
    window.show_message("Saved.", 50)
    assert not bar.details_button.isVisible() and bar.currentMessage() == "Saved."
    qtbot.waitUntil(lambda: bar.currentMessage() == "", timeout=5000)


def test_a_failed_jobs_whole_error_shows_wrapped_in_the_jobs_panel(qtbot, studio, fake_a1111):
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    window.project_bar.create_project("Errors")
    window.prompt_panel.prompt_edit.setPlainText("doomed")
    window.prompt_panel.set_size(64, 64)
    window.prompt_panel.steps_spin.setValue(4)
    fake_a1111.failure = "oom"
    job = window.generate()
    qtbot.waitUntil(lambda: job.state.finished, timeout=15_000)
    assert job.state is JobState.failed and len(job.error) > 120
    panel = window.job_panel
    assert not panel.error_label.isVisible()
    panel.select_job(job.id)
    assert panel.error_label.isVisible() and panel.error_label.wordWrap()
    assert panel.error_label.text() == f"Error: {job.error}"
    QApplication.processEvents()
    assert panel.error_label.height() > panel.error_label.fontMetrics().height() * 2  # wrapped
    assert panel.error_label.width() <= panel.width()
