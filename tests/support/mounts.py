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
    if sys.platform == "win32":
        return "POSIX only"
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
    """Make the file or folder `path` read-only: a read-only bind mount over itself, else chmod.

    Root ignores permission bits, so chmod cannot make anything read-only for root; a
    read-only mount can. Without the right to mount, the permission bits are cleared and the
    test runs if that is enough to refuse a write (an ordinary user); else it is skipped.
    """
    reason = can_mount()
    if reason is None:
        done = _run("mount", "--bind", str(path), str(path))
        if done.returncode == 0:
            done = _run("mount", "-o", "remount,ro,bind", str(path))
            if done.returncode == 0:
                try:
                    yield path
                finally:
                    _run("umount", "-l", str(path))
                return
            _run("umount", "-l", str(path))
        reason = f"cannot mount here: {done.stderr.strip()}"
    mode = path.stat().st_mode
    path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        if _writable(path):
            pytest.skip(f"{reason}, and permission bits do not stop this user")
        yield path
    finally:
        path.chmod(mode)
        # SQLite gives the -wal/-shm files it creates the catalog's own (read-only) mode
        for side in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if not path.is_dir() and side.exists():
                side.chmod(mode)


def _writable(path: Path) -> bool:
    """Whether a write to `path` (a file) or into it (a folder) would still succeed."""
    try:
        if path.is_dir():
            probe = path / ".write-probe"
            probe.touch()
            probe.unlink()
        else:
            with open(path, "r+b"):
                pass
        return True
    except PermissionError:
        return False


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
