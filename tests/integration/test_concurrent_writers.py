"""Several real processes writing one library at once: nothing lost, nothing mixed up.

Afterwards rows, files and ids are counted: every row's file exists, no two rows share a file,
every file carries its own row's id in its `dlx-art` chunk, every file is explained by a row,
and every process exited 0 with nothing on stderr.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dlx_art.library import metadata, storage
from dlx_art.library.service import PROCESS_IMPORT_MIN, Library
from tests.support.images import png_bytes

pytestmark = pytest.mark.integration

TIMEOUT = 600  # generous: the machine may be loaded; a hang still ends the test
ROOT = Path(__file__).resolve().parents[2]


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, DLX_ART_HOME=str(home), PYTHONPATH=str(ROOT))
    env.pop("DLX_ART_WORKER_PROCESSES", None)
    return env


def _start(argv: list[str], home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, env=_env(home), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            raise
        results.append((proc.returncode, out, err))
    return results


def check_library(root: Path) -> list[tuple[str, str, str | None]]:
    """Assert that rows, files and ids agree; return the rows (id, filePath, contentHash)."""
    con = sqlite3.connect(root / storage.DB_NAME)
    try:
        rows = con.execute('SELECT "id", "filePath", "contentHash" FROM "ArtAsset"').fetchall()
        mask_paths = {m for (m,) in con.execute('SELECT "maskPath" FROM "ArtAsset" '
                                                 'WHERE "maskPath" IS NOT NULL')}
    finally:
        con.close()
    paths = [path for _id, path, _hash in rows]
    assert len(paths) == len(set(paths)), "two rows share a file"
    for asset_id, rel, _hash in rows:
        path = storage.resolve_inside(root, rel)
        assert path.is_file(), f"row {asset_id} has no file {rel}"
        ids = metadata.decode_dlx_ids(
            metadata.read_png_text(path.read_bytes()).get(metadata.DLX_CHUNK, ""))
        assert ids is not None and ids.asset_id == asset_id, \
            f"{rel} holds {ids and ids.asset_id}, not its row's image {asset_id}"
    on_disk = set()
    for folder in (root / storage.PROJECTS_DIR).iterdir():
        for kind in (storage.IMAGES, storage.MASKS):
            for entry in (folder / storage.ASSETS_DIR / kind).iterdir():
                assert not storage.is_temp_file(entry.name), f"temporary file left: {entry}"
                on_disk.add(f"{storage.PROJECTS_DIR}/{folder.name}/{storage.ASSETS_DIR}/"
                            f"{kind}/{entry.name}")
    assert {p for p in on_disk if f"/{storage.IMAGES}/" in p} == set(paths)
    assert {p for p in on_disk if f"/{storage.MASKS}/" in p} == mask_paths
    with Library.open(root) as library:
        report = library.reconcile()
    assert report.clean and not report.adopted and not report.cleaned, report.to_json()
    return rows


@pytest.mark.parametrize(("processes", "files"), [(4, 120), (2, PROCESS_IMPORT_MIN + 20)],
                         ids=["threads", "worker-processes"])
def test_import_processes_side_by_side(tmp_path, processes, files):
    """`dlx-art import` runs into one project at once, with clashing names and shared files
    (small imports stage on threads, large ones in worker processes)."""
    home = tmp_path / "home"
    with Library.open(home) as library:
        library.create_project("Shared")
    sources = []
    common = [png_bytes(24, 24, noise=True, seed=1000 + i) for i in range(6)]
    for n in range(processes):
        folder = tmp_path / f"src{n}"
        folder.mkdir()
        for i in range(files):  # the same names in every folder, different pictures
            (folder / f"img-{i}.png").write_bytes(png_bytes(24, 24, noise=True,
                                                            seed=n * 100 + i))
        for i, data in enumerate(common):  # the same pictures under the same names
            (folder / f"common-{i}.png").write_bytes(data)
        sources.append(folder)
    procs = [_start([sys.executable, "-m", "dlx_art", "--home", str(home), "import",
                     "--project", "Shared", "--json", str(folder)], home) for folder in sources]
    results = _finish(procs)
    for code, _out, err in results:
        assert code == 0 and err == "", err
    rows = check_library(home)
    hashes = {h for _i, _p, h in rows}
    from dlx_art.library.staging import content_hash

    expected = {content_hash((f / name).read_bytes()) for f in sources
                for name in os.listdir(f)}
    assert hashes == expected  # every picture is there
    # ... once: a picture another import catalogued meanwhile is a duplicate, as it is for
    # imports one after the other
    assert len(rows) == len(expected)
    reported = [json.loads(out) for _code, out, _err in results]
    assert sum(len(r["imported"]) for r in reported) == len(expected)


ADDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from dlx_art.library.service import Library
    from tests.support.images import png_bytes

    root, n, count, go = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    library = Library.open(root)
    project = library.get_project("Adds")
    mask = png_bytes(16, 16, color=(255, 255, 255))
    (root / f"ready-{n}").touch()
    while not go.exists():
        import time; time.sleep(0.01)
    for i in range(count):
        library.add_image(project.id, png_bytes(16, 16, noise=True, seed=n * 1000 + i),
                          values={"prompt": f"p{n}-{i}"}, file_stem="same",
                          mask=mask if i % 3 == 0 else None)
    library.close()
""")


