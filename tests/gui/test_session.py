"""The session and its task runner: lanes, owners, shutdown, and the library's life by signals."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import shiboken6
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtWidgets import QApplication, QWidget

from dlx_art.gui import tasks
from dlx_art.gui.tasks import TaskRunner

GENEROUS_MS = 20_000


def wait_idle(qtbot, runner: TaskRunner, before: int) -> None:
    """Until every lane is idle and every result was delivered (or dropped)."""
    qtbot.waitUntil(lambda: runner.idle() and tasks.pending_tasks() <= before,
                    timeout=GENEROUS_MS)


# --- lanes ----------------------------------------------------------------------------------


@pytest.fixture
def runner(qapp):
    """A runner of the test's own, stopped and deleted at a known point (not by the GC)."""
    made = TaskRunner()
    yield made
    assert made.stop(GENEROUS_MS)
    made.deleteLater()
    QApplication.processEvents()


@settings(max_examples=8, deadline=None)
@given(count=st.integers(min_value=2, max_value=12))
def test_the_writer_lane_runs_one_task_at_a_time_in_order(qapp, count):
    runner = TaskRunner()  # one per example (hypothesis runs the body several times)
    lock = threading.Lock()
    state = {"active": 0, "most": 0}
    started: list[int] = []
    delivered: list[int] = []

    def write(i: int) -> int:
        with lock:
            state["active"] += 1
            state["most"] = max(state["most"], state["active"])
            started.append(i)
        time.sleep(0.002)  # room for a second thread to overlap, if there were one
        with lock:
            state["active"] -= 1
        return i

    for i in range(count):
        runner.writer.run(write, i, on_done=delivered.append)
    assert runner.writer.wait(GENEROUS_MS)
    deadline = time.monotonic() + GENEROUS_MS / 1000
    while len(delivered) < count and time.monotonic() < deadline:
        QApplication.processEvents()
    assert state["most"] == 1
    assert started == list(range(count)) == delivered
    assert runner.stop(GENEROUS_MS)
    runner.deleteLater()
    QApplication.processEvents()


def test_the_reads_lane_runs_tasks_side_by_side(qtbot, runner):
    """The contrast to the writer: two reads meet at a barrier only if they run together."""
    barrier = threading.Barrier(2, timeout=GENEROUS_MS / 1000)
    results: list[int] = []
    for _ in range(2):
        runner.reads.run(barrier.wait, on_done=results.append)
    qtbot.waitUntil(lambda: len(results) == 2, timeout=GENEROUS_MS)
    assert sorted(results) == [0, 1]


def test_a_task_whose_owner_was_deleted_does_not_call_back(qtbot, runner):
    before = tasks.pending_tasks()
    release = threading.Event()
    called: list[object] = []
    ran: list[str] = []
    owner = QWidget()

    def running() -> str:
        release.wait(GENEROUS_MS / 1000)
        ran.append("running")
        return "running"

    runner.writer.run(running, owner=owner, on_done=called.append, on_error=called.append)
    # queued behind it, same owner: taken off the lane when the owner goes
    runner.writer.run(lambda: ran.append("queued"), owner=owner, on_done=called.append)
    other = QWidget()
    kept: list[str] = []
    runner.writer.run(lambda: "kept", owner=other, on_done=kept.append)
    qtbot.waitUntil(lambda: runner.writer.busy(), timeout=GENEROUS_MS)
    owner.deleteLater()
    qtbot.waitUntil(lambda: runner.writer.active() == 2, timeout=GENEROUS_MS)  # queued one gone
    release.set()
    wait_idle(qtbot, runner, before)
    qtbot.waitUntil(lambda: kept == ["kept"], timeout=GENEROUS_MS)
    assert ran == ["running"]  # the queued task of the deleted owner never ran
    assert called == []  # and the running one's result was dropped
    other.deleteLater()


def test_cancel_takes_only_the_owners_queued_tasks(qtbot, runner):
    release = threading.Event()
    mine, theirs = QWidget(), QWidget()
    ran: list[str] = []
    runner.writer.run(lambda: release.wait(GENEROUS_MS / 1000))
    for name, owner in (("mine", mine), ("theirs", theirs), ("mine", mine)):
        runner.writer.run(ran.append, name, owner=owner)
    assert runner.writer.cancel(mine) == 2
    release.set()
    qtbot.waitUntil(lambda: ran == ["theirs"] and runner.idle(), timeout=GENEROUS_MS)


