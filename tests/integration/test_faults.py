"""Faults of the machine: a full disk, a read-only library. Real processes, real file systems.

A full disk is a real tiny tmpfs filled up where this machine allows mounting one (Linux, root);
the tests that cannot mount inject the fault instead (SQLite's own disk-full through
`PRAGMA max_page_count`, ``ENOSPC`` from the file system calls). A read-only library is a
read-only bind mount (root ignores permission bits, so chmod cannot stand in for it).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlx_art.errors import DiskFull, StorageError
from dlx_art.library import faults
from dlx_art.library.service import Library
from tests.support.images import png_bytes
from tests.support.mounts import fill, read_only, tiny_tmpfs

pytestmark = pytest.mark.integration

WORDS_NEVER_SHOWN = ("traceback", "operationalerror", "database or disk is full",
                     "readonly database", "disk i/o error", "damaged", "rebuild",
                     "backups restore", "exception")


def _cli(home: Path, *argv: str, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    full_env = dict(env or os.environ, DLX_ART_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "dlx_art", *argv], env=full_env,
                          capture_output=True, text=True, timeout=180)


def _assert_plain(done: subprocess.CompletedProcess[str], *words: str) -> None:
    err = done.stderr.strip()
    assert done.returncode == 1, (done.returncode, err)
    assert len(err.splitlines()) == 1, err
    for word in WORDS_NEVER_SHOWN:
        assert word not in err.lower(), err
    for word in words:
        assert word in err, err


def _sources(folder: Path, count: int, start: int = 0, size: int = 96) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        path = folder / f"src{i}.png"
        path.write_bytes(png_bytes(size, size, noise=True, seed=i))
        paths.append(path)
    return paths


def _stored(home: Path) -> dict[str, str]:
    """Every file under Projects/ with its hash (what must survive a fault)."""
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((home / "Projects").rglob("*")) if p.is_file()}


def _asset_ids(home: Path, project: str = "P") -> list[str]:
    done = _cli(home, "assets", "list", "--project", project, "--limit", "1000", "--json")
    assert done.returncode == 0, done.stderr
    return [a["id"] for a in json.loads(done.stdout)]


def _doctor_clean(home: Path) -> None:
    done = _cli(home, "doctor", "--json")
    assert done.returncode == 0, (done.stdout, done.stderr)


# --- a full disk --------------------------------------------------------------------------------


def test_import_into_a_full_disk_loses_nothing_and_resumes(tmp_path):
    with tiny_tmpfs(tmp_path / "mnt", "6m") as mnt:
        home = mnt / "home"
        sources = _sources(tmp_path / "src", 8)
        assert _cli(home, "projects", "create", "P").returncode == 0
        assert _cli(home, "import", "--project", "P", *map(str, sources[:3])).returncode == 0
        before, ids = _stored(home), _asset_ids(home)
        filler = fill(mnt)

        for paths in (sources[3:], sources[3:4]):  # a batch and a single file
            done = _cli(home, "import", "--project", "P", *map(str, paths))
            _assert_plain(done, "disk is full")
            assert _stored(home) == before  # no file changed, none added (not even a .part)
        done = _cli(home, "projects", "create", "Q")  # the catalog's side: SQLITE_FULL
        _assert_plain(done, "disk is full")
        assert not (home / "Projects" / "Q").exists()

        filler.unlink()
        assert _asset_ids(home) == ids
        done = _cli(home, "import", "--project", "P", *map(str, sources[3:]), "--json")
        assert done.returncode == 0, done.stderr
        assert len(json.loads(done.stdout)["imported"]) == 5
        after = _stored(home)
        assert all(after[k] == v for k, v in before.items())
        assert len(_asset_ids(home)) == 8
        assert _cli(home, "projects", "create", "Q").returncode == 0
        _doctor_clean(home)


def test_generate_into_a_full_disk_stores_nothing_and_resumes(tmp_path, fake_a1111):
    fake_a1111.step_time = 0.0
    with tiny_tmpfs(tmp_path / "mnt", "6m") as mnt:
        home = mnt / "home"
        env = dict(os.environ, DLX_ART_A1111_URL=fake_a1111.url)
        args = ("generate", "--project", "P", "--prompt", "x", "--steps", "2", "--width",
                "256", "--height", "256", "--json")
        assert _cli(home, "projects", "create", "P").returncode == 0
        assert _cli(home, *args, env=env).returncode == 0
        before, ids = _stored(home), _asset_ids(home)
        filler = fill(mnt)
        for _ in range(2):
            done = _cli(home, *args, env=env)
            _assert_plain(done, "disk is full")
            assert _stored(home) == before
        filler.unlink()
        assert _asset_ids(home) == ids
        done = _cli(home, *args, env=env)
        assert done.returncode == 0, done.stderr
        assert len(_asset_ids(home)) == 2
        assert all(_stored(home)[k] == v for k, v in before.items())
        _doctor_clean(home)


def test_catalog_disk_full_is_a_plain_message_and_the_catalog_keeps_working(tmp_path):
    """SQLite's own "database or disk is full", injected with max_page_count (any machine)."""
    from sqlalchemy import event

    root = tmp_path / "root"
    with Library.open(root) as library:
        project = library.create_project("P")
        kept = library.add_image(project.id, png_bytes(seed=1))
    library = Library.open(root)

    def cap(dbapi_connection, _record):
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(library.engine, "connect", cap)
    big = png_bytes(64, 64, parameters="p" * 200_000)  # a row larger than any free page
    try:
        for attempt in (lambda: library.add_image(project.id, big, values={"prompt": "x" * 9000}),
                        lambda: library.create_project("Q" * 20, description="d" * 300_000)):
            with pytest.raises(StorageError) as info:
                attempt()
            assert faults.classify(info.value) == faults.FULL
            text = info.value.user_message.lower()
            assert "disk is full" in text
            assert not any(w in text for w in WORDS_NEVER_SHOWN), text
    finally:
        library.close()
    assert not (root / "Projects" / ("Q" * 20)).exists()
    with Library.open(root) as library:
        assert [a.id for a in library.assets(project.id)] == [kept.id]
        assert library.add_image(project.id, big).id
        report = library.reconcile()
        assert report.clean and report.integrity == "ok", report.summary()


