"""`export` never destroys: no overwrite without --force, never into the library, no specials."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlx_art.cli import main
from dlx_art.errors import UsageError
from dlx_art.library.service import Library
from tests.support.images import png_bytes

POSIX = sys.platform != "win32"


@pytest.fixture
def library(tmp_path):
    lib = Library.open(tmp_path / "root")
    yield lib
    lib.close()


@pytest.fixture
def stocked(library):
    """A library with an image, a mask, a backup, a thumbnail and a trashed image."""
    project = library.create_project("P")
    asset = library.add_image(project.id, png_bytes(seed=1), mask=png_bytes(color=(255, 255, 255)),
                              thumbnail=True)
    gone = library.add_image(project.id, png_bytes(color=(1, 2, 3)))
    library.trash(gone.id)
    library.backup("manual")
    return library, asset


def _digest_tree(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _protected_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def test_existing_file_is_kept_without_force_and_replaced_with_it(stocked, tmp_path):
    library, asset = stocked
    target = tmp_path / "out" / "mine.png"
    target.parent.mkdir()
    target.write_bytes(b"precious")
    with pytest.raises(UsageError, match="already exists.*--force"):
        library.export(asset.id, target)
    assert target.read_bytes() == b"precious"
    # a folder as DEST: the image's own name inside it is protected the same way
    inside = target.parent / library.path_of(asset).name
    inside.write_bytes(b"also precious")
    with pytest.raises(UsageError, match="already exists"):
        library.export(asset.id, target.parent)
    assert inside.read_bytes() == b"also precious"
    assert library.export(asset.id, target, force=True) == target
    assert target.read_bytes() == library.read_bytes(asset)
    assert sorted(p.name for p in target.parent.iterdir()) == sorted([target.name, inside.name])


def test_force_replaces_a_symlink_instead_of_writing_through_it(stocked, tmp_path):
    library, asset = stocked
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_bytes(b"not mine to change")
    link = tmp_path / "link.png"
    link.symlink_to(elsewhere)
    with pytest.raises(UsageError, match="already exists"):
        library.export(asset.id, link)
    library.export(asset.id, link, force=True)
    assert elsewhere.read_bytes() == b"not mine to change"
    assert not link.is_symlink() and link.read_bytes() == library.read_bytes(asset)


def test_the_temporary_file_clobbers_nothing(stocked, tmp_path):
    library, asset = stocked
    # the old code wrote `.<name>.part` blindly: a file of that name must survive
    decoy = tmp_path / ".out.png.part"
    decoy.write_bytes(b"someone's file")
    library.export(asset.id, tmp_path / "out.png")
    assert decoy.read_bytes() == b"someone's file"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "root") == [
        ".out.png.part", "out.png"]


@pytest.mark.parametrize("dest", ["", "   "])
def test_empty_destination_is_refused(stocked, dest):
    library, asset = stocked
    with pytest.raises(UsageError, match="empty"):
        library.export(asset.id, dest)


@pytest.mark.skipif(not POSIX, reason="FIFOs, sockets and /dev/null are POSIX")
def test_special_destinations_are_refused_without_blocking(stocked, tmp_path):
    library, asset = stocked
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sock_path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    link_to_fifo = tmp_path / "to-fifo.png"
    link_to_fifo.symlink_to(fifo)
    results: list[object] = []

    def attempt() -> None:
        for dest in (fifo, sock_path, Path(os.devnull), link_to_fifo):
            for force in (False, True):
                try:
                    library.export(asset.id, dest, force=force)
                    results.append((dest, "written"))
                except UsageError as exc:
                    results.append((dest, exc.user_message))

    # run in a thread: opening the FIFO for writing would block forever
    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(60)
    server.close()
    assert not thread.is_alive(), "export blocked on a special file"
    assert len(results) == 8
    for dest, message in results:
        assert message != "written", dest
        assert any(w in str(message) for w in ("FIFO", "socket", "device")), message
    assert fifo.exists() and Path(os.devnull).exists()


def _ways_to_name(root: Path, victim: Path, tmp: Path, index: int) -> list[Path]:
    """Different spellings of `victim` (a file inside the storage root) as an export DEST."""
    links = tmp / f"links{index}"
    links.mkdir(exist_ok=True)
    file_link = links / "file-link.png"
    if not file_link.is_symlink():
        file_link.symlink_to(victim)
    folder_link = links / "folder-link"
    if not folder_link.is_symlink():
        folder_link.symlink_to(victim.parent, target_is_directory=True)
    root_link = links / "root-link"
    if not root_link.is_symlink():
        root_link.symlink_to(root, target_is_directory=True)
    rel = victim.relative_to(root)
    return [victim, file_link, folder_link / victim.name, root_link / rel,
            victim.parent / ".." / victim.parent.name / victim.name]


@pytest.mark.skipif(not POSIX, reason="symlinks need privileges on Windows")
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pick=st.integers(min_value=0), way=st.integers(min_value=0, max_value=4),
       force=st.booleans(), folder=st.booleans())
def test_nothing_in_the_storage_root_is_ever_written(stocked, tmp_path, pick, way, force, folder):
    library, asset = stocked
    root = library.root
    files = _protected_files(root)
    names = {p.name for p in files}
    assert {"library.sqlite3", "library.sqlite3-wal"} <= names or "library.sqlite3" in names
    victim = files[pick % len(files)]
    before = _digest_tree(root)
    dest = _ways_to_name(root, victim, tmp_path, pick % len(files))[way]
    if folder:  # the victim's folder as DEST: the image keeps its own name inside it
        # (for the link to the file itself: the link to its folder)
        dest = dest.parent / "folder-link" if way == 1 else dest.parent
    with pytest.raises(UsageError, match="inside the library's storage folder"):
        library.export(asset.id, dest, force=force)
    assert _digest_tree(root) == before


def test_cli_export_refusals_are_one_line_usage_errors(capsys, isolated_home, tmp_path):
    src = tmp_path / "a.png"
    src.write_bytes(png_bytes())
    assert main(["projects", "create", "P"]) == 0
    assert main(["import", "--project", "P", str(src), "--json"]) == 0
    capsys.readouterr()
    assert main(["assets", "list", "--project", "P", "--json"]) == 0
    asset_id = json.loads(capsys.readouterr().out)[0]["id"]
    out = tmp_path / "out.png"
    out.write_bytes(b"keep")
    cases = [
        ([str(out)], "already exists"),
        ([""], "empty"),
        ([str(isolated_home / "library.sqlite3"), "--force"], "storage folder"),
        ([str(isolated_home / "Projects"), "--force"], "storage folder"),
    ]
    for extra, words in cases:
        code = main(["export", asset_id, *extra])
        err = capsys.readouterr().err
        assert code == 2, (extra, err)
        assert words in err and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err
    assert out.read_bytes() == b"keep"
    assert main(["export", asset_id, str(out), "--force", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["path"] == str(out)
    assert out.read_bytes() != b"keep"


@pytest.mark.skipif(not POSIX, reason="FIFOs are POSIX")
def test_cli_export_to_a_fifo_returns_at_once(tmp_path):
    home = tmp_path / "home"
    env = dict(os.environ, DLX_ART_HOME=str(home))
    src = tmp_path / "a.png"
    src.write_bytes(png_bytes())

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dlx_art", *argv], env=env,
                              capture_output=True, text=True, timeout=120)

    assert cli("projects", "create", "P").returncode == 0
    assert cli("import", "--project", "P", str(src)).returncode == 0
    asset_id = json.loads(cli("assets", "list", "--project", "P", "--json").stdout)[0]["id"]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = cli("export", asset_id, str(fifo), "--force")  # would hang forever if opened
    assert done.returncode == 2 and "FIFO" in done.stderr, done.stderr
