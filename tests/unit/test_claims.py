"""Claiming file and folder names (storage.claim_name, claim_folder, move_within).

Whatever names exist already and however many writers claim the same name at once, every
writer ends with a file of its own holding its own bytes, and nothing is overwritten.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlx_art.errors import StorageError
from dlx_art.library import storage

STEMS = st.sampled_from(["img", "IMG", "img-2", "Img-3", "same", "con", "a b", "é"])


def _claim_all(folder: Path, stem: str, writers: int, use_hint: bool) -> list[tuple[Path, bytes]]:
    barrier = threading.Barrier(writers)
    results: list[tuple[Path, bytes]] = []
    errors: list[BaseException] = []
    stale = storage.taken_names(folder) if use_hint else None

    def writer(n: int) -> None:
        data = f"writer {n}".encode()
        try:
            tmp = storage.write_temp(folder, f"{stem}.png", data, durable=False)
            barrier.wait(60)
            # every writer starts from the same (soon stale) list, as separate processes do
            taken = set(stale) if stale is not None else None
            results.append((storage.claim_name(tmp, folder, stem, "png", taken=taken), data))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(existing=st.lists(STEMS, max_size=6), stem=STEMS, writers=st.integers(1, 6),
       use_hint=st.booleans())
def test_concurrent_claims_never_overwrite(tmp_path_factory, existing, stem, writers, use_hint):
    folder = tmp_path_factory.mktemp("claims")
    before = {}
    for name in existing:
        path = folder / f"{name}.png"
        if not path.exists():
            path.write_bytes(b"existing " + name.encode())
            before[path.name] = path.read_bytes()
    results = _claim_all(folder, stem, writers, use_hint)
    paths = [p for p, _ in results]
    assert len({storage._name_key(p.name) for p in paths}) == writers
    for path, data in results:
        assert path.parent == folder and path.read_bytes() == data
    for name, data in before.items():
        assert (folder / name).read_bytes() == data
    assert not [n for n in os.listdir(folder) if storage.is_temp_file(n)]
    assert len(os.listdir(folder)) == len(before) + writers


def test_claim_folder_side_by_side(tmp_path):
    names = ["Cats?", "Cats*", "Cats:", "Cats|", "Cats_"]  # one folder name for all
    barrier = threading.Barrier(len(names))
    got: list[str] = []

    def create(name: str) -> None:
        barrier.wait(60)
        got.append(storage.claim_folder(tmp_path, name, []))

    threads = [threading.Thread(target=create, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len({storage._name_key(f) for f in got}) == len(names)
    assert sorted(os.listdir(tmp_path)) == sorted(got)


def test_move_within_never_replaces_what_appeared_meanwhile(tmp_path):
    src = tmp_path / "a.png"
    src.write_bytes(b"mine")
    dst = tmp_path / "sub" / "b.png"
    dst.parent.mkdir()
    dst.write_bytes(b"theirs")
    with pytest.raises(StorageError, match="already exists"):
        storage.move_within(tmp_path, src, dst)
    assert dst.read_bytes() == b"theirs" and src.read_bytes() == b"mine"
    folder = tmp_path / "Old"
    (folder / "x").mkdir(parents=True)
    other = tmp_path / "New"
    (other / "y").mkdir(parents=True)
    with pytest.raises(StorageError, match="already exists"):
        storage.move_within(tmp_path, folder, other)
    empty = tmp_path / "Empty"
    empty.mkdir()  # an empty folder someone just created is not replaced either
    with pytest.raises(StorageError, match="already exists"):
        storage.move_within(tmp_path, folder, empty)
    storage.move_within(tmp_path, folder, tmp_path / "Moved")
    assert (tmp_path / "Moved" / "x").is_dir() and not folder.exists()
