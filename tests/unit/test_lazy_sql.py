"""SQLAlchemy (about a second to import) stays out of start-up: only the first write loads it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from dlx_art.library.service import Library


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
