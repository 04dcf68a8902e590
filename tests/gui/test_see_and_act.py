"""Issue 14, "See every result" and "Act in one click": results become current, hidden
results are announced, the full-size viewer, selection that never tints the picture, the
selection count, the favorites filter state, the image toolbar and reuse.

Real `Library` in `tmp_path`, real PNGs, the real window against the fake A1111 on loopback.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QItemSelectionModel, QPoint, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QToolButton, QWidget

from dlx_art.gui.details_panel import DetailsPanel
from dlx_art.gui.gallery import GalleryWidget
from dlx_art.gui.gallery.model import Role
from dlx_art.gui.jobs import JobState
from dlx_art.gui.lineage_view import ASSET_ROLE, LineageView
from dlx_art.gui.prompt_panel import PromptPanel
from dlx_art.gui.viewer import ImageViewer
from tests.gui.test_gallery import add
from tests.support.images import png_bytes

GREEN = (112, 230, 81)


@pytest.fixture
def project(library):
    return library.create_project("Flow")


@pytest.fixture
def gallery(qtbot, library):
    widget = GalleryWidget(library)
    qtbot.addWidget(widget)
    widget.resize(900, 640)
    yield widget
    widget.shutdown()


def _pixels(image: QImage, rect) -> list[int]:
    return [image.pixel(x, y) for y in range(rect.top(), rect.bottom() + 1)
            for x in range(rect.left(), rect.right() + 1)]


# --- results become current ---------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.usefixtures("fail_on_dangling_tasks")
def test_after_a_batch_of_four_the_newest_is_current_and_the_preview_was_large(
        qtbot, studio, fake_a1111):
    fake_a1111.step_time = 0.02
    fake_a1111.options["show_progress_every_n_steps"] = 1
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    project = window.project_bar.create_project("Batch")
    qtbot.waitUntil(lambda: window.monitor.latest is not None, timeout=10_000)
    older = window.library.add_image(project.id, png_bytes(), values={"prompt": "older"})
    window.gallery.add_assets([older])
    assert window.gallery.select_asset(older.id)  # an image was current before the job...
    captions: list[str] = []
    window.jobs.job_progress.connect(
        lambda _job: captions.append(window.details.preview.caption()))
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText("four owls")
    panel.steps_spin.setValue(30)
    panel.set_size(512, 512)
    panel.batch_spin.setValue(4)
    job = window.generate()
    qtbot.waitUntil(lambda: job.state.finished, timeout=30_000)
    assert job.state is JobState.done, job.error
    assert len(job.assets) == 4
    newest = max(job.assets, key=lambda a: a.createdAt)
    # ...but the person did not pick another while it ran: the newest result is current
    qtbot.waitUntil(lambda: window.gallery.current_asset() is not None
                    and window.gallery.current_asset().id == newest.id, timeout=5000)
    assert window.details.asset().id == newest.id
    assert not window.details.is_showing_live_preview()  # the result replaced the preview
    assert any(c.startswith("Generating") for c in captions)  # shown large in the details


def test_a_result_does_not_steal_the_image_the_person_picked(qtbot, gallery, library, project):
    a = add(library, project.id, "a", minutes=1)
    b = add(library, project.id, "b", minutes=2)
    gallery.set_project(project.id)
    picks = gallery.person_picks
    gallery.view.setFocus()
    gallery.view.selectionModel().setCurrentIndex(  # a click, as far as the gallery knows
        gallery.model.index_of(a.id), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    new = add(library, project.id, "c", minutes=3)
    gallery.show_results([new], picks)
    assert gallery.current_asset().id == a.id
    assert gallery.model.row_of(new.id) == 0  # still shown, at the top
    newer = add(library, project.id, "d", minutes=4)
    gallery.show_results([newer], gallery.person_picks)  # no pick since this job started
    assert gallery.current_asset().id == newer.id
    assert b.id in {x.id for x in gallery.model.loaded_assets()}


def test_a_filter_that_hides_a_result_says_so_and_show_reveals_it(
        qtbot, gallery, library, project):
    add(library, project.id, "an owl", minutes=1)
    gallery.set_project(project.id)
    gallery.set_search("owl")
    messages: list[str] = []
    gallery.status_message.connect(messages.append)
    fox = add(library, project.id, "a fox", minutes=2)
    gallery.show_results([fox], gallery.person_picks)
    bar = gallery.findChild(type(gallery._hidden_bar), "galleryHiddenResults")
    assert not bar.isHidden()
    assert "hidden by the search “owl”" in gallery.hidden_label.text()
    assert messages and "hidden" in messages[-1]
    gallery.show_hidden_button.click()
    assert bar.isHidden() and gallery.search_edit.text() == ""
    assert gallery.current_asset().id == fox.id

    gallery.set_favorites_only(True)
    fox2 = add(library, project.id, "another fox", minutes=3)
    gallery.show_results([fox2], gallery.person_picks)
    assert "favorites filter" in gallery.hidden_label.text()


# --- selection never tints the picture ----------------------------------------------------------


def test_a_selected_tile_keeps_the_pictures_colours(qtbot, gallery, library, project):
    asset = add(library, project.id, "green", color=GREEN, size=(120, 120))
    other = add(library, project.id, "other", minutes=1)
    gallery.set_project(project.id)
    gallery.show()
    qtbot.waitExposed(gallery)
    index = gallery.model.index_of(asset.id)
    qtbot.waitUntil(lambda: index.data(Role.thumbnail_state) == "ready", timeout=5000)
    gallery.select_asset(other.id)
    view = gallery.view
    cell = view.visualRect(index)
    tile = view.delegate.tile_rect(QRectF(cell))
    picture = tile.adjusted(10, 10, -10, -10).toRect()  # well inside the thumbnail

    before = view.viewport().grab().toImage()
    view.selectionModel().select(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
    after = view.viewport().grab().toImage()
    assert _pixels(before, picture) == _pixels(after, picture)
    assert QColor(after.pixel(picture.center())).getRgb()[:3] == GREEN
    # the selection is visible: around the picture, the cell changed
    middle = cell.center().y()
    ring = [QPoint(cell.left() + 2, middle), QPoint(round(tile.left()) + 1, middle)]
    assert any(before.pixel(p) != after.pixel(p) for p in ring)


def test_lineage_icons_look_the_same_selected(qtbot, library, project):
    view = LineageView(library)
    qtbot.addWidget(view)
    parent = library.add_image(project.id, png_bytes(48, 48, color=GREEN), values={"prompt": "p"})
    child = library.add_image(project.id, png_bytes(48, 48, color=(106, 214, 112)),
                              values={"prompt": "c", "parentId": parent.id, "kind": "img2img"})
    view.show_lineage(child.id)
    qtbot.waitUntil(lambda: view.tree.topLevelItemCount() == 1, timeout=5000)
    item = view.tree.topLevelItem(0)
    assert item.data(0, ASSET_ROLE).id == parent.id
    qtbot.waitUntil(lambda: view.loader.state(parent.id).name == "ready", timeout=5000)
    view._on_loader_thumbnail_ready(parent.id)
    icon: QIcon = view.tree.topLevelItem(0).icon(0)
    size = QSize(40, 40)
    normal = icon.pixmap(size, QIcon.Mode.Normal).toImage()
    selected = icon.pixmap(size, QIcon.Mode.Selected).toImage()
    assert normal == selected
    view.shutdown()


# --- selection count and favorites filter -------------------------------------------------------


def test_several_selected_says_how_many_and_actions_apply_to_all(
        qtbot, gallery, library, project):
    assets = [add(library, project.id, f"image {i}", minutes=i) for i in range(6)]
    gallery.set_project(project.id)
    qtbot.waitUntil(lambda: gallery.count_label.text() == "6 images", timeout=3000)
    selection = gallery.view.selectionModel()
    for asset in assets[:3]:
        selection.select(gallery.model.index_of(asset.id), QItemSelectionModel.SelectionFlag.Select)
    assert gallery.count_label.text() == "3 of 6 selected"
    gallery.toggle_favorite()
    qtbot.waitUntil(lambda: all(library.get_asset(a.id).isFavorite for a in assets[:3]),
                    timeout=5000)
    assert not library.get_asset(assets[3].id).isFavorite
    selection.clearSelection()
    assert gallery.count_label.text() == "6 images"


def test_the_favorites_filter_looks_different_on_and_off(qtbot, gallery):
    gallery.show()
    qtbot.waitExposed(gallery)
    button = gallery.favorites_button
    off = button.grab().toImage()
    gallery.set_favorites_only(True)
    on = button.grab().toImage()
    assert button.isChecked()
    changed = sum(1 for y in range(min(off.height(), on.height()))
                  for x in range(min(off.width(), on.width())) if off.pixel(x, y) != on.pixel(x, y))
    assert changed > 0.3 * off.width() * off.height()  # a filled background, not a hairline


# --- the image toolbar ----------------------------------------------------------------------


def test_the_image_toolbar_is_always_visible_and_acts(qtbot, library, project):
    panel = DetailsPanel(library)
    qtbot.addWidget(panel)
    panel.resize(340, 500)
    panel.show()
    long_prompt = "a very long prompt, " * 200
    a = library.add_image(project.id, png_bytes(64, 256), values={"prompt": long_prompt,
                                                                   "seed": 77})
    b = library.add_image(project.id, png_bytes(), values={"prompt": "short", "seed": 5})
    panel.show_asset(a)
    bar = panel.toolbar
    names = [act.text() for act in bar.actions() if not act.isSeparator()]
    assert names == ["Use all", "Use prompt", "Use seed", "Open in canvas", "Copy prompt",
                     "Copy infotext", "More like this", "Upscale…"]
    for button in bar.findChildren(QToolButton):  # none hidden, none cut off
        assert button.isVisible() and bar.rect().contains(button.geometry())
        assert button.width() >= button.sizeHint().width() - 2
    panel._scroll.verticalScrollBar().setValue(panel._scroll.verticalScrollBar().maximum())
    assert panel._scroll.verticalScrollBar().value() > 0
    assert bar.isVisible() and bar.geometry().bottom() < panel._scroll.geometry().top() + 1
    got = {}
    panel.reuse_prompt.connect(lambda x: got.setdefault("prompt", x.id))
    panel.reuse_seed.connect(lambda x: got.setdefault("seed", x.id))
    panel.reuse_parameters.connect(lambda x: got.setdefault("all", x.id))
    panel.open_in_canvas.connect(lambda x: got.setdefault("canvas", x.id))
    panel.upscale_requested.connect(lambda x: got.setdefault("upscale", x.id))
    for action in bar.actions():
        action.trigger()
    assert got == {"prompt": a.id, "seed": a.id, "all": a.id, "canvas": a.id, "upscale": a.id}
    panel.show_asset(b)
    assert panel._scroll.verticalScrollBar().value() == 0  # no stale scroll position
    panel.show_asset(None)
    assert not any(act.isEnabled() for act in bar.actions() if not act.isSeparator())
    panel.shutdown()


def test_reuse_restores_the_fields_and_names_what_it_cannot(qtbot):
    from types import SimpleNamespace

    panel = PromptPanel()
    qtbot.addWidget(panel)
    panel.set_catalogue(["dreamshaper_8.safetensors [abc]"], ["Euler a", "DPM++ 2M"],
                        ["automatic", "karras"], "dreamshaper_8.safetensors [abc]")
    infotext = ("a castle <lora:detail:0.6>\nNegative prompt: lowres\n"
                "Steps: 31, Sampler: DPM++ 2M, CFG scale: 5.5, Seed: 99, Size: 640x448, "
                "Model: sdxl_unknown, Denoising strength: 0.45, Hires upscale: 2, "
                "Hires steps: 10, Variation seed: 5, Styles: \"cinematic\"")
    asset = SimpleNamespace(prompt="a castle <lora:detail:0.6>", negative="lowres",
                            model="sdxl_unknown", sampler="DPM++ 2M", scheduler="Karras",
                            steps=31, cfgScale=5.5, width=640, height=448, seed=99,
                            infotext=infotext)
    notes = panel.apply_asset(asset)
    assert panel.prompt_edit.toPlainText() == "a castle <lora:detail:0.6>"  # LoRA kept
    assert panel.negative_edit.toPlainText() == "lowres"
    assert (panel.steps_spin.value(), panel.cfg_spin.value()) == (31, 5.5)
    assert (panel.width_spin.value(), panel.height_spin.value()) == (640, 448)
    assert panel.sampler() == "DPM++ 2M" and panel.scheduler() == "karras"
    assert panel.seed_mode() == "fixed" and int(panel.seed_spin.value()) == 99
    # the model is kept but marked missing, and the person is told before generating
    assert panel.model() == "sdxl_unknown"
    assert "missing" in panel.model_combo.currentText()
    assert any("sdxl_unknown" in n and "not on the server" in n for n in notes)
    # the hires fix (and its denoising strength) is restored now (issue 12); styles named in
    # an infotext are not: they are said to be left out
    hires = panel.hires_group
    assert hires.enabled() and hires.scale_spin.value() == 2.0
    assert hires.steps_spin.value() == 10 and hires.denoise_spin.value() == 0.45
    assert any("Not restored" in n and "styles" in n and "hires" not in n for n in notes)
    assert not panel.hint_label.isHidden() and "styles" in panel.hint_label.text()

    panel.prompt_edit.setPlainText("other")
    panel.seed_spin.setValue(1)
    assert panel.apply_asset(asset, part="seed") == []
    assert int(panel.seed_spin.value()) == 99 and panel.prompt_edit.toPlainText() == "other"
    panel.steps_spin.setValue(20)
    panel.apply_asset(asset, part="prompt")
    assert panel.prompt_edit.toPlainText().startswith("a castle") and panel.steps_spin.value() == 20


# --- the viewer ---------------------------------------------------------------------------------


def test_viewer_steps_zooms_and_compares_with_the_parent(qtbot, library, project):
    window = QWidget()
    qtbot.addWidget(window)
    window.resize(900, 700)
    window.show()
    viewer = ImageViewer(library, window)
    parent = library.add_image(project.id, png_bytes(300, 200, color=(200, 0, 0)),
                               values={"prompt": "parent"})
    child = library.add_image(project.id, png_bytes(300, 200, color=(0, 0, 200)),
                              values={"prompt": "child", "parentId": parent.id})
    viewer.open_asset(child)
    assert viewer.objectName() == "imageViewer" and viewer.isVisible()
    assert viewer.geometry() == window.rect()
    qtbot.waitUntil(lambda: viewer.canvas.image is not None and not viewer.is_loading(),
                    timeout=5000)
    assert viewer.is_fit() and viewer.scale() > 1  # a small image is fitted to the window
    QTest.keyClick(viewer, Qt.Key.Key_1)
    assert not viewer.is_fit() and viewer.scale() == 1.0
    QTest.keyClick(viewer, Qt.Key.Key_F)
    assert viewer.is_fit()
    assert viewer.compare_button.isEnabled()
    QTest.keyClick(viewer, Qt.Key.Key_C)
    assert viewer.is_comparing()
    shot = viewer.canvas.grab().toImage()
    y = shot.height() // 2
    left, right = QColor(shot.pixel(shot.width() // 2 - 40, y)), \
        QColor(shot.pixel(shot.width() // 2 + 40, y))
    assert left.red() > 150 and right.blue() > 150  # parent left of the slider, image right
    steps: list[int] = []
    viewer.step_requested.connect(steps.append)
    QTest.keyClick(viewer, Qt.Key.Key_Right)
    QTest.keyClick(viewer, Qt.Key.Key_Left)
    assert steps == [1, -1]
    viewer.show_asset(parent)  # no parent: no compare
    assert not viewer.compare_button.isEnabled() and not viewer.is_comparing()
    QTest.keyClick(viewer, Qt.Key.Key_Space)
    assert not viewer.isVisible()
    qtbot.waitUntil(lambda: not viewer.is_loading(), timeout=5000)


@pytest.mark.usefixtures("fail_on_dangling_tasks")
def test_space_toggles_the_viewer_but_not_in_a_text_field(qtbot, studio):
    window = studio.open()
    project = window.project_bar.create_project("Viewer")
    first = window.library.add_image(project.id, png_bytes(color=(10, 200, 10)),
                                     values={"prompt": "first"})
    second = window.library.add_image(project.id, png_bytes(color=(200, 10, 10)),
                                      values={"prompt": "second"})
    window.gallery.refresh()
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 2, timeout=5000)
    assert window.gallery.select_asset(second.id)
    window.activateWindow()
    QTest.qWaitForWindowActive(window, 2000)

    window.gallery.search_edit.setFocus()
    QTest.keyClick(window.gallery.search_edit, Qt.Key.Key_Space)
    assert not window.viewer.isVisible() and window.gallery.search_edit.text() == " "
    window.gallery.search_edit.clear()

    window.gallery.view.setFocus()
    QTest.keyClick(window.gallery.view, Qt.Key.Key_Space)
    assert window.viewer.isVisible() and window.viewer.asset().id == second.id
    QTest.keyClick(window.viewer, Qt.Key.Key_Right)  # the next in the gallery (older)
    assert window.viewer.asset().id == first.id
    assert window.gallery.current_asset().id == first.id
    QTest.keyClick(window.viewer, Qt.Key.Key_Space)
    assert not window.viewer.isVisible()

    # a double-click on the details preview opens it too
    qtbot.waitUntil(lambda: window.details.asset() is not None, timeout=5000)
    preview = window.details.preview
    QTest.mouseDClick(preview, Qt.MouseButton.LeftButton, pos=preview.rect().center())
    assert window.viewer.isVisible() and window.viewer.asset().id == first.id
    window.viewer.close_viewer()
    qtbot.waitUntil(lambda: not window.viewer.is_loading(), timeout=5000)


# --- the search box -----------------------------------------------------------------------------


def test_the_search_box_takes_field_filters(qtbot, gallery, library, project):
    add(library, project.id, "an owl", negative="lowres", model="dreamshaper_8", seed=7,
        minutes=1)
    add(library, project.id, "lowres pixel owl", model="sd15", seed=8, minutes=2)
    add(library, project.id, "一只猫在睡觉", model="sd15", minutes=3)
    gallery.set_project(project.id)
    for text, expected in [("lowres", {"lowres pixel owl"}), ("model:dreamshaper", {"an owl"}),
                           ("negative:lowres", {"an owl"}), ("猫", {"一只猫在睡觉"}),
                           ("owl seed:8", {"lowres pixel owl"})]:
        gallery.search_edit.setFocus()
        gallery.search_edit.selectAll()
        if text.isascii():
            QTest.keyClicks(gallery.search_edit, text)
        else:  # QTest cannot type characters that have no key; an input method inserts them
            gallery.search_edit.insert(text)
        qtbot.waitUntil(lambda t=text: gallery.model.query.search == t, timeout=3000)
        assert {a.prompt for a in gallery.model.loaded_assets()} == expected, text
    assert "model:" in gallery.search_edit.toolTip()


# --- the canvas: keys, essentials, one prompt per mode ------------------------------------------


def test_canvas_keys_b_brush_e_eraser_backslash_before_after(qtbot):
    from dlx_art.gui.canvas import Tool
    from tests.gui.test_canvas import open_canvas

    canvas = open_canvas(qtbot)
    view = canvas.view
    canvas.eraser_action.trigger()
    assert view.tool == Tool.eraser
    QTest.keyClick(view, Qt.Key.Key_B)
    assert view.tool == Tool.brush and canvas.brush_action.isChecked()
    QTest.keyClick(view, Qt.Key.Key_E)
    assert view.tool == Tool.eraser and canvas.eraser_action.isChecked()
    assert "(B)" in canvas.brush_action.toolTip() and "(E)" in canvas.eraser_action.toolTip()
    assert "\\" in canvas.before_button.text()
    box = canvas.findChild(type(canvas.panel.findChild(QWidget, "canvasPromptBox")),
                           "canvasPromptBox")
    assert "Inpaint and Refine" in box.title()


@pytest.mark.parametrize("width", [1366, 1440])
def test_canvas_essentials_never_overflow(qtbot, studio, width):
    window = studio.open()
    window.project_bar.create_project("Canvas")
    window.resize(width, 768 if width == 1366 else 900)
    window.tabs.setCurrentWidget(window.canvas)
    qtbot.waitUntil(lambda: window.canvas.isVisible(), timeout=5000)
    QTest.qWait(50)
    canvas = window.canvas
    assert window.prompt_dock.windowTitle() == "Generate (new images)"  # one source per mode
    bar = canvas.toolbar
    essentials = [canvas.undo_action, canvas.redo_action, canvas.brush_action,
                  canvas.eraser_action]
    texts = {"Fit", "100 %", "Close"}
    essentials += [a for a in bar.actions() if a.text() in texts]
    assert len(essentials) == 7
    for action in essentials:
        widget = bar.widgetForAction(action)
        assert widget is not None and widget.isVisible(), action.text()
        assert bar.rect().contains(widget.geometry()), action.text()
    label = canvas.zoom_label
    assert label.isVisible() and bar.rect().contains(label.geometry())
    extension = bar.findChild(QWidget, "qt_toolbar_ext_button")
    assert extension is None or not extension.isVisible()  # no "»" overflow


def test_keyboard_shortcuts_dialog_lists_the_single_keys(qtbot, studio):
    window = studio.open()
    help_menu = next(a.menu() for a in window.menuBar().actions() if "Help" in a.text())
    assert window.shortcuts_action in help_menu.actions()
    window.shortcuts_action.trigger()
    dialog = window.findChild(QWidget, "shortcutsDialog")
    assert dialog is not None and dialog.isVisible()
    rows = dialog.rows()
    assert ("Canvas", "B", "Brush") in rows
    assert any(place == "Gallery" and keys == "Space" for place, keys, _ in rows)
    assert any(keys == "F" and "favorite" in what.lower() for _, keys, what in rows)
    assert any("Generate" in what or "Generate" in place for place, _, what in rows)
    dialog.close()
