"""The window and the library's durable job queue, with real processes (issue 13).

A window is its library's job runner while no other program is: it runs the jobs a real
`dlx-art generate` queues (the command follows them to the end), cancels and retries them; a
window next to a running `dlx-art serve` leaves the running to the service and shows its jobs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from dlx_art.gui.jobs import JobRole, JobState
from dlx_art.library.jobs import JobQueue
from tests.support.service import TIMEOUT, cli_env, free_port, serve_process, wait_ready

pytestmark = [pytest.mark.gui, pytest.mark.integration, pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")]

WAIT_MS = int(TIMEOUT * 1000)


def _home() -> Path:
    return Path(os.environ["DLX_ART_HOME"])


def _generate(home: Path, url: str, *args: str) -> subprocess.Popen[str]:
    """A real `dlx-art generate` in the project "Q" (it queues its job in the library)."""
    return subprocess.Popen(
        [sys.executable, "-m", "dlx_art", "--home", str(home), "generate", "--project", "Q",
         "--width", "64", "--height", "64", *args],
        env=cli_env(home, url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _job_of(window, origin: str, state: JobState | None = None):
    for job in window.jobs.model.jobs():
        if job.source == origin and (state is None or job.state is state):
            return job
    return None


def _window(studio, fake_a1111):
    studio.configure(a1111=[fake_a1111.url])
    window = studio.open()
    window.project_bar.create_project("Q")
    return window


def test_the_window_runs_a_commands_job_and_the_command_follows_it(qtbot, studio, fake_a1111):
    window = _window(studio, fake_a1111)
    studio.qtbot.waitUntil(lambda: window.jobs.is_runner is True, timeout=WAIT_MS)
    process = _generate(_home(), fake_a1111.url, "--prompt", "a lighthouse", "--steps", "6",
                        "--seed", "4321")
    try:
        # the command's job shows up in the window's list and runs there
        qtbot.waitUntil(lambda: _job_of(window, "cli") is not None, timeout=WAIT_MS)
        job = _job_of(window, "cli")
        assert job.origin_label == "Command line" and not job.mine
        model = window.jobs.model
        assert model.data(model.index(model.row_of(job.id), 0), JobRole.origin) == "cli"
        qtbot.waitUntil(lambda: job.state.finished, timeout=WAIT_MS)
        assert job.state is JobState.done, job.error
        qtbot.waitUntil(lambda: process.poll() is not None, timeout=WAIT_MS)
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    library = window.library
    queue = JobQueue(library.db_path)
    row = queue.get(job.row_id)
    queue.close()
    assert row.origin == "cli" and row.runner and row.runner.startswith(f"{os.getpid()}@")
    assets = library.get_assets(row.resultAssetIds)
    assert [a.seed for a in assets] == [4321]
    # the same output as when the command runs its job itself: "<id>  <path>" per image
    assert out.splitlines() == [f"{a.id}  {library.path_of(a)}" for a in assets]
    assert [a.id for a in job.assets] == [a.id for a in assets]


def test_a_commands_job_is_cancelled_from_the_window(qtbot, studio, fake_a1111):
    fake_a1111.step_time = 0.05
    window = _window(studio, fake_a1111)
    studio.qtbot.waitUntil(lambda: window.jobs.is_runner is True, timeout=WAIT_MS)
    process = _generate(_home(), fake_a1111.url, "--prompt", "slow", "--steps", "300")
    try:
        qtbot.waitUntil(lambda: (j := _job_of(window, "cli")) is not None
                        and j.state is JobState.running and (j.step or 0) > 1, timeout=WAIT_MS)
        job = _job_of(window, "cli")
        window.job_panel.select_job(job.id)
        assert window.job_panel.cancel_button.isEnabled()
        window.job_panel.cancel_button.click()
        qtbot.waitUntil(lambda: job.state.finished, timeout=WAIT_MS)
        assert job.state is JobState.cancelled
        qtbot.waitUntil(lambda: process.poll() is not None, timeout=WAIT_MS)
        _out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 5, err  # the command's "cancelled"
    assert fake_a1111.interrupts >= 1
    assert window.library.count_assets(window.current_project().id) == 0


def test_a_failed_commands_job_is_retried_from_the_window(qtbot, studio, fake_a1111):
    window = _window(studio, fake_a1111)
    studio.qtbot.waitUntil(lambda: window.jobs.is_runner is True, timeout=WAIT_MS)
    fake_a1111.failure = "error"
    process = _generate(_home(), fake_a1111.url, "--prompt", "doomed once", "--steps", "3",
                        "--seed", "99")
    try:
        qtbot.waitUntil(lambda: process.poll() is not None, timeout=WAIT_MS)
        process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 1
    qtbot.waitUntil(lambda: _job_of(window, "cli", JobState.failed) is not None, timeout=WAIT_MS)
    failed = _job_of(window, "cli", JobState.failed)
    assert failed.error and "Unexpected" not in failed.error
    fake_a1111.failure = None
    panel = window.job_panel
    panel.select_job(failed.id)
    assert panel.error_label.text().endswith(failed.error)
    assert panel.retry_button.isEnabled()
    panel.retry_button.click()
    retried = window.jobs.model.jobs()[0]
    assert retried is not failed and retried.mine and retried.source == "window"
    qtbot.waitUntil(lambda: retried.state.finished, timeout=WAIT_MS)
    assert retried.state is JobState.done, retried.error
    assert [a.prompt for a in retried.assets] == ["doomed once"]
    assert [a.seed for a in retried.assets] == [99]  # the failed job's own request, again


def test_a_window_beside_the_service_shows_its_jobs_and_follows_its_own(qtbot, studio,
                                                                         fake_a1111):
    fake_a1111.step_time = 0.03
    home = _home()
    env = cli_env(home, fake_a1111.url)
    studio.configure(a1111=[fake_a1111.url])
    token = subprocess.run([sys.executable, "-m", "dlx_art", "--home", str(home), "serve",
                            "--show-token"], env=env, capture_output=True, text=True,
                           timeout=TIMEOUT, check=True).stdout.strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    with serve_process(home, port, env) as service:
        wait_ready(port, token, service)
        window = studio.open()
        window.project_bar.create_project("Q")
        qtbot.waitUntil(lambda: window.jobs.is_runner is False, timeout=WAIT_MS)
        assert window.job_panel.runner_label.isVisible()
        # a job of the service shows in the window's list as the service runs it
        answer = requests.post(f"{base}/api/art/generate", headers=headers, timeout=TIMEOUT,
                               json={"projectName": "Q", "prompt": "from the service",
                                     "steps": 40, "width": 64, "height": 64})
        assert answer.status_code == 202, answer.text
        qtbot.waitUntil(lambda: _job_of(window, "service") is not None, timeout=WAIT_MS)
        service_job = _job_of(window, "service")
        qtbot.waitUntil(lambda: service_job.state is JobState.running, timeout=WAIT_MS)
        # a job queued here now waits for the service's running job
        qtbot.waitUntil(lambda: service_job.state.finished or window.prompt_panel
                        .generate_button.text() == "Add to Queue (1 ahead)", timeout=WAIT_MS)
        assert "Running in another program" in service_job.status_text \
            or service_job.step is not None
        qtbot.waitUntil(lambda: service_job.state.finished, timeout=WAIT_MS)
        assert service_job.state is JobState.done, service_job.error
        assert len(service_job.assets) == 1
        # the window's own job is queued for the service, followed, and its result shown
        window.prompt_panel.prompt_edit.setPlainText("from the window")
        window.prompt_panel.set_size(64, 64)
        window.prompt_panel.steps_spin.setValue(4)
        own = window.generate()
        assert window.confirm_quit()  # the service runs it whether the window stays or not
        qtbot.waitUntil(lambda: own.state.finished, timeout=WAIT_MS)
        assert own.state is JobState.done, own.error
        assert [a.prompt for a in own.assets] == ["from the window"]
        qtbot.waitUntil(lambda: window.gallery.current_asset() is not None
                        and window.gallery.current_asset().id == own.assets[-1].id,
                        timeout=WAIT_MS)
        # a job the service runs is cancelled from the window (through its row)
        answer = requests.post(f"{base}/api/art/generate", headers=headers, timeout=TIMEOUT,
                               json={"projectName": "Q", "prompt": "long", "steps": 400,
                                     "width": 64, "height": 64})
        job_id = answer.json()["id"]
        qtbot.waitUntil(lambda: (j := window.jobs.job(job_id)) is not None
                        and j.state is JobState.running, timeout=WAIT_MS)
        assert window.jobs.cancel(job_id)
        long_job = window.jobs.job(job_id)
        qtbot.waitUntil(lambda: long_job.state.finished, timeout=WAIT_MS)
        assert long_job.state is JobState.cancelled
        row = requests.get(f"{base}/api/art/jobs/{job_id}", headers=headers,
                           timeout=TIMEOUT).json()
        assert row["state"] == "cancelled" and row["origin"] == "service"
        assert service.poll() is None


def test_quitting_interrupts_a_commands_job_and_the_command_runs_it_again(qtbot, studio,
                                                                          fake_a1111):
    fake_a1111.step_time = 0.03
    window = _window(studio, fake_a1111)
    studio.qtbot.waitUntil(lambda: window.jobs.is_runner is True, timeout=WAIT_MS)
    process = _generate(_home(), fake_a1111.url, "--prompt", "survivor", "--steps", "60",
                        "--seed", "777")
    try:
        qtbot.waitUntil(lambda: (j := _job_of(window, "cli")) is not None
                        and (j.step or 0) > 1, timeout=WAIT_MS)
        row_id = _job_of(window, "cli").row_id
        assert window.confirm_quit()  # not the window's own job: nothing to ask
        studio.close(window)
        assert fake_a1111.interrupts >= 1  # stopped on the server
        # recorded as interrupted, not cancelled: the command (a runner now) runs it again
        qtbot.waitUntil(lambda: process.poll() is not None, timeout=WAIT_MS)
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    from dlx_art.library.service import Library

    with Library.open(_home()) as library:
        queue = JobQueue(library.db_path)
        row = queue.get(row_id)
        queue.close()
        assert row.state == "done" and row.attempts == 2
        assets = library.get_assets(row.resultAssetIds)
        assert [a.seed for a in assets] == [777]
        assert out.splitlines() == [f"{a.id}  {library.path_of(a)}" for a in assets]


def test_the_windows_jobs_survive_a_quit_and_run_on_the_next_start(qtbot, studio, fake_a1111):
    fake_a1111.step_time = 0.03
    window = _window(studio, fake_a1111)
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText("kept")
    panel.set_size(64, 64)
    panel.steps_spin.setValue(80)
    running = window.generate()
    panel.steps_spin.setValue(3)
    waiting = window.generate()
    qtbot.waitUntil(lambda: (running.step or 0) > 1 and waiting.row_id is not None,
                    timeout=WAIT_MS)
    rows = (running.row_id, waiting.row_id)
    studio.close(window)
    assert fake_a1111.interrupts >= 1
    window = studio.open()
    queue = JobQueue(window.library.db_path)
    try:
        first = queue.get(rows[0])
        assert first.state in ("interrupted", "running", "done")
        seed = first.request["seed"]
        qtbot.waitUntil(lambda: all(queue.get(r).state == "done" for r in rows),
                        timeout=WAIT_MS)
        again = queue.get(rows[0])
        assert again.attempts == 2
        assets = window.library.get_assets(again.resultAssetIds)
        assert [a.seed for a in assets] == [seed]  # the same seed as the first run
        # both shown in the list of the new window, from the previous one ("Window")
        qtbot.waitUntil(lambda: all((j := window.jobs.job(r)) is not None
                                    and j.state is JobState.done for r in rows),
                        timeout=WAIT_MS)
        assert window.jobs.job(rows[0]).origin_label == "Window"
    finally:
        queue.close()


def test_a_commands_waiting_job_is_cancelled_from_the_window(qtbot, studio, fake_a1111):
    fake_a1111.step_time = 0.05
    window = _window(studio, fake_a1111)
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText("the window's long job")
    panel.set_size(64, 64)
    panel.steps_spin.setValue(300)
    own = window.generate()
    qtbot.waitUntil(lambda: (own.step or 0) > 1, timeout=WAIT_MS)
    process = _generate(_home(), fake_a1111.url, "--prompt", "never runs", "--steps", "3")
    try:
        qtbot.waitUntil(lambda: _job_of(window, "cli", JobState.queued) is not None,
                        timeout=WAIT_MS)
        waiting = _job_of(window, "cli", JobState.queued)
        assert "Add to Queue (2 ahead)" in panel.generate_button.text()
        assert window.jobs.cancel(waiting.id)
        assert waiting.state is JobState.cancelled
        qtbot.waitUntil(lambda: process.poll() is not None, timeout=WAIT_MS)
        _out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 5, err
    assert own.state is JobState.running  # the window's job goes on
    assert len(fake_a1111.jobs) == 1  # the command's job never reached the server
    window.jobs.cancel(own.id)
    qtbot.waitUntil(lambda: own.state.finished, timeout=WAIT_MS)


CRASHING_WINDOW = r"""
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