def test_enospc_from_the_file_system_is_a_disk_full_message(tmp_path, monkeypatch):
    """The same without mounting: ENOSPC injected into the final write of an image."""
    from dlx_art.library import storage

    with Library.open(tmp_path / "root") as library:
        project = library.create_project("P")
        kept = library.add_image(project.id, png_bytes(seed=1))

        def full(_fd: int) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(storage.os, "fsync", full)
        with pytest.raises(DiskFull, match="disk is full"):
            library.add_image(project.id, png_bytes(seed=2))
        monkeypatch.undo()
        assert [a.id for a in library.assets(project.id)] == [kept.id]
        assert library.add_image(project.id, png_bytes(seed=2)).id
        assert library.reconcile().clean


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device"),
    StorageError("Could not save a.png into the library: No space left on device."),
    __import__("sqlite3").OperationalError("database or disk is full"),
])
def test_every_shape_of_disk_full_is_recognised(error):
    wrapped = RuntimeError("while saving")
    wrapped.__cause__ = error
    for exc in (error, wrapped):
        plain = faults.explain(exc)
        assert isinstance(plain, DiskFull) and "disk is full" in plain.user_message


# --- a read-only library ------------------------------------------------------------------------


def test_read_only_catalog_is_a_plain_message_and_leaves_no_project_folder(tmp_path):
    home = tmp_path / "home"
    source = _sources(tmp_path / "src", 1)
    assert _cli(home, "projects", "create", "P").returncode == 0
    before = _stored(home)
    with read_only(home / "library.sqlite3"):
        listed = _cli(home, "projects", "list", "--json")  # reading still works
        assert listed.returncode == 0 and [p["name"] for p in json.loads(listed.stdout)] == ["P"]
        for argv in (("projects", "create", "Q"), ("import", "--project", "P", str(source[0])),
                     ("projects", "rename", "P", "R")):
            _assert_plain(_cli(home, *argv), "read-only")
        assert sorted(p.name for p in (home / "Projects").iterdir()) == ["P"]
        assert _stored(home) == before
    assert _cli(home, "projects", "create", "Q").returncode == 0
    _doctor_clean(home)


def test_read_only_storage_root_is_a_plain_message(tmp_path):
    home = tmp_path / "home"
    assert _cli(home, "projects", "create", "P").returncode == 0
    before = _stored(home)
    with read_only(home):
        for argv in (("projects", "create", "Q"), ("projects", "list"), ("doctor",),
                     ("backups", "create")):
            _assert_plain(_cli(home, *argv), "read-only")
        assert _stored(home) == before and not (home / "Projects" / "Q").exists()


@pytest.fixture
def injected_full_disk(monkeypatch):
    """ENOSPC for every new file under a folder, while `state["full"]`: any machine, no mount.

    Covers both ways the library creates files: `os.open` (atomic writes) and `open(..., "xb")`
    (an import's staged files).
    """
    import builtins

    state: dict[str, object] = {"full": False, "under": None}
    real_os_open, real_open = os.open, builtins.open

    def hit(path) -> bool:
        under = state["under"]
        return bool(state["full"]) and under is not None and \
            os.path.abspath(os.fspath(path)).startswith(str(under))

    def os_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and hit(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
        return real_os_open(path, flags, *args, **kwargs)

    def open_(file, mode="r", *args, **kwargs):
        if isinstance(file, str | os.PathLike) and any(c in mode for c in "wxa") and hit(file):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)
    return state


def test_injected_disk_full_for_import_and_generate_through_the_cli(
        capsys, isolated_home, tmp_path, fake_a1111, injected_full_disk, monkeypatch):
    """The command-line story of the tmpfs tests above, with ENOSPC injected (any machine)."""
    from dlx_art.cli import main

    monkeypatch.setenv("DLX_ART_WORKER_PROCESSES", "0")  # injected in this process only
    monkeypatch.setenv("DLX_ART_A1111_URL", fake_a1111.url)
    fake_a1111.step_time = 0.0
    sources = _sources(tmp_path / "src", 6)
    generate = ["generate", "--project", "P", "--prompt", "x", "--steps", "2", "--width", "64",
                "--height", "64"]
    assert main(["projects", "create", "P"]) == 0
    assert main(["import", "--project", "P", *map(str, sources[:3])]) == 0
    capsys.readouterr()
    before = _stored(isolated_home)
    injected_full_disk.update(full=True, under=isolated_home / "Projects")
    for argv in (["import", "--project", "P", *map(str, sources[3:])], generate):
        assert main(argv) == 1
        err = capsys.readouterr().err.strip()
        assert "disk is full" in err and len(err.splitlines()) == 1, err
        assert not any(w in err.lower() for w in WORDS_NEVER_SHOWN), err
        assert _stored(isolated_home) == before
    injected_full_disk["full"] = False
    assert main(["import", "--project", "P", *map(str, sources[3:])]) == 0
    assert main(generate) == 0
    assert main(["doctor"]) == 0
    capsys.readouterr()
    after = _stored(isolated_home)
    assert all(after[k] == v for k, v in before.items()) and len(after) == len(before) + 4
