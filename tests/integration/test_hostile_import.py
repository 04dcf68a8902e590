"""`dlx-art import`, `doctor` and `rebuild` as real processes on hostile files: a megabyte-long
parameter line, a zTXt bomb, FIFOs and devices. Each finishes (subprocess timeouts guard the
suite), refuses what is not a regular file, and keeps only capped text in the catalog."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from dlx_art.library.metadata import MAX_KEPT_TEXT
from tests.support.images import png_bytes

pytestmark = pytest.mark.integration

TIMEOUT = 180  # generous: each command takes a few seconds even on a loaded machine


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def with_chunks(seed: int, *chunks: bytes) -> bytes:
    data = png_bytes(16, 16, noise=True, seed=seed)
    return data[:33] + b"".join(chunks) + data[33:]


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DLX_ART_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "dlx_art", *args], capture_output=True,
                          text=True, env=env, timeout=TIMEOUT)


def assets(home: Path) -> list[dict]:
    listed = cli(home, "assets", "list", "--project", "P", "--json")
    assert listed.returncode == 0, listed.stderr
    return [json.loads(cli(home, "assets", "show", a["id"], "--json").stdout)
            for a in json.loads(listed.stdout)]


def test_huge_and_bombed_text_chunks_import_doctor_and_rebuild_fine(tmp_path):
    home = tmp_path / "home"
    long_line = ("a " * 500_000).encode()  # one megabyte, no colon: A1111's regex never ends
    params = (b"a fox " * 200_000 + b"\nSteps: 20, Sampler: Euler, CFG scale: 7.0, Seed: 42, "
              b"Size: 16x16")
    files = {
        "long-line.png": with_chunks(1, chunk(b"tEXt", b"parameters\0" + long_line)),
        "long-prompt.png": with_chunks(2, chunk(b"tEXt", b"parameters\0" + params)),
        "bomb.png": with_chunks(3, chunk(b"zTXt", b"parameters\0\0"
                                         + zlib.compress(b"b" * (256 * 2**20), 9))),
        "itxt-bomb.png": with_chunks(4, chunk(b"iTXt", b"parameters\0\1\0\0\0"
                                              + zlib.compress(b"c, " * (80 * 2**20), 9))),
    }
    folder = tmp_path / "in"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
        assert len(data) < 2 * 2**20
    assert cli(home, "projects", "create", "P").returncode == 0
    result = cli(home, "import", "--project", "P", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["imported"]) == len(files)

    def check() -> None:
        rows = assets(home)
        assert len(rows) == len(files)
        for row in rows:
            for key in ("infotext", "prompt"):
                assert len(row.get(key) or "") <= MAX_KEPT_TEXT + 200
            assert "cut by DLX Art Studio" in row["infotext"]
        seeds = {row["seed"] for row in rows}
        assert 42 in seeds  # the long prompt's parameters were still read

    check()
    doctor = cli(home, "doctor", "--json")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    rebuilt = cli(home, "rebuild", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    check()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifos_and_devices_are_refused_without_blocking(tmp_path):
    home = tmp_path / "home"
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    os.mkfifo(folder / "inner.png")  # inside a folder: skipped, never opened
    (folder / "ok.png").write_bytes(png_bytes(8, 8))
    devices = [d for d in ("/dev/zero", "/dev/null", "/dev/urandom") if os.path.exists(d)]
    assert cli(home, "projects", "create", "P").returncode == 0
    result = cli(home, "import", "--project", "P", str(fifo), *devices, str(folder), "--json")
    assert result.returncode == 0, result.stderr  # ok.png was imported
    report = json.loads(result.stdout)
    assert len(report["imported"]) == 1
    reasons = " ".join(item["reason"] for item in report["rejected"])
    assert "named pipe" in reasons
    assert reasons.count("device") == len(devices)
    assert "Traceback" not in result.stderr
