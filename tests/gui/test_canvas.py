"""The canvas with synthetic mouse and keyboard input, asserting the mask's pixels."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, Qt
from PySide6.QtGui import (
    QColor,
    QImage,
    QMouseEvent,
    QNativeGestureEvent,
    QPointingDevice,
    QWheelEvent,
)
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from dlx_art.generation.types import InpaintArea, MaskedContent
from dlx_art.gui.canvas import CanvasView, CanvasWidget, InpaintRequestData, InpaintSettings, Tool
from dlx_art.gui.canvas.commands import MaskHistory, read_region

# --- helpers shared with test_canvas_tablet.py -----------------------------------------------


def make_image(w: int, h: int) -> QImage:
    image = QImage(w, h, QImage.Format.Format_RGB32)
    image.fill(QColor(70, 110, 150))
    return image


def open_canvas(qtbot, w: int = 400, h: int = 300, **kwargs) -> CanvasWidget:
    canvas = CanvasWidget()
    qtbot.addWidget(canvas)
    canvas.resize(1100, 700)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.load_image(make_image(w, h), asset_id=kwargs.pop("asset_id", "asset-1"), **kwargs)
    return canvas


def vp(view: CanvasView, x: float, y: float) -> QPointF:
    """Image coordinates to viewport coordinates."""
    return view.viewportTransform().map(QPointF(x, y))


def mouse(
    view: CanvasView,
    kind: QEvent.Type,
    x: float,
    y: float,
    button=Qt.MouseButton.LeftButton,
    buttons=None,
):
    pos = vp(view, x, y)
    if buttons is None:
        buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    if kind == QEvent.Type.MouseMove:
        button = Qt.MouseButton.NoButton
    event = QMouseEvent(
        kind,
        pos,
        QPointF(view.viewport().mapToGlobal(pos.toPoint())),
        button,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(view.viewport(), event)


def stroke(view: CanvasView, points, button=Qt.MouseButton.LeftButton) -> None:
    """Press at the first point, one move event per further point, release at the last."""
    (x0, y0), rest = points[0], points[1:]
    mouse(view, QEvent.Type.MouseButtonPress, x0, y0, button)
    for x, y in rest:
        mouse(view, QEvent.Type.MouseMove, x, y, button)
    x1, y1 = points[-1]
    mouse(view, QEvent.Type.MouseButtonRelease, x1, y1, button)


def value(canvas: CanvasWidget, x: int, y: int) -> int:
    return canvas.view.mask.image.pixelColor(x, y).value()


def mask_bytes(canvas: CanvasWidget) -> bytes:
    """The mask's pixels, rows packed (no padding)."""
    image = canvas.mask_image()
    return read_region(image, image.rect())


def column_width(canvas: CanvasWidget, x: int, threshold: int = 128) -> int:
    mask = canvas.view.mask.image
    return sum(1 for y in range(mask.height()) if mask.pixelColor(x, y).value() >= threshold)


# --- tests -----------------------------------------------------------------------------------


def test_names_and_defaults(qtbot):
    canvas = open_canvas(qtbot)
    assert canvas.findChild(CanvasView, "canvasView") is canvas.view
    assert canvas.findChild(type(canvas.size_slider), "brushSizeSlider") is canvas.size_slider
    panel = canvas.panel
    assert canvas.findChild(type(panel.denoise_spin), "denoiseSpin").value() == pytest.approx(0.75)
    assert canvas.findChild(type(panel.mask_blur_spin), "maskBlurSpin").value() == 4
    assert panel.mask_blur_spin.maximum() == 64
    assert panel.masked_content_combo.currentData() == MaskedContent.original
    assert panel.inpaint_area() == InpaintArea.whole
    assert panel.padding_spin.value() == 32 and not panel.padding_spin.isEnabled()
    assert canvas.findChild(type(panel.inpaint_button), "inpaintButton") is panel.inpaint_button
    assert canvas.undo_stack is canvas.view.undo_stack


def test_load_fits_image_and_focuses_canvas(qtbot):
    canvas = open_canvas(qtbot, 2000, 1000, prompt="a red fox", negative="blurry", seed=1234)
    view = canvas.view
    shown = view.mapFromScene(view.image_rect()).boundingRect()
    assert view.viewport().rect().contains(shown)
    assert (
        shown.width() > view.viewport().width() * 0.9
        or shown.height() > view.viewport().height() * 0.9
    )
    assert canvas.focusWidget() is view
    assert canvas.panel.prompt_edit.toPlainText() == "a red fox"
    assert canvas.panel.negative_edit.toPlainText() == "blurry"
    assert canvas.panel.seed_spin.value() == 1234


def test_mask_has_exact_image_size_for_odd_sizes(qtbot):
    canvas = open_canvas(qtbot, 333, 517)
    mask = canvas.mask_image()
    assert (mask.width(), mask.height()) == (333, 517)
    assert mask.format() == QImage.Format.Format_Grayscale8
    decoded = Image.open(io.BytesIO(canvas.mask_png()))
    assert decoded.mode == "L" and decoded.size == (333, 517)
    assert decoded.getextrema() == (0, 0)


def test_fast_long_stroke_of_two_events_has_no_gaps(qtbot):
    canvas = open_canvas(qtbot, 600, 300)
    canvas.view.set_brush_size(6)
    stroke(canvas.view, [(20, 40), (580, 260)])  # one press, one move: a 600 px jump
    for i in range(0, 1001):
        t = i / 1000
        x, y = 20 + 560 * t, 40 + 220 * t
        assert value(canvas, round(x), round(y)) == 255, (x, y)


def test_stroke_width_follows_brush_size(qtbot):
    canvas = open_canvas(qtbot, 400, 300)
    canvas.size_slider.setValue(30)
    assert canvas.view.brush_size == 30
    stroke(canvas.view, [(50, 150), (120, 150), (350, 150)])
    assert column_width(canvas, 200) == pytest.approx(30, abs=1)
    assert value(canvas, 200, 150) == 255 and value(canvas, 200, 150 - 17) == 0


def test_single_click_paints_a_round_dab(qtbot):
    canvas = open_canvas(qtbot)
    canvas.view.set_brush_size(20)
    stroke(canvas.view, [(100, 100)])
    assert value(canvas, 100, 100) == 255
    assert value(canvas, 100 + 8, 100) == 255 and value(canvas, 100 + 12, 100) == 0
    assert value(canvas, 100 + 8, 100 + 8) == 0  # round, not square


def test_soft_brush_fades_at_the_edge(qtbot):
    canvas = open_canvas(qtbot)
    canvas.view.set_brush_size(40)
    canvas.hardness_slider.setValue(30)
    stroke(canvas.view, [(50, 150), (350, 150)])
    assert value(canvas, 200, 150) == 255
    edge = [value(canvas, 200, 150 + d) for d in (8, 12, 16, 19)]
    assert 0 < edge[-1] < edge[1] < 255
    assert edge == sorted(edge, reverse=True)
    assert value(canvas, 200, 150 + 22) == 0


def test_eraser_and_x_swap(qtbot):
    canvas = open_canvas(qtbot)
    view = canvas.view
    view.set_brush_size(40)
    stroke(view, [(50, 150), (350, 150)])
    assert value(canvas, 200, 150) == 255
    QTest.keyClick(view, Qt.Key.Key_X)
    assert view.tool == Tool.eraser and canvas.eraser_action.isChecked()
    view.set_brush_size(20)
    stroke(view, [(200, 100), (200, 200)])
    assert value(canvas, 200, 150) == 0 and value(canvas, 195, 150) == 0
    assert value(canvas, 180, 150) == 255
    QTest.keyClick(view, Qt.Key.Key_X)
    assert view.tool == Tool.brush and canvas.brush_action.isChecked()


def test_undo_redo_restore_exact_pixels(qtbot):
    canvas = open_canvas(qtbot, 333, 517)
    view = canvas.view
    view.set_brush_size(25)
    canvas.hardness_slider.setValue(50)
    empty = mask_bytes(canvas)
    stroke(view, [(10, 10), (300, 500)])
    after_one = mask_bytes(canvas)
    QTest.keyClick(view, Qt.Key.Key_X)
    stroke(view, [(320, 20), (20, 480), (150, 250)])
    after_two = mask_bytes(canvas)
    assert len({empty, after_one, after_two}) == 3
    assert canvas.undo_stack.count() == 2

    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert mask_bytes(canvas) == after_one
    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert mask_bytes(canvas) == empty
    assert not canvas.panel.inpaint_button.isEnabled()
    QTest.keyClick(
        view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert mask_bytes(canvas) == after_one
    QTest.keyClick(view, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert mask_bytes(canvas) == after_two


def test_clear_invert_fill_are_undoable(qtbot):
    canvas = open_canvas(qtbot, 333, 517)
    view = canvas.view
    view.set_brush_size(10)
    stroke(view, [(100, 100), (200, 100)])
    painted = mask_bytes(canvas)

    view.invert_mask()
    inverted = mask_bytes(canvas)
    assert inverted == bytes(255 - b for b in painted)  # exact inverse
    assert value(canvas, 150, 100) == 0 and value(canvas, 5, 5) == 255

    view.clear_mask()
    assert canvas.view.mask.is_empty()
    assert not canvas.panel.inpaint_button.isEnabled()

    view.fill_mask()
    assert Image.open(io.BytesIO(canvas.mask_png())).getextrema() == (255, 255)

    view.undo()
    assert canvas.view.mask.is_empty()
    view.undo()
    assert mask_bytes(canvas) == inverted
    view.undo()
    assert mask_bytes(canvas) == painted
    for _ in range(3):
        view.redo()
    assert Image.open(io.BytesIO(canvas.mask_png())).getextrema() == (255, 255)
    assert canvas.undo_stack.undoLimit() == 50


def test_history_is_bounded_in_bytes(qtbot):
    canvas = open_canvas(qtbot, 300, 200)
    view = canvas.view
    view.history.byte_limit = 1  # every edit is larger than this: only the newest survives
    view.set_brush_size(10)
    stroke(view, [(20, 20), (200, 20)])
    first = mask_bytes(canvas)
    stroke(view, [(20, 120), (200, 120)])
    assert canvas.undo_stack.count() == 1
    view.undo()
    assert mask_bytes(canvas) == first
    view.redo()
    view.history.byte_limit = MaskHistory(canvas.undo_stack, view.mask.apply_edit).byte_limit
    assert 0 < view.history.stored_bytes() < 10_000  # tiles, compressed


def test_mask_png_is_grayscale_with_255_where_painted(qtbot):
    canvas = open_canvas(qtbot, 333, 517)
    canvas.view.set_brush_size(16)
    stroke(canvas.view, [(50, 60), (250, 60)])
    decoded = Image.open(io.BytesIO(canvas.mask_png()))
    assert decoded.mode == "L" and decoded.size == (333, 517)
    assert decoded.getpixel((150, 60)) == 255
    assert decoded.getpixel((150, 200)) == 0
    assert decoded.tobytes() == mask_bytes(canvas)


def test_overlay_shows_the_mask_and_h_hides_it(qtbot):
    canvas = open_canvas(qtbot)
    view = canvas.view
    view.set_brush_size(40)
    stroke(view, [(100, 150), (300, 150)])
    shot = view.viewport().grab().toImage()
    inside = shot.pixelColor(vp(view, 200, 150).toPoint())
    outside = shot.pixelColor(vp(view, 200, 60).toPoint())
    assert inside.red() > outside.red() + 40  # tinted red
    QTest.keyClick(view, Qt.Key.Key_H)
    assert not view.overlay.isVisible() and not canvas.show_mask_action.isChecked()
    shot = view.viewport().grab().toImage()
    assert abs(shot.pixelColor(vp(view, 200, 150).toPoint()).red() - outside.red()) < 6
    QTest.keyClick(view, Qt.Key.Key_H)
    assert view.overlay.isVisible()


def test_brush_size_keys_and_slider_stay_in_sync(qtbot):
    canvas = open_canvas(qtbot)
    view = canvas.view
    canvas.size_slider.setValue(40)
    QTest.keyClick(view, Qt.Key.Key_BracketRight)
    assert view.brush_size == 46 and canvas.size_slider.value() == 46
    QTest.keyClick(view, Qt.Key.Key_BracketLeft)
    QTest.keyClick(view, Qt.Key.Key_BracketLeft)
    assert view.brush_size < 46 and canvas.size_slider.value() == view.brush_size
    for _ in range(40):
        QTest.keyClick(view, Qt.Key.Key_BracketLeft)
    assert view.brush_size == 1
    mouse(view, QEvent.Type.MouseMove, 100, 100, buttons=Qt.MouseButton.NoButton)
    assert view.outline.isVisible() and view.outline.radius == pytest.approx(0.5)
    assert view.outline.pos() == QPointF(100, 100)


def test_zoom_keys_wheel_and_pinch(qtbot):
    canvas = open_canvas(qtbot, 1600, 1200)
    view = canvas.view
    fitted = view.zoom
    assert fitted < 1
    QTest.keyClick(view, Qt.Key.Key_Plus)
    assert view.zoom == pytest.approx(fitted * 1.25)
    QTest.keyClick(view, Qt.Key.Key_Minus)
    QTest.keyClick(view, Qt.Key.Key_Minus)
    assert view.zoom == pytest.approx(fitted / 1.25)
    QTest.keyClick(view, Qt.Key.Key_1)
    assert view.zoom == pytest.approx(1.0)
    QTest.keyClick(view, Qt.Key.Key_0)
    assert view.zoom == pytest.approx(fitted)

    # the wheel zooms about the cursor: the image point under it stays put
    anchor = vp(view, 400, 300)
    event = QWheelEvent(
        anchor,
        QPointF(view.viewport().mapToGlobal(anchor.toPoint())),
        QPoint(),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)
    assert view.zoom == pytest.approx(fitted * 1.25)
    assert (vp(view, 400, 300) - anchor).manhattanLength() < 2

    device = QPointingDevice.primaryPointingDevice()
    anchor = vp(view, 1200, 900)
    pinch = QNativeGestureEvent(
        Qt.NativeGestureType.ZoomNativeGesture,
        device,
        2,
        anchor,
        anchor,
        QPointF(view.viewport().mapToGlobal(anchor.toPoint())),
        0.5,
        QPointF(),
    )
    QApplication.sendEvent(view.viewport(), pinch)
    assert view.zoom == pytest.approx(fitted * 1.25 * 1.5)
    assert (vp(view, 1200, 900) - anchor).manhattanLength() < 2
    assert canvas.zoom_label.text() == f"{view.zoom * 100:.0f} %"


def test_space_drag_and_middle_drag_pan_without_painting(qtbot):
    canvas = open_canvas(qtbot)
    view = canvas.view
    QTest.keyClick(view, Qt.Key.Key_1)
    before = vp(view, 100, 100)
    QTest.keyPress(view, Qt.Key.Key_Space)
    stroke(view, [(100, 100), (150, 130)])
    QTest.keyRelease(view, Qt.Key.Key_Space)
    assert (vp(view, 100, 100) - before - QPointF(50, 30)).manhattanLength() < 2
    assert view.mask.is_empty()

    before = vp(view, 100, 100)
    stroke(view, [(200, 200), (200 - 40, 200 - 10)], button=Qt.MouseButton.MiddleButton)
    moved = vp(view, 100, 100) - before
    assert moved.x() == pytest.approx(-40, abs=2) and moved.y() == pytest.approx(-10, abs=2)
    assert view.mask.is_empty()


def test_pan_tool_for_pen_only_users(qtbot):
    canvas = open_canvas(qtbot)
    view = canvas.view
    canvas.pan_action.trigger()
    assert view.tool == Tool.pan
    QTest.keyClick(view, Qt.Key.Key_1)  # 100 %: image and viewport pixels match
    before = vp(view, 100, 100)
    stroke(view, [(100, 100), (130, 100)])
    assert (vp(view, 100, 100) - before).x() == pytest.approx(30, abs=2)
    assert view.mask.is_empty()


def test_padding_box_follows_the_mask(qtbot):
    canvas = open_canvas(qtbot, 400, 300)
    view = canvas.view
    view.set_brush_size(20)
    stroke(view, [(100, 100), (160, 120)])
    bbox = view.mask.bbox()
    assert bbox == QRect(90, 90, 81, 41) or bbox.adjusted(-1, -1, 1, 1).contains(
        QRect(91, 91, 79, 39)
    )
    assert view.padding_rect() is None and not view.padding_box.edges[0].isVisible()

    canvas.panel.masked_radio.setChecked(True)
    assert canvas.panel.padding_spin.isEnabled()
    assert view.padding_rect() == bbox.adjusted(-32, -32, 32, 32)
    assert view.padding_box.rect.toAlignedRect() == view.padding_rect()
    assert all(edge.isVisible() for edge in view.padding_box.edges)

    canvas.panel.padding_spin.setValue(120)  # clamped to the image
    assert view.padding_rect() == bbox.adjusted(-120, -120, 120, 120).intersected(
        QRect(0, 0, 400, 300)
    )
    assert view.padding_rect().topLeft() == QPoint(0, 0)

    stroke(view, [(380, 280)])  # grows with the mask
    assert view.padding_rect().bottomRight() == QPoint(399, 299)
    assert view.padding_box.rect.toAlignedRect() == view.padding_rect()
    view.clear_mask()
    assert view.padding_rect() is None and not view.padding_box.edges[0].isVisible()


def test_inpaint_button_needs_a_mask_and_is_disabled_while_busy(qtbot):
    canvas = open_canvas(qtbot)
    button = canvas.panel.inpaint_button
    assert not button.isEnabled()
    assert "paint" in button.toolTip().lower()
    canvas.view.set_brush_size(12)
    with qtbot.waitSignal(canvas.mask_changed):
        stroke(canvas.view, [(50, 50), (80, 60)])
    assert button.isEnabled()
    canvas.set_busy(True)
    assert not button.isEnabled() and not canvas.panel.refine_button.isEnabled()
    assert "running" in button.toolTip()
    canvas.set_busy(False)
    assert button.isEnabled()


def test_inpaint_request_carries_settings_image_and_mask(qtbot):
    canvas = open_canvas(
        qtbot, 333, 517, asset_id="parent-42", prompt="castle", negative="text", seed=7
    )
    panel = canvas.panel
    canvas.view.set_brush_size(30)
    stroke(canvas.view, [(100, 100), (200, 300)])
    panel.prompt_edit.setPlainText("a stone castle at dusk")
    panel.denoise_spin.setValue(0.6)
    panel.mask_blur_spin.setValue(8)
    panel.masked_content_combo.setCurrentIndex(
        panel.masked_content_combo.findData(MaskedContent.noise)
    )
    panel.masked_radio.setChecked(True)
    panel.padding_spin.setValue(48)

    with qtbot.waitSignal(canvas.inpaint_requested) as blocker:
        qtbot.mouseClick(panel.inpaint_button, Qt.MouseButton.LeftButton)
    data = blocker.args[0]
    assert isinstance(data, InpaintRequestData)
    assert data.asset_id == "parent-42"
    assert data.settings == InpaintSettings(
        prompt="a stone castle at dusk",
        negative="text",
        denoising_strength=0.6,
        mask_blur=8,
        masked_content=MaskedContent.noise,
        inpaint_area=InpaintArea.masked,
        padding=48,
        seed=7,
        whole_image=False,
    )
    image = Image.open(io.BytesIO(data.image_png))
    assert image.size == (333, 517) and image.mode == "RGB"
    assert image.getpixel((10, 10)) == (70, 110, 150)
    mask = Image.open(io.BytesIO(data.mask_png))
    assert mask.mode == "L" and mask.size == (333, 517)
    assert mask.getpixel((150, 200)) == 255 and mask.getpixel((300, 20)) == 0
    assert mask.getbbox() == Image.open(io.BytesIO(canvas.mask_png())).getbbox()


def test_refine_whole_image_sends_no_mask(qtbot):
    canvas = open_canvas(qtbot, asset_id="p1")
    panel = canvas.panel
    assert panel.refine_button.isEnabled()  # no mask needed
    panel.seed_spin.setValue(99)
    with qtbot.waitSignal(canvas.inpaint_requested) as blocker:
        qtbot.mouseClick(panel.refine_button, Qt.MouseButton.LeftButton)
    data = blocker.args[0]
    assert data.mask_png is None and data.settings.whole_image and data.settings.seed == 99
    assert Image.open(io.BytesIO(data.image_png)).size == (400, 300)


def test_progress_preview_and_result_comparison(qtbot):
    canvas = open_canvas(qtbot, 400, 300, asset_id="orig")
    view = canvas.view
    view.set_brush_size(40)
    stroke(view, [(100, 100), (200, 100)])
    canvas.set_busy(True)
    preview = make_image(200, 150)
    preview.fill(QColor(250, 250, 0))
    canvas.show_progress(0.4, preview)
    assert view.progress == pytest.approx(0.4)
    assert view.preview_item.isVisible()
    assert view.preview_item.sceneBoundingRect() == view.image_rect()
    shot = view.viewport().grab().toImage()
    assert shot.pixelColor(vp(view, 300, 250).toPoint()).red() > 180  # preview drawn over the image
    assert shot.pixelColor(view.viewport().width() // 3, 1) != shot.pixelColor(
        view.viewport().width() - 2, 1
    )

    result = make_image(400, 300)
    result.fill(QColor(200, 30, 30))
    canvas.show_result(result, "child")
    canvas.set_busy(False)
    assert view.progress is None and not view.preview_item.isVisible()
    assert view.comparing and canvas.compare_bar.isVisible()
    shot = view.viewport().grab().toImage()
    left, right = (
        shot.pixelColor(vp(view, 50, 250).toPoint()),
        shot.pixelColor(vp(view, 350, 250).toPoint()),
    )
    assert left.blue() > 120 and right.red() > 180  # original left of the line, result right
    # drag the split line
    stroke(view, [(200, 150), (40, 150)])
    assert view.comparison.split == pytest.approx(0.1, abs=0.01)
    assert view.mask.bbox().right() < 250  # dragging the split does not paint
    QTest.keyClick(view, Qt.Key.Key_Backslash)
    assert view.show_before and canvas.before_button.isChecked() and not view.comparison.isVisible()
    QTest.keyClick(view, Qt.Key.Key_Backslash)
    assert not view.show_before and view.comparison.isVisible()

    with qtbot.waitSignal(canvas.base_changed) as blocker:
        qtbot.mouseClick(canvas.continue_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["child"]
    assert canvas.asset_id == "child" and not view.comparing and not canvas.compare_bar.isVisible()
    assert view.image.pixelColor(10, 10) == QColor(200, 30, 30)
    assert not view.mask.is_empty()  # the mask stays for the next refinement
    with qtbot.waitSignal(canvas.inpaint_requested) as blocker:
        qtbot.mouseClick(canvas.panel.inpaint_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].asset_id == "child"


def test_keep_original_and_progress_in_only_masked_mode(qtbot):
    canvas = open_canvas(qtbot, 400, 300, asset_id="orig")
    view = canvas.view
    view.set_brush_size(20)
    stroke(view, [(100, 100), (150, 100)])
    canvas.panel.masked_radio.setChecked(True)
    with qtbot.waitSignal(canvas.inpaint_requested):
        qtbot.mouseClick(canvas.panel.inpaint_button, Qt.MouseButton.LeftButton)
    canvas.set_busy(True)
    canvas.show_progress(0.5, make_image(64, 64))
    box = view.padding_rect()
    shown = view.preview_item.sceneBoundingRect()
    assert box.adjusted(-1, -1, 1, 1).contains(shown.toAlignedRect())
    canvas.show_result(make_image(400, 300), "child")
    canvas.set_busy(False)
    canvas.keep_original()
    assert not view.comparing and canvas.asset_id == "orig" and view.overlay.isVisible()


def test_closed_signal(qtbot):
    canvas = open_canvas(qtbot)
    close = next(a for a in canvas.toolbar.actions() if a.text() == "Close")
    with qtbot.waitSignal(canvas.closed):
        close.trigger()


def test_continue_from_a_result_of_another_size_scales_the_mask(qtbot):
    canvas = open_canvas(qtbot, 400, 300)
    view = canvas.view
    view.set_brush_size(20)
    stroke(view, [(100, 100), (200, 100)])
    canvas.show_result(make_image(800, 600), "bigger")
    canvas.continue_from_result()
    mask = canvas.mask_image()
    assert (mask.width(), mask.height()) == (800, 600)
    assert value(canvas, 300, 200) == 255 and value(canvas, 300, 400) == 0
    assert canvas.undo_stack.count() == 0  # the old strokes belong to the old size
    assert Image.open(io.BytesIO(canvas.mask_png())).size == (800, 600)


def test_loading_another_image_resets_mask_history_and_comparison(qtbot):
    canvas = open_canvas(qtbot, 400, 300)
    view = canvas.view
    stroke(view, [(100, 100), (200, 100)])
    canvas.show_result(make_image(400, 300), "child")
    canvas.load_image(make_image(640, 480), asset_id="other", prompt="p2")
    assert view.mask.is_empty() and canvas.undo_stack.count() == 0
    assert not view.comparing and not canvas.compare_bar.isVisible()
    assert canvas.mask_image().size().toTuple() == (640, 480)
    assert canvas.asset_id == "other" and canvas.panel.prompt_edit.toPlainText() == "p2"
    assert not canvas.panel.inpaint_button.isEnabled()


def test_image_with_alpha_is_sent_as_rgba(qtbot):
    canvas = CanvasWidget()
    qtbot.addWidget(canvas)
    image = QImage(64, 48, QImage.Format.Format_ARGB32)
    image.fill(QColor(10, 20, 30, 128))
    canvas.load_image(image, asset_id="a")
    with qtbot.waitSignal(canvas.inpaint_requested) as blocker:
        canvas.panel.refine_button.click()
    decoded = Image.open(io.BytesIO(blocker.args[0].image_png))
    assert decoded.mode == "RGBA" and decoded.getpixel((5, 5)) == (10, 20, 30, 128)


def test_seed_box_holds_every_a1111_seed(qtbot):
    """A1111 seeds reach 2**32 - 2 (e.g. 4005817406): the canvas must carry them unchanged."""
    from PySide6.QtGui import QImage

    from dlx_art.gui.canvas import CanvasWidget

    canvas = CanvasWidget()
    qtbot.addWidget(canvas)
    image = QImage(64, 64, QImage.Format.Format_RGB32)
    image.fill(0xFF336699)
    canvas.load_image(image, asset_id="a", prompt="p", seed=4005817406)
    assert int(canvas.panel.seed_spin.value()) == 4005817406
    assert canvas.panel.seed_spin.objectName() == "canvasSeedSpin"
    requests = []
    canvas.inpaint_requested.connect(requests.append)
    canvas.view.fill_mask()
    canvas.panel.inpaint_button.click()
    assert requests and requests[0].settings.seed == 4005817406


@pytest.mark.parametrize("name", ["inpaint_button", "refine_button"])
def test_a_job_button_hands_the_focus_to_the_picture_not_to_the_next_field(qtbot, name):
    """A clicked button that the job disables must not pass the focus on to the next field
    (seen under Xvfb after Expand: the pen's pressure curve took it, and typing changed it)."""
    canvas = open_canvas(qtbot)
    canvas.view.set_brush_size(12)
    with qtbot.waitSignal(canvas.mask_changed):
        stroke(canvas.view, [(50, 50), (80, 60)])
    button = getattr(canvas.panel, name)
    canvas.inpaint_requested.connect(lambda _data: canvas.set_busy(True))  # as the window does
    button.setFocus()  # as a click with the mouse does
    button.click()
    assert canvas.busy and canvas.focusWidget() is canvas.view
