"""Whole workflows in the real window against the fake servers over loopback."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from dlx_art.gui.jobs import JobRole, JobState
from tests.gui.conftest import closed_port_url
from tests.gui.test_main_window import fill_name_and_ok, when_modal

pytestmark = [pytest.mark.gui, pytest.mark.integration,
              pytest.mark.usefixtures("fail_on_dangling_tasks")]


def gallery_assets(window):
    model = window.gallery.model
    return [model.asset_at(r) for r in range(model.rowCount())]


def press_generate(window):
    """Ctrl+Enter with the focus in the prompt, as a person does."""
    edit = window.prompt_panel.prompt_edit
    window.activateWindow()  # shortcuts need the active window (a dialog may just have closed)
    QTest.qWaitForWindowActive(window, 2000)
    edit.setFocus()
    QTest.keyClick(edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def last_job(window):
    return window.jobs.model.jobs()[0]


def test_generate_favorite_reuse_generate_again(qtbot, studio, fake_a1111):
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    errors = when_modal(fill_name_and_ok("Lighthouses"))
    window.empty_page.button.click()
    assert not errors and window.current_project().name == "Lighthouses"
    qtbot.waitUntil(lambda: window.monitor.latest is not None, timeout=10_000)

    panel = window.prompt_panel
    panel.prompt_edit.setPlainText("a lighthouse in a storm")
    panel.negative_edit.setPlainText("blurry")
    panel.steps_spin.setValue(12)
    panel.cfg_spin.setValue(6.5)
    panel.set_size(576, 448)
    panel.sampler_combo.setCurrentIndex(panel.sampler_combo.findData("Euler a"))
    press_generate(window)
    job = last_job(window)
    qtbot.waitUntil(lambda: job.state.finished, timeout=15_000)
    assert job.state is JobState.done, job.error

    # the image is in the gallery, newest first, with its parameters
    qtbot.waitUntil(lambda: len(gallery_assets(window)) == 1, timeout=5000)
    first = gallery_assets(window)[0]
    assert (first.prompt, first.negative, first.steps, first.cfgScale) == \
        ("a lighthouse in a storm", "blurry", 12, 6.5)
    assert (first.width, first.height, first.sampler) == (576, 448, "Euler a")
    assert first.backend == "a1111"
    assert window.gallery.select_asset(first.id)
    qtbot.waitUntil(lambda: window.details.asset() is not None, timeout=5000)
    assert window.details.field_text("prompt") == "a lighthouse in a storm"
    assert "576" in window.details.field_text("size")
    assert "Generated 1 image" in window.statusBar().currentMessage()

    # favorite from the Edit menu
    window.favorite_action.trigger()
    qtbot.waitUntil(lambda: window.library.get_asset(first.id).isFavorite, timeout=5000)

    # reuse parameters from the details panel
    panel.prompt_edit.setPlainText("something else")
    panel.steps_spin.setValue(30)
    window.details.reuse_button.click()
    assert panel.prompt_edit.toPlainText() == "a lighthouse in a storm"
    assert (panel.steps_spin.value(), panel.cfg_spin.value()) == (12, 6.5)
    assert (panel.width_spin.value(), panel.height_spin.value()) == (576, 448)
    assert panel.seed_mode() == "fixed" and int(panel.seed_spin.value()) == first.seed

    # generate again with the Generate button: same seed, new image at the top
    panel.generate_button.click()
    job2 = last_job(window)
    assert job2 is not job
    qtbot.waitUntil(lambda: job2.state.finished, timeout=15_000)
    assert job2.state is JobState.done, job2.error
    qtbot.waitUntil(lambda: len(gallery_assets(window)) == 2, timeout=5000)
    newest = gallery_assets(window)[0]
    assert newest.id == job2.assets[0].id
    assert newest.seed == first.seed and newest.prompt == first.prompt
    panel.seed_mode_combo.setCurrentIndex(panel.seed_mode_combo.findData("reuse"))
    assert int(panel.seed_spin.value()) == newest.seed  # "reuse last" follows the newest image


def test_fallback_to_hugging_face_shows_the_reason(qtbot, studio, fake_hf):
    studio.configure(a1111=[closed_port_url()], hf_token="hf_testtoken1234567890",
                     hf_endpoint=fake_hf.model_url("org/tiny-model"), hf_model="org/tiny-model")
    window = studio.open()
    window.project_bar.create_project("Fallback")
    qtbot.waitUntil(lambda: window.monitor.latest is not None, timeout=10_000)
    assert "Hugging Face available" in window.backend_status.text()
    assert not window.banner.isVisible()  # Hugging Face can take jobs: not "no backend"

    window.prompt_panel.prompt_edit.setPlainText("a fox")
    window.prompt_panel.set_size(256, 256)
    press_generate(window)
    job = last_job(window)
    qtbot.waitUntil(lambda: job.state.finished, timeout=20_000)
    assert job.state is JobState.done, job.error
    assert job.backend == "hf"
    assert job.fallback_reason and "instead" in job.fallback_reason
    status = window.backend_status.text()
    assert "Fell back" in status and job.fallback_reason in status
    assert job.fallback_reason in window.statusBar().currentMessage()
    asset = window.library.get_asset(job.assets[0].id)
    assert asset.backend == "hf" and asset.backendReason == job.fallback_reason
    qtbot.waitUntil(lambda: len(gallery_assets(window)) == 1, timeout=5000)


def test_escape_in_the_jobs_panel_cancels_the_running_job(qtbot, studio, fake_a1111):
    fake_a1111.step_time = 0.05
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    project = window.project_bar.create_project("Cancel")
    window.prompt_panel.prompt_edit.setPlainText("a very slow image")
    window.prompt_panel.steps_spin.setValue(150)
    press_generate(window)
    job = last_job(window)
    qtbot.waitUntil(lambda: job.step is not None and job.step > 1, timeout=10_000)
    assert window.progress_bar.isVisible()
    assert "Step" in window.progress_bar.format()
    # Esc cancels only in the Jobs panel (in a text field it keeps its usual meaning)
    window.job_panel.view.setFocus()
    QTest.keyClick(window.job_panel.view, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: job.state.finished, timeout=15_000)
    assert job.state is JobState.cancelled
    assert fake_a1111.interrupts >= 1
    assert window.library.count_assets(project.id) == 0
    assert gallery_assets(window) == []
    index = window.jobs.model.index(0, 0)
    assert window.jobs.model.data(index, JobRole.state) == "cancelled"
    qtbot.waitUntil(lambda: not window.progress_bar.isVisible(), timeout=5000)


def test_cancel_button_and_cancel_all(qtbot, studio, fake_a1111):
    fake_a1111.step_time = 0.05
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    window.project_bar.create_project("Many")
    window.prompt_panel.prompt_edit.setPlainText("slow")
    window.prompt_panel.steps_spin.setValue(150)
    jobs = [window.generate() for _ in range(3)]
    qtbot.waitUntil(lambda: jobs[0].step is not None, timeout=10_000)
    window.job_panel.cancel_button.click()
    qtbot.waitUntil(lambda: jobs[0].state.finished, timeout=15_000)
    assert jobs[0].state is JobState.cancelled
    qtbot.waitUntil(lambda: jobs[1].state is JobState.running, timeout=5000)
    window.job_panel.cancel_all_button.click()
    qtbot.waitUntil(lambda: all(j.state.finished for j in jobs), timeout=15_000)
    assert [j.state for j in jobs] == [JobState.cancelled] * 3


FAILURES = ["validation", "error", "oom", "forge-500", "drop", "garbage", "bad-base64",
            "not-image", "bomb"]


def test_every_backend_failure_is_shown_without_freezing(qtbot, studio, fake_a1111, heartbeat):
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    window.project_bar.create_project("Failures")
    window.prompt_panel.prompt_edit.setPlainText("doomed")
    window.prompt_panel.set_size(64, 64)
    window.prompt_panel.steps_spin.setValue(4)
    fake_a1111.failure = FAILURES[0]
    jobs = []
    for failure in FAILURES:
        fake_a1111.failure = failure
        job = window.generate()
        jobs.append(job)
        heartbeat.wait_until(qtbot, lambda job=job: job.state.finished, timeout=15_000)
    heartbeat.assert_responsive()
    model = window.jobs.model
    shown = {model.data(model.index(r, 0), JobRole.job_id):
             (model.data(model.index(r, 0), JobRole.state),
              model.data(model.index(r, 0), JobRole.status_text))
             for r in range(model.rowCount())}
    for job, failure in zip(jobs, FAILURES, strict=True):
        state, text = shown[job.id]
        assert state == "failed", (failure, job.error)
        assert text == job.error and len(text) > 10, failure
        assert "Unexpected" not in text, failure
    assert window.library.count_assets(window.current_project().id) == 0
    # the failed job can be retried from the panel once the server is fixed
    fake_a1111.failure = None
    window.job_panel.select_job(jobs[-1].id)
    assert window.job_panel.retry_button.isEnabled()
    window.job_panel.retry_button.click()
    retried = last_job(window)
    qtbot.waitUntil(lambda: retried.state.finished, timeout=15_000)
    assert retried.state is JobState.done


def test_gui_stays_responsive_during_a_generation(qtbot, studio, fake_a1111, heartbeat):
    fake_a1111.step_time = 0.02
    fake_a1111.options["show_progress_every_n_steps"] = 1
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    window.project_bar.create_project("Heartbeat")
    qtbot.waitUntil(lambda: window.monitor.latest is not None, timeout=10_000)
    window.prompt_panel.prompt_edit.setPlainText("steady")
    window.prompt_panel.steps_spin.setValue(60)
    window.prompt_panel.set_size(512, 512)
    window.prompt_panel.batch_spin.setValue(2)
    job = window.generate()
    heartbeat.wait_until(qtbot, lambda: job.state.finished and
                         len(gallery_assets(window)) == 2, timeout=20_000)
    assert job.state is JobState.done, job.error
    assert job.preview is not None  # live previews were decoded (off the GUI thread)
    heartbeat.assert_responsive()


def test_gui_stays_responsive_importing_1000_images(qtbot, studio, tmp_path, heartbeat):
    """An import of 1,000 images through the full window keeps the GUI thread under 50 ms.

    The files are staged in worker processes (an import this large does not share the GIL with
    the window), named and catalogued in batches on a worker thread, and the gallery shows them.
    """
    from tests.support.images import png_bytes

    window = studio.open(start_background=False)
    folder = tmp_path / "to-import"
    folder.mkdir()
    for i in range(1000):
        color = (i % 256, (i // 256) * 40, 160)  # every file different
        (folder / f"img-{i:04d}.png").write_bytes(png_bytes(24, 24, color=color))
    project = window.project_bar.create_project("Import")
    reports = []
    window.gallery.import_finished.connect(reports.append)
    window.import_files([str(folder)])
    heartbeat.wait_until(qtbot, lambda: reports and window.gallery.loader.is_idle(),
                         timeout=120_000)
    assert len(reports[0].imported) == 1000
    assert window.library.count_assets(project.id) == 1000
    assert "Imported" in window.statusBar().currentMessage()
    heartbeat.assert_responsive()


def test_refine_in_canvas_makes_a_child_image(qtbot, studio, fake_a1111):
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    window.project_bar.create_project("Refine")
    window.prompt_panel.prompt_edit.setPlainText("a portrait")
    window.prompt_panel.set_size(128, 96)
    job = window.generate()
    qtbot.waitUntil(lambda: job.state.finished, timeout=15_000)
    parent = job.assets[0]
    qtbot.waitUntil(lambda: len(gallery_assets(window)) == 1, timeout=5000)
    window.gallery.select_asset(parent.id)
    window.canvas_action.trigger()
    qtbot.waitUntil(lambda: window.tabs.currentWidget() is window.canvas, timeout=5000)
    assert window.canvas.asset_id == parent.id

    # inpaint: paint the whole mask, press Inpaint
    window.canvas.view.fill_mask()
    window.canvas.panel.prompt_edit.setPlainText("a portrait with a hat")
    assert window.canvas.panel.inpaint_button.isEnabled()
    window.canvas.panel.inpaint_button.click()
    job = last_job(window)
    assert job.origin == "canvas" and job.request.kind == "inpaint"
    assert (job.request.width, job.request.height) == (128, 96)
    assert job.request.parent_id == parent.id and job.request.mask
    qtbot.waitUntil(lambda: job.state.finished, timeout=15_000)
    assert job.state is JobState.done, job.error
    child = job.assets[0]
    assert child.parentId == parent.id and child.kind == "inpaint"
    qtbot.waitUntil(lambda: window.canvas.compare_bar.isVisible(), timeout=5000)
    assert not window.canvas._busy
    qtbot.waitUntil(lambda: len(gallery_assets(window)) == 2, timeout=5000)
    payload = fake_a1111.last_payload("/sdapi/v1/img2img")
    assert payload["mask"] and payload["init_images"]


def test_ctrl_enter_in_the_canvas_inpaints_instead_of_generating(qtbot, studio, fake_a1111):
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    window.project_bar.create_project("Keys")
    window.prompt_panel.prompt_edit.setPlainText("base")
    window.prompt_panel.set_size(64, 64)
    job = window.generate()
    qtbot.waitUntil(lambda: job.state.finished, timeout=15_000)
    qtbot.waitUntil(lambda: len(gallery_assets(window)) == 1, timeout=5000)
    window.open_in_canvas(job.assets[0])
    qtbot.waitUntil(lambda: window.tabs.currentWidget() is window.canvas, timeout=5000)
    window.canvas.view.fill_mask()
    window.canvas.view.setFocus()
    qtbot.waitUntil(lambda: window.canvas.view.hasFocus(), timeout=2000)
    count = window.jobs.model.rowCount()
    QTest.keyClick(window.canvas.view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.jobs.model.rowCount() == count + 1
    assert last_job(window).origin == "canvas"
    qtbot.waitUntil(lambda: last_job(window).state.finished, timeout=15_000)


def test_project_switch_switches_the_gallery(qtbot, studio, tmp_path):
    from tests.support.images import png_bytes

    window = studio.open(start_background=False)
    a = window.project_bar.create_project("A")
    b = window.project_bar.create_project("B")
    window.library.add_image(a.id, png_bytes(32, 32), values={"prompt": "in a"})
    window.library.add_image(b.id, png_bytes(32, 32, color=(0, 0, 200)), values={"prompt": "in b"})
    combo = window.project_bar.combo
    combo.setCurrentIndex(combo.findText("A"))
    assert [x.prompt for x in gallery_assets(window)] == ["in a"]
    combo.setCurrentIndex(combo.findText("B"))
    assert [x.prompt for x in gallery_assets(window)] == ["in b"]
    assert window.windowTitle().startswith("B — ")


def test_images_from_another_project_are_not_added_to_the_shown_gallery(qtbot, studio,
                                                                         fake_a1111):
    fake_a1111.step_time = 0.03
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    window.project_bar.create_project("Other")
    first = window.project_bar.create_project("First")
    window.prompt_panel.prompt_edit.setPlainText("for First")
    window.prompt_panel.steps_spin.setValue(20)
    job = window.generate()
    window.project_bar.combo.setCurrentIndex(window.project_bar.combo.findText("Other"))
    qtbot.waitUntil(lambda: job.state.finished, timeout=15_000)
    assert job.assets[0].projectId == first.id
    assert gallery_assets(window) == []
    window.project_bar.select_project(first.id)
    assert [a.id for a in gallery_assets(window)] == [job.assets[0].id]

