"""One schema source: the migrations build exactly what the SQLModel classes declare.

Generic over every table in `SQLModel.metadata`, so a table added later (a model and a
migration) is covered without changing this file: a migration that forgets a column, a default,
a foreign key or an index, or a model that does not declare what a migration made, fails here.
"""

from __future__ import annotations

import re
import sqlite3
import typing
from dataclasses import fields
from datetime import datetime

import pytest
from sqlalchemy import ForeignKeyConstraint, Table
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.sql.elements import ColumnClause, TextClause, UnaryExpression
from sqlalchemy.sql.operators import desc_op

from dlx_art.library import db, records, staging
from dlx_art.library.models import ArtAsset, Project, SQLModel

# Tables the catalog holds that are not rows of the model: Alembic's revision, and prompt
# search (an FTS5 virtual table, kept in step by triggers; SQLite makes its shadow tables).
NOT_MODELLED = {"alembic_version"}
_DIALECT = sqlite_dialect.dialect()


def _default(column) -> str | None:
    if column.server_default is None:
        return None
    arg = column.server_default.arg
    assert isinstance(arg, TextClause), f"{column}: declare a SQL default as text(...)"
    return arg.text


def _index_column(expression) -> tuple[str, bool]:
    if isinstance(expression, UnaryExpression) and expression.modifier is desc_op:
        return expression.element.name, True
    assert isinstance(expression, ColumnClause), expression
    return expression.name, False


def _declared(table: Table) -> dict[str, object]:
    pk = list(table.primary_key.columns)
    columns = [
        (c.name, c.type.compile(dialect=_DIALECT), int(not c.nullable), _default(c),
         pk.index(c) + 1 if c in pk else 0)
        for c in table.columns
    ]
    fks = sorted(
        (tuple(fk.column_keys), fk.referred_table.name,
         tuple(e.column.name for e in fk.elements),
         (fk.ondelete or "NO ACTION").upper(), (fk.onupdate or "NO ACTION").upper())
        for fk in table.constraints if isinstance(fk, ForeignKeyConstraint)
    )
    indexes = {}
    for index in table.indexes:
        where = index.dialect_options["sqlite"]["where"]
        indexes[index.name] = (int(index.unique),
                               tuple(_index_column(e) for e in index.expressions),
                               None if where is None else str(where))
    return {"columns": columns, "foreign keys": fks, "indexes": indexes}


def _migrated(con: sqlite3.Connection, table: str) -> dict[str, object]:
    columns = [(name, decl, notnull, default, pk)
               for _cid, name, decl, notnull, default, pk
               in con.execute(f'PRAGMA table_info("{table}")')]
    by_id: dict[int, list[tuple]] = {}
    for row in con.execute(f'PRAGMA foreign_key_list("{table}")'):
        by_id.setdefault(row[0], []).append(row)
    fks = sorted(
        (tuple(r[3] for r in rows), rows[0][2], tuple(r[4] for r in rows), rows[0][6], rows[0][5])
        for rows in by_id.values()
    )
    indexes = {}
    for _seq, name, unique, origin, _partial in con.execute(f'PRAGMA index_list("{table}")'):
        if origin == "pk":
            continue
        keys = tuple((r[2], bool(r[3])) for r in con.execute(f'PRAGMA index_xinfo("{name}")')
                     if r[5])
        (sql,) = con.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        where = re.search(r"\bWHERE\b\s*(.*?)\s*$", sql or "", re.S | re.I)
        indexes[name] = (unique, keys, where.group(1) if where else None)
    return {"columns": columns, "foreign keys": fks, "indexes": indexes}


def _modelled_tables(con: sqlite3.Connection) -> set[str]:
    rows = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    virtual = [name for name, sql in rows if sql and sql.upper().startswith("CREATE VIRTUAL")]
    return {
        name for name, _sql in rows
        if name not in NOT_MODELLED and not name.startswith("sqlite_")
        and not any(name == v or name.startswith(v + "_") for v in virtual)
    }


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "library.sqlite3"
    engine = db.create_catalog_engine(path)
    db.migrate(engine, path)
    engine.dispose()
    con = sqlite3.connect(path)
    yield con
    con.close()


def test_the_migrations_make_exactly_the_tables_the_models_declare(migrated) -> None:
    assert _modelled_tables(migrated) == set(SQLModel.metadata.tables)


@pytest.mark.parametrize("name", sorted(SQLModel.metadata.tables))
def test_each_table_is_migrated_exactly_as_declared(migrated, name) -> None:
    table = SQLModel.metadata.tables[name]
    declared, actual = _declared(table), _migrated(migrated, name)
    for part in ("columns", "foreign keys", "indexes"):
        assert actual[part] == declared[part], f"{name}: {part} differ"


def test_the_comparison_sees_what_matters() -> None:
    """The catalog's key facts are in the models, so the comparison above cannot be empty."""
    asset = _declared(ArtAsset.__table__)
    assert asset["foreign keys"] == [(("projectId",), "Project", ("id",), "SET NULL",
                                      "CASCADE")]
    assert asset["indexes"]["ArtAsset_gallery_idx"] == (
        0, (("projectId", False), ("trashedAt", False), ("createdAt", True), ("id", True)), None)
    types = {c[0]: c[1] for c in asset["columns"]}
    assert {types["seed"], types["steps"], types["cfgScale"], types["isFavorite"],
            types["createdAt"], types["prompt"]} == {
        "BIGINT", "INTEGER", "REAL", "BOOLEAN", "DATETIME", "TEXT"}
    assert _declared(Project.__table__)["indexes"]["Project_nameKey_key"][0] == 1


def _plain(annotation: object) -> set[object]:
    args = typing.get_args(annotation)
    return set(args) if args else {annotation}


@pytest.mark.parametrize(("record", "model", "hidden"), [
    (records.AssetInfo, ArtAsset, set()),
    (records.ProjectInfo, Project, {"nameKey"}),  # the lookup key is not part of the record
])
def test_the_records_carry_the_models_columns_with_their_types(record, model, hidden) -> None:
    table = model.__table__
    hints = typing.get_type_hints(record)
    model_hints = typing.get_type_hints(model)
    assert [f.name for f in fields(record)] == [c.name for c in table.columns
                                                 if c.name not in hidden]
    for column in table.columns:
        if column.name in hidden:
            continue
        assert _plain(hints[column.name]) == _plain(model_hints[column.name]), column.name
        assert (type(None) in _plain(hints[column.name])) == column.nullable, column.name
    assert datetime in _plain(hints["createdAt"])


def test_staging_fields_are_the_asset_columns_a_caller_may_set() -> None:
    assert {c.name for c in ArtAsset.__table__.columns} > staging.ASSET_FIELDS
    assert "prompt" in staging.ASSET_FIELDS and "filePath" not in staging.ASSET_FIELDS
