"""Expand canvas and Upscale in the real window against the fake A1111 server (issue 12)."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QSpinBox

from dlx_art.gui.jobs import JobState
from dlx_art.gui.lineage_view import ASSET_ROLE
from dlx_art.gui.upscale import A1111_ONLY
from tests.gui.test_workflows import gallery_assets, last_job

pytestmark = [pytest.mark.gui, pytest.mark.integration,
              pytest.mark.usefixtures("fail_on_dangling_tasks")]


def decode(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def generated(qtbot, window, name: str, size: tuple[int, int]):
    window.project_bar.create_project(name)
    window.prompt_panel.prompt_edit.setPlainText("a harbour at dusk")
    window.prompt_panel.set_size(*size)
    job = window.generate()
    qtbot.waitUntil(lambda: job.state.finished, timeout=15_000)
    assert job.state is JobState.done, job.error
    qtbot.waitUntil(lambda: len(gallery_assets(window)) == 1, timeout=5000)
    return job.assets[0]


def test_expand_in_the_canvas_makes_a_larger_child_that_becomes_the_picture(
        qtbot, studio, fake_a1111):
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    parent = generated(qtbot, window, "Outpaint", (128, 96))
    window.open_in_canvas(parent)
    qtbot.waitUntil(lambda: window.canvas_link.built is not None
                    and window.canvas.asset_id == parent.id, timeout=5000)
    canvas = window.canvas
    canvas.panel.prompt_edit.setPlainText("a harbour at dusk, wide view")
    canvas.findChild(QSpinBox, "outpaintLeft").setValue(64)
    canvas.findChild(QSpinBox, "outpaintTop").setValue(32)
    assert canvas.outpaint.frame.frame.getRect() == (-64, -32, 192, 128)
    run = canvas.findChild(QPushButton, "outpaintRun")
    run.setFocus()  # as a click with the mouse does
    run.click()

    job = last_job(window)
    assert job.origin == "canvas" and job.request.kind == "outpaint"
    assert (job.request.expand_left, job.request.expand_top) == (64, 32)
    assert (job.request.width, job.request.height) == (192, 128)
    assert job.request.parent_id == parent.id
    assert canvas.busy and not canvas.panel.outpaint_box.run_button.isEnabled()
    # the disabled button does not pass the focus on to a field typing would change (seen
    # under Xvfb: the pen's pressure curve): the picture has it
    assert canvas.focusWidget() is canvas.view
    qtbot.waitUntil(lambda: job.state.finished, timeout=15_000)
    assert job.state is JobState.done, job.error

    # what the server received: the larger canvas, the mask of the new area, its size
    payload = fake_a1111.last_payload("/sdapi/v1/img2img")
    assert (payload["width"], payload["height"]) == (192, 128)
    assert payload["prompt"] == "a harbour at dusk, wide view"
    assert payload["denoising_strength"] == 0.9 and payload["inpaint_full_res"] is False
    init = decode(payload["init_images"][0])
    mask = decode(payload["mask"]).convert("L")
    assert init.size == mask.size == (192, 128)
    assert mask.getpixel((10, 64)) == 255 and mask.getpixel((120, 10)) == 255  # new area
    assert mask.getpixel((128, 80)) == 0  # the picture, away from the seam

    (child,) = job.assets
    assert child.kind == "outpaint" and child.parentId == parent.id
    assert (child.width, child.height) == (192, 128)
    # the result becomes the canvas's picture, the frame is gone
    qtbot.waitUntil(lambda: canvas.asset_id == child.id, timeout=5000)
    assert (canvas.view.image.width(), canvas.view.image.height()) == (192, 128)
    assert not canvas.outpaint.frame.isVisible() and not canvas.busy
    assert canvas.panel.outpaint_box.margins().any() is False
    qtbot.waitUntil(lambda: len(gallery_assets(window)) == 2, timeout=5000)
    # and it is the current image: the details show it
    assert window.gallery.current_asset().id == child.id
    qtbot.waitUntil(lambda: window.details.asset() is not None
                    and window.details.asset().id == child.id, timeout=5000)
    assert window.details.field_text("kind") == "Expanded (outpaint)"


def test_upscale_from_the_image_toolbar_makes_a_child_shown_in_the_lineage(
        qtbot, studio, fake_a1111):
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    parent = generated(qtbot, window, "Upscale", (96, 64))
    window.gallery.select_asset(parent.id)
    qtbot.waitUntil(lambda: window.details.asset() is not None
                    and window.details.asset().id == parent.id, timeout=5000)
    action = window.details.upscale_action
    assert action.objectName() == "detailsUpscaleAction" and action.isEnabled()
    assert "A1111 only" in action.toolTip()
    action.trigger()
    dialog = window.upscale_link.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.findChild(type(dialog.size_label), "upscaleA1111Note").text() == A1111_ONLY
    combo = dialog.upscaler_combo
    for name in ("Lanczos", "Nearest", "R-ESRGAN 4x+", "ESRGAN_4x"):
        assert combo.findText(name) >= 0, name
    combo.setCurrentIndex(combo.findText("R-ESRGAN 4x+"))
    dialog.factor_spin.setValue(2.5)
    assert dialog.size_label.text() == "96×64 → 240×160"
    assert not dialog.visibility_spin.isEnabled()
    dialog.second_combo.setCurrentIndex(dialog.second_combo.findText("Lanczos"))
    dialog.visibility_spin.setValue(0.3)
    count = window.jobs.model.rowCount()
    dialog.ok_button.click()
    qtbot.waitUntil(lambda: window.jobs.model.rowCount() == count + 1, timeout=5000)
    job = last_job(window)
    assert job.request.kind == "upscale" and job.request.parent_id == parent.id
    qtbot.waitUntil(lambda: job.state.finished, timeout=15_000)
    assert job.state is JobState.done, job.error

    payload = fake_a1111.last_payload("/sdapi/v1/extra-single-image")
    assert payload["upscaling_resize"] == 2.5
    assert payload["upscaler_1"] == "R-ESRGAN 4x+" and payload["upscaler_2"] == "Lanczos"
    assert payload["extras_upscaler_2_visibility"] == 0.3
    assert decode(payload["image"]).size == (96, 64)
    (child,) = job.assets
    assert child.kind == "upscale" and child.parentId == parent.id
    assert (child.width, child.height) == (240, 160)

    # the lineage shows the upscaled image as the source's child
    qtbot.waitUntil(lambda: len(gallery_assets(window)) == 2, timeout=5000)
    window.gallery.show_lineage(child)
    view = window.gallery._lineage_dialog.lineage_view
    qtbot.waitUntil(lambda: view.current_asset_id() == child.id
                    and view.tree.topLevelItemCount() == 1, timeout=5000)
    root = view.tree.topLevelItem(0)
    assert root.data(0, ASSET_ROLE).id == parent.id
    item = root.child(0)
    assert item.data(0, ASSET_ROLE).id == child.id
    assert item.text(0).startswith("Upscaled")
    window.gallery._lineage_dialog.close()
    window.gallery.select_asset(child.id)
    qtbot.waitUntil(lambda: window.details.asset() is not None
                    and window.details.asset().id == child.id, timeout=5000)
    assert window.details.field_text("kind") == "Upscaled"


def test_the_gallery_menu_offers_upscale_for_one_image(qtbot, studio, fake_a1111):
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    parent = generated(qtbot, window, "Menu", (64, 64))
    window.gallery.select_asset(parent.id)
    menu = window.gallery.build_context_menu()
    (action,) = [a for a in menu.actions() if a.objectName() == "upscaleAction"]
    assert action.isEnabled() and "A1111" in action.text()
    action.trigger()
    dialog = window.upscale_link.dialog
    assert dialog is not None and dialog.asset.id == parent.id
    # modal to the window (seen under Xvfb: Return meant for Upscale reached the window, which
    # opened the image in the canvas behind the dialog), without a nested event loop
    assert dialog.windowModality() == Qt.WindowModality.WindowModal and dialog.isVisible()
    dialog.reject()
    menu.deleteLater()


def test_the_dialog_lists_the_servers_own_upscalers(qtbot, studio, fake_a1111):
    import requests

    fake_a1111.upscalers = [{"name": n, "model_name": None, "model_path": None,
                             "model_url": None, "scale": 4}
                            for n in ("None", "Lanczos", "Nearest", "4x-UltraSharp")]
    listed = requests.get(f"{fake_a1111.url}/sdapi/v1/upscalers", timeout=10).json()
    names = [u["name"] for u in listed if u["name"] != "None"]
    assert names
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    parent = generated(qtbot, window, "Toolbox", (64, 64))
    window.upscale_link.ask(parent)
    dialog = window.upscale_link.dialog
    combo = dialog.upscaler_combo
    qtbot.waitUntil(lambda: [combo.itemText(i) for i in range(combo.count())] == names,
                    timeout=10_000)
    assert "your A1111 server" in dialog.source_label.text()
    assert dialog.second_combo.itemText(0) == "None"
    dialog.reject()
