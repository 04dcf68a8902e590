"""The lineage view: ancestors and descendants as a tree of thumbnails; click to open."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from dlx_art.gui.lineage_view import ASSET_ROLE, LineageView
from dlx_art.library.service import Library
from tests.support.images import png_bytes


@pytest.fixture
def view(qtbot, library: Library):
    widget = LineageView(library)
    qtbot.addWidget(widget)
    widget.resize(420, 500)
    yield widget
    widget.shutdown()


@pytest.fixture
def chain(library):
    """original -> refined -> inpainted -> touched up, plus a second refinement of original."""
    project = library.create_project("Lineage")

    def add(prompt, parent=None, kind="txt2img", color=(200, 60, 60)):
        values = {"prompt": prompt, "kind": kind}
        if parent is not None:
            values["parentId"] = parent.id
        return library.add_image(project.id, png_bytes(48, 32, color=color), values=values)

    original = add("a castle at dusk")
    refined = add("a castle at dusk, detailed", original, "img2img", (60, 200, 60))
    inpainted = add("a castle at dusk, dragon", refined, "inpaint", (60, 60, 200))
    touched = add("a castle at dusk, dragon, crisp", inpainted, "img2img", (200, 200, 60))
    sibling = add("a castle at dawn", original, "img2img", (60, 200, 200))
    return original, refined, inpainted, touched, sibling


def asset_of(item):
    return item.data(0, ASSET_ROLE)


def test_three_generations_show_as_a_tree_with_the_image_highlighted(qtbot, view, chain):
    original, refined, inpainted, touched, sibling = chain
    with qtbot.waitSignal(view.lineage_loaded, timeout=3000) as loaded:
        view.show_lineage(refined.id)
    assert loaded.args == [refined.id]
    tree = view.tree
    assert tree.topLevelItemCount() == 1
    root = tree.topLevelItem(0)
    assert asset_of(root).id == original.id  # ancestors: only the direct line
    assert [asset_of(root.child(i)).id for i in range(root.childCount())] == [refined.id]
    current = root.child(0)
    assert tree.currentItem() is current
    assert current.font(0).bold()
    assert "(this image)" in current.text(0)
    assert [asset_of(current.child(i)).id for i in range(current.childCount())] == [inpainted.id]
    assert asset_of(current.child(0).child(0)).id == touched.id
    assert sibling.id not in {asset_of(i).id for i in view._items.values()}
    assert "4 images over 4 generations" in view.message.text()
    # thumbnails arrive in the background
    qtbot.waitUntil(lambda: all(view.loader.state(i).value == "ready" for i in view._items),
                    timeout=5000)


def test_the_root_shows_every_branch(qtbot, view, chain):
    original, refined, inpainted, touched, sibling = chain
    with qtbot.waitSignal(view.lineage_loaded, timeout=3000):
        view.show_lineage(original.id)
    root = view.tree.topLevelItem(0)
    assert asset_of(root).id == original.id and root.font(0).bold()
    assert [asset_of(root.child(i)).id for i in range(root.childCount())] == [refined.id,
                                                                             sibling.id]
    assert asset_of(root.child(0).child(0).child(0)).id == touched.id


def test_clicking_an_item_asks_to_open_that_image(qtbot, view, chain):
    original, refined, inpainted, _, _ = chain
    with qtbot.waitSignal(view.lineage_loaded, timeout=3000):
        view.show_lineage(inpainted.id)
    view.show()
    qtbot.waitExposed(view)
    item = view.item_for(original.id)
    rect = view.tree.visualItemRect(item)
    assert rect.isValid()
    with qtbot.waitSignal(view.open_asset) as opened:
        qtbot.mouseClick(view.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened.args[0].id == original.id


def test_an_unknown_image_shows_a_message(qtbot, view):
    view.show_lineage("no-such-image")
    qtbot.waitUntil(lambda: "no image" in view.message.text().lower(), timeout=3000)
    assert view.tree.topLevelItemCount() == 0
    assert view.objectName() == "lineageView"


def test_the_view_follows_its_library_when_told(qtbot, view, chain, tmp_path):
    """Built once: `set_library` forgets the old tree; the new library's lineages show."""
    original, refined, *_ = chain
    with qtbot.waitSignal(view.lineage_loaded, timeout=10_000):
        view.show_lineage(refined.id)
    assert view.tree.topLevelItemCount() == 1
    other = Library.open(tmp_path / "other")
    try:
        project = other.create_project("Elsewhere")
        first = other.add_image(project.id, png_bytes(40, 40), values={"prompt": "first"})
        view.set_library(other)
        assert view.tree.topLevelItemCount() == 0 and view.current_asset_id() is None
        with qtbot.waitSignal(view.lineage_loaded, timeout=10_000):
            view.show_lineage(first.id)
        assert view.item_for(first.id) is not None and view.item_for(original.id) is None
        view.set_library(None)  # while another library opens
        assert view.tree.topLevelItemCount() == 0
    finally:
        view.shutdown()
        other.close()
