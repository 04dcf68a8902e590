"""Never lose work to a stray key or click (issue 14): Esc, Interrupt/Queue, undoable trash,
visible clamping of typed numbers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from dlx_art.generation.types import MAX_CFG_SCALE, MAX_IMAGES, MAX_STEPS
from dlx_art.gui.gallery import GalleryWidget
from dlx_art.gui.jobs import JobState
from dlx_art.gui.prompt_panel import PromptPanel
from dlx_art.library.service import Library
from tests.gui.test_gallery import add, ids_of
from tests.gui.test_main_window import when_modal

pytestmark = [pytest.mark.gui]


# --- typed numbers ----------------------------------------------------------------------------


@pytest.fixture
def panel(qtbot):
    widget = PromptPanel()
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def type_into(qtbot, box, text: str) -> None:
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key.Key_Return)


def test_spin_box_ranges_are_the_ones_a_request_accepts(panel):
    assert (panel.steps_spin.minimum(), panel.steps_spin.maximum()) == (1, MAX_STEPS)
    assert (panel.cfg_spin.minimum(), panel.cfg_spin.maximum()) == (0.0, MAX_CFG_SCALE)
    assert (panel.batch_spin.minimum(), panel.batch_spin.maximum()) == (1, MAX_IMAGES)


def test_typing_200_steps_gives_200(qtbot, panel):
    type_into(qtbot, panel.steps_spin, "200")
    assert panel.steps_spin.value() == 200
    assert not panel.hint_label.isVisible()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(box_name=st.sampled_from(["steps_spin", "batch_spin", "cfg_spin", "width_spin"]),
       typed=st.integers(min_value=0, max_value=10**7))
def test_a_typed_number_is_kept_or_clamped_to_the_limit_with_a_message(qtbot, panel, box_name,
                                                                       typed):
    box = getattr(panel, box_name)
    panel.set_hint("")
    box.setValue(box.minimum() + 1)
    box.last_message = ""
    type_into(qtbot, box, str(typed))
    low, high = box.minimum(), box.maximum()
    if low <= typed <= high:
        if box_name == "width_spin":
            assert abs(box.value() - typed) <= 4  # sizes snap to a multiple of 8
        else:
            assert box.value() == typed  # never a prefix of what was typed
        assert box.last_message == ""
    else:
        limit = high if typed > high else low
        assert box.value() == limit  # clamped to the limit, not to a prefix
        assert str(typed) in box.last_message and "set to" in box.last_message
        assert panel.hint_label.text() == box.last_message and panel.hint_label.isVisible()


def test_the_message_goes_when_a_value_in_range_is_typed(qtbot, panel):
    type_into(qtbot, panel.steps_spin, "5000")
    assert panel.steps_spin.value() == MAX_STEPS and "5000" in panel.hint_label.text()
    type_into(qtbot, panel.cfg_spin, "8")  # another box: the message stays
    assert "5000" in panel.hint_label.text()
    type_into(qtbot, panel.steps_spin, "30")
    assert panel.steps_spin.value() == 30 and not panel.hint_label.isVisible()


def test_a_typed_seed_beyond_the_largest_is_clamped_with_a_message(qtbot, panel):
    panel.seed_mode_combo.setCurrentIndex(panel.seed_mode_combo.findData("fixed"))
    type_into(qtbot, panel.seed_spin, "99999999999")
    assert int(panel.seed_spin.value()) == 2**32 - 1
    assert "99999999999" in panel.hint_label.text()


# --- trash ------------------------------------------------------------------------------------


@pytest.fixture
def project(library: Library):
    return library.create_project("Trash")


@pytest.fixture
def gallery(qtbot, library: Library):
    widget = GalleryWidget(library)
    qtbot.addWidget(widget)
    widget.resize(900, 640)
    widget.show()
    yield widget
    widget.shutdown()


def select(gallery, *assets) -> None:
    model, selection = gallery.model, gallery.view.selectionModel()
    selection.setCurrentIndex(model.index_of(assets[0].id), selection.SelectionFlag.ClearAndSelect)
    for asset in assets[1:]:
        selection.select(model.index_of(asset.id), selection.SelectionFlag.Select)


def click_button(text: str):
    def act(box: QMessageBox) -> None:
        assert box.objectName() == "trashConfirm"
        act.text = box.text()
        next(b for b in box.buttons() if b.text() == text).click()
    act.text = ""
    return act


def test_delete_then_ctrl_z_brings_the_images_back(qtbot, gallery, library, project):
    a, b, c = (add(library, project.id, f"image {i}", minutes=i) for i in range(3))
    gallery.set_project(project.id)
    select(gallery, a, c)
    gallery.view.setFocus()
    qtbot.keyClick(gallery.view, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: library.get_asset(a.id).trashedAt is not None
                    and library.get_asset(c.id).trashedAt is not None, timeout=5000)
    bar = gallery.trash_commands.bar
    qtbot.waitUntil(bar.isVisible, timeout=5000)
    assert "Moved 2 images to the trash" in bar.label.text()
    assert ids_of(gallery.model) == [b.id]

    gallery.view.setFocus()
    qtbot.keyClick(gallery.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: library.get_asset(a.id).trashedAt is None
                    and library.get_asset(c.id).trashedAt is None, timeout=5000)
    qtbot.waitUntil(lambda: set(ids_of(gallery.model)) == {a.id, b.id, c.id}, timeout=5000)
    assert library.path_of(library.get_asset(a.id)).exists()
    assert not bar.isVisible()
    assert not gallery.trash_commands.undo_action.isEnabled()  # nothing more to undo


def test_the_undo_button_in_the_message_restores(qtbot, gallery, library, project):
    a = add(library, project.id)
    gallery.set_project(project.id)
    select(gallery, a)
    gallery.trash_selected()
    bar = gallery.trash_commands.bar
    qtbot.waitUntil(bar.isVisible, timeout=5000)
    bar.undo_button.click()
    qtbot.waitUntil(lambda: library.get_asset(a.id).trashedAt is None, timeout=5000)
    qtbot.waitUntil(lambda: ids_of(gallery.model) == [a.id], timeout=5000)


def test_trashing_a_favorite_asks_first(qtbot, gallery, library, project):
    plain = add(library, project.id, minutes=1)
    fav = add(library, project.id, minutes=2, isFavorite=True)
    gallery.set_project(project.id)
    select(gallery, plain, fav)
    cancel = click_button("Cancel")
    errors = when_modal(cancel, QMessageBox)
    gallery.trash_selected()
    assert not errors and "1 of them favorite" in cancel.text
    assert set(ids_of(gallery.model)) == {plain.id, fav.id}
    assert library.get_asset(fav.id).trashedAt is None

    errors = when_modal(click_button("Move to Trash"), QMessageBox)
    gallery.trash_selected()
    assert not errors
    qtbot.waitUntil(lambda: library.get_asset(fav.id).trashedAt is not None
                    and library.get_asset(plain.id).trashedAt is not None, timeout=5000)


def test_no_question_without_favorites(qtbot, gallery, library, project):
    a = add(library, project.id)
    gallery.set_project(project.id)
    select(gallery, a)
    gallery.trash_selected()  # a modal question would block here
    qtbot.waitUntil(lambda: library.get_asset(a.id).trashedAt is not None, timeout=5000)


def test_empty_trash_asks_with_the_count_and_deletes_for_good(qtbot, gallery, library, project):
    other = library.create_project("Other")
    kept = add(library, project.id, minutes=1)
    doomed = [add(library, project.id, minutes=2), add(library, other.id, minutes=3)]
    for asset in doomed:
        library.trash(asset.id)
    gallery.set_project(project.id)
    gallery.show_trash(True)
    assert gallery.empty_trash_button.isVisible()

    cancel = click_button("Cancel")
    errors = when_modal(cancel, QMessageBox)
    messages: list[str] = []
    gallery.status_message.connect(messages.append)
    gallery.trash_commands.empty_action.trigger()
    qtbot.waitUntil(lambda: bool(cancel.text), timeout=5000)
    assert not errors and "2 images" in cancel.text
    assert library.count_assets(None, trashed=True) == 2

    delete = click_button("Delete 2 Images")
    errors = when_modal(delete, QMessageBox)
    gallery.empty_trash_button.click()
    qtbot.waitUntil(lambda: library.count_assets(None, trashed=True) == 0, timeout=5000)
    assert not errors
    qtbot.waitUntil(lambda: any("Deleted 2 images" in m for m in messages), timeout=5000)
    qtbot.waitUntil(lambda: ids_of(gallery.model) == [], timeout=5000)
    assert library.get_asset(kept.id).trashedAt is None
    gallery.show_trash(False)
    assert ids_of(gallery.model) == [kept.id]


def test_empty_trash_with_nothing_in_it_says_so(qtbot, gallery, library, project):
    messages: list[str] = []
    gallery.status_message.connect(messages.append)
    gallery.empty_trash()  # no question: a modal would block here
    qtbot.waitUntil(lambda: any("already empty" in m for m in messages), timeout=5000)


# --- Esc and the running job -------------------------------------------------------------------


def test_escape_in_a_text_field_never_cancels_the_running_job(qtbot, studio, fake_a1111):
    fake_a1111.step_time = 0.05
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    window.project_bar.create_project("Esc")
    window.prompt_panel.prompt_edit.setPlainText("a slow image")
    window.prompt_panel.steps_spin.setValue(150)
    job = window.generate()
    qtbot.waitUntil(lambda: job.step is not None and job.step > 1, timeout=10_000)
    search = window.gallery.search_edit
    search.setText("lighthouse")
    for field in (search, window.prompt_panel.prompt_edit, window.prompt_panel.steps_spin):
        window.activateWindow()
        field.setFocus()
        QTest.keyClick(field, Qt.Key.Key_Escape)
    step = job.step
    qtbot.waitUntil(lambda: job.step is not None and job.step > step + 2, timeout=10_000)
    assert job.state is JobState.running and not job.cancel_requested
    assert fake_a1111.interrupts == 0

    # in the Jobs panel Esc is meant for the job
    window.job_panel.view.setFocus()
    QTest.keyClick(window.job_panel.view, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: job.state.finished, timeout=15_000)
    assert job.state is JobState.cancelled


def test_interrupt_and_skip_sit_beside_generate_which_says_it_queues(qtbot, studio, fake_a1111):
    fake_a1111.step_time = 0.05
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    window.project_bar.create_project("Batch")
    panel = window.prompt_panel
    assert panel.generate_button.text() == "Generate"
    assert not panel.interrupt_button.isVisible() and not panel.skip_button.isVisible()
    panel.prompt_edit.setPlainText("three slow images")
    panel.set_size(64, 64)
    panel.steps_spin.setValue(40)
    panel.batch_spin.setValue(3)
    batch = window.generate()
    qtbot.waitUntil(lambda: batch.step is not None and batch.step > 1, timeout=30_000)
    assert panel.interrupt_button.isVisible() and panel.skip_button.isVisible()
    assert panel.generate_button.text() == "Add to Queue (1 ahead)"

    panel.batch_spin.setValue(1)
    panel.steps_spin.setValue(150)  # 7.5 s on the server: time to interrupt on a busy machine
    panel.generate_button.click()  # queuing more is possible, and says so
    single = window.jobs.model.jobs()[0]
    assert single is not batch and single.state is JobState.queued
    assert panel.generate_button.text() == "Add to Queue (2 ahead)"

    panel.skip_button.click()  # the first image ends early, the batch goes on
    qtbot.waitUntil(lambda: fake_a1111.skips == 1, timeout=30_000)
    qtbot.waitUntil(lambda: batch.state.finished, timeout=60_000)
    assert batch.state is JobState.done and len(batch.assets) == 3, batch.error

    qtbot.waitUntil(lambda: single.state is JobState.running and single.step is not None,
                    timeout=30_000)
    assert not panel.skip_button.isVisible()  # one image: nothing to skip to
    panel.interrupt_button.click()
    qtbot.waitUntil(lambda: single.state.finished, timeout=30_000)
    assert single.state is JobState.cancelled and fake_a1111.interrupts >= 1
    qtbot.waitUntil(lambda: panel.generate_button.text() == "Generate", timeout=30_000)
    assert not panel.interrupt_button.isVisible()
