"""The gallery: model paging and filters, shortcuts, trash, thumbnails, and GUI-thread health.

Real `Library` in `tmp_path` with real PNGs. Catalog rows for the large cases are cloned with
SQLAlchemy Core from a few real images (the files are shared, ids and dates are new), which
keeps a 450-row project under a tenth of a second to make.
"""

from __future__ import annotations

import gc
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPoint, QPointF, QSize, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QWheelEvent
from PySide6.QtWidgets import QApplication, QListView
from sqlalchemy import insert

from dlx_art.gui.gallery import GalleryWidget, import_summary
from dlx_art.gui.gallery.model import PAGE_SIZE, GalleryModel, GalleryQuery, Role
from dlx_art.gui.gallery.thumbnails import ThumbnailLoader, ThumbState
from dlx_art.gui.gallery.view import GalleryView
from dlx_art.library.models import ASSET_COLUMNS, ArtAsset, AssetInfo, new_id, utc_now
from dlx_art.library.service import ImportReport, Library
from tests.gui.conftest import STALL_GUARD_MS
from tests.support.images import png_bytes

# --- helpers ------------------------------------------------------------------------------------


def _gui_thread_run_queue_wait() -> float:
    """Seconds this (GUI) thread has spent runnable but waiting for a CPU (Linux; else 0)."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as handle:
            return int(handle.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


class Heartbeat:
    """A 10 ms timer on the GUI thread that records the longest gap between its ticks.

    A gap much longer than the interval means the GUI thread was blocked for that long. On a
    shared machine the OS may not run us for a while, which says nothing about our code, so
    the time the GUI thread itself spent waiting in the run queue is subtracted (Linux
    schedstat). Waiting for the GIL or a lock held by one of our threads still counts.
    `max_raw_gap` keeps the wall-clock figure.

    The heap that exists on entry (pytest's, earlier tests') is frozen out of the cyclic GC
    meanwhile: a full collection of it takes 30-50 ms on any thread and stops them all, which
    measures the test session, not the gallery. (The application should likewise call
    `gc.freeze()` once started.)
    """

    def __init__(self, interval_ms: int = 10) -> None:
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._beat)
        self.max_gap = 0.0
        self.max_raw_gap = 0.0
        self.beats = 0
        self._last = 0.0
        self._last_wait = 0.0

    def __enter__(self) -> Heartbeat:
        gc.collect()
        gc.freeze()
        self._last = time.perf_counter()
        self._last_wait = _gui_thread_run_queue_wait()
        self.timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.timer.stop()
        gc.unfreeze()

    def _beat(self) -> None:
        now = time.perf_counter()
        wait = _gui_thread_run_queue_wait()
        gap = now - self._last
        self.max_raw_gap = max(self.max_raw_gap, gap)
        self.max_gap = max(self.max_gap, gap - (wait - self._last_wait))
        self._last, self._last_wait = now, wait
        self.beats += 1

    def report(self) -> str:
        return (f"GUI thread blocked for {self.max_gap * 1000:.0f} ms "
                f"(wall clock {self.max_raw_gap * 1000:.0f} ms)")


def add(library: Library, project_id: str, prompt: str = "a red fox", *, minutes: int = 0,
        color: tuple[int, int, int] = (180, 40, 40), size: tuple[int, int] = (64, 48),
        **values: object) -> AssetInfo:
    created = utc_now().replace(year=2026, month=1, day=1, hour=12, minute=0, second=0,
                                microsecond=0) + timedelta(minutes=minutes)
    data = png_bytes(*size, color=color)
    return library.add_image(project_id, data,
                             values={"prompt": prompt, "createdAt": created, **values})


def clone_rows(library: Library, template: AssetInfo, count: int,
               prompt: str = "cloned image {i}") -> list[str]:
    """`count` catalog rows sharing `template`'s file, older than it; ids newest first."""
    table = ArtAsset.__table__
    rows = []
    for i in range(count):
        row = {name: getattr(template, name) for name in ASSET_COLUMNS}
        row.update(id=new_id(), createdAt=template.createdAt - timedelta(seconds=i + 1),
                   prompt=prompt.format(i=i), isFavorite=False)
        rows.append(row)
    with library.engine.begin() as con:
        con.execute(insert(table), rows)
    return [r["id"] for r in rows]


