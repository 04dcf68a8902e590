"""SQLAlchemy (about a second to import) stays out of start-up: only the first write loads it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from dlx_art.library import storage
from dlx_art.library.service import Library
from tests.support.images import png_bytes


def test_start_up_and_reads_do_not_import_sqlalchemy_and_the_first_write_does(tmp_path):
    with Library.open(tmp_path / "root") as library:  # created and migrated here
        library.create_project("Existing")
    script = textwrap.dedent(f"""
        import sys
        import dlx_art.app
        from dlx_art.library import sql
        from dlx_art.library.service import Library

        assert "sqlalchemy" not in sys.modules, "imported at start-up"
        library = Library.open({str(tmp_path / "root")!r})
        projects = library.list_projects()
        assert [p.name for p in projects] == ["Existing"]
        project = library.get_project("Existing")
        assert library.assets(project.id) == []
        assert library.count_assets(project.id) == 0
        assert "sqlalchemy" not in sys.modules, "imported by a read"
        library.create_project("New")
        assert "sqlalchemy" in sys.modules
        assert sql.tables() is sql.tables()  # loaded once
        assert sql.tables().asset.name == "ArtAsset" and sql.tables().project.name == "Project"
        library.close()
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("images", [0, 3])
def test_start_up_checks_on_a_clean_library_do_not_import_sqlalchemy(tmp_path, images):
    """The window's start-up checks (reconcile, then a due backup) only read a clean library.

    SQLAlchemy costs the window about 45 MB: it must load only when reconcile has something
    to write, as it does here afterwards for a row flagged missing whose file is back.
    """
    root = tmp_path / "root"
    with Library.open(root) as library:
        project = library.create_project("Existing")
        ids = [library.add_image(project.id, png_bytes(color=(i, 2, 3))).id
               for i in range(images)]
    shutil.rmtree(root / storage.BACKUPS_DIR, ignore_errors=True)  # so a backup is due
    script = textwrap.dedent(f"""
        import sqlite3
        import sys
        from dlx_art.library.service import Library

        library = Library.open({str(root)!r})
        report = library.reconcile()
        assert report.clean and not report.adopted and not report.search_repaired, \\
            report.summary()
        assert report.checked_rows == {images} and report.integrity == "ok"
        made = library.backup_if_due()
        assert made is not None and made.is_file(), "the backup was due"
        assert library.backup_if_due() is None, "not due again"
        assert "sqlalchemy" not in sys.modules, "imported by the start-up checks"
        for asset_id in {ids!r}:
            with sqlite3.connect({str(root / storage.DB_NAME)!r}) as con:
                con.execute('UPDATE "ArtAsset" SET "missingAt" = ? WHERE "id" = ?',
                            ("2026-01-01T00:00:00.000Z", asset_id))
            library.reconcile()
            assert library.get_asset(asset_id).missingAt is None, "its file is there"
            assert "sqlalchemy" in sys.modules, "the write loads it"
        library.close()
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
