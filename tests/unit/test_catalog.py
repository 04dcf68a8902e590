"""The catalog file as the suite's other studios (Prisma) see it, and its migrations."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime

import pytest

from dlx_art.library import db
from dlx_art.library.models import format_datetime, parse_datetime

PRISMA_PROJECT = {
    "id": ("TEXT", 1, 1), "name": ("TEXT", 1, 0), "description": ("TEXT", 0, 0),
    "type": ("TEXT", 1, 0), "status": ("TEXT", 1, 0), "createdAt": ("DATETIME", 1, 0),
    "updatedAt": ("DATETIME", 1, 0),
}
PRISMA_ASSET = {
    "id": ("TEXT", 1, 1), "projectId": ("TEXT", 0, 0), "filePath": ("TEXT", 1, 0),
    "fileType": ("TEXT", 1, 0), "prompt": ("TEXT", 1, 0), "negative": ("TEXT", 0, 0),
    "model": ("TEXT", 1, 0), "seed": ("BIGINT", 0, 0), "steps": ("INTEGER", 0, 0),
    "cfgScale": ("REAL", 0, 0), "parentId": ("TEXT", 0, 0), "isFavorite": ("BOOLEAN", 1, 0),
    "createdAt": ("DATETIME", 1, 0),
}
STUDIO_ASSET_EXTRAS = {"kind", "width", "height", "sampler", "scheduler", "denoisingStrength",
                       "maskPath", "backend", "backendReason", "infotext", "fileSize",
                       "contentHash", "trashedAt", "approximate", "missingAt"}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


def _columns(con: sqlite3.Connection, table: str) -> dict[str, tuple]:
    return {r[1]: (r[2], r[3], r[5], r[4]) for r in con.execute(f'PRAGMA table_info("{table}")')}


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "library.sqlite3"
    engine = db.create_catalog_engine(path)
    db.migrate(engine, path)
    engine.dispose()
    con = sqlite3.connect(path)
    yield con
    con.close()


def test_prisma_columns_types_and_keys(catalog):
    for table, expected in (("Project", PRISMA_PROJECT), ("ArtAsset", PRISMA_ASSET)):
        columns = _columns(catalog, table)
        for name, (decl, notnull, pk) in expected.items():
            assert columns[name][:3] == (decl, notnull, pk), (table, name)
    fks = catalog.execute('PRAGMA foreign_key_list("ArtAsset")').fetchall()
    assert [(f[2], f[3], f[4], f[5], f[6]) for f in fks] == [
        ("Project", "projectId", "id", "CASCADE", "SET NULL")]


def test_extra_columns_are_nullable_or_defaulted(catalog):
    """An extra NOT NULL column without a default would make every Prisma insert fail."""
    for table, prisma in (("Project", PRISMA_PROJECT), ("ArtAsset", PRISMA_ASSET)):
        for name, (_decl, notnull, _pk, default) in _columns(catalog, table).items():
            if name not in prisma:
                assert not notnull or default is not None, (table, name)
    assert set(_columns(catalog, "ArtAsset")) >= STUDIO_ASSET_EXTRAS


def test_prisma_style_insert_works_and_is_searchable(catalog):
    """Rows written the way Prisma writes them (only its own columns) are valid and found."""
    catalog.execute('INSERT INTO "Project" (id, name, type, status, createdAt, updatedAt) '
                    "VALUES ('p1', 'Neon City', 'art', 'active', "
                    "'2026-11-26T05:46:00.631+00:00', '2026-11-26T05:46:00.631+00:00')")
    catalog.execute('INSERT INTO "ArtAsset" (id, projectId, filePath, fileType, prompt, model, '
                    "isFavorite, createdAt) VALUES ('a1', 'p1', 'Projects/Neon City/Assets/Images"
                    "/x.png', 'png', 'a neon street at night', 'sd15', 0, "
                    "'2026-11-26T05:46:00.631+00:00')")
    catalog.commit()
    hits = catalog.execute('SELECT assetId FROM "ArtAssetSearch" WHERE "ArtAssetSearch" '
                           "MATCH 'neon'").fetchall()
    assert hits == [("a1",)]
    assert catalog.execute('SELECT approximate FROM "ArtAsset"').fetchone() == (0,)


PAGE_QUERIES = {
    "newest": ('"projectId" = ? AND "trashedAt" IS NULL', '"createdAt" DESC, "id" DESC',
               "ArtAsset_gallery_idx"),
    "oldest": ('"projectId" = ? AND "trashedAt" IS NULL', '"createdAt", "id"',
               "ArtAsset_gallery_idx"),
    "favorites": ('"projectId" = ? AND "trashedAt" IS NULL AND "isFavorite" = 1',
                  '"createdAt" DESC, "id" DESC', "ArtAsset_favorites_idx"),
}


@pytest.mark.parametrize("name", list(PAGE_QUERIES))
def test_gallery_pages_read_an_index_in_order(catalog, name):
    """What `Library.assets` asks for: an index scan in order, no temporary B-tree."""
    where, order, index = PAGE_QUERIES[name]
    plan = " ".join(r[3] for r in catalog.execute(
        f'EXPLAIN QUERY PLAN SELECT * FROM "ArtAsset" WHERE {where} ORDER BY {order} LIMIT 200',
        ("p",)))
    assert index in plan and "TEMP B-TREE" not in plan, plan
    plan = " ".join(r[3] for r in catalog.execute(
        f'EXPLAIN QUERY PLAN SELECT count(*) FROM "ArtAsset" WHERE {where}', ("p",)))
    assert "COVERING INDEX" in plan, plan


def test_no_index_has_a_where_clause(catalog):
    """Prisma's schema engine reads a partial index's predicate back with a double-quoted
    string, which better-sqlite3's SQLite rejects: `prisma db pull` would fail on the catalog."""
    partial = [name for name, sql in catalog.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        if " WHERE " in sql.upper()]
    assert partial == []
    assert [r[0] for r in catalog.execute("PRAGMA index_list(\"ArtAsset\")") if r[4]] == []


