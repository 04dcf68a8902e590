"""The window follows the catalog live: real `dlx-art` processes change it while it is open.

Issue 13 ("live across processes") and issue 14 (a project created from the command line shows
up in the project bar). Every change here is made by a separate process through the command
line, against the window's open library; nothing in the window is poked.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dlx_art.gui.jobs import JobState
from tests.fakes.fake_a1111 import make_png
from tests.gui.test_workflows import gallery_assets, last_job, press_generate

pytestmark = [pytest.mark.gui, pytest.mark.integration,
              pytest.mark.usefixtures("fail_on_dangling_tasks")]

TIMEOUT_MS = 10_000  # generous: the poll runs every 250 ms, a loaded machine is slower


def start_cli(*args: str) -> subprocess.Popen[bytes]:
    """`dlx-art --home $DLX_ART_HOME ARGS` as its own process (the window keeps running)."""
    home = os.environ["DLX_ART_HOME"]
    return subprocess.Popen([sys.executable, "-m", "dlx_art", "--home", home, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(qtbot, process: subprocess.Popen[bytes]) -> None:
    """Let the window run (its timer, its reads) until the command has ended, and check it."""
    qtbot.waitUntil(lambda: process.poll() is not None, timeout=60_000)
    out, err = process.communicate()
    assert process.returncode == 0, (out.decode(), err.decode())


def write_pngs(folder, count: int, shade: int = 0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):  # distinct pixels: the import would skip identical files
        path = folder / f"picture-{shade}-{i}.png"
        path.write_bytes(make_png(32, 24, (10 * i + 1, shade, 200 - i), None))
        paths.append(str(path))
    return paths


def open_live(qtbot, studio, **kwargs):
    """A window whose session follows the catalog already (its watcher has a cursor)."""
    window = studio.open(**kwargs)
    qtbot.waitUntil(lambda: window.session.watching, timeout=TIMEOUT_MS)
    return window


def shown_ids(window) -> list[str]:
    return [a.id for a in gallery_assets(window)]


def combo_names(window) -> list[str]:
    combo = window.project_bar.combo
    return [combo.itemText(i) for i in range(combo.count())]


def test_images_imported_by_a_command_appear_in_the_gallery(qtbot, studio, tmp_path):
    window = open_live(qtbot, studio, start_background=False)
    window.project_bar.create_project("Harbour")
    qtbot.waitUntil(lambda: window.gallery.project_id is not None, timeout=TIMEOUT_MS)
    assert shown_ids(window) == []

    finish(qtbot, start_cli("import", "--project", "Harbour", *write_pngs(tmp_path / "in", 3)))
    qtbot.waitUntil(lambda: len(shown_ids(window)) == 3, timeout=TIMEOUT_MS)
    catalog = [a.id for a in window.library.assets(window.gallery.project_id, limit=10)]
    assert sorted(shown_ids(window)) == sorted(catalog)

    # a second import while the first ones are shown: added once each, never twice
    finish(qtbot, start_cli("import", "--project", "Harbour",
                            *write_pngs(tmp_path / "more", 2, shade=90)))
    qtbot.waitUntil(lambda: len(shown_ids(window)) == 5, timeout=TIMEOUT_MS)
    assert len(set(shown_ids(window))) == 5

    # trashed by a command: it leaves the gallery; deleted for good: still gone
    gone = shown_ids(window)[0]
    finish(qtbot, start_cli("assets", "trash", gone))
    qtbot.waitUntil(lambda: gone not in shown_ids(window), timeout=TIMEOUT_MS)
    assert len(shown_ids(window)) == 4
    finish(qtbot, start_cli("assets", "restore", gone))
    qtbot.waitUntil(lambda: gone in shown_ids(window), timeout=TIMEOUT_MS)
    assert len(set(shown_ids(window))) == len(shown_ids(window)) == 5


def test_images_of_another_project_stay_out_of_the_gallery(qtbot, studio, tmp_path):
    window = open_live(qtbot, studio, start_background=False)
    window.project_bar.create_project("Shown")
    finish(qtbot, start_cli("projects", "create", "Other"))
    changes = []
    window.session.catalog_changed.connect(changes.append)
    finish(qtbot, start_cli("import", "--project", "Other", *write_pngs(tmp_path / "in", 2)))
    qtbot.waitUntil(lambda: any(c.new_assets for c in changes), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.session.runner.reads.active(window.live_updates) == 0,
                    timeout=TIMEOUT_MS)
    assert window.current_project().name == "Shown"
    assert shown_ids(window) == []


def test_a_project_created_by_a_command_appears_in_the_project_bar(qtbot, studio):
    window = open_live(qtbot, studio, start_background=False)
    window.project_bar.create_project("Mine")
    finish(qtbot, start_cli("projects", "create", "From the shell"))
    qtbot.waitUntil(lambda: "From the shell" in combo_names(window), timeout=TIMEOUT_MS)
    assert window.current_project().name == "Mine"  # the list grew; the choice stayed
    assert combo_names(window).count("From the shell") == 1


def test_the_first_project_created_elsewhere_replaces_the_empty_page(qtbot, studio):
    window = open_live(qtbot, studio, start_background=False)
    assert window.project_bar.projects() == []
    finish(qtbot, start_cli("projects", "create", "First"))
    qtbot.waitUntil(lambda: window.current_project() is not None, timeout=TIMEOUT_MS)
    assert window.current_project().name == "First"


def test_switching_projects_here_does_not_reload_the_project_list(qtbot, studio):
    """Marking a project as used is a catalog write too: it must not reshuffle the combo."""
    window = open_live(qtbot, studio, start_background=False)
    bar = window.project_bar
    first = bar.create_project("One")
    bar.create_project("Two")
    changes = []
    window.session.catalog_changed.connect(changes.append)
    resets = []  # the combo is cleared and refilled on every reload
    bar.combo.model().rowsRemoved.connect(lambda *_: resets.append(1))
    assert bar.select_project(first.id)
    window.library.touch_project(first.id)  # what selecting it writes (lastOpenedAt)
    qtbot.waitUntil(lambda: any(first.id in c.projects for c in changes), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.session.runner.reads.active(window.live_updates) == 0,
                    timeout=TIMEOUT_MS)
    assert resets == []
    assert window.current_project().id == first.id


def test_the_windows_own_results_are_shown_once(qtbot, studio, fake_a1111):
    studio.configure(a1111=[fake_a1111.url])
    window = open_live(qtbot, studio)
    window.project_bar.create_project("Own")
    qtbot.waitUntil(lambda: window.monitor.latest is not None, timeout=TIMEOUT_MS)
    changes = []
    window.session.catalog_changed.connect(changes.append)
    window.prompt_panel.prompt_edit.setPlainText("a lighthouse")
    window.prompt_panel.batch_spin.setValue(2)
    press_generate(window)
    job = last_job(window)
    qtbot.waitUntil(lambda: job.state.finished, timeout=30_000)
    assert job.state is JobState.done, job.error
    # the poll saw the job's images too, and what it read has been applied
    qtbot.waitUntil(lambda: len({i for c in changes for i in c.new_assets}) == 2,
                    timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.session.runner.reads.active(window.live_updates) == 0,
                    timeout=TIMEOUT_MS)
    ids = shown_ids(window)
    assert len(ids) == len(set(ids)) == 2
    assert set(ids) == {i for c in changes for i in c.new_assets}


def test_a_reset_reloads_the_gallery_and_the_project_list(qtbot, studio, tmp_path):
    """When the watcher fell behind its log, the lists are not trusted: everything is re-read."""
    from dlx_art.library.changes import Changes

    window = open_live(qtbot, studio, start_background=False)
    window.project_bar.create_project("Kept")
    changes = []
    session = window.session
    session.catalog_changed.disconnect(window.live_updates.apply)  # only the reset applies
    session.catalog_changed.connect(changes.append)
    finish(qtbot, start_cli("import", "--project", "Kept", *write_pngs(tmp_path / "in", 2)))
    finish(qtbot, start_cli("projects", "create", "Behind"))
    qtbot.waitUntil(lambda: any(c.new_assets for c in changes)
                    and any(c.projects for c in changes), timeout=TIMEOUT_MS)
    assert shown_ids(window) == [] and "Behind" not in combo_names(window)

    window.live_updates.apply(Changes(reset=True))
    qtbot.waitUntil(lambda: "Behind" in combo_names(window), timeout=TIMEOUT_MS)
    assert len(shown_ids(window)) == 2
    assert window.current_project().name == "Kept"


def test_polling_follows_a_switched_library_and_stops_at_shutdown(qtbot, studio, tmp_path):
    window = open_live(qtbot, studio, start_background=False)
    session = window.session
    first_watcher = session._watcher
    other = tmp_path / "other"
    assert window.switch_library(other)
    qtbot.waitUntil(lambda: session.is_open and session.root() == other.resolve(),
                    timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: session.watching, timeout=TIMEOUT_MS)
    assert session._watcher is not first_watcher
    # the command line uses the library now configured: the window follows that one
    finish(qtbot, start_cli("projects", "create", "In the other library"))
    qtbot.waitUntil(lambda: "In the other library" in combo_names(window), timeout=TIMEOUT_MS)
    studio.close(window)
    assert not session._changes_timer.isActive() and not session.watching
