"""`/static/projects/...` path resolution: whatever the path, only files in `Projects/*/Assets`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlx_art.errors import NotFound
from dlx_art.service import static


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    base = tmp_path_factory.mktemp("static")
    root = base / "root"
    images = root / "Projects" / "Gen" / "Assets" / "Images"
    images.mkdir(parents=True)
    (images / "a.png").write_bytes(b"\x89PNG a")
    (root / "Projects" / "Gen" / "project.json").write_text("{}")
    (root / "library.sqlite3").write_bytes(b"SQLite format 3\x00")
    (base / "outside.png").write_bytes(b"outside")
    if os.name == "posix":
        (images / "out.png").symlink_to(base / "outside.png")
        (images / "db.png").symlink_to(root / "library.sqlite3")
        (images / "in.png").symlink_to(images / "a.png")  # stays inside: allowed
        (root / "Projects" / "Away").symlink_to(base)
    return root


def _allowed(root: Path, target: Path) -> bool:
    projects = Path(os.path.realpath(root / "Projects"))
    rel = target.relative_to(projects)
    return len(rel.parts) >= 3 and rel.parts[1] == "Assets" and target.is_file()


SEGMENTS = st.sampled_from(["..", ".", "", "Gen", "Assets", "Images", "a.png", "out.png",
                            "db.png", "in.png", "Away", "root", "library.sqlite3", "project.json",
                            "outside.png", "%2e%2e", "..\\..", "C:", "/", "\x00", "~"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(SEGMENTS, min_size=0, max_size=8))
def test_any_path_resolves_inside_an_assets_folder_or_not_at_all(root, parts):
    try:
        target, _info = static.resolve(root, "/".join(parts))
    except NotFound:
        return
    assert _allowed(root, target), parts
    assert target.read_bytes() == b"\x89PNG a"  # the only servable file here


def test_known_paths(root):
    assert static.resolve(root, "Gen/Assets/Images/a.png")[0].name == "a.png"
    for bad in ("Gen/Assets/Images/out.png", "Gen/Assets/Images/db.png", "../library.sqlite3",
                "Away/root/Projects/Gen/Assets/Images/a.png", "Gen/project.json",
                "/etc/passwd", "Gen/Assets/../../library.sqlite3"):
        with pytest.raises(NotFound):
            static.resolve(root, bad)


def test_asset_urls():
    assert static.asset_url("Projects/My Art/Assets/Images/a b.png") == \
        "/static/projects/My%20Art/Assets/Images/a%20b.png"
    assert static.asset_url("elsewhere/a.png") is None
