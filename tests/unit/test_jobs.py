"""The durable job queue (`library.jobs`): states, formats, atomic claims, the runner lock."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlx_art.errors import NotFound
from dlx_art.library.jobs import MAX_ATTEMPTS, JobQueue, RunnerLock, runner_label
from dlx_art.library.service import Library

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


@pytest.fixture
def library(tmp_path):
    lib = Library.open(tmp_path / "root")
    yield lib
    lib.close()


@pytest.fixture
def queue(library):
    q = JobQueue(library.db_path)
    yield q
    q.close()


def test_a_job_goes_from_queued_to_done_with_catalog_formats(queue, library):
    job = queue.enqueue("txt2img", {"prompt": "fox", "seed": 7}, project_id=None, origin="cli")
    assert job.state == "queued" and job.attempts == 0 and not job.finished
    claimed = queue.claim("me@host")
    assert claimed.id == job.id and claimed.state == "running" and claimed.attempts == 1
    assert claimed.runner == "me@host" and claimed.startedAt is not None
    assert queue.claim("me@host") is None  # nothing else waits
    queue.update_progress(job.id, 0.5, {"step": 5, "steps": 10, "message": "sampling"})
    assert queue.get(job.id).progress == 0.5
    assert queue.get(job.id).progressInfo["step"] == 5
    done = queue.finish(job.id, ["a", "b"], backend="a1111", fallback_reason=None)
    assert done.state == "done" and done.finished and done.resultAssetIds == ["a", "b"]
    assert done.progress == 1.0

    con = sqlite3.connect(library.db_path)
    row = con.execute('SELECT "createdAt", "startedAt", "finishedAt", "updatedAt", "request", '
                      '"resultAssetIds", "cancelRequested" FROM "StudioJob"').fetchone()
    con.close()
    assert all(ISO_MS.match(v) for v in row[:4]), row
    assert json.loads(row[4]) == {"prompt": "fox", "seed": 7}
    assert json.loads(row[5]) == ["a", "b"] and row[6] == 0


def test_jobs_run_in_queue_order_and_are_listed_newest_first(queue):
    ids = [queue.enqueue("txt2img", {"n": i}, project_id=None, origin="service").id
           for i in range(5)]
    assert [j.id for j in queue.list()] == ids[::-1]
    claimed = []
    while (job := queue.claim("r")) is not None:
        claimed.append(job.id)
        queue.finish(job.id, [], backend=None, fallback_reason=None)
    assert claimed == ids
    assert [j.id for j in queue.list(states=["done"], limit=2)] == ids[::-1][:2]


def test_cancel_a_waiting_job_at_once_and_a_running_one_through_its_runner(queue):
    waiting = queue.enqueue("txt2img", {}, project_id=None, origin="window")
    running = queue.enqueue("txt2img", {}, project_id=None, origin="window")
    queue.claim("r", running.id)
    assert queue.request_cancel(waiting.id).state == "cancelled"
    asked = queue.request_cancel(running.id)
    assert asked.state == "running" and asked.cancelRequested
    assert queue.cancel_requested(running.id)
    assert queue.mark_cancelled(running.id).state == "cancelled"
    assert queue.claim("r") is None
    done = queue.request_cancel(running.id)  # a finished job stays as it ended
    assert done.state == "cancelled"
    with pytest.raises(NotFound):
        queue.request_cancel("nope")


def test_a_job_left_running_by_a_dead_runner_runs_again_once(queue):
    job = queue.enqueue("txt2img", {"seed": 42}, project_id=None, origin="cli")
    queue.claim("dead@host")
    (marked,) = queue.recover()
    assert marked.state == "interrupted" and not marked.finished
    again = queue.claim("new@host")
    assert again.id == job.id and again.attempts == 2 and again.request == {"seed": 42}
    (twice,) = queue.recover()  # it died again while running it
    assert twice.state == "interrupted" and twice.finished and twice.exitCode == 1
    assert queue.claim("third@host") is None
    assert queue.pending_count() == 0


def test_a_job_its_runner_stopped_is_interrupted_and_runs_again_once(queue):
    job = queue.enqueue("txt2img", {"prompt": "fox", "seed": 7}, project_id=None,
                        origin="service")
    assert queue.interrupt(job.id, "stopped").state == "queued"  # not running: unchanged
    queue.claim("window@host")
    stopped = queue.interrupt(job.id, "The window was closed.")
    assert stopped.state == "interrupted" and not stopped.finished
    assert stopped.error == "The window was closed." and stopped.errorKind == "Interrupted"
    again = queue.claim("next@host")
    assert again.id == job.id and again.attempts == MAX_ATTEMPTS
    assert again.request == {"prompt": "fox", "seed": 7}  # the same seed
    last = queue.interrupt(job.id, "stopped again")
    assert last.state == "interrupted" and last.finished and last.exitCode == 1
    assert queue.claim("next@host") is None


def test_recover_cancels_a_job_whose_cancel_was_asked(queue):
    job = queue.enqueue("txt2img", {}, project_id=None, origin="cli")
    queue.claim("dead")
    queue.request_cancel(job.id)
    assert queue.recover() == []
    assert queue.get(job.id).state == "cancelled"


_OPS = st.lists(st.sampled_from(["enqueue", "claim", "finish", "fail", "cancel", "cancel-first",
                                 "recover", "progress"]), max_size=40)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=_OPS)
def test_any_sequence_of_operations_keeps_the_queue_consistent(queue, ops):
    """Whatever happens: one running job at most (one runner), a job starts at most twice,
    a finished job never changes, and every job is claimed in queue order."""
    for job in queue.list(limit=500):  # hypothesis reuses the fixture: start from a clean queue
        if not job.finished:
            queue.request_cancel(job.id)
            if not queue.get(job.id).finished:
                queue.mark_cancelled(job.id)
    finished: dict[str, object] = {j.id: j.updatedAt for j in queue.list(limit=500)}
    running = None
    for op in ops:
        if op == "enqueue":
            queue.enqueue("txt2img", {}, project_id=None, origin="cli")
        elif op == "claim" and running is None:
            job = queue.claim("r")
            if job is not None:
                assert job.attempts <= MAX_ATTEMPTS and job.id not in finished
                running = job.id
        elif op in ("finish", "fail") and running is not None:
            job = (queue.finish(running, [], backend=None, fallback_reason=None)
                   if op == "finish" else queue.fail(running, "broke", exit_code=4))
            finished[job.id] = job.updatedAt
            running = None
        elif op == "cancel" and running is not None:
            queue.request_cancel(running)
        elif op == "cancel-first":
            waiting = queue.list(states=["queued"], limit=1)
            if waiting:
                finished[waiting[0].id] = queue.request_cancel(waiting[0].id).updatedAt
        elif op == "recover":
            for job in queue.recover():
                if job.finished:
                    finished[job.id] = job.updatedAt
            if running is not None and queue.get(running).state != "running":
                job = queue.get(running)
                if job.finished:
                    finished[job.id] = job.updatedAt
                running = None
        elif op == "progress" and running is not None:
            queue.update_progress(running, 0.5)
        states = [j.state for j in queue.list(limit=500)]
        assert states.count("running") <= 1
    for job_id, stamp in finished.items():
        assert queue.get(job_id).updatedAt == stamp  # finished jobs never change


CLAIMER = textwrap.dedent("""
    import sys, json
    from pathlib import Path
    from dlx_art.library.jobs import JobQueue
    queue = JobQueue(Path(sys.argv[1]))
    got = []
    while (job := queue.claim(sys.argv[2])) is not None:
        got.append(job.id)
        queue.finish(job.id, [], backend=None, fallback_reason=None)
    print(json.dumps(got))
