"""The job queue against the fake A1111 over loopback: order, progress, cancel, failures."""

from __future__ import annotations

import copy

import pytest

from dlx_art.config import load_context
from dlx_art.generation.types import GenerationRequest
from dlx_art.gui.jobs import JobController, JobListModel, JobRole, JobState, RouterProvider
from dlx_art.settings import A1111Server
from tests.gui.conftest import closed_port_url

pytestmark = [pytest.mark.gui, pytest.mark.integration,
              pytest.mark.usefixtures("fail_on_dangling_tasks")]


@pytest.fixture
def setup(qtbot, fake_a1111):
    context = load_context()
    settings = copy.deepcopy(context.settings)
    settings.a1111_servers = [A1111Server(fake_a1111.url)]
    settings.busy_wait = 0.5
    context.save_settings(settings)
    library = context.open_library()
    project = library.create_project("Jobs")
    controller = JobController(library, RouterProvider(context.effective))
    yield controller, library, project, fake_a1111, context
    controller.shutdown(10_000)
    library.close()


def request(project, **kw):
    values = {"prompt": "a test image", "steps": 4, "width": 64, "height": 64}
    values.update(kw)
    return GenerationRequest(project_id=project.id, **values)


def wait_finished(qtbot, *jobs, timeout=15_000):
    qtbot.waitUntil(lambda: all(j.state.finished for j in jobs), timeout=timeout)


def test_job_runs_and_stores_the_image(qtbot, setup):
    controller, library, project, fake, _ = setup
    finished = []
    controller.job_finished.connect(finished.append)
    with qtbot.waitSignal(controller.busy_changed, timeout=5000):
        job = controller.submit(request(project, seed=77))
    assert controller.model.rowCount() == 1
    wait_finished(qtbot, job)
    assert job.state is JobState.done, job.error
    assert finished == [job]
    assert len(job.assets) == 1
    asset = library.get_asset(job.assets[0].id)
    assert asset.prompt == "a test image" and asset.seed == 77 and asset.backend == "a1111"
    assert library.path_of(asset).is_file()
    assert job.pixmap is not None and not job.pixmap.isNull()  # thumbnail decoded off-thread
    assert job.backend_label.startswith("A1111")
    assert "1 image" in job.status_text
    assert not controller.is_busy()


def test_jobs_run_one_at_a_time_in_order(qtbot, setup):
    controller, library, project, fake, _ = setup
    fake.step_time = 0.01
    order = []
    controller.job_started.connect(lambda j: order.append(j.id))
    jobs = [controller.submit(request(project, prompt=f"image {i}")) for i in range(3)]
    assert [j.state for j in jobs] == [JobState.running, JobState.queued, JobState.queued]
    # newest first in the list
    assert [controller.model.data(controller.model.index(r, 0), JobRole.job_id)
            for r in range(3)] == [j.id for j in reversed(jobs)]
    wait_finished(qtbot, *jobs)
    assert all(j.state is JobState.done for j in jobs)
    assert order == [j.id for j in jobs]
    assert fake.max_running_jobs == 1 and fake.max_open_generations == 1
    assert [a.prompt for a in library.assets(project.id, order="oldest")] == \
        ["image 0", "image 1", "image 2"]


def test_the_windows_jobs_run_in_order_however_the_runner_steps_fall(qtbot, setup):
    # the jobs lane is held while three jobs are submitted: the first is started "at once"
    # (its row written by the next runner step), the others must not get rows before it, or
    # a step that looks for work meanwhile would run the second first
    import threading

    from dlx_art.library.changes import Changes

    controller, library, project, fake, _ = setup
    gate = threading.Event()
    controller._runner.jobs.run(gate.wait, 30)
    # the change feed reports a change: the runner looks for work (a step waits on the lane)
    controller.follow(Changes(jobs=["a-row-changed-elsewhere"]))
    order = []
    controller.job_started.connect(lambda j: order.append(j.id))
    jobs = [controller.submit(request(project, prompt=f"image {i}")) for i in range(3)]
    assert controller._runner.writer.wait(10_000)
    qtbot.wait(100)  # the writes' results delivered, if any were made
    gate.set()
    wait_finished(qtbot, *jobs)
    assert [j.state for j in jobs] == [JobState.done] * 3
    assert [a.prompt for a in library.assets(project.id, order="oldest")] == \
        ["image 0", "image 1", "image 2"]
    assert order[0] == jobs[0].id and order[1:] in ([jobs[1].id, jobs[2].id], [])


def test_progress_and_live_preview(qtbot, setup):
    controller, _library, project, fake, _ = setup
    fake.step_time = 0.06
    fake.options["show_progress_every_n_steps"] = 2
    seen = []
    controller.job_progress.connect(lambda j: seen.append((j.step, j.steps, j.preview)))
    job = controller.submit(request(project, steps=30))
    wait_finished(qtbot, job)
    assert job.state is JobState.done
    steps = [s for s, _, _ in seen if s is not None]
    assert steps and max(steps) <= 30
    assert any(total == 30 for _, total, _ in seen)
    assert any(p is not None for _, _, p in seen), "no live preview arrived"
    assert fake.preview_requests > 0


def test_no_previews_requested_while_hidden(qtbot, setup):
    controller, _library, project, fake, _ = setup
    fake.step_time = 0.05
    controller.set_want_preview(False)
    job = controller.submit(request(project, steps=24))
    wait_finished(qtbot, job)
    assert job.state is JobState.done
    assert fake.preview_requests == 0


