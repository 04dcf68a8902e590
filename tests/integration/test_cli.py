"""The `dlx-art` command line: the contract scripts and the suite's other studios rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dlx_art.cli import main
from tests.support.images import A1111_INFOTEXT, png_bytes

pytestmark = pytest.mark.integration


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_projects_lifecycle(capsys, isolated_home):
    created = run_json(capsys, "projects", "create", "Neon City", "--type", "unified",
                       "--description", "night")
    assert created["name"] == "Neon City" and created["type"] == "unified"
    assert created["createdAt"].endswith("+00:00")
    assert (isolated_home / "Projects" / "Neon City" / "Assets" / "Images").is_dir()
    code, _, err = run(capsys, "projects", "create", "neon city")
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    run_json(capsys, "projects", "rename", "Neon City", "Neon Town")
    run_json(capsys, "projects", "archive", "Neon Town")
    assert run_json(capsys, "projects", "list") == []
    listed = run_json(capsys, "projects", "list", "--all")
    assert [(p["name"], p["status"], p["assetCount"]) for p in listed] == [
        ("Neon Town", "archived", 0)]
    run_json(capsys, "projects", "unarchive", "neon town")
    code, out, _ = run(capsys, "projects", "list")
    assert code == 0 and "Neon Town" in out


def test_import_list_show_favorite_trash_export(capsys, tmp_path):
    run_json(capsys, "projects", "create", "P")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(png_bytes(parameters=A1111_INFOTEXT))
    (src / "b.png").write_bytes(png_bytes(color=(1, 2, 3)))
    (src / "zero.png").write_bytes(b"")
    (src / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    code, out, err = run(capsys, "import", "--project", "P", str(src), "--json")
    assert code == 0
    report = json.loads(out)
    assert len(report["imported"]) == 2 and len(report["rejected"]) == 2
    assert "zero.png" in err and "bomb.png" in err
    assets = run_json(capsys, "assets", "list", "--project", "P")
    assert len(assets) == 2 and {"filePath", "cfgScale", "isFavorite"} <= set(assets[0])
    found = run_json(capsys, "assets", "list", "--project", "P", "--search", "lighthouse")
    assert len(found) == 1 and found[0]["seed"] == 1234567
    asset_id = found[0]["id"]
    shown = run_json(capsys, "assets", "show", asset_id)
    assert shown["prompt"] == "a lighthouse in a storm, dramatic"
    assert run_json(capsys, "assets", "favorite", asset_id)["isFavorite"] is True
    assert [a["id"] for a in run_json(capsys, "assets", "list", "--project", "P",
                                      "--favorites")] == [asset_id]
    assert run_json(capsys, "assets", "favorite", asset_id, "--off")["isFavorite"] is False
    exported = run_json(capsys, "export", asset_id, str(tmp_path / "out.png"))
    assert (tmp_path / "out.png").read_bytes().count(b"parameters") == 1
    assert exported["path"].endswith("out.png")
    run_json(capsys, "export", asset_id, str(tmp_path / "bare.png"), "--strip-metadata")
    assert b"parameters" not in (tmp_path / "bare.png").read_bytes()
    run_json(capsys, "assets", "trash", asset_id)
    assert len(run_json(capsys, "assets", "list", "--project", "P")) == 1
    run_json(capsys, "assets", "restore", asset_id)
    assert len(run_json(capsys, "assets", "list", "--project", "P", "--limit", "1")) == 1


def test_import_of_only_bad_files_fails(capsys, tmp_path):
    run_json(capsys, "projects", "create", "P")
    (tmp_path / "x.png").write_bytes(b"junk")
    code, _, err = run(capsys, "import", "--project", "P", str(tmp_path / "x.png"),
                       str(tmp_path / "missing.png"))
    assert code == 1 and "x.png" in err and "missing.png" in err


def test_errors_are_one_line_with_exit_codes(capsys):
    code, _, err = run(capsys, "assets", "show", "nope")
    assert code == 1 and err.count("\n") == 1 and err.startswith("dlx-art: ")
    with pytest.raises(SystemExit) as exit_info:
        main(["assets", "list"])  # --project missing
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_doctor_and_repair(capsys, isolated_home):
    run_json(capsys, "projects", "create", "P")
    stray = isolated_home / "Projects" / "P" / "Assets" / "Images" / "stray.png"
    stray.write_bytes(png_bytes(parameters=A1111_INFOTEXT))
    code, out, _ = run(capsys, "doctor", "--json")
    assert code == 1 and json.loads(out)["orphans"] == ["Projects/P/Assets/Images/stray.png"]
    report = run_json(capsys, "doctor", "--repair")
    assert len(report["adopted"]) == 1
    code, out, _ = run(capsys, "doctor")
    assert code == 0 and "checked" in out


def test_rebuild_and_backups(capsys, isolated_home, tmp_path):
    run_json(capsys, "projects", "create", "P")
    (tmp_path / "a.png").write_bytes(png_bytes(parameters=A1111_INFOTEXT))
    run_json(capsys, "import", "--project", "P", str(tmp_path / "a.png"))
    backup = run_json(capsys, "backups", "create")
    assert backup["path"].endswith(".sqlite3")
    for suffix in ("", "-wal", "-shm"):
        (isolated_home / f"library.sqlite3{suffix}").unlink(missing_ok=True)
    rebuilt = run_json(capsys, "rebuild")
    assert len(rebuilt["adopted"]) == 1
    assert run_json(capsys, "projects", "list")[0]["name"] == "P"
    names = [b["name"] for b in run_json(capsys, "backups", "list")]
    assert names
    restored = run_json(capsys, "backups", "restore", names[0])
    assert restored["restored"].endswith("library.sqlite3")


def test_home_option_isolates_everything(capsys, tmp_path):
    home = tmp_path / "elsewhere"
    run_json(capsys, "--home", str(home), "projects", "create", "Iso")
    assert (home / "library.sqlite3").exists() and (home / "Projects" / "Iso").is_dir()


def test_real_process_exit_codes(tmp_path):
    env = dict(os.environ, DLX_ART_HOME=str(tmp_path / "home"))
    usage = subprocess.run([sys.executable, "-m", "dlx_art", "projects", "frobnicate"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1
    ok = subprocess.run([sys.executable, "-m", "dlx_art", "projects", "list", "--json"],
                        capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0 and json.loads(ok.stdout) == []
