"""`backups restore` takes only a listed name and checks the backup before anything moves."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlx_art.cli import main
from dlx_art.errors import NotFound, StorageError, UsageError
from dlx_art.library import db, doctor
from dlx_art.library.service import Library
from tests.support.images import png_bytes


def _live_state(root: Path) -> dict[str, str]:
    """Hashes of the catalog and its WAL files: 'untouched' means byte for byte."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.glob("library.sqlite3*"))}


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    with Library.open(root) as lib:
        project = lib.create_project("P")
        lib.add_image(project.id, png_bytes(), values={"prompt": "kept"})
        lib.backup("manual")
        lib.create_project("After the backup")
    return root


def _backup(root: Path) -> Path:
    return doctor.list_backups(root)[-1]


def _refused(root: Path, name: str, error: type[Exception], words: str) -> None:
    before = _live_state(root)
    aside_before = sorted(p.name for p in (root / ".backups").iterdir())
    with pytest.raises(error) as info:
        Library.restore_backup(root, name)
    assert words in info.value.user_message
    assert _live_state(root) == before
    assert sorted(p.name for p in (root / ".backups").iterdir()) == aside_before
    assert not list(root.glob(".library.sqlite3.*"))  # no staged copy, no -wal/-shm of it


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "..", "", ".backups/x.sqlite3",
                                  "..\\library.sqlite3", "a/../../b", "x\x00y"])
def test_paths_are_refused(root, name):
    _refused(root, name, UsageError, "not a path" if name else "backups list")


def test_names_not_listed_are_refused(root):
    with Library.open(root) as lib:
        lib.backup("manual")  # not used; only makes a set-aside file appear below
    Library.restore_backup(root, _backup(root).name)
    aside = next((root / ".backups").glob("replaced-*.sqlite3"))
    for name in ("library.sqlite3", "nothing-here.sqlite3", aside.name,
                 _backup(root).name.upper()):
        _refused(root, name, NotFound, "backups list")


def test_a_non_sqlite_file_in_backups_is_listed_but_refused(root):
    fake = root / ".backups" / "library-99991231-000000-000000-manual.sqlite3"
    fake.write_bytes(png_bytes())
    assert fake in doctor.list_backups(root)
    _refused(root, fake.name, StorageError, "not an SQLite catalog")


def _edited_backup(root: Path, *statements: str) -> str:
    target = root / ".backups" / "library-99991231-000000-000001-edited.sqlite3"
    shutil.copyfile(_backup(root), target)
    con = sqlite3.connect(target)
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    return target.name


@pytest.mark.parametrize(("statements", "words"), [
    (['DROP TABLE "ArtAsset"'], "has no ArtAsset table"),
    (['DROP TABLE "ArtAsset"', 'DROP TABLE "Project"'], "has no"),
    (['ALTER TABLE "ArtAsset" DROP COLUMN "missingAt"'], "lacks the ArtAsset columns missingAt"),
    (['ALTER TABLE "Project" RENAME COLUMN "name" TO "title"'], "lacks the Project columns name"),
    (["DROP TABLE alembic_version", "CREATE TABLE alembic_version (x TEXT)"],
     "has no catalog version"),
    (["UPDATE alembic_version SET version_num = '9999'"], "unknown catalog version"),
    (["DELETE FROM alembic_version"], "unknown catalog version"),
])
def test_a_backup_missing_tables_or_columns_is_refused(root, statements, words):
    name = _edited_backup(root, 'DROP TRIGGER IF EXISTS "ArtAsset_search_insert"',
                          'DROP TRIGGER IF EXISTS "ArtAsset_search_update"',
                          'DROP TRIGGER IF EXISTS "ArtAsset_search_delete"', *statements)
    _refused(root, name, StorageError, words)


