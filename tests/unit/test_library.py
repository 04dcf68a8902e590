"""The library service on a real SQLite file and real files in a temporary folder."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from dlx_art.errors import InvalidName, NotFound, StorageError
from dlx_art.library import metadata
from dlx_art.library.service import Library, fts_query
from tests.support.images import A1111_INFOTEXT, jpeg_bytes, png_bytes


@pytest.fixture
def library(tmp_path):
    lib = Library.open(tmp_path / "root")
    yield lib
    lib.close()


def _add(lib, project, prompt="a red fox", **values):
    values = {"steps": 20, "cfgScale": 7.0, "seed": 1, **values}
    return lib.add_image(project.id, png_bytes(), values={"prompt": prompt, **values})


def test_create_list_and_unique_names(library):
    a = library.create_project("Neon City", description="cyberpunk")
    b = library.create_project("Forest")
    assert [p.name for p in library.list_projects()][0] == "Forest"  # most recent first
    with pytest.raises(InvalidName):
        library.create_project("neon city")
    with pytest.raises(InvalidName):
        library.create_project("   ")
    with pytest.raises(InvalidName):
        library.create_project("bad\x00name")
    library.touch_project(a.id)
    assert library.list_projects()[0].id == a.id
    assert library.get_project("NEON CITY").id == a.id
    assert (library.root / "Projects" / "Neon City" / "Assets" / "Images").is_dir()
    assert (library.root / "Projects" / "Forest" / "Assets" / "Masks").is_dir()
    assert b.type == "art" and b.status == "active"


def test_odd_project_names_stay_inside_the_root(library):
    for name in ("../../etc", "CON", "a/b\\c", "dots...", "Ünïcödé 🦊", "x" * 200):
        project = library.create_project(name)
        folder = library.root / "Projects" / project.folder
        assert folder.resolve().parent == (library.root / "Projects").resolve()
        assert folder.is_dir()


def test_names_differing_by_case_or_normalisation_get_distinct_folders(library):
    library.create_project("Cafe\u0301")  # NFD
    with pytest.raises(InvalidName):
        library.create_project("Caf\u00e9")  # NFC of the same name


def test_add_image_writes_file_row_and_metadata(library):
    project = library.create_project("P")
    asset = _add(library, project, seed=42, model="sd15",
                 negative="blurry")
    path = library.path_of(asset)
    assert path.exists() and asset.filePath.startswith("Projects/P/Assets/Images/")
    data = path.read_bytes()
    chunks = metadata.read_png_text(data)
    ids = metadata.decode_dlx_ids(chunks[metadata.DLX_CHUNK])
    assert ids.asset_id == asset.id and ids.project_id == project.id
    info = metadata.parse_infotext(chunks["parameters"])
    assert info.prompt == "a red fox" and info.negative == "blurry" and info.seed == 42
    with Image.open(path) as image:
        assert image.info["parameters"] == chunks["parameters"]
    assert asset.fileSize == len(data) and asset.width == 64 and asset.kind == "txt2img"
    # the raw row follows the Prisma formats
    con = sqlite3.connect(library.db_path)
    created, fav = con.execute('SELECT createdAt, isFavorite FROM "ArtAsset"').fetchone()
    assert created.endswith("+00:00") and created[19] == "." and fav == 0
    con.close()


def test_existing_a1111_parameters_are_kept_byte_for_byte_in_pixels(library):
    project = library.create_project("P")
    original = png_bytes(parameters=A1111_INFOTEXT)
    asset = library.add_image(project.id, original, values={"prompt": "x"})
    stored = library.path_of(asset).read_bytes()
    assert metadata.read_png_text(stored)["parameters"] == A1111_INFOTEXT
    with Image.open(library.path_of(asset)) as a:
        pixels = a.tobytes()
    import io

    with Image.open(io.BytesIO(original)) as b:
        assert pixels == b.tobytes()


def test_failed_row_removes_file(library, monkeypatch):
    project = library.create_project("P")
    original_begin = library.engine.begin

    def broken_begin():
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(library.engine, "begin", broken_begin)
    with pytest.raises(StorageError):
        _add(library, project)
    monkeypatch.setattr(library.engine, "begin", original_begin)
    images = list((library.root / "Projects/P/Assets/Images").iterdir())
    assert images == []


def test_saves_one_after_another_list_the_image_folder_once(library, monkeypatch):
    """A folder of 40,000 images takes tens of milliseconds to list: once, not per save."""
    from dlx_art.library import storage

    project = library.create_project("P")
    listed = []
    taken_names = storage.taken_names
    monkeypatch.setattr(storage, "taken_names", lambda f: listed.append(f) or taken_names(f))
    saved = [_add(library, project, seed=i) for i in range(4)]
    assert len(listed) == 1
    assert len({a.filePath for a in saved}) == 4
    # a file that appears behind our back still makes the list be read again
    (listed[0] / "elsewhere.png").write_bytes(b"x")
    stamp = listed[0].stat().st_mtime_ns + 10**9  # a coarse clock may not have moved yet
    os.utime(listed[0], ns=(stamp, stamp))
    _add(library, project, seed=9)
    assert len(listed) == 2


def test_broken_image_is_rejected_before_anything_is_written(library):
    project = library.create_project("P")
    from dlx_art.errors import BadImageFile

    with pytest.raises(BadImageFile):
        library.add_image(project.id, b"not an image", values={})
    assert library.count_assets(project.id) == 0


def test_pages_order_favorites_and_search(library):
    project = library.create_project("P")
    assets = [_add(library, project, prompt=f"image {i} {'fox' if i % 3 == 0 else 'owl'}")
              for i in range(10)]
    newest = library.assets(project.id, limit=4)
    assert [a.id for a in newest] == [a.id for a in reversed(assets)][:4]
    oldest = library.assets(project.id, limit=2, order="oldest")
    assert [a.id for a in oldest] == [assets[0].id, assets[1].id]
    second = library.assets(project.id, limit=4, offset=4)
    assert [a.id for a in second] == [a.id for a in reversed(assets)][4:8]
    library.set_favorite(assets[2].id)
    assert [a.id for a in library.assets(project.id, favorites=True)] == [assets[2].id]
    assert library.assets(project.id, order="favorites")[0].id == assets[2].id
    foxes = library.assets(project.id, search="FOX")
    assert {a.id for a in foxes} == {assets[i].id for i in (0, 3, 6, 9)}
    assert library.count_assets(project.id, search="fo") == 4  # prefix search
    assert library.count_assets(project.id, search='"; DROP TABLE') == 0
    assert library.count_assets(project.id, search="  ") == 10


def test_fts_query_quotes_every_word():
    assert fts_query('red "fox" OR') == '"red"* "fox"* "OR"*'
    assert fts_query("!!!") is None


def test_trash_restore_and_empty(library):
    project = library.create_project("P")
    asset = _add(library, project)
    original = library.path_of(asset)
    trashed = library.trash(asset.id)
    assert trashed.trashedAt is not None and not original.exists()
    assert library.path_of(trashed).exists()
    assert library.count_assets(project.id) == 0
    assert library.count_assets(project.id, trashed=True) == 1
    restored = library.restore(asset.id)
    assert restored.trashedAt is None and original.exists()
    library.trash(asset.id)
    assert library.empty_trash() == 1
    with pytest.raises(NotFound):
        library.get_asset(asset.id)
    assert not list((library.root / ".trash").glob(f"{asset.id}*"))


def test_rename_moves_folder_and_paths(library):
    project = library.create_project("Old Name")
    asset = _add(library, project)
    mask_asset = library.add_image(project.id, png_bytes(), values={"kind": "inpaint",
                                   "parentId": asset.id}, mask=png_bytes(color=(255, 255, 255)))
    renamed = library.rename_project("old name", "New: Name?")
    assert renamed.name == "New: Name?" and renamed.folder == "New_ Name_"
    for a in (library.get_asset(asset.id), library.get_asset(mask_asset.id)):
        assert a.filePath.startswith("Projects/New_ Name_/")
        assert library.path_of(a).exists()
    assert library.mask_path_of(library.get_asset(mask_asset.id)).exists()
    assert not (library.root / "Projects" / "Old Name").exists()


def test_rename_interrupted_by_crash_is_finished_on_open(tmp_path):
    root = tmp_path / "root"
    lib = Library.open(root)
    project = lib.create_project("Before")
    asset = _add(lib, project)
    # simulate a crash right after the journal was written and the folder renamed
    import json

    (root / ".pending-rename.json").write_text(json.dumps(
        {"projectId": project.id, "name": "After", "old": "Before", "new": "After"}))
    (root / "Projects" / "Before").rename(root / "Projects" / "After")
    lib.close()
    lib = Library.open(root)
    moved = lib.get_asset(asset.id)
    assert moved.filePath.startswith("Projects/After/") and lib.path_of(moved).exists()
    assert lib.get_project(project.id).name == "After"
    assert not (root / ".pending-rename.json").exists()
    lib.close()


def test_lineage_chain(library):
    project = library.create_project("P")
    root_asset = _add(library, project, prompt="root")
    child = _add(library, project, prompt="child", parentId=root_asset.id, kind="img2img")
    grandchild = _add(library, project, prompt="grandchild", parentId=child.id, kind="inpaint")
    sibling = _add(library, project, prompt="sibling", parentId=root_asset.id, kind="img2img")
    lineage = library.lineage(grandchild.id)
    assert [a.id for a in lineage.ancestors] == [child.id, root_asset.id]
    down = library.lineage(root_asset.id).descendants
    assert [(a.id, d) for a, d in down] == [(child.id, 1), (grandchild.id, 2), (sibling.id, 1)]


def test_import_keeps_metadata_and_rejects_bad_files(library, tmp_path):
    project = library.create_project("P")
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "good.png").write_bytes(png_bytes(parameters=A1111_INFOTEXT))
    (src / "sub" / "photo.jpg").write_bytes(jpeg_bytes())
    (src / "empty.png").write_bytes(b"")
    (src / "text.png").write_bytes(b"hello, not an image")
    (src / "cut.png").write_bytes(png_bytes(noise=True)[:300])
    (src / "notes.txt").write_text("ignored: not an image suffix")
    report = library.import_paths(project.id, [src])
    assert len(report.imported) == 2
    rejected = dict(report.rejected)
    assert set(rejected) == {str(src / "empty.png"), str(src / "text.png"), str(src / "cut.png")}
    for path, reason in rejected.items():
        assert path.rsplit("/", 1)[-1] in reason  # the message names the file
    good = next(a for a in report.imported if a.fileType == "png")
    assert good.prompt == "a lighthouse in a storm, dramatic"
    assert good.negative == "blurry, low quality" and good.seed == 1234567
    assert good.steps == 28 and good.cfgScale == 6.5 and good.sampler == "DPM++ 2M"
    assert good.model == "v1-5-pruned-emaonly" and good.kind == "import"
    assert metadata.read_png_text(library.path_of(good).read_bytes())["parameters"] == \
        A1111_INFOTEXT
    again = library.import_paths(project.id, [src / "good.png"])
    assert again.imported == [] and again.duplicates == [str(src / "good.png")]


def test_export_with_and_without_metadata(library, tmp_path):
    project = library.create_project("P")
    asset = _add(library, project)
    kept = library.export(asset.id, tmp_path / "out")
    assert metadata.read_png_text(kept.read_bytes()).get("parameters")
    stripped = library.export(asset.id, tmp_path / "bare.png", strip_metadata=True)
    assert metadata.read_png_text(stripped.read_bytes()) == {}


def test_reconcile_reports_missing_and_orphans_and_repair_adopts(library):
    project = library.create_project("P")
    kept = _add(library, project)
    gone = _add(library, project)
    library.path_of(gone).unlink()
    stray = library.root / "Projects/P/Assets/Images/dropped-in.png"
    stray.write_bytes(png_bytes(parameters=A1111_INFOTEXT))
    (library.root / "Projects/P/Assets/Images/.x.png.123.part").write_bytes(b"partial")
    report = library.reconcile()
    assert report.missing == [gone.id]
    assert report.orphans == ["Projects/P/Assets/Images/dropped-in.png"]
    assert report.cleaned and not report.clean
    repaired = library.reconcile(repair=True)
    assert len(repaired.adopted) == 1 and repaired.orphans == []
    adopted = library.get_asset(repaired.adopted[0])
    assert adopted.prompt == "a lighthouse in a storm, dramatic"
    assert library.get_asset(gone.id).missingAt is not None
    assert library.get_asset(kept.id).missingAt is None


def test_own_file_without_row_is_adopted_on_reconcile(library):
    """The state a crash between file rename and row commit leaves behind."""
    project = library.create_project("P")
    asset = _add(library, project, prompt="survivor", seed=7, steps=12, cfgScale=5.0)
    with library.engine.begin() as con:
        con.exec_driver_sql('DELETE FROM "ArtAsset"')
    report = library.reconcile()
    assert report.adopted == [asset.id] and report.orphans == []
    back = library.get_asset(asset.id)
    assert back.prompt == "survivor" and back.seed == 7


def test_rebuild_from_files(tmp_path):
    root = tmp_path / "root"
    lib = Library.open(root)
    project = lib.create_project("Rebuilt Project", type="dev", description="d")
    parent = _add(lib, project, prompt="parent", seed=1)
    child = _add(lib, project, prompt="child", parentId=parent.id, kind="img2img")
    trashed = _add(lib, project, prompt="in the trash")
    lib.trash(trashed.id)
    lib.close()
    (root / "library.sqlite3").unlink()
    for suffix in ("-wal", "-shm"):
        (root / f"library.sqlite3{suffix}").unlink(missing_ok=True)
    lib, report = Library.rebuild(root)
    p = lib.get_project("Rebuilt Project")
    assert p.id == project.id and p.type == "dev" and p.description == "d"
    assert lib.get_asset(child.id).parentId == parent.id
    assert lib.get_asset(parent.id).prompt == "parent"
    assert lib.get_asset(trashed.id).trashedAt is not None
    assert sorted(report.adopted) == sorted([parent.id, child.id])
    lib.close()


def test_backups_rotate_and_restore(tmp_path):
    root = tmp_path / "root"
    lib = Library.open(root)
    lib.create_project("Keep me")
    first = lib.backup("manual")
    for _ in range(9):
        lib.backup("manual")
    assert len(lib.backups()) == 7
    lib.close()
    (root / "library.sqlite3").write_bytes(b"garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        (root / f"library.sqlite3{suffix}").unlink(missing_ok=True)
    with pytest.raises(StorageError):
        Library.open(root)
    Library.restore_backup(root, lib.backups()[-1].name)
    lib = Library.open(root)
    assert lib.get_project("Keep me")
    assert first.name  # a name usable with `dlx-art backups restore`
    lib.close()


def test_project_made_by_prisma_gets_a_folder(library):
    with library.engine.begin() as con:
        con.exec_driver_sql(
            'INSERT INTO "Project" (id, name, type, status, createdAt, updatedAt) VALUES '
            "('prisma-1', 'From Another Studio', 'unified', 'active', "
            "'2026-01-01T00:00:00.000+00:00', '2026-01-01T00:00:00.000+00:00')")
    project = library.get_project("from another studio")
    assert project.folder == "From Another Studio"
    asset = _add(library, project)
    assert library.path_of(asset).exists()


def test_restore_keeps_the_replaced_catalog_whole_with_its_wal(tmp_path):
    """Transactions still in the WAL (a process that died before a checkpoint) must be in the
    copy that restore_backup keeps aside."""
    import subprocess
    import sys
    import textwrap

    root = tmp_path / "root"
    with Library.open(root) as lib:
        lib.create_project("Before the backup")
        backup = lib.backup("manual")
    script = textwrap.dedent(f"""
        import os
        from dlx_art.library.service import Library
        lib = Library.open({str(root)!r})
        lib.create_project("Only in the WAL")
        os._exit(0)  # no close, no checkpoint
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60,
                   cwd=str(tmp_path), env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert (root / "library.sqlite3-wal").stat().st_size > 0
    Library.restore_backup(root, backup.name)
    aside = next((root / ".backups").glob("replaced-*.sqlite3"))
    con = sqlite3.connect(aside)
    try:
        names = {name for (name,) in con.execute('SELECT name FROM "Project"')}
    finally:
        con.close()
    assert names == {"Before the backup", "Only in the WAL"}
    with Library.open(root) as lib:
        assert [p.name for p in lib.list_projects()] == ["Before the backup"]


