"""`dlx-art ... | head -1`: output to a reader that went away ends quietly."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from PIL import Image

from dlx_art.cli import PIPE_CLOSED_EXIT
from dlx_art.library.service import Library

pytestmark = pytest.mark.integration
ROWS = 1500  # far more output than a pipe buffers (64 KiB on Linux), in text and in JSON


@pytest.fixture(scope="module")
def crowded_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("pipe-home")
    src = tmp_path_factory.mktemp("pipe-src")
    for i in range(ROWS):
        buf = io.BytesIO()
        Image.new("RGB", (8, 8), (i % 256, i // 256, 7)).save(buf, "PNG")
        (src / f"{i}.png").write_bytes(buf.getvalue())
    with Library.open(home) as library:
        project = library.create_project("P")
        report = library.import_paths(project.id, [src])
        assert len(report.imported) == ROWS
    return home


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
@pytest.mark.parametrize("extra", [[], ["--json"]])
@pytest.mark.parametrize("lines", [0, 1])  # reads before closing
def test_closed_pipe_ends_quietly(crowded_home, extra, lines):
    env = dict(os.environ, DLX_ART_HOME=str(crowded_home))
    process = subprocess.Popen(
        [sys.executable, "-m", "dlx_art", "assets", "list", "--project", "P", "--limit",
         str(ROWS), *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    for _ in range(lines):  # like `head -c 100`: read a little, then go away
        assert process.stdout.read1(100)
    process.stdout.close()
    err = process.stderr.read().decode()
    code = process.wait(timeout=120)
    assert err == "", err  # no traceback, no "Exception ignored ... BrokenPipeError"
    assert code == PIPE_CLOSED_EXIT


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell")
def test_head_in_a_shell_pipeline(crowded_home):
    env = dict(os.environ, DLX_ART_HOME=str(crowded_home))
    done = subprocess.run(
        f"set -o pipefail; '{sys.executable}' -m dlx_art assets list --project P --limit {ROWS}"
        " | head -1", shell=True, executable="/bin/bash", env=env, capture_output=True,
        text=True, timeout=120)
    assert done.stdout.startswith("ID") and done.stderr == ""
    # exits like a program ended by SIGPIPE, unless it finished before head closed the pipe
    assert done.returncode in (0, PIPE_CLOSED_EXIT)