# --- the session ------------------------------------------------------------------------------


@pytest.fixture
def session(qtbot):
    from dlx_art.config import load_context
    from dlx_art.gui.session import Session

    context = load_context()
    made = Session.locked(context)
    with qtbot.waitSignal(made.library_opened, timeout=GENEROUS_MS):
        made.open()
    yield made
    made.shutdown(GENEROUS_MS)
    if made.library is not None:
        made.library.close()
    made.deleteLater()


def test_shutdown_waits_for_running_work_keeps_queued_writes_and_drops_queued_reads(
        qtbot, session):
    from dlx_art.gui.main_window import LibraryLock

    library, root = session.library, Path(session.library.root)
    release = threading.Event()
    running = threading.Semaphore(0)
    done: list[str] = []

    def blocking(name: str) -> None:
        running.release()
        release.wait(GENEROUS_MS / 1000)
        done.append(name)

    session.runner.reads.run(blocking, "read")
    session.runner.reads.run(blocking, "read")
    session.runner.reads.run(lambda: done.append("queued read"))
    project = library.create_project("Kept")
    session.runner.writer.run(blocking, "write")
    session.runner.writer.run(lambda: (library.set_archived(project.id, True),  # queued
                                       done.append("queued write")))
    # all three running, not only queued (on a loaded machine the change feed's poll can hold
    # a reads thread for a moment; a read still queued at shutdown is dropped, as it should be)
    for _ in range(3):
        assert running.acquire(timeout=GENEROUS_MS / 1000)
    threading.Thread(target=lambda: (time.sleep(0.2), release.set()), daemon=True).start()
    assert session.shutdown(GENEROUS_MS)  # waits (bounded) on the GUI thread, no event loop
    # the queued write was made, the queued read dropped
    assert sorted(done) == ["queued write", "read", "read", "write"]
    assert session.is_closed and library._closed
    LibraryLock(root).acquire().release()  # the lock is free again
    from dlx_art.library.service import Library

    with Library.open(root) as again:
        assert again.get_project("Kept").status == "archived"


def test_shutdown_gives_up_after_its_time_and_leaves_the_busy_catalog_open(qtbot, session):
    release, running = threading.Event(), threading.Event()
    session.runner.writer.run(lambda: (running.set(), release.wait(GENEROUS_MS / 1000)))
    qtbot.waitUntil(running.is_set, timeout=GENEROUS_MS)  # running, not only queued
    started = time.monotonic()
    try:
        assert not session.shutdown(200)
        assert time.monotonic() - started < 10  # it did not wait for the task
        assert not session.library._closed  # closing under a running thread would fail it
    finally:
        release.set()
        assert session.runner.wait(GENEROUS_MS)


def test_switching_reports_by_signals_in_order_without_a_nested_loop(qtbot, session, tmp_path):
    seen: list[tuple[str, object]] = []
    session.library_opening.connect(lambda path: seen.append(("opening", Path(path))))
    session.library_opened.connect(lambda lib: seen.append(
        ("opened", None if lib is None else Path(lib.root))))
    session.switch_finished.connect(lambda ok, _m: seen.append(("switched", ok)))
    old_root = Path(session.library.root)
    folder = tmp_path / "second library"

    session.switch_library(folder)
    # it returned at once: the new catalog opens in the background
    assert seen == [("opened", None), ("opening", folder)]
    assert session.library is None
    qtbot.waitUntil(lambda: ("switched", True) in seen, timeout=GENEROUS_MS)
    assert seen == [("opened", None), ("opening", folder), ("opened", folder.resolve()),
                    ("switched", True)]
    assert Path(session.library.root) == folder.resolve()
    assert session.context.settings.storage_root == str(folder)
    from dlx_art.gui.main_window import LibraryLock

    LibraryLock(old_root).acquire().release()  # the old library's lock was given back
    # and its job runner lock: the window now runs the new library's jobs
    from dlx_art.library.jobs import RunnerLock

    qtbot.waitUntil(lambda: RunnerLock(old_root).holder() is None, timeout=GENEROUS_MS)
    qtbot.waitUntil(lambda: session.jobs.is_runner is True, timeout=GENEROUS_MS)
    assert RunnerLock(folder).holder() is not None


