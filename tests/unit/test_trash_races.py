"""Trash and restore from two programs at once never lose an image's file.

Each test puts the other program's step exactly where a race would put it, so the interleaving
is certain (the multi-process churn in tests/integration/test_concurrent_writers.py finds such
interleavings only by chance).
"""

from __future__ import annotations

from dlx_art.library import edits, storage
from dlx_art.library.service import Library
from tests.support.images import png_bytes


def test_a_restore_never_deletes_what_another_program_trashed_meanwhile(tmp_path, monkeypatch):
    root = tmp_path / "lib"
    with Library.open(root) as mine, Library.open(root) as theirs:
        project = mine.create_project("Race")
        asset = mine.add_image(project.id, png_bytes(64, 64, seed=7), mask=png_bytes(64, 64))
        mine.trash(asset.id)
        real_clear = edits._clear_trash_folder

        def other_program_trashes_first(folder_root, asset_id):
            # the restore has committed; before it clears the trash folder, the other
            # program trashes the same image again
            theirs.trash(asset.id)
            real_clear(folder_root, asset_id)

        monkeypatch.setattr(edits, "_clear_trash_folder", other_program_trashes_first)
        mine.restore(asset.id)
        monkeypatch.setattr(edits, "_clear_trash_folder", real_clear)
        assert theirs.get_asset(asset.id).trashedAt is not None
        restored = mine.restore(asset.id)  # the trashed file is still there to come back
        assert restored.trashedAt is None
        assert mine.path_of(restored).is_file()
        assert mine.mask_path_of(restored) is not None and mine.mask_path_of(restored).is_file()
        assert not any((root / storage.TRASH_DIR).iterdir())
