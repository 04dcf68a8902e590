"""The packaged app: build it from build.spec and run the binary, as a person would get it.

Slow (a PyInstaller build, 1-2 minutes), so it only runs when asked:

    DLX_ART_TEST_BUILD=1 pytest tests/integration/test_build.py

The bundle goes to a temporary folder (dist/ is left alone); PyInstaller's work folder is the
repository's build/, so a second run reuses its analysis.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.images import png_bytes

ROOT = Path(__file__).resolve().parents[2]
APP = "dlx-art"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(os.environ.get("DLX_ART_TEST_BUILD") != "1",
                       reason="builds the app (1-2 min): set DLX_ART_TEST_BUILD=1"),
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """The one-folder app built from build.spec (dist/dlx-art/ equivalent)."""
    pytest.importorskip("PyInstaller")
    dist = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(dist), "--workpath", str(ROOT / "build"), str(ROOT / "build.spec")],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return dist / APP


@pytest.fixture(scope="module")
def binary(bundle) -> Path:
    name = f"{APP}-cli.exe" if sys.platform == "win32" else APP
    path = bundle / name
    assert path.is_file()
    return path


def run(binary: Path, *args: str, env: dict[str, str] | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})}
    full_env.pop("DLX_ART_HOME", None)  # every call names its --home
    return subprocess.run([str(binary), *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, check=False)


def test_smoke_run_of_the_built_app_exits_0(binary, tmp_path):
    home = tmp_path / "home"
    result = run(binary, "--smoke", "--home", str(home))

    log = "".join(p.read_text(encoding="utf-8") for p in (home / "logs").glob("*.log"))
    assert result.returncode == 0, result.stdout + result.stderr + log
    assert (home / "library.sqlite3").is_file()  # the real library was opened and migrated
    assert "CRITICAL" not in log


def test_cli_runs_the_bundled_migrations_on_a_fresh_library(binary, tmp_path):
    created = run(binary, "--home", str(tmp_path), "projects", "create", "Frozen")
    assert created.returncode == 0, created.stderr
    listed = run(binary, "--home", str(tmp_path), "--json", "projects", "list")
    assert listed.returncode == 0, listed.stderr
    assert [p["name"] for p in json.loads(listed.stdout)] == ["Frozen"]


def test_import_and_export_use_the_bundled_pillow(binary, tmp_path):
    home = tmp_path / "home"
    source = tmp_path / "in.png"
    source.write_bytes(png_bytes(64, 48))
    assert run(binary, "--home", str(home), "projects", "create", "P").returncode == 0
    imported = run(binary, "--home", str(home), "import", "--project", "P", str(source))
    assert imported.returncode == 0, imported.stderr
    assets = json.loads(run(binary, "--home", str(home), "--json", "assets", "list",
                            "--project", "P").stdout)
    assert [(a["width"], a["height"]) for a in assets] == [(64, 48)]
    exported = run(binary, "--home", str(home), "export", assets[0]["id"],
                   str(tmp_path / "out.png"))
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_generate_against_a1111_uses_the_bundled_http_stack(binary, tmp_path, fake_a1111):
    home = tmp_path / "home"
    assert run(binary, "--home", str(home), "projects", "create", "Gen").returncode == 0
    result = run(binary, "--home", str(home), "--json", "generate", "--project", "Gen",
                 "--prompt", "a lighthouse", "--steps", "2", "--width", "64", "--height", "64",
                 "--backend", "a1111", env={"DLX_ART_A1111_URL": fake_a1111.url})
    assert result.returncode == 0, result.stdout + result.stderr
    listed = json.loads(run(binary, "--home", str(home), "--json", "assets", "list",
                            "--project", "Gen").stdout)
    assert len(listed) == 1 and listed[0]["prompt"] == "a lighthouse"


def test_version_matches_the_source(binary):
    from dlx_art import __version__

    result = run(binary, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"dlx-art {__version__}"


def test_bundle_layout(bundle):
    internal = bundle / "_internal"
    assert (internal / "resources" / "icons" / "dlx-art-256.png").is_file()
    assert (internal / "resources" / "dlx-art.desktop").is_file()
    migrations = internal / "dlx_art" / "library" / "migrations"
    assert (migrations / "env.py").is_file() and (migrations / "script.py.mako").is_file()
    assert sorted(p.name for p in (migrations / "versions").glob("0*.py"))[:1] == [
        "0001_prisma_schema.py"]
    # only the Qt the app uses, and no test tooling
    present = {p.name.split(".")[0] for p in (internal / "PySide6").glob("Qt*")}
    assert {"QtCore", "QtGui", "QtWidgets"} <= present
    assert not present & {"QtQml", "QtQuick", "QtNetwork", "QtTest", "QtWebEngineCore",
                          "QtMultimedia", "QtPdf", "QtCharts", "QtSql"}
    assert not (internal / "PySide6" / "Qt" / "translations").exists()
    for tooling in ("pytest", "_pytest", "hypothesis", "tkinter", "hf_xet"):
        assert not (internal / tooling).exists(), tooling
