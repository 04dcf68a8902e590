"""Prisma, as the suite's other studios use it, reads the studio's catalog.

`prisma db pull` runs Prisma's schema engine (its JavaScript build, through the better-sqlite3
driver adapter, so nothing is downloaded) against a catalog the studio made and filled. The Node
project is `tests/prisma/`; `.ci/run` installs it (`npm ci`) and sets `DLX_ART_PRISMA_DIR`, so CI
always runs this test. Without that variable (no Node.js at hand) it is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dlx_art.library.service import Library
from tests.support.images import png_bytes

pytestmark = pytest.mark.integration

PRISMA_DIR = os.environ.get("DLX_ART_PRISMA_DIR")


@pytest.fixture
def prisma(tmp_path: Path) -> Path:
    if not PRISMA_DIR:
        pytest.skip("set DLX_ART_PRISMA_DIR to an installed tests/prisma (`npm ci` there)")
    source = Path(PRISMA_DIR)
    assert (source / "node_modules" / ".bin" / "prisma").exists(), "run `npm ci` in tests/prisma"
    work = tmp_path / "prisma"
    work.mkdir()
    for name in ("package.json", "prisma.config.ts", "schema.prisma"):
        shutil.copy(source / name, work / name)
    (work / "node_modules").symlink_to(source / "node_modules")
    return work


def _pull(work: Path, catalog: Path) -> subprocess.CompletedProcess[str]:
    dummy = work / "no-engine"  # the JS schema engine is used: no binary engine is needed
    dummy.write_bytes(b"")
    env = dict(os.environ, DLX_ART_PRISMA_DB=str(catalog), CHECKPOINT_DISABLE="1",
               PRISMA_HIDE_UPDATE_MESSAGE="1", PRISMA_QUERY_ENGINE_LIBRARY=str(dummy),
               PRISMA_SCHEMA_ENGINE_BINARY=str(dummy))
    return subprocess.run([str(work / "node_modules" / ".bin" / "prisma"), "db", "pull",
                           "--print"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300)


def test_prisma_db_pull_reads_the_catalog(prisma, tmp_path):
    with Library.open(tmp_path / "lib") as library:
        project = library.create_project("Neon City")
        parent = library.add_image(project.id, png_bytes(), values={"prompt": "a neon street"})
        library.add_image(project.id, png_bytes(seed=2), values={"prompt": "refined",
                                                                  "parentId": parent.id})
        library.set_favorite(parent.id)
        library.trash(parent.id)
        catalog = Path(library.db_path)
    done = _pull(prisma, catalog)
    assert done.returncode == 0, done.stdout + done.stderr
    schema = done.stdout
    for model in ("model Project {", "model ArtAsset {"):
        assert model in schema, schema
    # the gallery indexes are described in full (a partial one used to break the describer)
    assert "@@index([projectId, trashedAt, createdAt(sort: Desc), id(sort: Desc)]" in schema, \
        schema
    assert "@@index([projectId, isFavorite, trashedAt, createdAt(sort: Desc)" in schema, schema
    assert "seed              BigInt?" in schema or "seed BigInt?" in " ".join(schema.split())