def test_cancel_running_job_interrupts_server(qtbot, setup):
    controller, library, project, fake, _ = setup
    fake.step_time = 0.05
    job = controller.submit(request(project, steps=200))
    qtbot.waitUntil(lambda: job.step is not None and job.step > 0, timeout=10_000)
    assert controller.cancel_running()
    assert job.status_text == "Cancelling…"
    wait_finished(qtbot, job)
    assert job.state is JobState.cancelled
    assert fake.interrupts >= 1
    assert library.count_assets(project.id) == 0


def test_cancel_queued_job_never_reaches_server(qtbot, setup):
    controller, _library, project, fake, _ = setup
    fake.step_time = 0.02
    first = controller.submit(request(project, steps=30))
    second = controller.submit(request(project, prompt="never"))
    assert controller.cancel(second.id)
    assert second.state is JobState.cancelled
    wait_finished(qtbot, first)
    assert first.state is JobState.done
    assert len(fake.jobs) == 1


def test_cancel_all(qtbot, setup):
    controller, library, project, fake, _ = setup
    fake.step_time = 0.05
    jobs = [controller.submit(request(project, steps=200)) for _ in range(3)]
    qtbot.waitUntil(lambda: jobs[0].step is not None, timeout=10_000)
    assert controller.cancel_all() == 3
    wait_finished(qtbot, *jobs)
    assert all(j.state is JobState.cancelled for j in jobs)
    assert library.count_assets(project.id) == 0


FAILURES = {
    "validation": "RequestRejected",
    "error": "ServerFailed",
    "oom": "OutOfMemory",
    "forge-500": "ServerFailed",
    "drop": "ConnectionDropped",
    "garbage": "BadServerResponse",
    "bad-base64": "BadServerResponse",
    "not-image": "BadServerResponse",
    "bomb": "BadServerResponse",
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_backend_failures_are_typed_and_retryable(qtbot, setup, failure):
    controller, library, project, fake, _ = setup
    fake.failure = failure
    fake.failure_count = 1
    job = controller.submit(request(project))
    wait_finished(qtbot, job)
    assert job.state is JobState.failed
    assert job.error and "Unexpected" not in job.error
    assert issubclass(_error_class(job.error_kind), _error_class(FAILURES[failure])), job.error_kind
    assert job.status_text == job.error
    assert library.count_assets(project.id) == 0
    retried = controller.retry(job.id)
    wait_finished(qtbot, retried)
    assert retried.state is JobState.done, retried.error
    assert library.count_assets(project.id) == 1


def _error_class(name):
    import dlx_art.errors as errors

    return getattr(errors, name)


def test_server_down_without_fallback_says_what_to_do(qtbot, setup):
    controller, _library, project, _fake, context = setup
    settings = copy.deepcopy(context.settings)
    settings.a1111_servers = [A1111Server(closed_port_url())]
    controller.routers.update(settings.with_env())
    job = controller.submit(request(project))
    wait_finished(qtbot, job)
    assert job.state is JobState.failed
    assert job.error_kind == "NoBackend"
    assert "hf auth login" in job.error


def test_api_off_and_auth_failures(qtbot, setup):
    controller, _library, project, fake, _ = setup
    fake.auth = "user:secret"
    job = controller.submit(request(project))
    wait_finished(qtbot, job)
    assert job.state is JobState.failed and job.error_kind == "AuthenticationFailed"
    assert "secret" not in job.error
    fake.auth = None
    fake.mode = "api-off"
    job = controller.submit(request(project))
    wait_finished(qtbot, job)
    assert job.state is JobState.failed and job.error_kind == "NoBackend"
    assert "--api" in job.error


def test_shutdown_cancels_and_waits(qtbot, setup):
    controller, library, project, fake, _ = setup
    fake.step_time = 0.05
    job = controller.submit(request(project, steps=400))
    qtbot.waitUntil(lambda: job.step is not None, timeout=10_000)
    assert controller.shutdown(10_000)
    assert fake.interrupts >= 1
    assert controller.pool.activeThreadCount() == 0
    with pytest.raises(RuntimeError):
        controller.submit(request(project))


def test_model_passes_modeltester(qtbot, qtmodeltester, setup):
    controller, _library, project, fake, _ = setup
    model: JobListModel = controller.model
    jobs = [controller.submit(request(project)) for _ in range(2)]
    wait_finished(qtbot, *jobs)
    qtmodeltester.check(model)
    assert model.roleNames()[int(JobRole.state)] == b"state"
    assert controller.clear_finished() == 2
    assert model.rowCount() == 0


def test_a_job_row_names_the_size_it_makes_not_only_the_first_pass():
    """Seen under Xvfb: a hires job's row read "512×512" while it stored 1024×1024 images."""
    from types import SimpleNamespace

    from dlx_art.generation.types import Kind
    from dlx_art.gui.jobs import Job

    hires = Job("1", GenerationRequest(project_id="p", prompt="x", enable_hr=True, hr_scale=1.5))
    assert "512×512 → 768×768" in hires.summary
    hires.state = JobState.done
    hires.assets = [SimpleNamespace(width=768, height=768)]
    assert "768×768" in hires.status_text and "512×512" not in hires.status_text
    upscale = Job("2", GenerationRequest(project_id="p", prompt="", kind=Kind.upscale,
                                         parent_id="a", width=1024, height=1024))
    assert upscale.summary.startswith("Upscale · 1024×1024")
    outpaint = Job("3", GenerationRequest(project_id="p", prompt="x", kind=Kind.outpaint,
                                          parent_id="a", expand_right=64, width=576))
    assert outpaint.summary.startswith("Expand canvas · 576×512")
