"""Moving a library: `dlx_art.library.relocate` and `dlx-art library move DEST` on real libraries.

Documented behaviour: every library file is copied and verified (size, SHA-256); the settings
then point at the new folder; the old folder is left exactly as it was (the person deletes it).
A refused or stopped move changes nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlx_art.cli import main
from dlx_art.errors import StorageError, UsageError
from dlx_art.library import relocate
from tests.support.images import A1111_INFOTEXT, png_bytes

pytestmark = pytest.mark.integration


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` (relative path -> bytes)."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def library_snapshot(root: Path) -> dict[str, bytes]:
    """The files of the library at `root` (not its config or logs, with --home beside it)."""
    return {k: v for k, v in snapshot(root).items() if k.split("/")[0] in relocate.LIBRARY_ITEMS}


def make_library(capsys, tmp_path: Path) -> None:
    """A library with two projects, imported images, one in the trash and a catalog backup."""
    assert run(capsys, "projects", "create", "Harbor")[0] == 0
    assert run(capsys, "projects", "create", "Forest")[0] == 0
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(png_bytes(parameters=A1111_INFOTEXT))
    (src / "b.png").write_bytes(png_bytes(color=(1, 2, 3)))
    (src / "c.png").write_bytes(png_bytes(40, 24, color=(9, 8, 7)))
    code, out, err = run(capsys, "import", "--project", "Harbor", str(src), "--json")
    assert code == 0, err
    first = json.loads(out)["imported"][0]["id"]
    assert run(capsys, "assets", "trash", first)[0] == 0
    assert run(capsys, "backups", "create")[0] == 0


def test_cli_library_move_copies_verifies_and_keeps_the_old_folder(capsys, isolated_home,
                                                                   tmp_path):
    make_library(capsys, tmp_path)
    library_part = library_snapshot(isolated_home)
    assert any(k.startswith(".trash/") or "/.trash/" in k or k.startswith("Projects/")
               for k in library_part)
    code, out, err = run(capsys, "assets", "list", "--project", "Harbor", "--json")
    listed_before = json.loads(out)

    target = tmp_path / "new place" / "library"
    code, out, err = run(capsys, "library", "move", str(target), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["moved"] and report["old_folder_kept"]
    assert Path(report["to"]) == target.resolve()
    assert Path(report["from"]) == isolated_home.resolve()
    assert report["files"] == len(library_part)

    # the new folder holds exactly the library's files, byte for byte
    moved = snapshot(target)
    assert moved == library_part
    # the old folder is untouched (its catalog included) and no lock is left behind
    assert library_snapshot(isolated_home) == library_part
    assert not (target / ".dlx-art.lock").exists()
    assert not (isolated_home / ".dlx-art.lock").exists()

    # later commands use the new folder: same catalog, files resolve there
    code, out, err = run(capsys, "projects", "list", "--json")
    assert sorted(p["name"] for p in json.loads(out)) == ["Forest", "Harbor"]
    code, out, err = run(capsys, "assets", "list", "--project", "Harbor", "--json")
    listed_after = json.loads(out)
    assert [a["id"] for a in listed_after] == [a["id"] for a in listed_before]
    # the person deletes the old library as the message says: everything still works
    for name in relocate.LIBRARY_ITEMS:
        item = isolated_home / name
        if item.is_dir():
            shutil.rmtree(item)
        else:
            item.unlink(missing_ok=True)
    out_dir = tmp_path / "exported"
    out_dir.mkdir()
    code, out, err = run(capsys, "export", listed_after[0]["id"], str(out_dir), "--json")
    assert code == 0, err
    assert Path(json.loads(out)["path"]).read_bytes() in library_part.values()
    code, out, err = run(capsys, "assets", "list", "--project", "Harbor", "--trash", "--json")
    assert len(json.loads(out)) == 1


def test_cli_library_move_refuses_unusable_targets_without_touching_anything(
        capsys, isolated_home, tmp_path):
    make_library(capsys, tmp_path)
    before = library_snapshot(isolated_home)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    for target in (busy, isolated_home, isolated_home / "Projects", busy / "notes.txt"):
        code, out, err = run(capsys, "library", "move", str(target))
        assert code == 2, (target, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert library_snapshot(isolated_home) == before
    assert snapshot(busy) == {"notes.txt": b"mine"}
    code, out, _ = run(capsys, "projects", "list", "--json")
    assert len(json.loads(out)) == 2  # still the old library


def test_cli_library_move_is_refused_while_a_window_has_the_library(capsys, isolated_home,
                                                                      tmp_path):
    from dlx_art.cli import _window_lock

    make_library(capsys, tmp_path)
    lock = _window_lock(isolated_home).acquire()
    try:
        code, _, err = run(capsys, "library", "move", str(tmp_path / "elsewhere"))
    finally:
        lock.release()
    assert code != 0 and "already has the library" in err
    assert not (tmp_path / "elsewhere").exists()


# --- relocate: the Qt-free functions ---------------------------------------------------------

file_trees = st.dictionaries(
    st.tuples(st.sampled_from(["Projects/a", "Projects/b/c", ".trash", ".backups"]),
              st.text("abcxyz0123 -", min_size=1, max_size=8).map(str.strip).filter(bool)),
    st.binary(max_size=3000), min_size=1, max_size=12)


def write_tree(root: Path, tree: dict[tuple[str, str], bytes]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "library.sqlite3").write_bytes(b"SQLite format 3\x00" + b"x" * 100)
    (root / "logs").mkdir(exist_ok=True)
    (root / "logs" / "not-library.log").write_text("stays")
    for (folder, name), data in tree.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / f"{name}.bin").write_bytes(data)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=file_trees, stop_after=st.integers(min_value=0, max_value=30))
def test_a_move_is_complete_and_verified_or_leaves_nothing(tmp_path_factory, tree, stop_after):
    """Any library tree: the move copies exactly the library files, or (stopped at any step)
    leaves no partial copy; the source never changes."""
    base = tmp_path_factory.mktemp("move")
    source, target = base / "src", base / "dst"
    write_tree(source, tree)
    before = snapshot(source)
    steps = []

    def on_change(done: int, total: int, stage: str) -> None:
        steps.append((done, total, stage))
        if len(steps) > stop_after:
            progress.stop()

    progress = relocate.MoveProgress(on_change)
    expected = {k: v for k, v in before.items() if not k.startswith("logs/")}
    try:
        count = relocate.move_library(source, target, progress)
    except UsageError as exc:
        assert relocate.STOPPED in exc.user_message
        assert not target.exists()
    else:
        assert count == len(expected)
        assert snapshot(target) == expected
        assert steps[-1] == (2 * count, 2 * count, "Verifying")
        assert [d for d, _, _ in steps] == sorted(d for d, _, _ in steps)  # never goes back
    assert snapshot(source) == before


def test_verification_catches_a_copy_that_differs(tmp_path):
    source, target = tmp_path / "src", tmp_path / "dst"
    write_tree(source, {("Projects/a", "one"): b"1" * 50, ("Projects/a", "two"): b"2" * 50})
    files = relocate.library_files(source)
    relocate.copy_files(source, target, files, relocate.MoveProgress())
    damaged = target / "Projects" / "a" / "two.bin"
    damaged.write_bytes(b"2" * 49 + b"3")  # same size, other content
    with pytest.raises(StorageError, match="differs"):
        relocate.verify_copy(source, target, files, relocate.MoveProgress())
