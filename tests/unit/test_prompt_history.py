"""Prompt history: the distinct prompts of a project's images, newest first (real catalog)."""

from __future__ import annotations

import time

import pytest

from dlx_art.library.prompt_history import PromptEntry, recent_prompts
from dlx_art.library.service import Library
from tests.support.images import png_bytes


@pytest.fixture
def library(tmp_path):
    lib = Library.open(tmp_path / "root")
    yield lib
    lib.close()


def _add(lib, project, prompt, negative=""):
    asset = lib.add_image(project.id, png_bytes(),
                          values={"prompt": prompt, "negative": negative, "seed": 1})
    time.sleep(0.002)  # distinct creation times (the catalog keeps milliseconds)
    return asset


def test_distinct_prompts_newest_first_per_project(library):
    fox = library.create_project("Fox")
    other = library.create_project("Other")
    _add(library, fox, "a red fox", "blurry")
    _add(library, fox, "a blue bird")
    _add(library, fox, "  a red fox ", "lowres")  # used again (spaces do not make it new)
    _add(library, fox, "")  # an imported picture without a prompt
    _add(library, other, "not this project")

    assert recent_prompts(library, fox.id) == [
        PromptEntry("a red fox", "lowres"),  # its newest image's negative
        PromptEntry("a blue bird", ""),
    ]
    assert recent_prompts(library, fox.id, limit=1) == [PromptEntry("a red fox", "lowres")]
    assert recent_prompts(library, fox.id, limit=0) == []
    assert recent_prompts(library, "no-such-project") == []


def test_trashed_images_leave_the_history(library):
    fox = library.create_project("Fox")
    kept = _add(library, fox, "kept")
    thrown = _add(library, fox, "thrown away")
    library.trash(thrown.id)
    assert [e.prompt for e in recent_prompts(library, fox.id)] == ["kept"]
    library.trash(kept.id)
    assert recent_prompts(library, fox.id) == []
