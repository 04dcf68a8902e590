"""The change log and `ChangeWatcher`: every writer's rows reported, the log bounded."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlx_art.library.changes import ChangeWatcher
from dlx_art.library.jobs import JobQueue
from dlx_art.library.service import Library
from tests.support.images import png_bytes


@pytest.fixture
def library(tmp_path):
    lib = Library.open(tmp_path / "root")
    yield lib
    lib.close()


def test_rows_written_by_anyone_are_reported_once(library):
    project = library.create_project("P")
    watcher = library.changes()
    assert not watcher.poll()
    asset = library.add_image(project.id, png_bytes(), values={"prompt": "x"})
    changes = watcher.poll()
    assert changes.new_assets == [asset.id] and not changes.changed_assets
    assert not watcher.poll()

    # a row written the way Prisma writes it (plain SQL, another connection) is seen too
    con = sqlite3.connect(library.db_path)
    con.execute('INSERT INTO "ArtAsset" ("id", "projectId", "filePath", "fileType", "prompt", '
                '"model", "isFavorite", "createdAt") VALUES (\'prisma-1\', ?, \'x.png\', '
                "'png', '', '', 0, '2026-01-01T00:00:00.000+00:00')", (project.id,))
    con.execute('UPDATE "ArtAsset" SET "isFavorite" = 1 WHERE "id" = ?', (asset.id,))
    con.commit()
    changes = watcher.poll()
    assert changes.new_assets == ["prisma-1"] and changes.changed_assets == [asset.id]
    con.execute('DELETE FROM "ArtAsset" WHERE "id" = \'prisma-1\'')
    con.commit()
    con.close()
    assert watcher.poll().deleted_assets == ["prisma-1"]

    library.rename_project("P", "Q")
    assert watcher.poll().projects == [project.id]
    queue = JobQueue(library.db_path)
    job = queue.enqueue("txt2img", {}, project_id=project.id, origin="window")
    assert watcher.poll().jobs == [job.id]
    queue.close()
    watcher.close()


def test_a_watcher_that_fell_behind_the_log_is_told_to_reload(library):
    project = library.create_project("P")
    watcher = library.changes()
    watcher.poll()
    con = sqlite3.connect(library.db_path)
    con.executemany('UPDATE "Project" SET "description" = ? WHERE "id" = ?',
                    [(str(i), project.id) for i in range(12_000)])
    con.commit()
    kept = con.execute('SELECT count(*) FROM "StudioChange"').fetchone()[0]
    con.close()
    assert kept <= 11_000  # the log stays bounded
    changes = watcher.poll()
    assert changes.reset and changes.projects == [project.id]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(st.tuples(st.sampled_from(["insert", "update", "delete"]),
                              st.integers(0, 4)), max_size=30),
       polls=st.lists(st.booleans(), max_size=30))
def test_the_watcher_agrees_with_the_table(library, ops, polls):
    """Whatever rows come and go between polls, the reported ids rebuild the table's ids."""
    con = sqlite3.connect(library.db_path)
    con.execute('DELETE FROM "ArtAsset"')
    con.commit()
    watcher = ChangeWatcher(library.db_path)
    watcher.poll()
    known: set[str] = set()

    def apply(changes):
        assert not set(changes.new_assets) & known
        known.update(changes.new_assets)
        assert set(changes.changed_assets) <= known
        known.difference_update(changes.deleted_assets)

    for (op, n), poll in zip(ops, polls + [False] * len(ops), strict=False):
        row = f"r{n}"
        if op == "insert":
            con.execute('INSERT OR IGNORE INTO "ArtAsset" ("id", "filePath", "fileType", '
                        '"prompt", "model", "isFavorite", "createdAt") VALUES (?, ?, \'png\', '
                        "'', '', 0, '2026-01-01T00:00:00.000+00:00')", (row, row))
        elif op == "update":
            con.execute('UPDATE "ArtAsset" SET "isFavorite" = 1 - "isFavorite" WHERE "id" = ?',
                        (row,))
        else:
            con.execute('DELETE FROM "ArtAsset" WHERE "id" = ?', (row,))
        con.commit()
        if poll:
            apply(watcher.poll())
    apply(watcher.poll())
    assert known == {r[0] for r in con.execute('SELECT "id" FROM "ArtAsset"')}
    con.close()
    watcher.close()
