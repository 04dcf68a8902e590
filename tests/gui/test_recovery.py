"""The window tells the person when opening had to recover an empty catalog."""

from __future__ import annotations

from pathlib import Path

from tests.support.images import png_bytes


def test_window_says_the_catalog_was_recovered(qtbot, studio):
    from dlx_art.config import load_context

    context = load_context()
    library = context.open_library()
    project = library.create_project("Kept")
    library.add_image(project.id, png_bytes(), values={"prompt": "still here"})
    library.backup("manual")
    root = Path(library.root)
    library.close()
    (root / "library.sqlite3").write_bytes(b"")

    window = studio.open()
    qtbot.waitUntil(lambda: "catalog file was empty" in window.statusBar().currentMessage(),
                    timeout=10_000)
    assert "restored from the backup" in window.statusBar().currentMessage()
    assert [p.name for p in window.library.list_projects()] == ["Kept"]
    qtbot.waitUntil(window.session.runner.idle, timeout=10_000)
    assert "catalog file was empty" in window.statusBar().currentMessage()
