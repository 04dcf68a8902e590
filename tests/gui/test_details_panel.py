"""The details panel: every parameter shown, preview off the GUI thread, actions and links."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from dlx_art.gui import details_panel as details_module
from dlx_art.gui.details_panel import APPROXIMATE_TEXT, DetailsPanel
from dlx_art.library.service import Library
from tests.support.images import A1111_INFOTEXT, png_bytes


@pytest.fixture
def project(library: Library):
    return library.create_project("Details")


@pytest.fixture
def panel(qtbot, library: Library):
    widget = DetailsPanel(library)
    qtbot.addWidget(widget)
    widget.resize(340, 900)
    yield widget
    widget.shutdown()


@pytest.fixture
def family(library, project):
    parent = library.add_image(project.id, png_bytes(64, 64, parameters=A1111_INFOTEXT))
    child = library.add_image(project.id, png_bytes(96, 64, color=(20, 90, 200)), values={
        "prompt": "a lighthouse, refined", "negative": "blurry", "model": "sdxl-base",
        "seed": 42, "steps": 30, "cfgScale": 6.5, "sampler": "DPM++ 2M",
        "scheduler": "Karras", "kind": "inpaint", "denoisingStrength": 0.55,
        "backend": "hf", "backendReason": "A1111 is not running at http://127.0.0.1:7860",
        "approximate": True, "parentId": parent.id,
    })
    grandchild = library.add_image(project.id, png_bytes(32, 32), values={
        "prompt": "again", "kind": "img2img", "parentId": child.id, "denoisingStrength": 0.3})
    return parent, child, grandchild


def test_every_parameter_is_shown(qtbot, panel, library, family):
    _, child, _ = family
    panel.show_asset(child)
    expected = {
        "prompt": "a lighthouse, refined", "negative": "blurry", "model": "sdxl-base",
        "seed": "42", "steps": "30", "cfg": "6.5", "sampler": "DPM++ 2M",
        "scheduler": "Karras", "size": "96 × 64", "denoising": "0.55", "kind": "Inpaint",
        "fallback": "A1111 is not running at http://127.0.0.1:7860",
    }
    for key, text in expected.items():
        assert panel.field_text(key) == text, key
    assert panel.field_text("backend") == f"Hugging Face · {APPROXIMATE_TEXT}"
    assert not panel.approximate_label.isHidden()
    assert panel.approximate_label.text() == APPROXIMATE_TEXT
    assert panel.field_text("file") == str(library.path_of(child))
    assert panel.field_text("file_size").endswith(("bytes", "KB"))
    assert panel.field_text("created").startswith(str(child.createdAt.astimezone().year))
    assert panel.is_field_shown("denoising") and panel.is_field_shown("fallback")
    # the preview is decoded off the GUI thread and arrives later
    assert panel.preview.message() == "Loading preview…"
    qtbot.waitUntil(lambda: panel.preview.pixmap() is not None, timeout=3000)
    assert panel.preview.pixmap().size().toTuple() == (96, 64)


def test_optional_rows_hide_for_a_plain_generation(qtbot, panel, library, project):
    asset = library.add_image(project.id, png_bytes(16, 16), values={"prompt": "plain",
                                                                     "backend": "a1111"})
    panel.show_asset(asset)
    assert not panel.is_field_shown("denoising")
    assert not panel.is_field_shown("fallback")
    assert panel.approximate_label.isHidden()
    assert panel.field_text("backend") == "AUTOMATIC1111"
    assert panel.field_text("parent") == "None (an original)"
    qtbot.waitUntil(lambda: panel.field_text("children") == "None", timeout=3000)


def test_reuse_and_open_in_canvas_signals(qtbot, panel, family):
    _, child, _ = family
    panel.show_asset(child)
    with qtbot.waitSignal(panel.reuse_parameters) as reused:
        panel.reuse_button.click()
    assert reused.args[0] == child
    with qtbot.waitSignal(panel.open_in_canvas) as opened:
        panel.canvas_button.click()
    assert opened.args[0] == child


def test_parent_and_children_are_links_that_jump(qtbot, panel, library, project, family):
    parent, child, grandchild = family
    sibling = library.add_image(project.id, png_bytes(8, 8), values={"parentId": child.id,
                                                                     "kind": "img2img"})
    panel.show_asset(child)
    assert panel.field_links("parent") == [parent.id]  # at once, from the record
    qtbot.waitUntil(lambda: len(panel.field_links("children")) == 2, timeout=3000)
    assert panel.field_links("children") == [grandchild.id, sibling.id]
    assert "Image to image" in panel.field_text("children")
    assert panel.field_text("parent").startswith("Text to image · ")  # the parent's record
    with qtbot.waitSignal(panel.jump_to) as jumped:
        panel._values["children"].linkActivated.emit(f"asset:{grandchild.id}")
    assert jumped.args == [grandchild.id]
    with qtbot.waitSignal(panel.jump_to) as jumped:
        panel._values["parent"].linkActivated.emit(f"asset:{parent.id}")
    assert jumped.args == [parent.id]


def test_copy_buttons_and_show_in_file_manager(qtbot, panel, library, family, monkeypatch):
    parent, child, _ = family
    QGuiApplication.clipboard().clear()
    panel.show_asset(child)
    panel.copy_prompt_button.click()
    assert QGuiApplication.clipboard().text() == "a lighthouse, refined"
    panel.show_asset(parent)
    assert not panel.copy_prompt_button.isEnabled()  # stored without a prompt
    panel.copy_infotext_button.click()
    assert QGuiApplication.clipboard().text() == A1111_INFOTEXT
    opened: list[QUrl] = []
    monkeypatch.setattr(details_module, "open_url", lambda url: opened.append(url) or True)
    panel.folder_button.click()
    assert [u.toLocalFile() for u in opened] == [str(library.path_of(parent).parent)]


def test_broken_file_shows_a_message_and_none_shows_the_empty_state(qtbot, panel, library,
                                                                   project):
    asset = library.add_image(project.id, png_bytes(16, 16))
    library.path_of(asset).write_bytes(b"garbage")
    panel.show_asset(asset)
    qtbot.waitUntil(lambda: "cannot be shown" in panel.preview.message(), timeout=3000)
    assert panel.preview.pixmap() is None
    panel.show_asset(None)
    assert panel.asset() is None
    assert panel._scroll.isHidden() and not panel._empty.isHidden()


def test_a_late_preview_for_a_previous_image_is_ignored(qtbot, panel, family):
    parent, child, _ = family
    panel.show_asset(parent)
    panel.show_asset(child)
    qtbot.waitUntil(lambda: panel.preview.pixmap() is not None, timeout=3000)
    qtbot.waitUntil(lambda: not panel.is_loading(), timeout=3000)
    assert panel.preview.pixmap().size().toTuple() == (96, 64)
    assert panel.objectName() == "detailsPanel"


def test_the_image_toolbar_keeps_its_height_with_and_without_an_image(qtbot, panel, family):
    """Seen under Xvfb: with no image the toolbar's rows spread over half the panel."""
    panel.show()
    panel.show_asset(None)
    qtbot.waitUntil(lambda: panel.toolbar.isVisible())
    empty = panel.toolbar.height()
    panel.show_asset(family[0])
    QApplication.processEvents()
    assert panel.toolbar.height() == empty
    assert empty <= panel.toolbar.sizeHint().height() + 4
