"""What a person types in the search box, turned into catalog conditions.

Plain words search the prompt only (a negative prompt such as "lowres" is in almost every
image, so matching it by default would find everything). Field filters narrow further:
``negative:blurry``, ``model:dreamshaper``, ``seed:1234`` (quote a value with spaces:
``model:"dream shaper"``). The search table uses FTS5's ``trigram`` tokenizer, so any part of
a word is found, including CJK text that has no spaces between words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# a trigram index can only serve substrings of at least three characters; shorter ones are
# compared with LIKE against the (small) search table instead
TRIGRAM = 3
FIELDS = {"prompt": "prompt", "negative": "negative", "neg": "negative", "model": "model",
          "seed": "seed"}
_TOKEN = re.compile(r'(?:(\w+):)?(?:"([^"]*)"?|(\S*))', re.UNICODE)


@dataclass
class SearchQuery:
    """The parts of a search: words per text field, model substrings and seeds."""

    prompt: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    model: list[str] = field(default_factory=list)
    seeds: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.prompt or self.negative or self.model or self.seeds)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text, flags=re.UNICODE)


def parse(text: str) -> SearchQuery:
    """Split typed text into plain words and ``field:value`` filters.

    An unknown ``name:`` prefix is searched as plain text, so "score:9" still finds prompts
    that contain it.
    """
    query = SearchQuery()
    for match in _TOKEN.finditer(text):
        name, quoted, bare = match.group(1), match.group(2), match.group(3)
        value = quoted if quoted is not None else (bare or "")
        target = FIELDS.get(name.casefold()) if name else None
        if name and target is None:
            value = f"{name} {value}"
            target = "prompt"
        target = target or "prompt"
        if target == "model":
            if value.strip():
                query.model.append(value.strip())
        elif target == "seed":
            query.seeds.extend(_words(value) or [value])
        else:
            getattr(query, target).extend(_words(value))
    return query


def matches(text: str, *, prompt: str | None, negative: str | None, model: str | None,
            seed: int | None) -> bool:
    """Whether the catalog search for `text` finds an image with these values.

    The gallery uses it to decide, without a query, whether a new image belongs in the shown
    rows; a test holds it to the catalog's answers.
    """
    query = parse(text)
    fields = {"prompt": (prompt or "").casefold(), "negative": (negative or "").casefold()}
    for column in ("prompt", "negative"):
        if not all(word.casefold() in fields[column] for word in getattr(query, column)):
            return False
    if not all(m.casefold() in (model or "").casefold() for m in query.model):
        return False
    for wanted in query.seeds:
        if not re.fullmatch(r"-?\d{1,19}", wanted) or seed != int(wanted):
            return False
    return True


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def conditions(text: str) -> tuple[list[str], list[Any]]:
    """SQL conditions on ``ArtAsset`` (all must hold) and their parameters, for `text`.

    Returns no conditions for text without any searchable word.
    """
    query = parse(text)
    where: list[str] = []
    params: list[Any] = []
    fts: list[str] = []
    fts_params: list[Any] = []
    for column in ("prompt", "negative"):
        for word in getattr(query, column):
            if len(word) >= TRIGRAM:
                # a quoted string is a substring match under the trigram tokenizer
                fts.append('"ArtAssetSearch" MATCH ?')
                fts_params.append(f'{column} : "' + word.replace('"', '""') + '"')
            else:
                fts.append(f"{column} LIKE ? ESCAPE '\\'")
                fts_params.append(_like(word))
    if fts:
        # the search table's rowid is ArtAsset's rowid (kept in step by the triggers and
        # checked by reconcile): far cheaper than reading its stored assetId column
        where.append('rowid IN (SELECT rowid FROM "ArtAssetSearch" WHERE '
                     + " AND ".join(fts) + ")")
        params.extend(fts_params)
    for model in query.model:
        where.append("\"model\" LIKE ? ESCAPE '\\'")
        params.append(_like(model))
    for seed in query.seeds:
        if re.fullmatch(r"-?\d{1,19}", seed):
            where.append('"seed" = ?')
            params.append(int(seed))
        else:
            where.append("0")  # a seed is a number: nothing matches "seed:abc"
    return where, params