def ids_of(model: GalleryModel) -> list[str]:
    return [model.index(r, 0).data(Role.id) for r in range(model.rowCount())]


@pytest.fixture
def project(library: Library):
    return library.create_project("Gallery")


@pytest.fixture
def gallery(qtbot, library: Library):
    widget = GalleryWidget(library)
    qtbot.addWidget(widget)
    widget.resize(900, 640)
    yield widget
    widget.shutdown()


# --- model ----------------------------------------------------------------------------------------


def test_model_pages_from_the_catalog_to_the_end(library, project):
    first = add(library, project.id, minutes=10)
    cloned = clone_rows(library, first, 449)
    model = GalleryModel(library)
    model.set_query(GalleryQuery(project.id))
    assert model.total == 450
    assert model.rowCount() == PAGE_SIZE
    assert model.canFetchMore()
    model.fetchMore()
    assert model.rowCount() == 2 * PAGE_SIZE
    model.fetchMore()
    assert model.rowCount() == 450
    assert not model.canFetchMore()
    model.fetchMore()  # harmless at the end
    assert model.rowCount() == 450
    assert ids_of(model) == [first.id, *cloned]  # newest first, no duplicates, no gaps


def test_model_passes_qtmodeltester_through_changes(qtmodeltester, library, project):
    first = add(library, project.id, minutes=10)
    clone_rows(library, first, 250)
    model = GalleryModel(library)
    model.set_query(GalleryQuery(project.id))
    qtmodeltester.check(model, force_py=True)
    # the tester stays connected: every change below is checked too
    model.fetchMore()
    newer = add(library, project.id, "a newer image", minutes=20)
    model.add_assets([newer])
    assert model.index(0, 0).data(Role.id) == newer.id
    model.set_favorite_local(newer.id, True)
    model.remove_ids([first.id, newer.id])
    # pytest-qt's tester checks (and fetches more) from its modelReset slot before it clears
    # its "reset in flight" flag, so resets here use queries that fit in one page
    model.set_query(GalleryQuery(project.id, order="oldest", search="newer"))
    model.set_query(GalleryQuery(None))
    assert model.rowCount() == 0


def test_model_orders_and_filters(library, project):
    a = add(library, project.id, "lighthouse in a storm", minutes=1)
    b = add(library, project.id, "a quiet forest", minutes=2, isFavorite=True)
    c = add(library, project.id, "Lighthouse at dawn", minutes=3)
    d = add(library, project.id, "desert road", minutes=4)
    library.set_favorite(c.id, True)
    model = GalleryModel(library)
    model.set_query(GalleryQuery(project.id))
    assert ids_of(model) == [d.id, c.id, b.id, a.id]
    model.set_query(GalleryQuery(project.id, order="oldest"))
    assert ids_of(model) == [a.id, b.id, c.id, d.id]
    model.set_query(GalleryQuery(project.id, order="favorites"))
    assert ids_of(model) == [c.id, b.id, d.id, a.id]
    model.set_query(GalleryQuery(project.id, favorites=True))
    assert ids_of(model) == [c.id, b.id]
    model.set_query(GalleryQuery(project.id, search="lighthou"))  # FTS prefix, any case
    assert ids_of(model) == [c.id, a.id]
    model.set_query(GalleryQuery(project.id, search="lighthouse", favorites=True))
    assert ids_of(model) == [c.id]
    assert model.total == 1


def test_add_assets_inserts_at_the_top_only_what_matches(library, project):
    older = add(library, project.id, "an old cat", minutes=1)
    other_project = library.create_project("Elsewhere")
    model = GalleryModel(library)
    model.set_query(GalleryQuery(project.id))
    new1 = add(library, project.id, "a new cat", minutes=5)
    new2 = add(library, project.id, "a newer cat", minutes=6)
    foreign = add(library, other_project.id, "not here", minutes=7)
    assert model.add_assets([new1, new2, foreign]) == 2
    assert ids_of(model) == [new2.id, new1.id, older.id]
    assert model.total == 3
    model.set_query(GalleryQuery(project.id, search="dog"))
    dog = add(library, project.id, "a dog", minutes=8)
    cat = add(library, project.id, "another cat", minutes=9)
    model.add_assets([cat, dog])
    assert ids_of(model) == [dog.id]


