"""`dlx-art doctor` on real libraries: rows that share a file or whose file holds another image,
rows and folders written by other studios (as Prisma writes them), damaged catalogs."""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlx_art.cli import main
from dlx_art.library import doctor, metadata, png
from dlx_art.library.service import Library
from tests.support.images import A1111_INFOTEXT, png_bytes

pytestmark = pytest.mark.integration


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    return code, json.loads(out) if out.strip() else None, err


def raw(root: Path) -> sqlite3.Connection:
    """A plain connection as another studio's Prisma client would use (foreign keys on)."""
    con = sqlite3.connect(root / "library.sqlite3", isolation_level=None)
    con.execute("PRAGMA foreign_keys = ON")
    return con


def _library_with(root: Path, count: int, project: str = "P"):
    lib = Library.open(root)
    proj = lib.create_project(project)
    assets = [lib.add_image(proj.id, png_bytes(color=(i, 2 * i % 256, 7)),
                            values={"prompt": f"picture {i}", "seed": i}) for i in range(count)]
    return lib, proj, assets


# --- ownership: two rows, one file; a file holding another image -----------------------------


def test_two_rows_sharing_a_file_are_reported_and_repaired_without_losing_data(
        capsys, isolated_home):
    lib, _proj, (x, y) = _library_with(isolated_home, 2)
    x_file = lib.path_of(x)
    x_bytes = x_file.read_bytes()
    lib.path_of(y).unlink()  # what a lost race leaves: y's row points at x's file
    lib.close()
    with raw(isolated_home) as con:
        con.execute('UPDATE "ArtAsset" SET "filePath" = ? WHERE "id" = ?', (x.filePath, y.id))

    code, report, _ = run_json(capsys, "doctor")
    assert code == 1 and not report["clean"]
    assert report["shared"] == [{"file": x.filePath, "ids": sorted([x.id, y.id]),
                                 "carries": x.id}]
    assert report["wrongFile"] == [{"id": y.id, "file": x.filePath, "carries": x.id}]
    code, out, _ = run(capsys, "doctor")
    assert "1 files shared by several rows" in out and "holds another image" in out
    assert f"{x.filePath} is the file of 2 rows" in out and f"holds image {x.id}" in out
    assert f"image {y.id}: its file {x.filePath} holds image {x.id}" in out

    code, report, _ = run_json(capsys, "doctor", "--repair")
    assert code == 0 and report["lost"] == [y.id] and y.id in report["missing"]
    assert not report["adopted"], "the file already has its row: nothing to adopt"
    with Library.open(isolated_home) as lib:
        kept, lost = lib.get_asset(x.id), lib.get_asset(y.id)
        assert kept.filePath == x.filePath and kept.missingAt is None
        assert lib.path_of(kept).read_bytes() == x_bytes
        # the lost row keeps what the person made (prompt, seed) and says it is missing
        assert lost.prompt == "picture 1" and lost.seed == 1 and lost.missingAt is not None
        assert lost.filePath == x.filePath + doctor.LOST_SUFFIX
        # and it can no longer move the other image's file
        lib.trash(y.id)
        assert x_file.read_bytes() == x_bytes
    code, report, _ = run_json(capsys, "doctor")
    assert report["shared"] == [] and report["wrongFile"] == [] and report["orphans"] == []


def test_file_carrying_the_id_of_an_image_with_no_row_is_given_back_to_it(capsys, isolated_home):
    lib, _proj, (y, z) = _library_with(isolated_home, 2)
    y_path, z_path = lib.path_of(y), lib.path_of(z)
    z_bytes = z_path.read_bytes()
    lib.close()
    z_path.replace(y_path)  # y's file now holds z's picture; z has no row
    with raw(isolated_home) as con:
        con.execute('DELETE FROM "ArtAsset" WHERE "id" = ?', (z.id,))

    code, report, _ = run_json(capsys, "doctor")
    assert code == 1 and report["wrongFile"] == [{"id": y.id, "file": y.filePath,
                                                   "carries": z.id}]
    code, report, _ = run_json(capsys, "doctor", "--repair")
    assert code == 0 and report["lost"] == [y.id] and report["adopted"] == [z.id]
    with Library.open(isolated_home) as lib:
        back = lib.get_asset(z.id)
        assert back.filePath == y.filePath and lib.path_of(back).read_bytes() == z_bytes
        assert lib.get_asset(y.id).missingAt is not None
    code, report, _ = run_json(capsys, "doctor")
    assert report["wrongFile"] == [] and report["missing"] == [y.id]