def test_gallery_queries_use_indexes(catalog):
    plan = " ".join(r[3] for r in catalog.execute(
        'EXPLAIN QUERY PLAN SELECT * FROM "ArtAsset" WHERE "projectId" = ? AND "trashedAt" IS '
        'NULL ORDER BY "createdAt" DESC, "id" DESC LIMIT 200', ("p",)))
    assert "ArtAsset_gallery_idx" in plan and "TEMP B-TREE" not in plan
    plan = " ".join(r[3] for r in catalog.execute(
        'EXPLAIN QUERY PLAN SELECT * FROM "ArtAsset" WHERE "parentId" = ?', ("p",)))
    assert "ArtAsset_parentId_idx" in plan


def test_pragmas_on_every_connection(tmp_path):
    path = tmp_path / "library.sqlite3"
    engine = db.create_catalog_engine(path)
    db.migrate(engine, path)
    for _ in range(2):
        with engine.connect() as con:
            assert con.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert con.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert con.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.BUSY_TIMEOUT_MS
    engine.dispose()


def test_datetime_format_round_trip():
    value = datetime(2026, 11, 26, 5, 46, 0, 631999, tzinfo=UTC)
    text = format_datetime(value)
    assert text == "2026-11-26T05:46:00.631+00:00" and ISO_MS.match(text)
    assert parse_datetime(text) == value.replace(microsecond=631000)
    # formats other suite apps may have written
    assert parse_datetime("2026-11-26T05:46:00.631Z") == parse_datetime(text)
    assert parse_datetime("2026-11-26 05:46:00.631000") == parse_datetime(text)
    assert parse_datetime(1795671960631).year == 2026


def test_upgrade_from_first_migration_keeps_data(tmp_path):
    path = tmp_path / "library.sqlite3"
    engine = db.create_catalog_engine(path)
    db.upgrade_to(engine, "0001")
    engine.dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys=ON")
    con.execute('INSERT INTO "Project" VALUES (\'p1\', \'Old\', NULL, \'art\', \'active\', '
                "'2025-01-02T03:04:05.678+00:00', '2025-01-02T03:04:05.678+00:00')")
    rows = [(f"a{i}", "p1", f"Projects/Old/Assets/Images/{i}.png", "png", f"prompt {i} fox",
             None, "m", 2**40 + i, 20, 7.5, None, i % 2, "2025-01-02T03:04:05.678+00:00")
            for i in range(50)]
    con.executemany('INSERT INTO "ArtAsset" VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)', rows)
    con.commit()
    con.close()
    assert db.stored_revision(path) == "0001"

    engine = db.create_catalog_engine(path)
    db.migrate(engine, path)
    engine.dispose()
    assert db.stored_revision(path) == db.HEAD_REVISION
    con = sqlite3.connect(path)
    after = con.execute('SELECT id, projectId, filePath, fileType, prompt, negative, model, seed, '
                        'steps, cfgScale, parentId, isFavorite, createdAt FROM "ArtAsset" '
                        "ORDER BY rowid").fetchall()
    assert after == rows
    assert con.execute('SELECT count(*) FROM "ArtAssetSearch" WHERE "ArtAssetSearch" MATCH '
                       "'fox'").fetchone() == (50,)
    con.close()


def test_prisma_made_catalog_is_adopted(tmp_path):
    """A file another studio created with Prisma (no alembic table) is upgraded in place."""
    path = tmp_path / "library.sqlite3"
    engine = db.create_catalog_engine(path)
    db.upgrade_to(engine, "0001")
    engine.dispose()
    con = sqlite3.connect(path)
    con.execute("DROP TABLE alembic_version")
    con.commit()
    con.close()
    assert db.stored_revision(path) == "prisma"
    engine = db.create_catalog_engine(path)
    db.migrate(engine, path)
    engine.dispose()
    assert db.stored_revision(path) == db.HEAD_REVISION


def test_head_revision_constant_matches_alembic():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == db.HEAD_REVISION


def test_damaged_catalog_gives_clear_message(tmp_path):
    from dlx_art.errors import StorageError

    path = tmp_path / "library.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="damaged"):
        db.stored_revision(path)
