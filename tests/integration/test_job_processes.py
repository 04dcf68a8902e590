"""The job queue across real processes: `dlx-art serve` killed and restarted, commands following
jobs that a service runs, and the changes watcher seeing other processes' writes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from dlx_art.generation.runner import request_to_json
from dlx_art.generation.types import GenerationRequest
from dlx_art.library.jobs import JobQueue
from dlx_art.library.service import Library
from tests.support.images import png_bytes
from tests.support.service import (
    TIMEOUT,
    cli_env,
    free_port,
    serve_process,
    until,
    wait_ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]


def _cli(home: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dlx_art", "--home", str(home), *args],
                          env=env, capture_output=True, text=True, timeout=TIMEOUT * 2)


def _token(home: Path, env: dict[str, str]) -> str:
    shown = _cli(home, "serve", "--show-token", env=env)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.strip()


def _setup(tmp_path: Path, fake_url: str | None) -> tuple[Path, dict[str, str]]:
    home = tmp_path / "home"
    env = cli_env(home, fake_url)
    assert _cli(home, "projects", "create", "P", env=env).returncode == 0
    return home, env


def _images(home: Path) -> list[Path]:
    folder = home / "Projects" / "P" / "Assets" / "Images"
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) \
        if folder.exists() else []


def test_a_runner_killed_mid_job_is_resumed_with_nothing_lost_or_doubled(tmp_path, fake_a1111):
    home, env = _setup(tmp_path, fake_a1111.url)
    token = _token(home, env)
    with Library.open(home) as library:
        project = library.get_project("P")
        queue = JobQueue(library.db_path)
        slow = request_to_json(GenerationRequest(project.id, "slow one", steps=200, width=64,
                                                 height=64))
        jobs = [queue.enqueue("txt2img", slow, project_id=project.id, origin="cli")]
        for i in range(3):
            fast = request_to_json(GenerationRequest(project.id, f"queued {i}", steps=3,
                                                     width=64, height=64, batch_count=2))
            jobs.append(queue.enqueue("txt2img", fast, project_id=project.id, origin="service"))
        queue.close()
    fake_a1111.step_time = 0.05
    port = free_port()
    with serve_process(home, port, env) as first:
        until(lambda: fake_a1111.jobs, message="the first job to reach the server")
        first.send_signal(signal.SIGKILL)
        first.wait(TIMEOUT)
    with Library.open(home) as library:
        queue = JobQueue(library.db_path)
        states = [queue.get(j.id).state for j in jobs]
        assert states == ["running", "queued", "queued", "queued"]  # as the dead runner left
        fake_a1111.step_time = 0.005
        # the dead runner's request still runs on the server; a restarted runner meeting a busy
        # server fails fast (busy_wait 0, as before): let it end first
        until(lambda: fake_a1111.jobs[0].ended is not None, timeout=TIMEOUT * 2,
              message="the dead runner's request to end on the server")
        with serve_process(home, port, env) as second:
            wait_ready(port, token, second)
            until(lambda: all(queue.get(j.id).finished for j in jobs), timeout=TIMEOUT * 2,
                  message="every job to finish")
            second.send_signal(signal.SIGTERM)
            second.wait(TIMEOUT)
            assert second.returncode == 0
        rows = [queue.get(j.id) for j in jobs]
        assert [r.state for r in rows] == ["done"] * 4, [r.error for r in rows]
        assert [r.attempts for r in rows] == [2, 1, 1, 1]
        # the interrupted job ran again with the seed it was given the first time
        slow_runs = [r.json for r in fake_a1111.requests_to("txt2img")
                     if r.json and r.json.get("prompt") == "slow one"]
        assert len(slow_runs) == 2
        assert slow_runs[0]["seed"] == slow_runs[1]["seed"] == slow["seed"]
        ids = [i for r in rows for i in r.resultAssetIds]
        assert len(ids) == len(set(ids)) == 1 + 3 * 2
        assets = library.assets(None, limit=100)
        assert sorted(a.id for a in assets) == sorted(ids)  # no row without its job, none twice
        assert len(_images(home)) == len(ids)  # one file per row
        assert len({library.path_of(a) for a in assets}) == len(ids)
        queue.close()


def test_generate_follows_a_job_run_by_a_serve_process(tmp_path, fake_a1111):
    home, env = _setup(tmp_path, fake_a1111.url)
    token = _token(home, env)
    port = free_port()
    with serve_process(home, port, env) as service:
        wait_ready(port, token, service)
        result = _cli(home, "generate", "--project", "P", "--prompt", "followed", "--steps", "3",
                      "--width", "64", "--height", "64", "--batch", "2", "--json", env=env)
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout)
        assert set(out) == {"assets", "backend", "model", "fallbackReason"}
        assert len(out["assets"]) == 2 and out["backend"] == "a1111"
        with Library.open(home) as library:
            queue = JobQueue(library.db_path)
            (job,) = queue.list()
            assert job.origin == "cli" and job.state == "done"
            assert job.runner.startswith(f"{service.pid}@")  # the service ran it, not the command
            assert job.resultAssetIds == [a["id"] for a in out["assets"]]
            queue.close()

        plain = _cli(home, "generate", "--project", "P", "--prompt", "plain", "--steps", "3",
                     "--width", "64", "--height", "64", env=env)
        assert plain.returncode == 0, plain.stderr
        (line,) = plain.stdout.splitlines()  # "<id>  <path>", as when the command runs it
        asset_id, path = line.split("  ", 1)
        assert Path(path).is_file() and Path(path).parent.name == "Images"

        fake_a1111.failure = "validation"  # the server rejects it: exit 4, as run directly
        rejected = _cli(home, "generate", "--project", "P", "--prompt", "x", "--width", "64",
                        "--height", "64", env=env)
        assert rejected.returncode == 4, rejected.stderr
        assert "Traceback" not in rejected.stderr

        # the service's API sees the command's jobs
        jobs = requests.get(f"http://127.0.0.1:{port}/api/art/jobs", timeout=TIMEOUT,
                            headers={"Authorization": f"Bearer {token}"}).json()
        assert [j["origin"] for j in jobs] == ["cli", "cli", "cli"]


def test_ctrl_c_while_following_cancels_on_the_server(tmp_path, fake_a1111):
    home, env = _setup(tmp_path, fake_a1111.url)
    token = _token(home, env)
    port = free_port()
    fake_a1111.step_time = 0.05
    with serve_process(home, port, env) as service:
        wait_ready(port, token, service)
        process = subprocess.Popen(
            [sys.executable, "-m", "dlx_art", "--home", str(home), "generate", "--project", "P",
             "--prompt", "x", "--steps", "400", "--width", "64", "--height", "64"],
            env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        until(lambda: fake_a1111.jobs, message="the job to reach the server")
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=TIMEOUT * 2)
        assert process.returncode == 5, err
        until(lambda: fake_a1111.interrupts >= 1, message="the interrupt")
        with Library.open(home) as library:
            queue = JobQueue(library.db_path)
            (job,) = queue.list()
            assert job.state == "cancelled" and job.runner.startswith(f"{service.pid}@")
            queue.close()
            assert library.count_assets(None) == 0
        assert _images(home) == []


def test_serve_stopped_by_sigterm_cancels_the_running_job_and_records_it(tmp_path, fake_a1111):
    home, env = _setup(tmp_path, fake_a1111.url)
    token = _token(home, env)
    port = free_port()
    fake_a1111.step_time = 0.05
    with serve_process(home, port, env) as service:
        wait_ready(port, token, service)
        response = requests.post(f"http://127.0.0.1:{port}/api/art/generate", timeout=TIMEOUT,
                                 headers={"Authorization": f"Bearer {token}"},
                                 json={"projectName": "P", "prompt": "x", "steps": 400,
                                       "width": 64, "height": 64})
        assert response.status_code == 202
        job_id = response.json()["id"]
        until(lambda: fake_a1111.jobs, message="the job to reach the server")
        service.send_signal(signal.SIGTERM)
        service.wait(TIMEOUT)
        assert service.returncode == 0
    assert fake_a1111.interrupts == 1
    with Library.open(home) as library:
        queue = JobQueue(library.db_path)
        assert queue.get(job_id).state == "cancelled"
        queue.close()


def test_the_changes_watcher_sees_another_process_import_and_jobs(tmp_path):
    home, env = _setup(tmp_path, None)
    picture = tmp_path / "in.png"
    picture.write_bytes(png_bytes(color=(10, 200, 30)))
    with Library.open(home) as library:
        watcher = library.changes()
        assert not watcher.poll()  # the cursor
        assert not watcher.poll()  # nothing changed: nothing reported
        imported = _cli(home, "import", "--project", "P", str(picture), "--json", env=env)
        assert imported.returncode == 0, imported.stderr
        (asset_id,) = [a["id"] for a in json.loads(imported.stdout)["imported"]]
        # the other process has exited: its commit is visible to the very next poll
        changes = watcher.poll()
        assert changes.new_assets == [asset_id] and not changes.changed_assets
        assert not watcher.poll()

        assert _cli(home, "assets", "favorite", asset_id, env=env).returncode == 0
        assert watcher.poll().changed_assets == [asset_id]

        other = subprocess.run([sys.executable, "-c", (
            "import sys; from pathlib import Path; from dlx_art.library.jobs import JobQueue; "
            "q = JobQueue(Path(sys.argv[1])); "
            "print(q.enqueue('txt2img', {}, project_id=None, origin='window').id)"),
            str(library.db_path)], capture_output=True, text=True, timeout=TIMEOUT)
        assert other.returncode == 0, other.stderr
        assert watcher.poll().jobs == [other.stdout.strip()]

        assert _cli(home, "assets", "trash", asset_id, env=env).returncode == 0
        assert _cli(home, "assets", "empty-trash", env=env).returncode == 0
        seen = watcher.poll()
        assert asset_id in seen.deleted_assets or asset_id in seen.changed_assets
        watcher.close()


def test_the_changes_watcher_reports_from_a_thread(tmp_path):
    home, env = _setup(tmp_path, None)
    picture = tmp_path / "in.png"
    picture.write_bytes(png_bytes())
    with Library.open(home) as library:
        watcher = library.changes()
        reported: list[str] = []
        watcher.watch(lambda c: reported.extend(c.new_assets), interval=0.05)
        imported = _cli(home, "import", "--project", "P", str(picture), "--json", env=env)
        (asset_id,) = [a["id"] for a in json.loads(imported.stdout)["imported"]]
        until(lambda: reported == [asset_id], message="the watcher to report the import")
        watcher.close()


def test_serve_refuses_a_remote_bind_unless_asked(tmp_path):
    home, env = _setup(tmp_path, None)
    refused = _cli(home, "serve", "--host", "0.0.0.0", "--port", str(free_port()), env=env)
    assert refused.returncode == 2
    assert "--allow-remote" in refused.stderr and "TLS" in refused.stderr
    assert "Traceback" not in refused.stderr
    token = _token(home, env)
    path = home / "config" / "service-token"
    assert path.read_text().strip() == token and path.stat().st_mode & 0o777 == 0o600