def test_search_prompt_by_default_and_field_filters(library):
    """Plain words search the prompt only; negative:, model:, seed: narrow by those fields."""
    project = library.create_project("Search")
    a = _add(library, project, prompt="a red fox", negative="lowres, blurry",
             model="dreamshaper_8", seed=11)
    b = _add(library, project, prompt="lowres pixel art owl", negative="blurry",
             model="sd15", seed=22)
    c = _add(library, project, prompt="an owl", negative="lowres", model="DreamShaperXL",
             seed=33)

    def found(text):
        return {x.id for x in library.assets(project.id, search=text)}

    assert found("lowres") == {b.id}  # the negative prompt is not searched by default
    assert library.count_assets(project.id, search="lowres") == 1
    assert found("negative:lowres") == {a.id, c.id}
    assert found("neg:blurry owl") == {b.id}
    assert found("model:dreamshaper") == {a.id, c.id}  # any part, any case
    assert found('model:"shaper_8"') == {a.id}
    assert found("model:dreamshaper seed:33") == {c.id}
    assert found("seed:22") == {b.id}
    assert found("seed:abc") == set()
    assert found("owl model:sd15") == {b.id}
    assert library.count_assets(project.id, search="model:dreamshaper") == 2
    assert found("model:") == {a.id, b.id, c.id}  # nothing to filter by yet: everything


def test_search_finds_cjk_and_parts_of_words(library):
    project = library.create_project("CJK")
    cat = _add(library, project, prompt="可爱的猫咪在窗台上睡觉")
    dog = _add(library, project, prompt="一只小狗在草地上奔跑, masterpiece")
    found = lambda text: {x.id for x in library.assets(project.id, search=text)}  # noqa: E731
    assert found("猫") == {cat.id}  # one character inside a word
    assert found("猫咪") == {cat.id}
    assert found("窗台上") == {cat.id}  # three or more characters: served by the trigram index
    assert found("在") == {cat.id, dog.id}
    assert found("aster") == {dog.id}
    assert found("猫 狗") == set()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=0, max_size=40))
def test_search_never_fails_on_any_text(library, text):
    """Whatever is typed (quotes, colons, %, _, FTS syntax), the search answers, never raises."""
    assert library.count_assets(None, search=text) >= 0
    library.assets(None, search=text, limit=5)


_WORDS = ["fox", "owl", "lowres", "猫咪", "窗台", "red", "Dream", "shaper", "a", "x_1"]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.lists(st.sampled_from(
    _WORDS + ["negative:lowres", "neg:owl", "model:dream", "model:sd", "seed:2", "seed:x",
              "fo", "猫", "ow", 'model:"shaper_"']), min_size=1, max_size=3))
