"""Safe names for project folders and image files, the same on Windows, macOS and Linux.

A name made here is valid on every one of them at once (no reserved device names, forbidden
characters, trailing dots or spaces; at most `MAX_FOLDER_BYTES` UTF-8 bytes), so a library can
be copied or synced between them. Pure functions on strings: the disk is `storage`'s part.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from itertools import count

__all__ = ["MAX_FOLDER_BYTES", "safe_file_name", "safe_folder_name", "unique_folder_name"]

#: Longest folder or file name we create, in UTF-8 bytes. Well under every file system's limit
#: (255 bytes on Linux, 255 UTF-16 units on Windows and macOS), leaving room for the
#: `.<name>.<random>.part` temporary names and for deep storage roots on Windows.
MAX_FOLDER_BYTES = 120
_FORBIDDEN = frozenset('<>:"/\\|?*')
_WHITESPACE = re.compile(r"\s+")
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,5}")
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{prefix}{digit}" for prefix in ("COM", "LPT") for digit in "0123456789\u00b9\u00b2\u00b3"}
)
_DEFAULT_FOLDER = "Project"
_DEFAULT_STEM = "image"



def _bad_char(char: str) -> bool:
    if char in _FORBIDDEN:
        return True
    if char.isascii():
        return char < " " or char == "\x7f"
    if unicodedata.category(char) in ("Cc", "Cs"):
        return True
    # macOS stores names decomposed: "≮" becomes "<" + U+0338 there, so refuse those too.
    return any(part in _FORBIDDEN for part in unicodedata.normalize("NFD", char))


def _clean_chars(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = _WHITESPACE.sub(" ", text)
    return "".join("_" if _bad_char(char) else char for char in text)


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    # "ignore" drops a character cut in half; a zero-width joiner left dangling is dropped too.
    return encoded[:limit].decode("utf-8", "ignore").rstrip("\u200d")


def _reserved_stem(name: str) -> str | None:
    """The Windows device name `name` starts with (`con`, `con.txt`, `LPT1 .log`), if any."""
    stem = name.split(".", 1)[0].rstrip(" ")
    return stem if stem.upper() in _RESERVED else None


def _clean_stem(text: str, limit: int) -> str:
    """Strip, truncate and de-reserve an already character-cleaned name; may return ''."""
    text = text.strip(" .")
    text = _truncate_utf8(text, limit).rstrip(" .")
    stem = _reserved_stem(text)
    if stem is not None:
        text = f"{text[: len(stem)]}_{text[len(stem) :]}"
        text = _truncate_utf8(text, limit).rstrip(" .")
    return text


def _name_key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def safe_folder_name(name: str) -> str:
    """Turn a project name into a folder name valid on Windows, macOS and Linux.

    The name is NFC-normalised; control characters and ``<>:"/\\|?*`` become ``_``; runs of
    whitespace become one space; leading and trailing spaces and dots go (no hidden folders, no
    trailing dot or space); Windows device names (``CON``, ``com1.txt``, ``LPT¹``, ...) get a
    ``_`` after the device name; the result is cut to `MAX_FOLDER_BYTES` UTF-8 bytes on a
    character boundary. An empty result becomes ``"Project"``.

    Args:
        name: What the person typed, any text.

    Returns:
        A single path component: never ``"."``, ``".."`` or anything with a separator.
    """
    return _clean_stem(_clean_chars(name), MAX_FOLDER_BYTES) or _DEFAULT_FOLDER


def unique_folder_name(name: str, taken: Iterable[str]) -> str:
    """`safe_folder_name`, made distinct from `taken` ignoring case and normalisation.

    Clashes add `` (2)``, `` (3)``, ... while keeping the byte limit, so two projects never
    share a folder even on case-insensitive file systems (Windows, macOS).

    Args:
        name: The project name.
        taken: Folder names already in use (existing folders and other projects' folders).

    Returns:
        A safe folder name whose case-folded NFC form is not among `taken`'s.
    """
    base = safe_folder_name(name)
    keys = {_name_key(t) for t in taken}
    if _name_key(base) not in keys:
        return base
    for number in count(2):
        suffix = f" ({number})"
        stem = _truncate_utf8(base, MAX_FOLDER_BYTES - len(suffix.encode())).rstrip(" .")
        candidate = (stem or _DEFAULT_FOLDER) + suffix
        if _name_key(candidate) not in keys:
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def _split_extension(text: str) -> tuple[str, str]:
    stem, dot, ext = text.rpartition(".")
    if dot and _EXTENSION.fullmatch(ext):
        return stem, ext.lower()
    return text, ""


def safe_file_name(name: str, default_stem: str = _DEFAULT_STEM) -> str:
    """Turn a file name from outside (an import, a download) into a safe file name.

    The same rules as `safe_folder_name`, applied to the stem. A short extension (1 to 5 ASCII
    letters or digits) is kept, lowercased; anything else after the last dot stays in the stem.

    Args:
        name: The original file name (only the name; a path's separators become ``_``).
        default_stem: Used when nothing usable is left of the stem (e.g. ``".png"``).

    Returns:
        A single path component of at most `MAX_FOLDER_BYTES` UTF-8 bytes.
    """
    stem, ext = _split_extension(_clean_chars(name).strip(" ").rstrip("."))
    suffix = f".{ext}" if ext else ""
    limit = MAX_FOLDER_BYTES - len(suffix)
    stem = _clean_stem(stem, limit)
    if not stem:
        stem = _clean_stem(_clean_chars(default_stem), limit) or _DEFAULT_STEM
    if not ext and _split_extension(stem)[1]:
        # Cutting a long name exposed something that looks like an extension ("x.PNG"):
        # treat it as one, so that the result is stable when cleaned again.
        return safe_file_name(stem, default_stem)
    return stem + suffix