""")


@pytest.mark.integration
def test_claims_are_atomic_across_processes(queue, library):
    ids = {queue.enqueue("txt2img", {"n": i}, project_id=None, origin="cli").id
           for i in range(60)}
    processes = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(library.db_path), f"p{n}"],
                                  stdout=subprocess.PIPE, text=True) for n in range(4)]
    claimed = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        claimed += json.loads(out)
    assert sorted(claimed) == sorted(ids)  # every job once, none twice
    assert {j.state for j in queue.list(limit=100)} == {"done"}
    assert all(j.attempts == 1 for j in queue.list(limit=100))


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dlx_art.library.jobs import RunnerLock
    lock = RunnerLock(Path(sys.argv[1]))
    print("held" if lock.acquire() else "refused", flush=True)
    time.sleep(300)
""")


@pytest.mark.integration
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_one_runner_per_library_across_processes(library):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(library.root)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        mine = RunnerLock(library.root)
        assert not mine.acquire()
        assert mine.holder() == f"{holder.pid}@{runner_label().split('@', 1)[1]}"
        holder.send_signal(signal.SIGKILL)
        holder.wait(60)
        assert mine.holder() is None  # the operating system dropped the dead runner's lock
        assert mine.acquire()
        assert RunnerLock(library.root).acquire() is False  # a second holder in-process too
        mine.release()
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate(timeout=60)


@pytest.mark.parametrize("name", ["StudioJob", "StudioChange"])
def test_the_migration_makes_the_table_the_model_declares(library, name):
    from dlx_art.library import models

    con = sqlite3.connect(library.db_path)
    info = {r[1]: (r[2], bool(r[3]) and not r[5]) for r in
            con.execute(f'PRAGMA table_info("{name}")')}
    indexes = {r[1]: [c[2] for c in con.execute(f'PRAGMA index_info("{r[1]}")')]
               for r in con.execute(f'PRAGMA index_list("{name}")')
               if not r[1].startswith("sqlite_autoindex")}
    con.close()
    table = getattr(models, name).__table__
    declared = {c.name: (c.type.compile(dialect=_sqlite()), not c.nullable and not c.primary_key)
                for c in table.columns}
    assert info == declared
    assert indexes == {i.name: [c.name for c in i.columns] for i in table.indexes}


def _sqlite():
    from sqlalchemy.dialects import sqlite

    return sqlite.dialect()


def test_a_canvas_request_keeps_its_own_pixels_in_the_row(library):
    from dlx_art.generation.runner import request_from_json, request_to_json
    from dlx_art.generation.types import GenerationRequest, Kind
    from tests.support.images import png_bytes

    project = library.create_project("Canvas")
    pixels = png_bytes()
    request = GenerationRequest(project.id, "paint over", kind=Kind.img2img, width=64,
                                height=64, init_image=pixels, seed=5)
    plain = request_to_json(request)
    assert "initPng" not in plain  # the parent's pixels are read again when it runs
    data = request_to_json(request, with_init_image=True)
    again = request_from_json(json.loads(json.dumps(data)), library)
    assert again.init_image == pixels and again.seed == 5 and again.parent_id is None
    queue = JobQueue(library.db_path)
    try:
        job = queue.enqueue("img2img", data, project_id=project.id, origin="window")
        shown = job.to_json()["request"]
        assert "initPng" not in shown and "maskPng" not in shown  # bulky bytes left out
    finally:
        queue.close()