app = QApplication([])
from dlx_art.config import load_context
from dlx_art.gui.main_window import MainWindow
from dlx_art.gui.session import Session

context = load_context()
session = Session.locked(context)
window = MainWindow(session)
window.show()

def start():
    if window.current_project() is None:
        QTimer.singleShot(50, start)
        return
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText("made before a crash")
    panel.set_size(64, 64)
    panel.steps_spin.setValue(200)
    job = window.generate()

    def report():
        if job.row_id is not None and (job.step or 0) > 1:
            print("ROW", job.row_id, flush=True)
        else:
            QTimer.singleShot(20, report)

    report()

window.library_ready.connect(lambda: QTimer.singleShot(0, start))
app.exec()
"""


def test_a_windows_job_left_by_a_crash_runs_again_in_the_next_window(qtbot, studio,
                                                                     fake_a1111):
    import signal

    fake_a1111.step_time = 0.03
    studio.configure(a1111=[fake_a1111.url])
    home = _home()
    subprocess.run([sys.executable, "-m", "dlx_art", "--home", str(home), "projects",
                    "create", "Q"], env=cli_env(home, None), check=True, timeout=TIMEOUT,
                   capture_output=True)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    crashing = subprocess.Popen([sys.executable, "-c", CRASHING_WINDOW], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = crashing.stdout.readline()
        assert line.startswith("ROW "), crashing.stderr.read() if crashing.poll() else line
        row_id = line.split()[1]
        crashing.send_signal(signal.SIGKILL)
        crashing.wait(TIMEOUT)
    finally:
        if crashing.poll() is None:
            crashing.kill()
        crashing.communicate()
    # nobody can interrupt the dead window's generation: the server finishes it first (else
    # the next run may find the server busy and fall through to "no backend")
    qtbot.waitUntil(lambda: all(j.ended is not None for j in fake_a1111.jobs), timeout=WAIT_MS)
    window = studio.open()
    queue = JobQueue(window.library.db_path)
    try:
        seed = queue.get(row_id).request["seed"]
        qtbot.waitUntil(lambda: queue.get(row_id).finished, timeout=WAIT_MS)
        row = queue.get(row_id)
        assert row.state == "done" and row.attempts == 2, row
        assert [a.seed for a in window.library.get_assets(row.resultAssetIds)] == [seed]
        qtbot.waitUntil(lambda: (j := window.jobs.job(row_id)) is not None
                        and j.state is JobState.done, timeout=WAIT_MS)
    finally:
        queue.close()