def test_add_image_processes_side_by_side(tmp_path):
    """Processes saving images with the same file name at the same moment each get their own."""
    root = tmp_path / "lib"
    with Library.open(root) as library:
        library.create_project("Adds")
    go = tmp_path / "go"
    writers, count = 4, 25
    procs = [_start([sys.executable, "-c", ADDER, str(root), str(n), str(count), str(go)], root)
             for n in range(writers)]
    _wait_for([root / f"ready-{n}" for n in range(writers)], procs)
    go.touch()
    for code, _out, err in _finish(procs):
        assert code == 0 and err == "", err
    rows = check_library(root)
    assert len(rows) == writers * count
    con = sqlite3.connect(root / storage.DB_NAME)
    try:
        masks = con.execute('SELECT "id", "maskPath" FROM "ArtAsset" WHERE "maskPath" IS NOT NULL'
                            ).fetchall()
    finally:
        con.close()
    assert len({m for _i, m in masks}) == len(masks) == writers * len(range(0, count, 3))
    for asset_id, rel in masks:
        ids = metadata.decode_dlx_ids(metadata.read_png_text(
            storage.resolve_inside(root, rel).read_bytes()).get(metadata.DLX_CHUNK, ""))
        assert ids is not None and ids.asset_id == asset_id


def _wait_for(paths: list[Path], procs: list[subprocess.Popen[str]]) -> None:
    import time

    deadline = time.monotonic() + TIMEOUT
    while not all(p.exists() for p in paths):
        for proc in procs:
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"a writer ended early ({proc.returncode}): {err}")
        assert time.monotonic() < deadline, "writers did not start"
        time.sleep(0.02)


PAUSED = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dlx_art.library import storage
    from dlx_art.library.service import Library
    from tests.support.images import png_bytes

    root, mode, signals = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

    def pause(name):
        (signals / name).touch()
        while not (signals / f"go-{name}").exists():
            time.sleep(0.01)

    claim = storage.claim_name
    def claim_after_pause(tmp, *args, **kwargs):
        pause("temp")  # the file is written under its temporary name, not yet named
        return claim(tmp, *args, **kwargs)
    storage.claim_name = claim_after_pause
    if mode == "add":
        write = Library._write_files
        def write_then_pause(self, prepared):
            write(self, prepared)
            pause("claimed")  # named, its row not yet committed
        Library._write_files = write_then_pause
    else:
        batch = Library._catalog_batch
        def batch_after_pause(self, written, flushed, *rest):
            pause("claimed")
            return batch(self, written, flushed, *rest)
        Library._catalog_batch = batch_after_pause
    library = Library.open(root)
    project = library.get_project("Paused")
    if mode == "add":
        library.add_image(project.id, png_bytes(16, 16, noise=True, seed=1), file_stem="one",
                          mask=png_bytes(16, 16, color=(255, 255, 255)))
    else:
        report = library.import_paths(project.id, [root.parent / "source.png"])
        assert len(report.imported) == 1, report
    library.close()
""")


@pytest.mark.parametrize("mode", ["add", "import"])
def test_reconcile_leaves_another_process_write_in_flight_alone(tmp_path, mode):
    """A reconcile while another process is between claim and commit neither deletes its
    temporary file nor adopts its named file; the writer then commits as usual."""
    root = tmp_path / "lib"
    with Library.open(root) as library:
        project = library.create_project("Paused")
    (tmp_path / "source.png").write_bytes(png_bytes(16, 16, noise=True, seed=2))
    signals = tmp_path / "signals"
    signals.mkdir()
    images = storage.asset_dir(root, project.folder, storage.IMAGES)
    writer = _start([sys.executable, "-c", PAUSED, str(root), mode, str(signals)], root)
    try:
        for stage in ("temp", "claimed"):
            _wait_for([signals / stage], [writer])
            before = sorted(os.listdir(images))
            assert before, "the writer has a file in flight"
            with Library.open(root) as library:
                report = library.reconcile()
                assert report.deferred and not report.cleaned and not report.adopted
                assert not report.orphans and not report.quarantined
                assert library.count_assets(project.id) == 0
            assert sorted(os.listdir(images)) == before
            (signals / f"go-{stage}").touch()
            if mode == "add" and stage == "temp":  # the mask has its own temporary file
                _wait_for([signals / "temp"], [writer])
        (code, _out, err), = _finish([writer])
    finally:
        for name in ("go-temp", "go-claimed"):
            (signals / name).touch()
        writer.kill() if writer.poll() is None else None
    assert code == 0 and err == "", err
    rows = check_library(root)
    assert len(rows) == 1


PROJECTS = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dlx_art.library.service import Library
    from tests.support.images import png_bytes

    root, n, go = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    library = Library.open(root)
    (root / f"ready-{n}").touch()
    while not go.exists():
        time.sleep(0.01)
    mark = "?*:|"[n]  # every one of these becomes "_" in a folder name
    clash, renamed = ("Clash", "Renamed") if n % 2 else ("CLASH", "renamed")  # and case
    for i in range(6):
        project = library.create_project(f"{clash}{mark}{i}")
        library.add_image(project.id, png_bytes(16, 16, noise=True, seed=n * 100 + i),
                          file_stem="pic")
    for i in range(6):  # and renamed onto clashing folder names again
        library.rename_project(f"{clash}{mark}{i}", f"{renamed}{mark}{i}")
    library.close()
""")