def test_a_damaged_backup_is_refused(root):
    name = _edited_backup(root, "CREATE TABLE filler (t TEXT)",
                          *[f"INSERT INTO filler VALUES ('{'x' * 900}{i}')" for i in range(50)])
    path = root / ".backups" / name
    with open(path, "r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        handle.write(b"\xff" * 4096)
    _refused(root, name, StorageError, "is damaged")


def test_a_prisma_catalog_backup_is_accepted(root):
    """A catalog as Prisma makes it (no alembic_version): opening migrates it."""
    prisma = root / ".backups" / "library-99991231-000000-000002-before-migration.sqlite3"
    con = sqlite3.connect(prisma)
    con.execute('CREATE TABLE "Project" ("id" TEXT NOT NULL PRIMARY KEY, "name" TEXT NOT NULL, '
                '"description" TEXT, "type" TEXT NOT NULL, "status" TEXT NOT NULL, '
                '"createdAt" DATETIME NOT NULL, "updatedAt" DATETIME NOT NULL)')
    con.execute('CREATE TABLE "ArtAsset" ("id" TEXT NOT NULL PRIMARY KEY, "projectId" TEXT, '
                '"filePath" TEXT NOT NULL, "fileType" TEXT NOT NULL, "prompt" TEXT NOT NULL, '
                '"negative" TEXT, "model" TEXT NOT NULL, "seed" BIGINT, "steps" INTEGER, '
                '"cfgScale" REAL, "parentId" TEXT, "isFavorite" BOOLEAN NOT NULL DEFAULT false, '
                '"createdAt" DATETIME NOT NULL)')
    con.close()
    Library.restore_backup(root, prisma.name)
    with Library.open(root) as lib:
        assert lib.list_projects() == []


def test_a_good_backup_is_restored_and_the_old_catalog_kept(root):
    before = (root / "library.sqlite3").read_bytes()
    Library.restore_backup(root, _backup(root).name)
    with Library.open(root) as lib:
        assert [p.name for p in lib.list_projects()] == ["P"]
    aside = next((root / ".backups").glob("replaced-*.sqlite3"))
    assert aside.read_bytes() == before
    assert not list(root.glob(".library.sqlite3.*"))  # the checked copy left nothing beside it


def test_expected_columns_follow_the_schema(tmp_path):
    """The columns a backup must have are those a freshly migrated catalog has."""
    with Library.open(tmp_path / "fresh") as lib:
        lib.create_project("x")
    con = sqlite3.connect(tmp_path / "fresh" / "library.sqlite3")
    for table, wanted in doctor.EXPECTED_COLUMNS[db.HEAD_REVISION].items():
        assert {r[1] for r in con.execute(f'PRAGMA table_info("{table}")')} == wanted
    con.close()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(where=st.floats(min_value=0.0, max_value=0.999),
       garbage=st.binary(min_size=1, max_size=2048))
def test_a_backup_with_bytes_anywhere_is_either_sound_or_refused(root, where, garbage):
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "root"
        shutil.copytree(root, home)
        backup = _backup(home)
        with open(backup, "r+b") as handle:
            handle.seek(int(backup.stat().st_size * where))
            handle.write(garbage)
        before = _live_state(home)
        try:
            Library.restore_backup(home, backup.name)
        except StorageError:
            assert _live_state(home) == before
            return
        assert doctor.catalog_damage(home / "library.sqlite3") is None
        with Library.open(home) as lib:
            lib.list_projects()


def test_cli_restore_refusals_are_one_line_and_leave_the_catalog(capsys, isolated_home):
    assert main(["projects", "create", "P"]) == 0
    assert main(["backups", "create"]) == 0
    capsys.readouterr()
    before = _live_state(isolated_home)
    for name, code in (("../x", 2), ("/etc/passwd", 2), ("nope.sqlite3", 1)):
        assert main(["backups", "restore", name]) == code
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1 and "backups list" in err
        assert _live_state(isolated_home) == before


def test_a_damaged_catalog_never_pushes_good_backups_out(root):
    with Library.open(root) as lib:
        for _ in range(7):
            lib.backup("manual")
    good = [p.name for p in doctor.list_backups(root)]
    catalog = root / "library.sqlite3"
    con = sqlite3.connect(catalog)
    con.execute("CREATE TABLE filler (t TEXT)")
    con.executemany("INSERT INTO filler VALUES (?)", [("x" * 900,) for _ in range(60)])
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    with open(catalog, "r+b") as handle:
        handle.seek(catalog.stat().st_size // 2)
        handle.write(b"\xff" * 8192)
    assert doctor.catalog_damage(catalog) is not None
    lib = Library(root)  # as an already open window: no check on open
    try:
        with pytest.raises(StorageError) as info:
            lib.backup("auto")
        assert "No backup was made" in info.value.user_message
    finally:
        lib.close()
    assert [p.name for p in doctor.list_backups(root)] == good