def test_a_switch_never_waits_on_the_gui_thread_for_a_read_of_the_old_library(
        qtbot, session, tmp_path):
    old = session.library
    release, started = threading.Event(), threading.Event()

    def read() -> None:
        started.set()
        release.wait(GENEROUS_MS / 1000)

    session.runner.reads.run(read)
    # running, not only queued: a switch drops queued reads (and `busy` may be the change
    # feed's poll on a loaded machine, seen in a run with two busy processes)
    qtbot.waitUntil(started.is_set, timeout=GENEROUS_MS)
    finished: list[bool] = []
    session.switch_finished.connect(lambda ok, _m: finished.append(ok))
    started = time.monotonic()
    session.switch_library(tmp_path / "next")
    assert time.monotonic() - started < 5  # did not wait for the read (it waits for us)
    qtbot.wait(50)
    assert not old._closed and not finished  # the old catalog stays open under the read
    release.set()
    qtbot.waitUntil(lambda: finished == [True], timeout=GENEROUS_MS)
    assert old._closed


def test_a_failed_switch_goes_back_to_the_old_library_by_signals(qtbot, session, tmp_path):
    seen: list[tuple[str, object]] = []
    session.library_opening.connect(lambda path: seen.append(("opening", Path(path))))
    session.library_opened.connect(lambda lib: seen.append(
        ("opened", None if lib is None else Path(lib.root))))
    session.switch_finished.connect(lambda ok, _m: seen.append(("switched", ok)))
    old_root = Path(session.library.root)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "library.sqlite3").write_bytes(b"this is not a database" * 100)

    session.switch_library(broken)
    qtbot.waitUntil(lambda: len(seen) >= 5, timeout=GENEROUS_MS)
    assert seen == [("opened", None), ("opening", broken), ("opening", old_root),
                    ("switched", False), ("opened", old_root)]
    assert Path(session.library.root) == old_root
    assert session.context.settings.storage_root != str(broken)


def test_a_move_reports_progress_then_finishes_on_the_new_folder(qtbot, session, tmp_path):
    from tests.support.images import png_bytes

    project = session.library.create_project("Moving")
    for i in range(5):
        session.library.add_image(project.id, png_bytes(32, 32, color=(i, 2, 3)))
    seen: list[tuple[str, object]] = []
    progress: list[tuple[int, int]] = []
    session.move_progress.connect(lambda d, t: progress.append((d, t)))
    session.library_opened.connect(lambda lib: seen.append(
        ("opened", None if lib is None else Path(lib.root))))
    session.move_finished.connect(lambda ok, _m: seen.append(("moved", ok)))
    target = tmp_path / "moved"

    session.move_library(target)
    assert seen == [("opened", None)]  # the copy runs in the background
    qtbot.waitUntil(lambda: ("moved", True) in seen, timeout=GENEROUS_MS)
    assert seen == [("opened", None), ("opened", target.resolve()), ("moved", True)]
    assert progress and progress[-1][0] == progress[-1][1] > 0
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert session.library.get_project("Moving").name == "Moving"


# --- the window on the session ----------------------------------------------------------------


def test_moving_through_the_settings_returns_at_once_and_shows_the_moved_library(
        qtbot, studio, tmp_path):
    from PySide6.QtWidgets import QDialogButtonBox, QProgressDialog

    from dlx_art.gui.settings_dialog import SettingsDialog
    from tests.gui.test_main_window import when_modal
    from tests.support.images import png_bytes

    window = studio.open(start_background=False)
    project = window.project_bar.create_project("Moved")
    for i in range(12):
        window.library.add_image(project.id, png_bytes(48, 48, color=(i * 20, 90, 30)))
    window.gallery.refresh()
    target = tmp_path / "moved library"
    order: list[str] = []
    window.session.move_finished.connect(lambda ok, _m: order.append(f"finished {ok}"))

    def choose(dialog):
        dialog.set_library_change("move", target)
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()

    errors = when_modal(choose, SettingsDialog)
    assert window.open_settings()
    order.append("returned")
    assert not errors
    # the copy runs on the session's writer lane; the window shows its progress meanwhile
    assert window.findChild(QProgressDialog, "moveProgressDialog") is not None
    assert window.library is None and window.gallery.view.empty_text == "Opening the library…"
    qtbot.waitUntil(lambda: "finished True" in order, timeout=GENEROUS_MS)
    assert order == ["returned", "finished True"]  # no event loop ran inside open_settings
    assert Path(window.library.root) == target.resolve()
    assert window.gallery.library is window.library and window.details.library is window.library
    assert window.current_project().name == "Moved"
    assert window.gallery.model.rowCount() == 12
    qtbot.waitUntil(lambda: window.findChild(QProgressDialog, "moveProgressDialog") is None,
                    timeout=GENEROUS_MS)


