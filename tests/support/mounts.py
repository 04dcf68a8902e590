"""Real file-system faults for tests: a tiny tmpfs that fills up, read-only bind mounts.

Mounting needs root on Linux (or the CAP_SYS_ADMIN capability). Where it is not allowed the
helpers raise `pytest.skip` with the reason; tests that must always run inject the fault
instead (see tests/integration/test_faults.py).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60)


def can_mount() -> str | None:
    """None if this process may mount file systems, else why not."""
    if not sys.platform.startswith("linux"):
        return "mounting a tmpfs is a Linux test"
    if os.geteuid() != 0:
        return "mounting needs root"
    return None


@contextlib.contextmanager
def tiny_tmpfs(path: Path, size: str = "4m") -> Iterator[Path]:
    """A fresh tmpfs of `size` at `path` (skips the test when the machine does not allow it)."""
    reason = can_mount()
    if reason:
        pytest.skip(reason)
    path.mkdir(parents=True, exist_ok=True)
    done = _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        _run("umount", "-l", str(path))


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """Make the file or folder `path` read-only with a read-only bind mount over itself.

    Root ignores permission bits, so chmod cannot make anything read-only for a root test; a
    read-only mount can. Skips the test when mounting is not allowed.
    """
    reason = can_mount()
    if reason:
        pytest.skip(reason)
    done = _run("mount", "--bind", str(path), str(path))
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    done = _run("mount", "-o", "remount,ro,bind", str(path))
    if done.returncode != 0:
        _run("umount", "-l", str(path))
        pytest.skip(f"cannot remount read-only here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        _run("umount", "-l", str(path))


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the drive holding `folder` with one file until only about `leave` bytes are free."""
    filler = folder / "filler.bin"
    chunk = b"\xff" * 65536
    with open(filler, "wb", buffering=0) as handle:  # unbuffered: nothing left to flush
        try:
            while True:
                stats = os.statvfs(folder)
                free = stats.f_bavail * stats.f_frsize
                if free <= leave:
                    break
                handle.write(chunk[:max(1, min(len(chunk), free - leave))])
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler
