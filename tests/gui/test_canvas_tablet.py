"""Pen tablet input: synthetic QTabletEvents with varied pressure, the eraser end, tilt."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QInputDevice, QPointingDevice, QTabletEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from dlx_art.gui.canvas import CanvasView
from tests.gui.test_canvas import column_width, open_canvas, value, vp

_CAPS = (
    QInputDevice.Capability.Position
    | QInputDevice.Capability.Pressure
    | QInputDevice.Capability.XTilt
    | QInputDevice.Capability.YTilt
)
PEN = QPointingDevice(
    "test stylus", 1, QInputDevice.DeviceType.Stylus, QPointingDevice.PointerType.Pen, _CAPS, 1, 2
)
ERASER = QPointingDevice(
    "test stylus eraser",
    2,
    QInputDevice.DeviceType.Stylus,
    QPointingDevice.PointerType.Eraser,
    _CAPS,
    1,
    2,
)


def tablet(
    view: CanvasView,
    kind: QEvent.Type,
    x: float,
    y: float,
    pressure: float,
    *,
    device=PEN,
    tilt=(0.0, 0.0),
    rotation=0.0,
    buttons=None,
) -> QTabletEvent:
    pos = vp(view, x, y)
    left = Qt.MouseButton.LeftButton
    button = (
        left
        if kind in (QEvent.Type.TabletPress, QEvent.Type.TabletRelease)
        else Qt.MouseButton.NoButton
    )
    if buttons is None:
        buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.TabletRelease else left
    event = QTabletEvent(
        kind,
        device,
        pos,
        QPointF(view.viewport().mapToGlobal(pos.toPoint())),
        pressure,
        tilt[0],
        tilt[1],
        0.0,
        rotation,
        0.0,
        Qt.KeyboardModifier.NoModifier,
        button,
        buttons,
    )
    QApplication.sendEvent(view.viewport(), event)
    return event


def pen_stroke(view: CanvasView, points, **kwargs) -> None:
    """points: (x, y, pressure) tuples; press, moves, release."""
    (x, y, p), rest = points[0], points[1:]
    tablet(view, QEvent.Type.TabletPress, x, y, p, **kwargs)
    for x, y, p in rest:
        tablet(view, QEvent.Type.TabletMove, x, y, p, **kwargs)
    tablet(view, QEvent.Type.TabletRelease, x, y, 0.0, **kwargs)


def width_at(canvas, pressure: float, y: int = 150) -> int:
    canvas.view.clear_mask()
    pen_stroke(canvas.view, [(60, y, pressure), (200, y, pressure), (340, y, pressure)])
    return column_width(canvas, 200)


def test_stroke_width_grows_with_pressure_and_follows_the_curve(qtbot):
    canvas = open_canvas(qtbot, 400, 300)
    canvas.view.set_brush_size(60)
    panel = canvas.panel
    panel.min_size_spin.setValue(10)
    widths = {p: width_at(canvas, p) for p in (0.0, 0.25, 0.5, 0.75, 1.0)}
    assert list(widths.values()) == sorted(widths.values())
    for p, w in widths.items():  # gamma 1: size = 60 * (0.1 + 0.9 * p)
        assert w == pytest.approx(60 * (0.1 + 0.9 * p), abs=1.5), p

    panel.gamma_spin.setValue(2.0)  # a firmer press is needed
    assert width_at(canvas, 0.5) == pytest.approx(60 * (0.1 + 0.9 * 0.25), abs=1.5)
    panel.gamma_spin.setValue(0.5)
    assert width_at(canvas, 0.25) == pytest.approx(60 * (0.1 + 0.9 * 0.5), abs=1.5)
    panel.min_size_spin.setValue(50)
    panel.gamma_spin.setValue(1.0)
    assert width_at(canvas, 0.0) == pytest.approx(30, abs=1.5)


def test_pressure_ramp_within_one_stroke_is_continuous(qtbot):
    canvas = open_canvas(qtbot, 400, 300)
    canvas.view.set_brush_size(40)
    canvas.panel.min_size_spin.setValue(0)
    points = [(40 + i * 32, 150, i / 10) for i in range(11)]  # pressure 0 -> 1 over 320 px
    pen_stroke(canvas.view, points)
    widths = [column_width(canvas, x) for x in range(80, 361, 20)]
    assert widths == sorted(widths)
    assert widths[0] < 10 and widths[-1] >= 38
    for x in range(60, 361):  # no gaps along the centre line
        assert value(canvas, x, 150) == 255, x


def test_pressure_can_drive_opacity(qtbot):
    canvas = open_canvas(qtbot, 400, 300)
    canvas.view.set_brush_size(30)
    canvas.panel.pressure_opacity_check.setChecked(True)
    canvas.panel.min_size_spin.setValue(100)  # keep the size, vary only the opacity
    pen_stroke(canvas.view, [(50, 100, 0.5), (200, 100, 0.5), (350, 100, 0.5)])
    assert value(canvas, 200, 100) == pytest.approx(128, abs=2)  # dabs do not build up
    pen_stroke(canvas.view, [(50, 200, 1.0), (350, 200, 1.0)])
    assert value(canvas, 200, 200) == 255


def test_eraser_end_of_the_pen_erases(qtbot):
    canvas = open_canvas(qtbot, 400, 300)
    view = canvas.view
    view.set_brush_size(40)
    pen_stroke(view, [(50, 150, 1.0), (350, 150, 1.0)])
    assert value(canvas, 200, 150) == 255
    pen_stroke(view, [(200, 80, 1.0), (200, 220, 1.0)], device=ERASER)
    assert value(canvas, 200, 150) == 0
    assert value(canvas, 150, 150) == 255
    assert view.tool.value == "brush"  # the tool did not change; the pen end decides
    view.undo()
    assert value(canvas, 200, 150) == 255


def test_tilt_and_rotation_are_ignored_safely(qtbot):
    canvas = open_canvas(qtbot, 400, 300)
    canvas.view.set_brush_size(20)
    pen_stroke(canvas.view, [(50, 150, 1.0), (350, 150, 1.0)], tilt=(60.0, -60.0), rotation=170.0)
    pen_stroke(canvas.view, [(50, 250, 1.0), (350, 250, 1.0)], tilt=(-90.0, 90.0), rotation=-180.0)
    assert column_width(canvas, 200) == pytest.approx(40, abs=2)  # two strokes of 20


def test_tablet_events_are_accepted_and_hover_does_not_paint(qtbot):
    canvas = open_canvas(qtbot, 400, 300)
    view = canvas.view
    event = tablet(view, QEvent.Type.TabletMove, 100, 100, 0.0, buttons=Qt.MouseButton.NoButton)
    assert event.isAccepted()
    assert view.mask.is_empty()
    assert view.outline.isVisible() and view.outline.pos() == QPointF(100, 100)
    event = tablet(view, QEvent.Type.TabletPress, 100, 100, 0.7)
    assert event.isAccepted() and not view.mask.is_empty()
    assert canvas.focusWidget() is view
    event = tablet(view, QEvent.Type.TabletRelease, 100, 100, 0.0)
    assert event.isAccepted()
    assert canvas.undo_stack.count() == 1


def test_space_with_the_pen_pans(qtbot):
    canvas = open_canvas(qtbot, 400, 300)
    view = canvas.view
    QTest.keyClick(view, Qt.Key.Key_1)
    before = vp(view, 100, 100)
    QTest.keyPress(view, Qt.Key.Key_Space)
    pen_stroke(view, [(100, 100, 0.8), (140, 120, 0.8)])
    QTest.keyRelease(view, Qt.Key.Key_Space)
    assert (vp(view, 100, 100) - before - QPointF(40, 20)).manhattanLength() < 2
    assert view.mask.is_empty()