def test_widget_search_is_debounced_and_uses_the_catalog(qtbot, gallery, library, project):
    add(library, project.id, "a lighthouse", minutes=1)
    add(library, project.id, "a forest", minutes=2)
    gallery.set_project(project.id)
    assert gallery.model.rowCount() == 2
    qtbot.keyClicks(gallery.search_edit, "lightho")
    assert gallery.model.rowCount() == 2  # not yet: typing is debounced
    qtbot.waitUntil(lambda: gallery.model.rowCount() == 1, timeout=2000)
    assert gallery.model.query.search == "lightho"
    assert "1 image" in gallery.count_label.text()
    gallery.set_order("oldest")
    gallery.search_edit.clear()
    qtbot.waitUntil(lambda: gallery.model.rowCount() == 2, timeout=2000)
    assert gallery.model.query.order == "oldest"


# --- widget actions -------------------------------------------------------------------------------


def test_set_project_add_assets_and_select(qtbot, gallery, library, project):
    first = add(library, project.id, minutes=1)
    clone_rows(library, first, 449)
    with qtbot.waitSignal(gallery.current_changed) as blocker:
        gallery.set_project(project.id)
    assert blocker.args == [None]
    assert gallery.model.rowCount() == PAGE_SIZE
    # the total is counted in the background; paging does not wait for it
    qtbot.waitUntil(lambda: gallery.count_label.text() == "450 images", timeout=3000)
    assert gallery.model.total_known and gallery.model.canFetchMore()
    # select_asset pages in an image that is not loaded yet
    assert gallery.select_asset(first.id)
    assert gallery.current_asset().id == first.id
    assert [a.id for a in gallery.selected_assets()] == [first.id]
    newest = add(library, project.id, "fresh from a job", minutes=30)
    gallery.add_assets([newest])
    assert gallery.model.index(0, 0).data(Role.id) == newest.id
    elsewhere = add(library, library.create_project("Other").id, minutes=3)
    assert not gallery.select_asset(elsewhere.id)
    assert not gallery.select_asset("no-such-id")
    gallery.set_project(None)
    assert gallery.model.rowCount() == 0 and gallery.current_asset() is None
    assert "No project" in gallery.view.empty_text


def test_favorite_toggle_with_f(qtbot, gallery, library, project):
    asset = add(library, project.id)
    gallery.set_project(project.id)
    assert gallery.select_asset(asset.id)
    qtbot.keyClick(gallery.view, Qt.Key.Key_F)
    assert gallery.model.index(0, 0).data(Role.favorite) is True  # at once, optimistically
    qtbot.waitUntil(lambda: library.get_asset(asset.id).isFavorite, timeout=3000)
    qtbot.keyClick(gallery.view, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: not library.get_asset(asset.id).isFavorite, timeout=3000)
    assert gallery.model.index(0, 0).data(Role.favorite) is False


def test_favorites_filter_drops_an_unfavorited_image(qtbot, gallery, library, project):
    fav = add(library, project.id, isFavorite=True, minutes=1)
    add(library, project.id, minutes=2)
    gallery.set_project(project.id)
    gallery.set_favorites_only(True)
    assert [a.id for a in gallery.model.loaded_assets()] == [fav.id]
    gallery.select_asset(fav.id)
    gallery.favorite_selected()
    assert gallery.model.rowCount() == 0
    qtbot.waitUntil(lambda: not library.get_asset(fav.id).isFavorite, timeout=3000)


