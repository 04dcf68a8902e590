"""The import pipeline: worker processes for large imports, order, stop and failure clean-up.

Large imports stage their files in worker processes (`assets.PROCESS_IMPORT_MIN`); the tests
lower that threshold so a few dozen files take the same path as 20,000 would.
"""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dlx_art.errors import StorageError
from dlx_art.library import assets, metadata, staging, storage
from dlx_art.library.service import Library
from tests.support.images import png_bytes

ROOT = Path(__file__).resolve().parents[2]


def _infotext(i: int) -> str:
    return (f"import test {i}\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, "
            f"CFG scale: 7, Seed: {1000 + i}, Size: 64x64, Model: m")


def _sources(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"in-{i:03d}.png"
        path.write_bytes(png_bytes(color=(i % 256, i // 256, 90), parameters=_infotext(i)))
        paths.append(path)
    return paths


def _files_in_images(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / storage.PROJECTS_DIR).rglob("*")
            if p.is_file() and p.parent.name == storage.IMAGES}


@pytest.fixture
def library(tmp_path):
    with Library.open(tmp_path / "root") as lib:
        yield lib


@pytest.fixture
def executors(monkeypatch):
    """Record whether each import used processes; processes from 10 files on."""
    used: list[bool] = []
    real = assets._import_executor

    def spy(processes, known):
        used.append(processes)
        return real(processes, known)

    monkeypatch.setattr(assets, "PROCESS_IMPORT_MIN", 10)
    monkeypatch.setattr(assets, "_import_executor", spy)
    return used


def test_large_import_runs_in_worker_processes_keeping_metadata_and_order(library, tmp_path,
                                                                         executors):
    project = library.create_project("Big")
    src = tmp_path / "src"
    paths = _sources(src, 40)
    (src / "z-copy-of-3.png").write_bytes(paths[3].read_bytes())  # listed after in-003
    (src / "zz-broken.png").write_bytes(paths[5].read_bytes()[:200])
    report = library.import_paths(project.id, [src], batch=8)
    assert executors == [True]
    assert len(report.imported) == 40
    assert report.duplicates == [str(src / "z-copy-of-3.png")]
    assert [Path(p).name for p, _ in report.rejected] == ["zz-broken.png"]
    assert "zz-broken.png" in report.rejected[0][1]
    assets = library.assets(project.id, limit=100)
    assert len(assets) == 40
    for asset in assets:
        i = int(Path(asset.filePath).stem.split("-")[1])
        assert (asset.prompt, asset.seed, asset.kind) == (f"import test {i}", 1000 + i, "import")
        data = library.path_of(asset).read_bytes()
        assert len(data) == asset.fileSize
        ids = metadata.decode_dlx_ids(metadata.read_png_text(data)[metadata.DLX_CHUNK])
        assert ids is not None and ids.asset_id == asset.id and ids.project_id == project.id
        assert staging.content_hash(data) == asset.contentHash
    assert _files_in_images(library.root) == {a.filePath for a in assets}  # no temp files
    again = library.import_paths(project.id, [src], batch=8)
    assert again.imported == [] and len(again.duplicates) == 41


def test_small_import_stays_on_threads(library, tmp_path, executors):
    project = library.create_project("Small")
    report = library.import_paths(project.id, _sources(tmp_path / "src", 3))
    assert executors == [False] and len(report.imported) == 3


def test_stopping_keeps_committed_batches_and_removes_staged_files(library, tmp_path,
                                                                  executors):
    project = library.create_project("Stop")
    src = tmp_path / "src"
    _sources(src, 60)
    progress: list[int] = []
    report = library.import_paths(project.id, [src], batch=8, on_progress=lambda d, n:
                                  progress.append(d), should_stop=lambda: bool(progress))
    assert executors == [True]
    assert 0 < len(report.imported) < 60
    assets = library.assets(project.id, limit=100)
    assert {a.id for a in assets} == {a.id for a in report.imported}
    assert _files_in_images(library.root) == {a.filePath for a in assets}


def test_a_failing_write_stops_the_import_cleanly(library, tmp_path, monkeypatch):
    project = library.create_project("Full")
    src = tmp_path / "src"
    _sources(src, 30)
    real = staging.write_parts
    calls = []

    def disk_fills_up(path, parts):
        calls.append(path)
        if len(calls) > 12:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, parts)

    monkeypatch.setattr(staging, "write_parts", disk_fills_up)  # threads: same process
    with pytest.raises(StorageError, match="No space left on device"):
        library.import_paths(project.id, [src], batch=4)
    assets = library.assets(project.id, limit=100)
    assert 0 < len(assets) <= 12
    assert _files_in_images(library.root) == {a.filePath for a in assets}
    report = library.reconcile()
    assert report.missing == [] and report.orphans == []


def test_a_script_without_a_main_guard_can_import_with_processes(tmp_path):
    """Spawned workers must not run the calling script again."""
    _sources(tmp_path / "src", 24)
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(f"""
        from dlx_art.library import assets
        from dlx_art.library.service import Library
        assets.PROCESS_IMPORT_MIN = 5
        library = Library.open({str(tmp_path / "root")!r})
        project = library.create_project("Scripted")
        report = library.import_paths(project.id, [{str(tmp_path / "src")!r}], batch=8)
        print("imported", len(report.imported), flush=True)
        library.close()
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={"PYTHONPATH": str(ROOT),
                                                      "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["imported 24"]
