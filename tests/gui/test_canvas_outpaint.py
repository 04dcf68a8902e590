"""Expand canvas (outpainting) in the canvas: the margins, the frame drawn before running,
and the request "Expand" makes (issue 12). The whole job against the fake A1111 server is in
test_outpaint_upscale_flow.py."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QPushButton, QSpinBox

from dlx_art.gui.canvas.outpaint import Margins, OutpaintRequestData
from tests.gui.test_canvas import make_image, open_canvas

pytestmark = pytest.mark.gui

NAMES = ("outpaintLeft", "outpaintRight", "outpaintTop", "outpaintBottom")


def spin(canvas, name: str) -> QSpinBox:
    box = canvas.findChild(QSpinBox, name)
    assert box is not None, name
    return box


def test_the_controls_have_names_and_step_in_eights(qtbot):
    canvas = open_canvas(qtbot)
    for name in NAMES:
        box = spin(canvas, name)
        assert box.value() == 0 and box.singleStep() == 8
        box.stepUp()
        assert box.value() == 8
    run = canvas.findChild(QPushButton, "outpaintRun")
    assert run is not None and run.text() == "Expand"
    # a typed value snaps to a multiple of 8
    left = spin(canvas, "outpaintLeft")
    left.lineEdit().selectAll()
    QTest.keyClicks(left, "61")
    QTest.keyClick(left, Qt.Key.Key_Return)
    assert left.value() == 64


def test_the_frame_shows_the_larger_canvas_before_running(qtbot):
    canvas = open_canvas(qtbot, 400, 300)
    frame = canvas.outpaint.frame
    run = canvas.panel.outpaint_box.run_button
    assert not frame.isVisible() and not run.isEnabled()  # nothing to expand yet
    assert "at least one side" in run.toolTip()

    spin(canvas, "outpaintLeft").setValue(64)
    spin(canvas, "outpaintTop").setValue(32)
    spin(canvas, "outpaintRight").setValue(128)
    assert frame.isVisible() and run.isEnabled()
    assert frame.frame == QRectF(-64, -32, 400 + 64 + 128, 300 + 32)
    assert frame.picture == QRectF(0, 0, 400, 300)
    area = frame.new_area()
    assert area.contains(QPointF(-10, 150)) and area.contains(QPointF(450, -10))
    assert not area.contains(QPointF(200, 150))  # the picture itself is not repainted
    assert not area.contains(QPointF(200, 310))  # nothing added at the bottom
    label = canvas.panel.outpaint_box.size_label.text()
    assert "400×300" in label and "592×332" in label
    assert "592×332" in run.toolTip()

    # Fit shows the whole frame
    view = canvas.view
    shown = view.mapFromScene(frame.frame).boundingRect()
    assert view.viewport().rect().contains(shown)
    # the frame is drawn in the view (the hatched margin differs from the background)
    grab = view.viewport().grab().toImage()
    inside_margin = view.mapFromScene(QPointF(-32, 150))
    outside = view.mapFromScene(QPointF(-200, 150))
    assert grab.pixelColor(inside_margin) != grab.pixelColor(outside)

    canvas.panel.outpaint_box.reset_button.click()
    assert not frame.isVisible() and not run.isEnabled()


def test_expand_asks_for_an_outpaint_of_the_picture(qtbot):
    canvas = open_canvas(qtbot, 400, 300, asset_id="src", prompt="a lighthouse",
                         negative="blurry", seed=77)
    canvas.panel.outpaint_box.set_margins(Margins(left=0, right=256, top=0, bottom=64))
    canvas.panel.outpaint_box.denoise_spin.setValue(0.8)
    with qtbot.waitSignal(canvas.outpaint_requested) as sent:
        canvas.panel.outpaint_box.run_button.click()
    data = sent.args[0]
    assert isinstance(data, OutpaintRequestData)
    assert data.margins == Margins(right=256, bottom=64)
    assert (data.prompt, data.negative, data.seed, data.asset_id) == \
        ("a lighthouse", "blurry", 77, "src")
    assert data.denoising_strength == 0.8
    assert Image.open(io.BytesIO(data.image_png)).size == (400, 300)


def test_busy_and_comparison_hold_expand_back(qtbot):
    canvas = open_canvas(qtbot, 400, 300)
    canvas.panel.outpaint_box.set_margins(Margins(left=64))
    run = canvas.panel.outpaint_box.run_button
    canvas.set_busy(True)
    assert not run.isEnabled() and "job is running" in run.toolTip()
    canvas.set_busy(False)
    assert run.isEnabled()
    canvas.show_result(make_image(400, 300), "result")
    assert not run.isEnabled() and not canvas.outpaint.frame.isVisible()
    canvas.keep_original()
    assert run.isEnabled() and canvas.outpaint.frame.isVisible()


def test_an_outpaint_result_becomes_the_picture_and_the_margins_reset(qtbot):
    canvas = open_canvas(qtbot, 400, 300, asset_id="src")
    canvas.panel.outpaint_box.set_margins(Margins(left=64, bottom=64))
    canvas.view.fill_mask()
    with qtbot.waitSignal(canvas.base_changed) as changed:
        canvas.adopt_result(make_image(464, 364), "child")
    assert changed.args == ["child"] and canvas.asset_id == "child"
    assert (canvas.view.image.width(), canvas.view.image.height()) == (464, 364)
    assert canvas.panel.outpaint_box.margins() == Margins()
    assert not canvas.outpaint.frame.isVisible()
    assert canvas.view.mask.is_empty()
    assert canvas.panel.outpaint_box.size_label.text() == "464×364"


def test_the_frame_edges_drag_in_steps_of_eight_without_painting(qtbot):
    from PySide6.QtCore import QEvent

    from tests.gui.test_canvas import mouse

    canvas = open_canvas(qtbot, 400, 300)
    view = canvas.view
    box = canvas.panel.outpaint_box
    box.set_margins(Margins(left=64, top=32))
    zoom = view.zoom
    # the left edge, grabbed a couple of screen pixels off, dragged to 130 px left of the picture
    mouse(view, QEvent.Type.MouseButtonPress, -64 - 2 / zoom, 150)
    assert canvas.outpaint.handles.dragging
    mouse(view, QEvent.Type.MouseMove, -100, 150)
    mouse(view, QEvent.Type.MouseMove, -130, 150)
    assert view.zoom == zoom  # no re-fit under the pointer while dragging
    mouse(view, QEvent.Type.MouseButtonRelease, -130, 150)
    assert not canvas.outpaint.handles.dragging
    assert box.spins["left"].value() == 128  # 130 snapped to a multiple of 8
    assert canvas.outpaint.frame.frame.left() == -128
    assert view.mask.is_empty()  # the drag painted nothing
    # the corner drags two sides at once; dragging inwards past the picture stops at 0
    frame = canvas.outpaint.frame.frame
    mouse(view, QEvent.Type.MouseButtonPress, frame.left(), frame.top())
    mouse(view, QEvent.Type.MouseMove, 20, 40)
    mouse(view, QEvent.Type.MouseButtonRelease, 20, 40)
    assert box.margins() == Margins()
    assert not canvas.outpaint.frame.isVisible() and view.mask.is_empty()
    # with no frame, a press at the picture's edge paints as before
    mouse(view, QEvent.Type.MouseButtonPress, 2, 150)
    mouse(view, QEvent.Type.MouseButtonRelease, 2, 150)
    assert not view.mask.is_empty()


def test_the_frame_edges_do_not_move_while_a_job_runs(qtbot):
    from PySide6.QtCore import QEvent

    from tests.gui.test_canvas import mouse

    canvas = open_canvas(qtbot, 400, 300)
    canvas.panel.outpaint_box.set_margins(Margins(right=64))
    canvas.set_busy(True)
    mouse(canvas.view, QEvent.Type.MouseButtonPress, 464, 150)
    assert not canvas.outpaint.handles.dragging
    mouse(canvas.view, QEvent.Type.MouseButtonRelease, 464, 150)
    assert canvas.panel.outpaint_box.margins() == Margins(right=64)