def test_delete_moves_the_selection_to_the_trash_and_restore_brings_it_back(
        qtbot, gallery, library, project):
    a = add(library, project.id, "one", minutes=1)
    b = add(library, project.id, "two", minutes=2)
    c = add(library, project.id, "three", minutes=3)
    gallery.set_project(project.id)
    model, selection = gallery.model, gallery.view.selectionModel()
    selection.setCurrentIndex(model.index_of(c.id), selection.SelectionFlag.ClearAndSelect)
    selection.select(model.index_of(a.id), selection.SelectionFlag.Select)
    assert {x.id for x in gallery.selected_assets()} == {a.id, c.id}
    messages = []
    gallery.status_message.connect(messages.append)
    qtbot.keyClick(gallery.view, Qt.Key.Key_Delete)
    assert ids_of(model) == [b.id]
    qtbot.waitUntil(lambda: library.get_asset(a.id).trashedAt is not None
                    and library.get_asset(c.id).trashedAt is not None, timeout=3000)
    qtbot.waitUntil(lambda: any("2 images to the trash" in m for m in messages))
    assert not library.path_of(library.get_asset(b.id)).parent.joinpath(
        Path(a.filePath).name).exists()

    with qtbot.waitSignal(gallery.trash_shown) as shown:
        gallery.show_trash(True)
    assert shown.args == [True] and gallery.is_showing_trash()
    assert set(ids_of(model)) == {a.id, c.id}
    assert "in the trash" in gallery.count_label.text()
    gallery.select_asset(a.id)
    menu = gallery.build_context_menu()
    names = [act.objectName() for act in menu.actions() if act.objectName()]
    assert "restoreAction" in names and "trashAction" not in names
    next(act for act in menu.actions() if act.objectName() == "restoreAction").trigger()
    qtbot.waitUntil(lambda: library.get_asset(a.id).trashedAt is None, timeout=3000)
    assert library.path_of(library.get_asset(a.id)).exists()
    assert ids_of(model) == [c.id]
    gallery.show_trash(False)
    assert set(ids_of(model)) == {a.id, b.id}


def test_enter_double_click_and_menu_open_in_canvas_and_reuse(qtbot, gallery, library, project):
    asset = add(library, project.id)
    gallery.set_project(project.id)
    gallery.select_asset(asset.id)
    with qtbot.waitSignal(gallery.open_in_canvas) as opened:
        qtbot.keyClick(gallery.view, Qt.Key.Key_Return)
    assert opened.args[0].id == asset.id
    with qtbot.waitSignal(gallery.open_in_canvas):
        gallery.view.doubleClicked.emit(gallery.model.index(0, 0))
    menu = gallery.build_context_menu()
    actions = {a.objectName(): a for a in menu.actions() if a.objectName()}
    assert {"editAction", "reuseAction", "favoriteAction", "copyAction", "exportAction",
            "trashAction", "lineageAction", "showInFolderAction"} <= set(actions)
    assert actions["favoriteAction"].shortcut().toString() == "F"
    with qtbot.waitSignal(gallery.reuse_parameters) as reused:
        actions["reuseAction"].trigger()
    assert reused.args[0].id == asset.id
    with qtbot.waitSignal(gallery.open_in_canvas):
        actions["editAction"].trigger()


def test_show_lineage_opens_a_lineage_dialog(qtbot, gallery, library, project):
    parent = add(library, project.id, "parent", minutes=1)
    child = add(library, project.id, "child", minutes=2, parentId=parent.id, kind="img2img")
    gallery.set_project(project.id)
    gallery.select_asset(child.id)
    with qtbot.waitSignal(gallery.lineage_requested) as requested:
        next(a for a in gallery.build_context_menu().actions()
             if a.objectName() == "lineageAction").trigger()
    assert requested.args[0].id == child.id
    dialog = gallery._lineage_dialog
    view = dialog.lineage_view
    qtbot.waitUntil(lambda: view.item_for(parent.id) is not None, timeout=3000)
    assert view.objectName() == "lineageView" and dialog.isVisible()
    view.open_asset.emit(parent)  # clicking an image in the dialog selects it here
    assert gallery.current_asset().id == parent.id
    dialog.close()


