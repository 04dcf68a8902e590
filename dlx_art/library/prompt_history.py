"""The prompts a project has used: what the prompt box's history offers (newest first).

Read straight from the catalog (the prompts of the project's images), so the history is the
same in every window and survives restarts without a file of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: How many distinct prompts the history offers.
HISTORY_SIZE = 50


@dataclass(frozen=True)
class PromptEntry:
    """One distinct prompt, with the negative prompt of its newest image."""

    prompt: str
    negative: str


def recent_prompts(library: Any, project_id: str, limit: int = HISTORY_SIZE) -> list[PromptEntry]:
    """The distinct prompts of `project_id`'s images, newest use first, at most `limit`.

    Images in the trash are left out (the person threw them away); empty prompts too. Two
    prompts that differ only in surrounding spaces count as one. Runs a catalog read: call it
    off the GUI thread.
    """
    if limit <= 0:
        return []
    # SQLite: a bare column next to max() comes from the row holding the maximum, so the
    # negative prompt is the one of the prompt's newest image
    rows = library._read(
        'SELECT trim("prompt") AS p, "negative", max("createdAt") AS newest FROM "ArtAsset" '
        'WHERE "projectId" = ? AND "trashedAt" IS NULL AND trim(coalesce("prompt", \'\')) != \'\' '
        'GROUP BY p ORDER BY newest DESC LIMIT ?',
        (project_id, int(limit)))
    return [PromptEntry(str(row[0]), str(row[1] or "")) for row in rows]