def test_file_holding_a_copy_of_another_catalogued_image_is_reported_not_guessed(
        capsys, isolated_home):
    lib, _proj, (x, y) = _library_with(isolated_home, 2)
    shutil.copyfile(lib.path_of(x), lib.path_of(y))
    lib.close()
    for argv in (("doctor",), ("doctor", "--repair")):
        code, report, _ = run_json(capsys, *argv)
        assert report["wrongFile"] == [{"id": y.id, "file": y.filePath, "carries": x.id}]
        assert report["lost"] == []  # nothing tells which row is right: reported only
    with Library.open(isolated_home) as lib:
        assert lib.get_asset(y.id).filePath == y.filePath


def test_ids_are_read_from_the_chunk_before_the_pixels(tmp_path):
    data = metadata.set_png_text(png_bytes(256, 256, noise=True, parameters="x" * 200_000),
                                 {metadata.DLX_CHUNK: metadata.encode_dlx_ids("a1", "p1", None)})
    whole = tmp_path / "whole.png"
    whole.write_bytes(data)
    assert doctor.read_own_ids(whole) == metadata.DlxIds("a1", "p1", None)
    # everything after the ids cut away: a reader that needed the pixels would fail here
    cut = tmp_path / "cut.png"
    chunk_end = data.index(b"IDAT") - 4
    ids_at = data.index(metadata.DLX_CHUNK.encode())
    cut.write_bytes(data[:max(ids_at + 200, 100)])
    assert ids_at < chunk_end and doctor.read_own_ids(cut) == metadata.DlxIds("a1", "p1", None)
    # a megabyte of text before the ids is skipped by offset, not read
    big_first = tmp_path / "big.png"
    sig, rest = data[:33], data[33:]
    filler = png.make_chunk(b"tEXt", b"parameters\0" + b"y" * 1_000_000)
    big_first.write_bytes(sig + filler + rest)
    assert doctor.read_own_ids(big_first) == metadata.DlxIds("a1", "p1", None)
    for other in (b"", b"not a png", metadata.PNG_SIGNATURE + b"\0\0\0\x05tEXtdlx-a"):
        (tmp_path / "o.png").write_bytes(other)
        assert doctor.read_own_ids(tmp_path / "o.png") is None
    assert doctor.read_own_ids(tmp_path / "absent.png") is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_reading_ids_never_fails_on_any_bytes(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.png"
        path.write_bytes(metadata.PNG_SIGNATURE + data)
        result = doctor.read_own_ids(path)
        assert result is None or isinstance(result, metadata.DlxIds)


# --- rows and folders written by others ------------------------------------------------------


def test_project_deleted_by_another_client_is_reported_and_adopted_back(capsys, isolated_home):
    lib, proj, assets = _library_with(isolated_home, 3, "Harbour")
    lib.close()
    with raw(isolated_home) as con:  # as Prisma deletes a project: ON DELETE SET NULL
        con.execute('DELETE FROM "Project" WHERE "id" = ?', (proj.id,))
        assert con.execute('SELECT count(*) FROM "ArtAsset" WHERE "projectId" IS NULL'
                           ).fetchone()[0] == 3

    code, report, _ = run_json(capsys, "doctor")
    assert code == 1 and sorted(report["unassigned"]) == sorted(a.id for a in assets)
    assert report["unlistedFolders"] == ["Harbour"] and report["reassigned"] == []
    code, report, _ = run_json(capsys, "doctor", "--repair")
    assert code == 0 and report["adoptedProjects"] == ["Harbour"]
    assert sorted(report["reassigned"]) == sorted(a.id for a in assets)
    assert report["adopted"] == [], "the images keep their rows; they are not imported twice"
    with Library.open(isolated_home) as lib:
        back = lib.get_project("Harbour")
        assert back.id == proj.id  # from its project.json
        assert lib.count_assets(back.id) == 3
    code, report, _ = run_json(capsys, "doctor")
    assert code == 0 and report["clean"]


def test_unassigned_rows_join_the_existing_project_of_their_folder(capsys, isolated_home):
    lib, proj, (a,) = _library_with(isolated_home, 1, "Keep")
    lib.close()
    with raw(isolated_home) as con:
        con.execute('UPDATE "ArtAsset" SET "projectId" = NULL WHERE "id" = ?', (a.id,))
    code, report, _ = run_json(capsys, "doctor", "--repair")
    assert report["reassigned"] == [a.id] and report["adoptedProjects"] == []
    with Library.open(isolated_home) as lib:
        assert lib.get_asset(a.id).projectId == proj.id


def test_foreign_project_folder_is_reported_and_adopted(capsys, isolated_home):
    Library.open(isolated_home).close()
    with Library.open(isolated_home) as lib:
        lib.create_project("Taken")
    images = isolated_home / "Projects" / "From Elsewhere" / "Assets" / "Images"
    images.mkdir(parents=True)
    (images / "one.png").write_bytes(png_bytes(parameters=A1111_INFOTEXT))
    (images.parent.parent / "project.json").write_text(json.dumps(
        {"name": "Taken", "type": "dev", "description": "made by another studio"}))
    bare = isolated_home / "Projects" / "No Json"
    (bare / "Assets" / "Images").mkdir(parents=True)
    (bare / "Assets" / "Images" / "two.png").write_bytes(png_bytes(color=(9, 9, 9)))
    (isolated_home / "Projects" / ".hidden").mkdir()

    code, report, _ = run_json(capsys, "doctor")
    assert code == 1 and report["unlistedFolders"] == ["From Elsewhere", "No Json"]
    code, report, _ = run_json(capsys, "doctor", "--repair")
    assert code == 0 and report["adoptedProjects"] == ["From Elsewhere", "No Json"]
    assert len(report["adopted"]) == 2
    with Library.open(isolated_home) as lib:
        by_folder = {p.folder: p for p in lib.list_projects()}
        assert by_folder["From Elsewhere"].name == "Taken (2)"  # the name was taken
        assert by_folder["From Elsewhere"].type == "dev"
        assert by_folder["No Json"].name == "No Json"
        assert lib.count_assets(by_folder["No Json"].id) == 1
    code, report, _ = run_json(capsys, "doctor")
    assert code == 0 and report["clean"]


def test_listings_show_unknown_sizes_as_blank(capsys, isolated_home):
    lib, proj, _ = _library_with(isolated_home, 1)
    lib.close()
    with raw(isolated_home) as con:  # a row as Prisma writes it: no studio columns
        con.execute('INSERT INTO "ArtAsset" ("id", "projectId", "filePath", "fileType", '
                    '"prompt", "model", "isFavorite", "createdAt") VALUES '
                    "('prisma-row', ?, 'Projects/P/Assets/Images/x.png', 'png', 'from prisma', "
                    "'', 0, '2026-11-26T05:46:00.631+00:00')", (proj.id,))
    code, out, _ = run(capsys, "assets", "list", "--project", "P")
    assert code == 0 and "prisma-row" in out
    assert "None" not in out
    code, out, _ = run(capsys, "assets", "show", "prisma-row")
    assert code == 0 and "None" not in out and "from prisma" in out
    code, out, _ = run(capsys, "assets", "lineage", "prisma-row")
    assert code == 0 and "None" not in out


# --- damaged catalogs ------------------------------------------------------------------------


def _filled_catalog(root: Path) -> None:
    """A library with enough rows that the catalog spans many pages, and one backup."""
    lib, proj, _ = _library_with(root, 3)
    lib.backup("manual")
    lib.close()
    with raw(root) as con:
        con.execute("BEGIN")
        for i in range(400):
            con.execute('INSERT INTO "ArtAsset" ("id", "projectId", "filePath", "fileType", '
                        '"prompt", "model", "isFavorite", "createdAt", "trashedAt") VALUES '
                        "(?, ?, ?, 'png', ?, '', 0, '2026-11-26T05:46:00.631+00:00', "
                        "'2026-11-26T05:46:00.631+00:00')",
                        (f"filler-{i:04d}", proj.id, f"Projects/P/Assets/Images/f{i}.png",
                         f"a long prompt number {i} " * 8))
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _damage(path: Path, offset: int, garbage: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(garbage)


def _sound(path: Path) -> bool:
    con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    con.text_factory = bytes
    try:
        return con.execute("PRAGMA integrity_check").fetchall() == [(b"ok",)]
    except (sqlite3.DatabaseError, UnicodeDecodeError):  # a damaged schema text
        return False
    finally:
        con.close()


def test_damaged_catalog_is_reported_in_words_and_backups_still_cure_it(capsys, isolated_home):
    _filled_catalog(isolated_home)
    catalog = isolated_home / "library.sqlite3"
    size = catalog.stat().st_size
    _damage(catalog, size // 2 - 4096, b"\xa5" * 8192)  # two whole pages in the middle
    assert not _sound(catalog)

    code, out, err = run(capsys, "doctor")
    assert code == 1 and out == ""
    assert err.startswith("dlx-art: The catalog file") and "is damaged" in err
    assert "backups restore" in err and "rebuild" in err and "Traceback" not in err
    assert "details in the log" in err and "malformed" not in err  # no SQLite jargon
    assert len(err.strip().splitlines()) == 1
    code, report, _ = run_json(capsys, "doctor")
    assert code == 1 and report["damaged"] and not report["clean"]

    code, listed, err = run_json(capsys, "backups", "list")
    assert code == 0, err
    code, out, err = run(capsys, "backups", "restore", listed[-1]["name"])
    assert code == 0, err
    aside = list((isolated_home / ".backups").glob("replaced-*.sqlite3"))
    assert len(aside) == 1 and aside[0].stat().st_size == size  # kept, not deleted
    code, report, _ = run_json(capsys, "doctor")
    assert code == 0 and report["integrity"] == "ok"


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(where=st.floats(min_value=0.0, max_value=0.999),
       garbage=st.binary(min_size=1, max_size=4096))
def test_bytes_written_anywhere_into_the_catalog_never_end_in_a_traceback(
        capsys, template_library, where, garbage):
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        shutil.copytree(template_library, home)
        catalog = home / "library.sqlite3"
        _damage(catalog, int(catalog.stat().st_size * where), garbage)
        sound = _sound(catalog)
        code, out, err = run(capsys, "--home", str(home), "doctor")
        assert "Traceback" not in out + err and "unexpected error" not in err
        if not sound:
            assert code == 1 and "damaged" in err and "backups restore" in err
        code, out, err = run(capsys, "--home", str(home), "backups", "list", "--json")
        assert code == 0, err
        name = json.loads(out)[-1]["name"]
        code, out, err = run(capsys, "--home", str(home), "backups", "restore", name)
        assert code == 0, err
        code, out, err = run(capsys, "--home", str(home), "doctor", "--json")
        assert code == 0 and json.loads(out)["integrity"] == "ok", err


@pytest.fixture(scope="module")
def template_library(tmp_path_factory):
    root = tmp_path_factory.mktemp("template") / "home"
    _filled_catalog(root)
    return root


def test_catalog_truncated_to_zero_is_restored_from_the_newest_good_backup(
        capsys, isolated_home):
    lib, proj, (a, b) = _library_with(isolated_home, 2)
    lib.backup("manual")
    c = lib.add_image(proj.id, png_bytes(color=(1, 200, 3)), values={"prompt": "after backup"})
    late = lib.create_project("Made After")
    d = lib.add_image(late.id, png_bytes(color=(4, 5, 6)), values={"prompt": "late project"})
    lib.close()
    newest_but_broken = isolated_home / ".backups" / "library-99999999-999999-999999-auto.sqlite3"
    newest_but_broken.write_bytes(b"SQLite format 3\x00" + b"\0" * 100)
    catalog = isolated_home / "library.sqlite3"
    catalog.write_bytes(b"")

    code, out, err = run(capsys, "projects", "list")
    assert code == 0 and "No projects yet" not in out
    assert "P" in out and "Made After" in out
    assert "catalog file was empty" in err and "restored from the backup" in err
    assert "99999999" not in err  # the damaged newer backup was not used
    aside = list((isolated_home / ".backups").glob("damaged-*.sqlite3"))
    assert len(aside) == 1 and aside[0].stat().st_size == 0  # set aside, not deleted
    with Library.open(isolated_home) as lib:
        assert lib.recovery is None  # told once, when it happened
        assert {x.id for x in lib.assets(proj.id)} == {a.id, b.id, c.id}
        assert [x.id for x in lib.assets(lib.get_project("Made After").id)] == [d.id]


def test_catalog_truncated_to_zero_without_backup_is_rebuilt_from_files(capsys, isolated_home):
    lib, proj, assets = _library_with(isolated_home, 2)
    lib.close()
    (isolated_home / "library.sqlite3").write_bytes(b"")
    with Library.open(isolated_home) as lib:
        assert lib.recovery and "rebuilt from the image files" in lib.recovery
        assert lib.get_project("P").id == proj.id
        assert {x.id for x in lib.assets(proj.id)} == {x.id for x in assets}
    assert list((isolated_home / ".backups").glob("damaged-*.sqlite3"))


def test_empty_catalog_without_project_folders_is_a_new_library(isolated_home):
    (isolated_home / "library.sqlite3").write_bytes(b"")
    with Library.open(isolated_home) as lib:
        assert lib.recovery is None and lib.list_projects() == []
    assert not list(isolated_home.glob(".backups/damaged-*"))


def test_folders_holding_nothing_or_renamed_right_now_are_not_adopted(isolated_home):
    with Library.open(isolated_home) as lib:
        lib.create_project("Real")
        # what create_project has made in the instant before its row commits: empty folders
        (isolated_home / "Projects" / "Being Made" / "Assets" / "Images").mkdir(parents=True)
        report = lib.reconcile(repair=True)
        assert report.unlisted_folders == [] and report.adopted_projects == []
        assert [p.name for p in lib.list_projects()] == ["Real"]
        # a rename moving a folder right now: its new folder has no row yet
        moved = isolated_home / "Projects" / "Renamed"
        moved.mkdir()
        (moved / "project.json").write_text(json.dumps({"name": "Real"}))
        (isolated_home / ".pending-rename.json").write_text("{}")
        report = lib.reconcile(repair=True)
        assert report.unlisted_folders == ["Renamed"] and report.adopted_projects == []
        (isolated_home / ".pending-rename.json").unlink()
        report = lib.reconcile(repair=True)
        assert report.adopted_projects == ["Renamed"]


def test_a_copy_of_a_catalogued_image_is_adopted_only_by_repair_under_its_own_id(isolated_home):
    lib, proj, (x,) = _library_with(isolated_home, 1)
    copy = lib.path_of(x).with_name("copy.png")
    shutil.copyfile(lib.path_of(x), copy)
    rel = f"Projects/P/Assets/Images/{copy.name}"
    report = lib.reconcile()  # as the window does on every start: no new row for a copy
    assert report.adopted == [] and report.orphans == [rel]
    report = lib.reconcile(repair=True)
    (new,) = report.adopted
    assert new != x.id and doctor.read_own_ids(copy).asset_id == new
    assert lib.get_asset(new).filePath == rel
    assert doctor.read_own_ids(lib.path_of(x)).asset_id == x.id
    assert lib.reconcile().clean
    lib.close()


@pytest.mark.parametrize(("folder", "json_name", "expected"), [
    ("Long", "x" * 500, "Long"),
    ("y" * 230, "Bad\x07Bell", "Adopted project"),  # both too long or not a usable name
    ("Numbered", 42, "Numbered"),
    ("Spaces", "   ", "Spaces"),
])
def test_adopted_folders_get_a_usable_name(isolated_home, folder, json_name, expected):
    Library.open(isolated_home).close()
    images = isolated_home / "Projects" / folder / "Assets" / "Images"
    images.mkdir(parents=True)
    (images / "a.png").write_bytes(png_bytes())
    if json_name is not None:
        (images.parent.parent / "project.json").write_text(json.dumps({"name": json_name}))
    with Library.open(isolated_home) as lib:
        assert lib.reconcile(repair=True).adopted_projects == [folder]
        (project,) = lib.list_projects()
        assert project.name == expected and project.folder == folder
        assert lib.count_assets(project.id) == 1


def test_a_folder_whose_name_the_studio_refuses_stays_reported(isolated_home):
    Library.open(isolated_home).close()
    images = isolated_home / "Projects" / "Bad\x07Bell" / "Assets" / "Images"
    images.mkdir(parents=True)
    (images / "a.png").write_bytes(png_bytes())
    with Library.open(isolated_home) as lib:
        report = lib.reconcile(repair=True)
        assert report.adopted_projects == [] and report.unlisted_folders == ["Bad\x07Bell"]
        assert report.orphans == ["Projects/Bad\x07Bell/Assets/Images/a.png"]
        assert lib.list_projects() == []


_JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                         st.lists(st.integers(), max_size=2))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(info=st.dictionaries(st.sampled_from(["id", "name", "type", "status", "createdAt",
                                             "description"]), _JSON_VALUES))
def test_any_project_json_is_adopted_into_a_usable_project(info):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "root"
        Library.open(root).close()
        images = root / "Projects" / "Found" / "Assets" / "Images"
        images.mkdir(parents=True)
        (images / "a.png").write_bytes(png_bytes())
        (images.parent.parent / "project.json").write_text(json.dumps(info))
        with Library.open(root) as lib:
            report = lib.reconcile(repair=True)
            assert report.adopted_projects == ["Found"] and len(report.adopted) == 1
            (project,) = lib.list_projects(include_archived=True)
            assert project.id.strip() and project.name and project.folder == "Found"
            assert lib.get_project(project.id) == project
            assert lib.count_assets(project.id) == 1
            assert lib.reconcile().clean