def test_ctrl_c_puts_image_data_and_file_url_on_the_clipboard(qtbot, gallery, library, project):
    asset = add(library, project.id, size=(40, 30))
    gallery.set_project(project.id)
    gallery.select_asset(asset.id)
    QGuiApplication.clipboard().clear()
    qtbot.keyClick(gallery.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    clipboard = QGuiApplication.clipboard()
    qtbot.waitUntil(lambda: clipboard.mimeData() is not None and clipboard.mimeData().hasUrls(),
                    timeout=3000)
    data = clipboard.mimeData()
    assert [u.toLocalFile() for u in data.urls()] == [str(library.path_of(asset))]
    assert data.hasImage()
    assert clipboard.image().size().toTuple() == (40, 30)


def test_export_copies_the_original_file(qtbot, gallery, library, project, tmp_path, monkeypatch):
    asset = add(library, project.id, infotext=None)
    gallery.set_project(project.id)
    gallery.select_asset(asset.id)
    target = tmp_path / "exported.png"
    monkeypatch.setattr("dlx_art.gui.gallery.actions.ask_export_target", lambda *a: str(target))
    gallery.export_selected()
    qtbot.waitUntil(target.exists, timeout=3000)
    assert target.read_bytes() == library.path_of(asset).read_bytes()


def test_zoom_with_ctrl_wheel_and_set_thumbnail_size(qtbot, gallery):
    gallery.show()
    qtbot.waitExposed(gallery)
    gallery.set_thumbnail_size(50)
    assert gallery.thumbnail_size() == 96
    gallery.set_thumbnail_size(10_000)
    assert gallery.thumbnail_size() == 384
    gallery.set_thumbnail_size(160)
    assert gallery.size_slider.value() == 160
    view = gallery.view
    event = QWheelEvent(QPointF(20, 20), QPointF(view.mapToGlobal(QPoint(20, 20))), QPoint(0, 0),
                        QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)
    assert gallery.thumbnail_size() == 176
    gallery.zoom(-2)
    assert gallery.thumbnail_size() == 144
    # tiles stretch to fill the width, staying near the zoom, with even 8 px gaps
    tile = view.delegate.tile
    assert abs(tile - 144) <= 144 * 0.35
    assert view.gridSize().height() == tile + 8
    columns = max(1, (view.viewport().width() - 4) // view.gridSize().width())
    assert view.viewport().width() - columns * view.gridSize().width() >= 4
    assert view.uniformItemSizes() and view.viewMode() == view.ViewMode.IconMode
    assert view.objectName() == "galleryView"


def test_import_summary_names_rejected_files():
    report = ImportReport(imported=[], duplicates=["/x/a.png"],
                          rejected=[(f"/x/bad{i}.png", "broken") for i in range(7)])
    text = import_summary(report)
    assert text.startswith("Imported 0 images; 1 already in the project.")
    assert "bad0.png, bad1.png, bad2.png, bad3.png, bad4.png and 2 more" in text


# --- thumbnails -----------------------------------------------------------------------------------


def test_thumbnails_arrive_asynchronously_and_broken_files_show_a_placeholder(
        qtbot, gallery, library, project):
    good = add(library, project.id, "good", minutes=2, size=(120, 80))
    broken = add(library, project.id, "broken", minutes=1)
    library.path_of(broken).write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    gallery.set_project(project.id)
    gallery.show()
    qtbot.waitExposed(gallery)
    model = gallery.model
    good_index, broken_index = model.index_of(good.id), model.index_of(broken.id)
    qtbot.waitUntil(lambda: good_index.data(Role.thumbnail_state) == "ready"
                    and broken_index.data(Role.thumbnail_state) == "broken", timeout=5000)
    pixmap = good_index.data(Role.thumbnail)
    assert pixmap is not None and pixmap.width() / pixmap.height() == pytest.approx(1.5, 0.02)
    assert good_index.data(Qt.ItemDataRole.DecorationRole) is not None
    assert broken_index.data(Role.thumbnail) is None
    assert "not a readable image" in broken_index.data(Qt.ItemDataRole.ToolTipRole)
    gallery.grab()  # paints the broken tile without raising
    loads = gallery.loader.loads
    gallery.grab()
    assert gallery.loader.loads == loads  # cached: no new loads on repaint


def test_only_painted_rows_load_thumbnails(qtbot, gallery, library, project):
    first = add(library, project.id, minutes=1)
    clone_rows(library, first, 399)
    gallery.set_thumbnail_size(176)
    gallery.set_project(project.id)
    gallery.show()
    qtbot.waitExposed(gallery)
    visible = gallery.view.visible_rows()
    assert 4 <= len(visible) <= 30
    qtbot.waitUntil(lambda: all(gallery.model.index(r, 0).data(Role.thumbnail_state) == "ready"
                                for r in visible), timeout=5000)
    qtbot.wait(100)
    assert gallery.loader.loads <= len(visible) * 2 + 8  # the screen (+ a margin), not 400
    assert gallery.model.index(190, 0).data(Role.thumbnail_state) == "none"


def test_queued_requests_for_rows_scrolled_away_are_skipped(qtbot, library, project):
    first = add(library, project.id, minutes=1)
    clone_rows(library, first, 40)
    loader = ThumbnailLoader(library, threads=1)
    assets = library.assets(project.id, limit=41)
    wanted = {a.id for a in assets[-3:]}
    for asset in assets:
        loader.request(asset, QSize(64, 64), lambda a=asset: a.id in wanted)
    qtbot.waitUntil(loader.is_idle, timeout=5000)
    assert {a.id for a in assets if loader.state(a.id) == ThumbState.ready} >= wanted
    assert loader.loads <= 2 + len(wanted)  # the ones already started, plus the wanted ones
    loader.shutdown()


def test_the_pixmap_cache_stays_within_its_budget(qtbot, library, project):
    first = add(library, project.id, size=(256, 256))
    clone_rows(library, first, 30)
    budget = 64 * 64 * 4 * 10
    loader = ThumbnailLoader(library, max_bytes=budget)
    for asset in library.assets(project.id, limit=31):
        loader.request(asset, QSize(64, 64))
    qtbot.waitUntil(loader.is_idle, timeout=5000)
    assert loader.loads == 31
    assert loader.cache_bytes <= budget and loader.cache_count == 10
    loader.shutdown()


def test_gui_thread_keeps_beating_while_300_thumbnails_load(qtbot, gallery, library, project):
    templates = [add(library, project.id, f"t{i}", minutes=i, size=(512, 512),
                     color=(i * 20, 90, 200 - i * 15)) for i in range(6)]
    for template in templates:
        clone_rows(library, template, 49)
    gallery.set_thumbnail_size(96)
    gallery.set_project(project.id)
    gallery.show()
    qtbot.waitExposed(gallery)
    while gallery.model.canFetchMore():
        gallery.model.fetchMore()
    assets = gallery.model.loaded_assets()
    assert len(assets) == 300
    # Steady state: Pillow imports its ~40 format plugins once per process (the library's
    # first new thumbnail needs them); the loader does that off the GUI thread ~2 s after
    # start-up, here at once.
    gallery.loader.warm_up_now()
    qtbot.waitUntil(lambda: gallery.loader.warmed, timeout=10_000)
    box = gallery.view.delegate.thumbnail_box(1.0)
    with Heartbeat() as beat:
        for asset in assets:  # as if all 300 rows were painted at once
            gallery.loader.request(asset, box)
        # generous: on a loaded machine the worker processes get a fraction of a core
        qtbot.waitUntil(lambda: gallery.loader.is_idle(), timeout=180_000)
    assert gallery.loader.loads >= 300
    assert beat.beats > 10
    assert beat.max_gap < STALL_GUARD_MS / 1000, beat.report()



class _Rows(QAbstractListModel):
    """Just a row count: what QListView's layout cost depends on."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def rowCount(self, parent=QModelIndex()):  # noqa: B008, N802
        return 0 if parent.isValid() else self.count

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        return None

    def insert(self, row: int, count: int) -> None:
        self.beginInsertRows(QModelIndex(), row, row + count - 1)
        self.count += count
        self.endInsertRows()


def test_adding_rows_to_a_huge_grid_does_not_freeze_the_window(qtbot, heartbeat):
    """A page fetched deep in a 150,000-row grid, or a new image at its top, lays the grid
    out again; in one pass that took 130+ ms here, so the view lays out in batches."""
    view = GalleryView()
    qtbot.addWidget(view)
    model = _Rows(150_000)
    view.setModel(model)
    view.resize(1100, 800)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(1500)  # the first layout, in batches too
    heartbeat.start()
    model.insert(model.count, PAGE_SIZE)  # the next page while scrolling
    qtbot.wait(300)
    model.insert(0, 1)  # a new image at the top
    qtbot.wait(300)
    heartbeat.stop()
    heartbeat.assert_responsive()
    assert view.layoutMode() == QListView.LayoutMode.Batched