def test_projects_created_and_renamed_side_by_side_never_share_a_folder(tmp_path):
    root = tmp_path / "lib"
    Library.open(root).close()
    go = tmp_path / "go"
    procs = [_start([sys.executable, "-c", PROJECTS, str(root), str(n), str(go)], root)
             for n in range(4)]
    _wait_for([root / f"ready-{n}" for n in range(4)], procs)
    go.touch()
    for code, _out, err in _finish(procs):
        assert code == 0 and err == "", err
    with Library.open(root) as library:
        projects = library.list_projects()
        assert len(projects) == 24
        assert all(p.name.casefold().startswith("renamed") for p in projects)
        folders = [p.folder for p in projects]
        assert len({storage._name_key(f) for f in folders}) == 24
        on_disk = sorted(os.listdir(root / storage.PROJECTS_DIR))
        assert on_disk == sorted(folders)  # no folder left behind, none shared
        for project in projects:
            (asset,) = library.assets(project.id)
            assert library.path_of(asset).parent.parent.parent.name == project.folder
    check_library(root)


CHURN = textwrap.dedent("""
    import random, sys, time
    from pathlib import Path
    from dlx_art.library.service import Library
    from tests.support.images import png_bytes

    root, n, go = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    rng = random.Random(n)
    library = Library.open(root)
    project = library.get_project("Churn")
    (root / f"ready-{n}").touch()
    while not go.exists():
        time.sleep(0.01)
    for i in range(30):
        library.add_image(project.id, png_bytes(16, 16, noise=True, seed=n * 1000 + i),
                          file_stem="same", mask=png_bytes(16, 16) if i % 4 == 0 else None)
        ids = [a.id for a in library.assets(project.id, limit=1000)]
        trashed = [a.id for a in library.assets(project.id, limit=1000, trashed=True)]
        # everyone trashes and restores everyone's images, the same ones at once too
        if ids:
            library.trash(rng.choice(ids))
        if trashed:
            library.restore(rng.choice(trashed))
    library.close()
""")


def test_trash_and_restore_side_by_side_with_new_images(tmp_path):
    """Restoring into a name another process has just taken picks the next name, atomically;
    processes trashing and restoring the same image do it once."""
    root = tmp_path / "lib"
    with Library.open(root) as library:
        library.create_project("Churn")
    go = tmp_path / "go"
    procs = [_start([sys.executable, "-c", CHURN, str(root), str(n), str(go)], root)
             for n in range(3)]
    _wait_for([root / f"ready-{n}" for n in range(3)], procs)
    go.touch()
    for code, _out, err in _finish(procs):
        assert code == 0 and err == "", err
    with Library.open(root) as library:
        project = library.get_project("Churn")
        for asset in library.assets(project.id, limit=1000, trashed=True):  # back, all of them
            library.restore(asset.id)
        assert library.count_assets(project.id) == 90
    rows = check_library(root)
    assert len(rows) == 90
    assert not any((root / storage.TRASH_DIR).iterdir())


def test_generate_processes_side_by_side(tmp_path):
    """`dlx-art generate` runs (each with its own fake A1111) and an import, all at once."""
    from tests.fakes.fake_a1111 import FakeA1111

    home = tmp_path / "home"
    with Library.open(home) as library:
        library.create_project("Made")
    fakes = [FakeA1111(host="127.0.0.1", port=0) for _ in range(3)]
    for fake in fakes:
        fake.start()
    source = tmp_path / "src"
    source.mkdir()
    for i in range(40):
        (source / f"img-{i}.png").write_bytes(png_bytes(16, 16, noise=True, seed=5000 + i))
    try:
        procs = []
        for fake in fakes:
            env = dict(_env(home), DLX_ART_A1111_URL=fake.url)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "dlx_art", "generate", "--project", "Made", "--prompt",
                 "a cat", "--steps", "2", "--width", "64", "--height", "64", "--batch", "4",
                 "--backend", "a1111"],
                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        procs.append(_start([sys.executable, "-m", "dlx_art", "import", "--project", "Made",
                             str(source)], home))
        results = _finish(procs)
    finally:
        for fake in fakes:
            fake.stop()
    for code, _out, err in results:
        assert code == 0 and err == "", err
    rows = check_library(home)
    assert len(rows) == 3 * 4 + 40