def test_the_gallerys_local_match_agrees_with_the_catalog(library, query):
    """`search.matches` (used for new images) finds exactly what the catalog finds."""
    from dlx_art.library.search import matches

    project = next((p for p in library.list_projects() if p.name == "Agree"), None)
    if project is None:
        project = library.create_project("Agree")
        for i in range(12):
            words = [_WORDS[(i * 7 + k) % len(_WORDS)] for k in range(3)]
            cjk = "猫咪在窗台" if i % 4 == 0 else ""
            _add(library, project, prompt=" ".join(words[:2]) + cjk, negative=words[2],
                 model=["dreamshaper_8", "sd15", "DreamShaperXL"][i % 3], seed=i)
    text = " ".join(query)
    found = {a.id for a in library.assets(project.id, search=text, limit=100)}
    local = {a.id for a in library.assets(project.id, limit=100)
             if matches(text, prompt=a.prompt, negative=a.negative, model=a.model, seed=a.seed)}
    assert found == local, text


def test_the_search_index_uses_the_trigram_tokenizer(library):
    """Migration 0003 rebuilt the search table with trigram and kept its triggers."""
    con = sqlite3.connect(library.db_path)
    try:
        sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'ArtAssetSearch'").fetchone()
        triggers = {r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    finally:
        con.close()
    assert "trigram" in sql[0]
    assert {"ArtAsset_search_ai", "ArtAsset_search_ad", "ArtAsset_search_au"} <= triggers
    project = library.create_project("Trig")
    asset = _add(library, project, prompt="kept in step by the triggers")
    assert [a.id for a in library.assets(project.id, search="trigg")] == [asset.id]
