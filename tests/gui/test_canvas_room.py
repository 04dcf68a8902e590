"""The window keeps to a laptop screen in every mode, and the canvas gets the room (issue 12).

The offscreen platform has one nominal screen, so each test sizes the window to the screen it
stands for (1366x768, 1440x900) and checks that no mode asks for more: the window's minimum
size fits, and the window's size does not change when the mode does.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from dlx_art.gui.canvas.outpaint import Margins
from dlx_art.gui.window_room import fitted_size
from tests.support.images import png_bytes

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("fail_on_dangling_tasks")]

SCREENS = [(1366, 768), (1440, 900)]


def big_image(w: int = 2048, h: int = 1536) -> QImage:
    image = QImage(w, h, QImage.Format.Format_RGB32)
    image.fill(QColor(90, 120, 60))
    return image


def settle() -> None:
    for _ in range(3):
        QApplication.processEvents()
        QTest.qWait(20)


def assert_fits(window, screen: tuple[int, int], mode: str) -> None:
    settle()
    hint = window.minimumSizeHint()
    assert hint.width() <= screen[0] and hint.height() <= screen[1], (mode, hint)
    assert (window.width(), window.height()) == screen, (mode, window.size())


def extension_visible(bar) -> bool:
    button = bar.findChild(QWidget, "qt_toolbar_ext_button")
    return button is not None and button.isVisible()


@pytest.mark.parametrize("screen", SCREENS)
def test_the_window_fits_the_screen_in_every_mode(qtbot, studio, library_image, screen):
    window = studio.open(start_background=False)
    project = window.project_bar.create_project("Room")
    window.resize(*screen)
    assert_fits(window, screen, "gallery")

    # the canvas with a large picture and an inpainting result to compare
    canvas = window.canvas
    window.tabs.setCurrentWidget(canvas)
    qtbot.waitUntil(canvas.isVisible, timeout=5000)
    canvas.load_image(big_image(), asset_id="a")
    canvas.show_result(big_image(), "b")
    assert_fits(window, screen, "canvas with a result")
    # the picture gets the window: the side panels stepped aside
    assert not any(d.isVisible() for d in (window.prompt_dock, window.details_dock,
                                             window.jobs_dock))
    assert canvas.width() == window.centralWidget().width()
    assert canvas.view.width() > screen[0] * 0.6
    for bar in (canvas.toolbar, canvas.brush_bar):
        assert not extension_visible(bar), bar.objectName()  # no "»" overflow

    canvas.keep_original()
    canvas.panel.outpaint_box.set_margins(Margins(left=512, right=512, top=256, bottom=256))
    assert_fits(window, screen, "canvas with an expansion frame")

    # panels the person opens in the canvas fit too, and stay open
    window.details_dock.show()
    window.jobs_dock.show()
    window.prompt_dock.show()
    assert_fits(window, screen, "canvas with every panel")
    window.prompt_dock.hide()
    window.jobs_dock.hide()
    window.details_dock.hide()

    # leaving the canvas brings the panels back as they were
    window.tabs.setCurrentWidget(window.gallery)
    settle()
    assert all(d.isVisible() for d in (window.prompt_dock, window.details_dock,
                                         window.jobs_dock))
    assert_fits(window, screen, "gallery after the canvas")

    # the viewer over the window
    asset = window.library.add_image(project.id, library_image, values={"prompt": "x"})
    window.open_viewer(asset)
    qtbot.waitUntil(window.viewer.isVisible, timeout=5000)
    assert_fits(window, screen, "viewer")
    assert window.viewer.geometry() == window.rect()
    window.viewer.close_viewer()


def test_panels_come_back_after_the_canvas_and_are_saved_as_in_the_gallery(qtbot, studio):
    window = studio.open(start_background=False)
    window.project_bar.create_project("Room")
    window.jobs_dock.hide()  # the person closed this one before
    window.tabs.setCurrentWidget(window.canvas)
    qtbot.waitUntil(window.canvas.isVisible, timeout=5000)
    assert window.prompt_dock.isHidden() and window.details_dock.isHidden()
    assert window.prompt_dock.windowTitle() == "Generate (new images)"
    window.save_state()  # quitting from the canvas keeps the gallery's layout
    assert not window.prompt_dock.isHidden() and window.jobs_dock.isHidden()
    window.tabs.setCurrentWidget(window.gallery)
    assert not window.details_dock.isHidden() and window.jobs_dock.isHidden()
    # and again: a second visit hides them again
    window.tabs.setCurrentWidget(window.canvas)
    assert window.prompt_dock.isHidden() and window.details_dock.isHidden()
    window.canvas.closed.emit()  # Close in the canvas tool bar
    assert not window.prompt_dock.isHidden() and not window.details_dock.isHidden()


def test_the_canvas_minimum_never_exceeds_the_gallerys(qtbot, studio):
    """The tabs are as wide as their widest page needs: the canvas must not be that page."""
    window = studio.open(start_background=False)
    window.project_bar.create_project("Room")
    canvas = window.canvas
    window.tabs.setCurrentWidget(canvas)
    canvas.load_image(big_image(), asset_id="a")
    canvas.show_result(big_image(), "b")
    settle()
    assert canvas.minimumSizeHint().width() <= window.gallery.minimumSizeHint().width()


def test_the_first_size_fits_a_small_screen():
    assert fitted_size(QSize(1360, 860), QRect(0, 0, 1366, 740)) == QSize(1360, 740)
    assert fitted_size(QSize(1360, 860), QRect(0, 0, 1280, 1024)) == QSize(1280, 860)
    assert fitted_size(QSize(1360, 860), QRect(0, 0, 2560, 1440)) == QSize(1360, 860)


@pytest.fixture
def library_image() -> bytes:
    return png_bytes(640, 480, color=(30, 90, 160))
