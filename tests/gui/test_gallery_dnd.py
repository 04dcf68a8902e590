"""Drag out (the original files, metadata intact) and drop in (background import).

`QDrag.exec` returns at once offscreen and blocks forever under Xvfb, so the drag is tested
through the mime data the model builds and a recording stand-in for `QDrag`; drops through
`dropMimeData` and real `QDropEvent`s sent to the view.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from dlx_art.gui.gallery import GalleryWidget
from dlx_art.gui.gallery import mime as gallery_mime
from dlx_art.gui.gallery import view as gallery_view
from dlx_art.gui.gallery.model import Role
from dlx_art.library.service import Library
from tests.gui.conftest import STALL_GUARD_MS
from tests.gui.test_gallery import Heartbeat, add
from tests.support.images import A1111_INFOTEXT, jpeg_bytes, png_bytes


@pytest.fixture
def project(library: Library):
    return library.create_project("Drops")


@pytest.fixture
def gallery(qtbot, library: Library):
    widget = GalleryWidget(library)
    qtbot.addWidget(widget)
    widget.resize(800, 600)
    yield widget
    widget.shutdown()


def file_mime(*paths: Path) -> QMimeData:
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return data


def drop_event(data: QMimeData, kind=QDropEvent) -> QDropEvent:
    """A drag or drop event; the caller must keep `data` alive (the event only points at it)."""
    return kind(QPoint(50, 50) if kind is QDragEnterEvent else QPointF(50, 50),
                Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                Qt.KeyboardModifier.NoModifier)


def select_all(gallery: GalleryWidget) -> None:
    gallery.view.selectAll()


# --- drag out -----------------------------------------------------------------------------------


def test_drag_mime_holds_the_original_files_with_their_metadata(gallery, library, project):
    first = library.add_image(project.id, png_bytes(48, 32, parameters=A1111_INFOTEXT))
    second = add(library, project.id, "second", minutes=90, size=(20, 20))
    gallery.set_project(project.id)
    select_all(gallery)
    indexes = gallery.view.selectedIndexes()
    data = gallery.model.mimeData(indexes)
    rows = sorted(i.row() for i in indexes)
    expected = [library.path_of(gallery.model.asset_at(r)) for r in rows]
    assert [Path(u.toLocalFile()) for u in data.urls()] == expected  # the files themselves
    assert {p.parent for p in expected} == {library.path_of(first).parent}
    assert "text/uri-list" in data.formats()
    uri_list = bytes(data.data("text/uri-list")).decode()
    assert all(QUrl.fromLocalFile(str(p)).toString() in uri_list for p in expected)
    with Image.open(library.path_of(first)) as image:
        assert image.info["parameters"] == A1111_INFOTEXT  # metadata intact in the file
    assert data.hasImage()  # pixels for apps that want them, decoded on demand
    image = data.imageData()
    top = gallery.model.asset_at(rows[0])
    assert (image.width(), image.height()) == (top.width, top.height)
    assert {top.id, gallery.model.asset_at(rows[1]).id} == {first.id, second.id}
    assert gallery_mime.asset_ids(data) == [gallery.model.asset_at(r).id for r in rows]


def test_start_drag_hands_the_mime_data_and_a_thumbnail_to_qdrag(gallery, library, project,
                                                                 monkeypatch):
    for i in range(3):
        add(library, project.id, f"img {i}", minutes=i)
    gallery.set_project(project.id)
    select_all(gallery)
    made = []

    class RecordingDrag:
        def __init__(self, source):
            self.source = source
            made.append(self)

        def setMimeData(self, data):  # noqa: N802
            self.data = data

        def setPixmap(self, pixmap):  # noqa: N802
            self.pixmap = pixmap

        def setHotSpot(self, point):  # noqa: N802
            self.hot_spot = point

        def exec(self, *actions):
            self.actions = actions
            return Qt.DropAction.CopyAction

    monkeypatch.setattr(gallery_view, "QDrag", RecordingDrag)
    gallery.view.startDrag(Qt.DropAction.CopyAction)
    (drag,) = made
    assert len(drag.data.urls()) == 3
    assert not drag.pixmap.isNull()
    assert drag.actions[0] == Qt.DropAction.CopyAction


# --- drop in --------------------------------------------------------------------------------------


def test_drop_imports_good_files_and_reports_bad_ones_by_name(qtbot, gallery, library, project,
                                                             tmp_path):
    old = add(library, project.id, "already here", minutes=1)
    incoming = tmp_path / "incoming"
    folder = incoming / "folder"
    folder.mkdir(parents=True)
    good = incoming / "good.png"
    good.write_bytes(png_bytes(40, 40, color=(1, 2, 3), parameters=A1111_INFOTEXT))
    (incoming / "photo.jpg").write_bytes(jpeg_bytes(30, 20))
    (folder / "in-folder.png").write_bytes(png_bytes(24, 24, color=(9, 9, 9)))
    empty = incoming / "empty.png"
    empty.write_bytes(b"")
    text = incoming / "notes.txt"
    text.write_text("not an image")
    truncated = incoming / "truncated.png"
    truncated.write_bytes(png_bytes(64, 64, noise=True)[:300])
    gallery.set_project(project.id)
    messages: list[str] = []
    gallery.status_message.connect(messages.append)
    data = file_mime(good, incoming / "photo.jpg", folder, empty, text, truncated)
    assert gallery.model.canDropMimeData(data, Qt.DropAction.CopyAction, -1, -1,
                                         gallery.model.index(-1, 0))
    with qtbot.waitSignal(gallery.import_finished, timeout=20_000) as finished:
        assert gallery.model.dropMimeData(data, Qt.DropAction.CopyAction, -1, -1,
                                          gallery.model.index(-1, 0))
    report = finished.args[0]
    assert len(report.imported) == 3
    rejected = {Path(p).name for p, _ in report.rejected}
    assert rejected == {"empty.png", "notes.txt", "truncated.png"}
    summary = messages[-1]
    assert summary.startswith("Imported 3 images.")
    for name in ("empty.png", "notes.txt", "truncated.png"):
        assert name in summary
    # new images appear at the top, with the metadata found in the files
    top = [gallery.model.asset_at(r) for r in range(3)]
    assert {a.id for a in top} == {a.id for a in report.imported}
    assert gallery.model.asset_at(3).id == old.id
    from_png = next(a for a in report.imported if a.width == 40)
    assert from_png.prompt.startswith("a lighthouse in a storm")
    assert from_png.seed == 1234567 and from_png.kind == "import"


def test_drop_event_on_the_view_imports_and_drag_enter_is_accepted(qtbot, gallery, library,
                                                                   project, tmp_path):
    gallery.set_project(project.id)
    path = tmp_path / "dropped.png"
    path.write_bytes(png_bytes(16, 16))
    viewport = gallery.view.viewport()
    data = file_mime(path)
    enter = drop_event(data, QDragEnterEvent)
    QApplication.sendEvent(viewport, enter)
    accepted, action = enter.isAccepted(), enter.dropAction()  # (an event's repr can crash)
    assert accepted and action == Qt.DropAction.CopyAction
    event = drop_event(data)
    with qtbot.waitSignal(gallery.import_finished, timeout=10_000) as finished:
        QApplication.sendEvent(viewport, event)
    accepted = event.isAccepted()
    assert accepted
    assert len(finished.args[0].imported) == 1
    assert gallery.model.rowCount() == 1
    assert gallery.model.index(0, 0).data(Role.asset).fileType == "png"


def test_drop_from_the_gallery_itself_does_nothing(qtbot, gallery, library, project):
    add(library, project.id)
    gallery.set_project(project.id)
    select_all(gallery)
    own = gallery.model.mimeData(gallery.view.selectedIndexes())
    assert not gallery.model.canDropMimeData(own, Qt.DropAction.CopyAction, -1, -1,
                                             gallery.model.index(-1, 0))
    with qtbot.assertNotEmitted(gallery.import_finished, wait=200):
        assert not gallery.model.dropMimeData(own, Qt.DropAction.CopyAction, -1, -1,
                                              gallery.model.index(-1, 0))
        enter = drop_event(own, QDragEnterEvent)
        QApplication.sendEvent(gallery.view.viewport(), enter)
        accepted_enter = enter.isAccepted()
        event = drop_event(own)
        QApplication.sendEvent(gallery.view.viewport(), event)
        accepted_drop = event.isAccepted()
        assert not accepted_enter and not accepted_drop
    assert not gallery.is_importing()
    assert gallery.model.rowCount() == 1


def test_drops_are_refused_without_a_project_and_in_the_trash(qtbot, gallery, project, tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(png_bytes(8, 8))
    data = file_mime(path)
    enter = drop_event(data, QDragEnterEvent)
    QApplication.sendEvent(gallery.view.viewport(), enter)
    accepted = enter.isAccepted()
    assert not accepted
    assert not gallery.model.dropMimeData(data, Qt.DropAction.CopyAction, -1, -1,
                                          gallery.model.index(-1, 0))
    messages: list[str] = []
    gallery.status_message.connect(messages.append)
    gallery.import_files([str(path)])
    assert messages and "project" in messages[0]
    gallery.set_project(project.id)
    gallery.show_trash(True)
    assert not gallery.model.canDropMimeData(data, Qt.DropAction.CopyAction, -1, -1,
                                             gallery.model.index(-1, 0))
    non_file = QMimeData()
    non_file.setUrls([QUrl("https://example.com/cat.png")])
    gallery.show_trash(False)
    assert not gallery.model.canDropMimeData(non_file, Qt.DropAction.CopyAction, -1, -1,
                                             gallery.model.index(-1, 0))


def test_gui_thread_keeps_beating_during_an_import_of_1000_images(qtbot, gallery, library,
                                                                  project, tmp_path):
    folder = tmp_path / "thousand"
    folder.mkdir()
    for i in range(1000):
        (folder / f"img{i:04}.png").write_bytes(png_bytes(16, 16, color=(i % 256, i // 256, 7)))
    gallery.set_project(project.id)
    gallery.show()
    qtbot.waitExposed(gallery)
    # Steady state: Pillow imports its ~40 format plugins once per process (the library's
    # first new thumbnail needs them); the loader does that off the GUI thread ~2 s after
    # start-up, here at once.
    gallery.loader.warm_up_now()
    qtbot.waitUntil(lambda: gallery.loader.warmed, timeout=10_000)
    progress: list[str] = []
    gallery.status_message.connect(progress.append)
    with Heartbeat() as beat, qtbot.waitSignal(gallery.import_finished, timeout=120_000) as done:
        gallery.import_files([str(folder)])
    assert len(done.args[0].imported) == 1000
    assert any(m.startswith("Importing… ") for m in progress)
    assert gallery.model.total == 1000
    assert beat.beats > 20
    assert beat.max_gap < STALL_GUARD_MS / 1000, beat.report()