def test_the_gallery_and_details_follow_the_library_they_are_told(qtbot, library, tmp_path):
    from dlx_art.gui.details_panel import DetailsPanel
    from dlx_art.gui.gallery import GalleryWidget
    from dlx_art.library.service import Library
    from tests.support.images import png_bytes

    project = library.create_project("First")
    library.add_image(project.id, png_bytes(40, 40), values={"prompt": "first"})
    gallery, details = GalleryWidget(None), DetailsPanel(None)
    qtbot.addWidget(gallery)
    qtbot.addWidget(details)
    assert gallery.view.empty_text == "Opening the library…"
    gallery.set_library(library)
    details.set_library(library)
    gallery.set_project(project.id)
    assert gallery.model.rowCount() == 1
    details.show_asset(gallery.model.asset_at(0))
    assert details.asset() is not None

    other = Library.open(tmp_path / "other")
    try:
        second = other.create_project("Second")
        for i in range(3):
            other.add_image(second.id, png_bytes(40, 40, color=(i, 9, 9)))
        gallery.set_library(None)  # the old one is let go while the next opens
        details.set_library(None)
        assert details.asset() is None
        assert gallery.model.rowCount() == 0 and gallery.project_id is None
        assert gallery.view.empty_text == "Opening the library…"
        assert gallery.select_asset("anything") is False
        gallery.set_library(other)
        details.set_library(other)
        assert gallery.view.empty_text.startswith("No project selected")
        gallery.set_project(second.id)
        assert gallery.model.rowCount() == 3
        qtbot.waitUntil(lambda: gallery.model.total_known, timeout=GENEROUS_MS)
        assert gallery.count_label.text() == "3 images"
    finally:
        gallery.shutdown()
        details.shutdown()
        other.close()


def test_shutdown_does_not_wait_for_a_status_probe_but_still_closes_the_catalog(qtbot, session):
    """A backend probe holds no data: a slow server must not hold the window's exit."""
    release, running = threading.Event(), threading.Event()
    session.runner.backends.run(lambda: (running.set(), release.wait(GENEROUS_MS / 1000)))
    qtbot.waitUntil(running.is_set, timeout=GENEROUS_MS)  # running, not only queued
    library = session.library
    try:
        assert not session.shutdown(GENEROUS_MS)  # the probe did not end...
        assert not release.is_set()  # ...and shutdown returned without it
        assert session.ended_cleanly is True  # everything on the library did
        assert library._closed
    finally:
        release.set()
        assert session.runner.wait(GENEROUS_MS)


def test_an_owner_deleted_after_its_runner_is_ignored_quietly(qtbot, capfd):
    """Seen in a full run: a widget outliving the runner (deleted in a later teardown) made
    its `destroyed` handler reach for the lane's deleted QThreadPool ("QThreadPool already
    deleted"), an exception raised inside Qt's signal delivery."""
    made = TaskRunner()
    owner = QWidget()
    release = threading.Event()
    made.reads.run(lambda: release.wait(0.5), owner=owner)  # the pool's deletion waits for it
    made.reads.run(lambda: "queued", owner=owner)  # still on the lane when the runner goes
    qtbot.waitUntil(lambda: made.reads.busy(), timeout=GENEROUS_MS)
    shiboken6.delete(made)  # as its parent's teardown does, pools included
    shiboken6.delete(owner)  # `destroyed` fires now
    release.set()
    assert "already deleted" not in capfd.readouterr().err
