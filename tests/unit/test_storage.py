"""Storage layout: safe names, containment in the root, atomic writes.

The property tests are the proof asked for in the design: nothing, whether a project name, an
imported file's name or a path read back from the catalog, can make the app read or write
outside the storage root. The validator below encodes the Windows, macOS and Linux naming rules
on its own, without using the code under test.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from dlx_art.errors import StorageError
from dlx_art.library import storage
from dlx_art.library.storage import (
    MAX_FOLDER_BYTES,
    asset_dir,
    atomic_write,
    disk_free,
    ensure_dir,
    is_inside,
    is_temp_file,
    move_within,
    project_dir,
    resolve_inside,
    safe_file_name,
    safe_folder_name,
    to_relative,
    unique_file_path,
    unique_folder_name,
    write_new_file,
)

POSIX = os.name == "posix"
FIXTURE_OK = [HealthCheck.function_scoped_fixture]

# --- an independent validator of portable names -------------------------------------------------

WINDOWS_FORBIDDEN = set('<>:"/\\|?*') | {chr(c) for c in range(32)}
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{d}" for p in ("COM", "LPT") for d in [*"0123456789", "\u00b9", "\u00b2", "\u00b3"]
}


def portable_name_problems(name: str) -> list[str]:
    """Every rule of Windows, macOS and Linux (plus our own) that `name` breaks."""
    problems = []
    if not name:
        problems.append("empty")
    if name in (".", ".."):
        problems.append("relative component")
    # Linux: no "/" or NUL, at most 255 bytes; names must be encodable (no lone surrogates).
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return [*problems, "not encodable"]
    if "/" in name or "\x00" in name:
        problems.append("POSIX separator or NUL")
    if len(encoded) > 255:
        problems.append("longer than 255 bytes")
    # Windows: no <>:"/\|?* or control characters, no trailing dot or space, no device names,
    # at most 255 UTF-16 units.
    if set(name) & WINDOWS_FORBIDDEN:
        problems.append("Windows-forbidden character")
    if name.endswith((".", " ")):
        problems.append("trailing dot or space")
    device = name.split(".")[0].rstrip(" ").upper()
    if device in WINDOWS_DEVICES:
        problems.append(f"Windows device name {device}")
    if len(name.encode("utf-16-le")) // 2 > 255:
        problems.append("longer than 255 UTF-16 units")
    # macOS: no ":" (Finder/HFS) and the decomposed form (what HFS+ stores) must be clean too.
    decomposed = unicodedata.normalize("NFD", name)
    if ":" in decomposed or "/" in decomposed or set(decomposed) & WINDOWS_FORBIDDEN:
        problems.append("forbidden character once decomposed")
    # Ours: no hidden names, no leading space, NFC, within our byte limit, no control chars.
    if name.startswith((".", " ")):
        problems.append("hidden or leading space")
    if not unicodedata.is_normalized("NFC", name):
        problems.append("not NFC")
    if len(encoded) > MAX_FOLDER_BYTES:
        problems.append("over MAX_FOLDER_BYTES")
    if any(unicodedata.category(c) == "Cc" for c in name):
        problems.append("control character")
    return problems


# Every code point, lone surrogates included: names from the file system (surrogateescape)
# can carry them, so the functions must cope.
ANY_CHAR = st.characters(codec=None, exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=200)
TRICKY = st.sampled_from(
    [
        "",
        ".",
        "..",
        "...",
        " ",
        "/",
        "\\",
        ":",
        "CON",
        "con",
        "Com1",
        "LPT\u00b9",
        "nul",
        "a",
        "\u00e9",
        "e\u0301",
        "<\u0338",
        "\U0001f600",
        "\u200d",
        "\x00",
        "\t",
        "\n",
        ".txt",
        "*",
        "\u00df",
        "\u0130",
        "\ud800",
        "C:",
        "~",
    ]
)
TRICKY_TEXT = st.lists(TRICKY, max_size=12).map("".join)
NAMES = st.one_of(ANY_TEXT, TRICKY_TEXT, st.text(min_size=100, max_size=400))


# --- safe_folder_name: literal cases ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("My Project", "My Project"),
        ("CON", "CON_"),
        ("con", "con_"),
        ("con.txt", "con_.txt"),
        ("Con .txt", "Con_ .txt"),
        ("COM1", "COM1_"),
        ("lpt9.tar.gz", "lpt9_.tar.gz"),
        ("COM\u00b9", "COM\u00b9_"),
        ("lpt\u00b3", "lpt\u00b3_"),
        ("CONSOLE", "CONSOLE"),
        ("COM10", "COM10"),
        ("a/b", "a_b"),
        ("a\\b", "a_b"),
        ('what? <a|b> "c" *d*: e', "what_ _a_b_ _c_ _d__ e"),
        ("..", "Project"),
        ("...", "Project"),
        (".", "Project"),
        (" x. ", "x"),
        (".hidden", "hidden"),
        ("", "Project"),
        ("   ", "Project"),
        ("tab\there\n\nnew  line", "tab here new line"),
        ("bell\x07", "bell_"),
        ("del\x7f", "del_"),
        ("\U0001f3a8 Art \U0001f680", "\U0001f3a8 Art \U0001f680"),
        ("a\u226eb", "a_b"),  # "≮" is "<" + combining overlay once decomposed (macOS)
        ("lone \ud800 surrogate", "lone _ surrogate"),
    ],
)
def test_safe_folder_name_cases(name, expected):
    assert safe_folder_name(name) == expected
    assert portable_name_problems(safe_folder_name(name)) == []


def test_composed_and_decomposed_names_give_the_same_folder():
    composed = "Caf\u00e9 \u00c5ngstr\u00f6m"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert safe_folder_name(composed) == safe_folder_name(decomposed) == composed


def test_long_names_are_cut_on_a_character_boundary():
    for char in ("a", "\u00e9", "\u6f22", "\U0001f600"):
        result = safe_folder_name(char * 300)
        assert len(result.encode("utf-8")) <= MAX_FOLDER_BYTES
        assert set(result) == {char}
        assert len(result.encode()) > MAX_FOLDER_BYTES - 4  # nothing lost needlessly


def test_long_name_cut_before_a_trailing_dot_or_space_is_restripped():
    name = "x" * (MAX_FOLDER_BYTES - 1) + ". more"
    assert safe_folder_name(name) == "x" * (MAX_FOLDER_BYTES - 1)
    name = "y" * (MAX_FOLDER_BYTES - 2) + " \u00e9"  # the 2-byte é does not fit
    assert safe_folder_name(name) == "y" * (MAX_FOLDER_BYTES - 2)


def test_names_differing_only_in_case_get_distinct_folders():
    first = unique_folder_name("Cats", [])
    second = unique_folder_name("CATS", [first])
    third = unique_folder_name("cats", [first, second])
    assert (first, second, third) == ("Cats", "CATS (2)", "cats (3)")
    assert unique_folder_name("Stra\u00dfe", ["STRASSE"]) == "Stra\u00dfe (2)"  # casefold
    assert unique_folder_name("Cafe\u0301", ["caf\u00e9"]) == "Caf\u00e9 (2)"  # NFD vs NFC
    assert unique_folder_name("Dogs", ["Cats"]) == "Dogs"


def test_unique_folder_name_keeps_the_byte_limit():
    base = safe_folder_name("\u00e9" * 200)
    taken = [base]
    for _ in range(12):
        name = unique_folder_name("\u00e9" * 200, taken)
        assert len(name.encode()) <= MAX_FOLDER_BYTES
        assert portable_name_problems(name) == []
        taken.append(name)
    assert taken[-1].endswith(" (13)")


def test_unique_folder_name_accepts_a_generator():
    assert unique_folder_name("a", (n for n in ["A", "a (2)"])) == "a (3)"


# --- safe_file_name -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.PNG", "photo.png"),
        ("photo.jpeg", "photo.jpeg"),
        ("archive.tar.gz", "archive.tar.gz"),
        (".png", "image.png"),
        ("...png", "image.png"),
        ("", "image"),
        ("con.png", "con_.png"),
        ("CON.tar.gz", "CON_.tar.gz"),
        ("a/b:c.webp", "a_b_c.webp"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("C:\\Windows\\win.ini", "C__Windows_win.ini"),
        ("name.verylongext", "name.verylongext"),
        ("name.t\u00e9st", "name.t\u00e9st"),
        ("photo .png", "photo.png"),
        ("photo. png", "photo. png"),
        ("dots....", "dots"),
    ],
)
def test_safe_file_name_cases(name, expected):
    assert safe_file_name(name) == expected
    assert portable_name_problems(expected) == []


def test_safe_file_name_default_stem():
    assert safe_file_name(".jpg", "mask") == "mask.jpg"
    assert safe_file_name("", "con") == "con_"
    assert safe_file_name("", "") == "image"


def test_safe_file_name_keeps_the_extension_of_long_names():
    result = safe_file_name("\U0001f600" * 100 + ".png")
    assert result.endswith(".png")
    assert len(result.encode()) <= MAX_FOLDER_BYTES


# --- property tests: names ----------------------------------------------------------------------


@settings(max_examples=1500, deadline=None)
@given(NAMES)
@example("\ud800")
@example("COM\u00b9.\ud800")
@example("." * 500)
def test_any_text_gives_a_portable_folder_name(name):
    result = safe_folder_name(name)
    assert portable_name_problems(result) == []
    assert safe_folder_name(result) == result  # idempotent: stored names stay stable


@settings(max_examples=1500, deadline=None)
@given(NAMES, st.one_of(st.just("image"), ANY_TEXT))
def test_any_text_gives_a_portable_file_name(name, default_stem):
    result = safe_file_name(name, default_stem)
    assert portable_name_problems(result) == []
    assert safe_file_name(result) == result


@settings(max_examples=500, deadline=None)
@given(NAMES)
def test_normalisation_does_not_change_the_folder(name):
    assume(not any(unicodedata.category(c) == "Cs" for c in name))
    assert safe_folder_name(unicodedata.normalize("NFD", name)) == safe_folder_name(name)


@settings(max_examples=300, deadline=None)
@given(NAMES, st.lists(NAMES, max_size=5))
def test_unique_folder_name_never_clashes(name, others):
    taken = [safe_folder_name(o) for o in others]
    taken.append(safe_folder_name(name))
    result = unique_folder_name(name, taken)
    keys = {unicodedata.normalize("NFC", t).casefold() for t in taken}
    assert unicodedata.normalize("NFC", result).casefold() not in keys
    assert portable_name_problems(result) == []


@settings(max_examples=500, deadline=None, suppress_health_check=FIXTURE_OK)
@given(NAMES)
def test_safe_names_stay_inside_the_root(tmp_path, name):
    for result in (safe_folder_name(name), safe_file_name(name)):
        assert is_inside(tmp_path, tmp_path / result)
        assert (tmp_path / result).resolve().parent == tmp_path.resolve()
        assert resolve_inside(tmp_path, result) == tmp_path.resolve() / result


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(NAMES)
def test_safe_names_can_really_be_created(tmp_path, name):
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    folder = root / safe_folder_name(name)
    folder.mkdir()
    file = folder / safe_file_name(name)
    file.write_bytes(b"x")
    assert [p.name for p in root.iterdir()] == [folder.name]
    assert [p.name for p in folder.iterdir()] == [file.name]
    rel = to_relative(root, file)
    assert resolve_inside(root, rel) == file.resolve()


# --- resolve_inside / to_relative ---------------------------------------------------------------


@pytest.mark.parametrize(
    "relative",
    [
        "",
        "/etc/passwd",
        "//server/share/x.png",
        "\\\\server\\share\\x.png",
        "C:\\Windows\\win.ini",
        "C:/Windows/win.ini",
        "c:x.png",
        "Projects\\a\\x.png",
        "../x.png",
        "Projects/../../x.png",
        "Projects/a/../../../x.png",
        "Projects/./a.png",
        "Projects//a.png",
        "Projects/a.png/",
        ".",
        "..",
        "Projects/a\x00.png",
        "Projects/a.png:stream",
        "Projects/.. /x.png",
        "Projects/.../x.png",
        "Projects/con/x.png",
        "Projects/a/NUL.png",
        "\ud800.png",
    ],
)
def test_resolve_inside_refuses(tmp_path, relative):
    with pytest.raises(StorageError) as info:
        resolve_inside(tmp_path, relative)
    assert repr(relative) in info.value.user_message


def test_resolve_inside_accepts_catalog_paths(tmp_path):
    rel = "Projects/My Cats/Assets/Images/20240101-a.png"
    assert resolve_inside(tmp_path, rel) == tmp_path.resolve().joinpath(*rel.split("/"))
    assert resolve_inside(tmp_path, ".trash/abc/x.png").parent.name == "abc"


def test_resolve_inside_refuses_a_non_string(tmp_path):
    with pytest.raises(StorageError):
        resolve_inside(tmp_path, None)  # type: ignore[arg-type]


ESCAPES = st.lists(
    st.sampled_from(
        [
            "..",
            ".",
            "",
            "a",
            "Projects",
            "C:",
            "c:\\",
            "\\",
            "\\\\server\\share",
            "//",
            "/",
            "\x00",
            "..\\..",
            "~",
            "%2e%2e",
            "\u2025",
            "\uff0e\uff0e",
            "x" * 300,
            "con",
        ]
    ),
    max_size=8,
).map("/".join)


@settings(max_examples=2000, deadline=None, suppress_health_check=FIXTURE_OK)
@given(st.one_of(ANY_TEXT, ESCAPES, st.builds("/".join, st.lists(ANY_TEXT, max_size=4))))
@example("../outside")
@example("/absolute")
@example("C:\\x")
@example("\\\\server\\share")
def test_resolve_inside_never_escapes(tmp_path, relative):
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    try:
        result = resolve_inside(root, relative)
    except StorageError:
        return
    assert result.is_absolute()
    assert result.resolve().is_relative_to(root.resolve())
    assert result.resolve() != root.resolve()
    assert to_relative(root, result) == relative


@pytest.mark.skipif(not POSIX, reason="symlinks need privileges on Windows")
def test_symlink_pointing_outside_is_refused(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "Projects").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"secret")
    (root / "Projects" / "evil").symlink_to(outside, target_is_directory=True)
    (root / "Projects" / "file.png").symlink_to(outside / "secret.png")
    for rel in (
        "Projects/evil/secret.png",
        "Projects/evil/new.png",
        "Projects/file.png",
        "Projects/evil",
    ):
        with pytest.raises(StorageError, match="outside"):
            resolve_inside(root, rel)
    assert not is_inside(root, root / "Projects" / "evil" / "x")
    with pytest.raises(StorageError):
        to_relative(root, root / "Projects" / "file.png")
    with pytest.raises(StorageError):
        move_within(root, root / "Projects" / "evil" / "secret.png", root / "stolen.png")
    assert (outside / "secret.png").read_bytes() == b"secret"


@pytest.mark.skipif(not POSIX, reason="symlinks need privileges on Windows")
def test_symlink_inside_the_root_is_followed(tmp_path):
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "link").symlink_to(root / "real", target_is_directory=True)
    assert resolve_inside(root, "link/a.png") == root.resolve() / "link" / "a.png"


@pytest.mark.skipif(not POSIX, reason="symlinks need privileges on Windows")
def test_symlinked_root_works(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    root = tmp_path / "alias"
    path = resolve_inside(root, "Projects/a.png")
    assert path == real.resolve() / "Projects" / "a.png"
    assert to_relative(root, root / "Projects" / "a.png") == "Projects/a.png"


@pytest.mark.skipif(not POSIX, reason="symlinks need privileges on Windows")
def test_symlink_loop_is_refused(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(StorageError):
        resolve_inside(tmp_path, "a/x.png")
    assert not is_inside(tmp_path, tmp_path / "a" / "x")


def test_is_inside(tmp_path):
    assert is_inside(tmp_path, tmp_path / "a" / "b")
    assert not is_inside(tmp_path, tmp_path)
    assert not is_inside(tmp_path, tmp_path.parent)
    assert not is_inside(tmp_path, tmp_path / ".." / "x")
    assert not is_inside(tmp_path, Path("/"))
    assert not is_inside(tmp_path, tmp_path / "a\x00")


def test_to_relative(tmp_path):
    path = tmp_path / "Projects" / "Cats" / "Assets" / "Images" / "a.png"
    assert to_relative(tmp_path, path) == "Projects/Cats/Assets/Images/a.png"
    with pytest.raises(StorageError):
        to_relative(tmp_path, tmp_path.parent / "x.png")
    with pytest.raises(StorageError):
        to_relative(tmp_path, tmp_path)
    with pytest.raises(StorageError):
        to_relative(tmp_path, tmp_path / "a" / "..")


@pytest.mark.skipif(not POSIX, reason="such names cannot exist on Windows")
def test_to_relative_refuses_names_the_catalog_could_not_read_back(tmp_path):
    with pytest.raises(StorageError):
        to_relative(tmp_path, tmp_path / "a\\b.png")
    with pytest.raises(StorageError):
        to_relative(tmp_path, tmp_path / "trailing.")


# --- layout -------------------------------------------------------------------------------------


def test_layout_paths(tmp_path):
    assert project_dir(tmp_path, "Cats") == tmp_path / "Projects" / "Cats"
    assert asset_dir(tmp_path, "Cats", storage.IMAGES) == tmp_path / "Projects/Cats/Assets/Images"
    assert asset_dir(tmp_path, "Cats", storage.MASKS) == tmp_path / "Projects/Cats/Assets/Masks"
    assert not (tmp_path / "Projects").exists()
    with pytest.raises(ValueError):
        asset_dir(tmp_path, "Cats", "Videos")


@pytest.mark.parametrize("folder", ["", ".", "..", "a/b", "a\\b", "../x", "CON", "x.", "a:b"])
def test_project_dir_refuses_unsafe_folders(tmp_path, folder):
    with pytest.raises(StorageError):
        project_dir(tmp_path, folder)
    with pytest.raises(StorageError):
        asset_dir(tmp_path, folder, storage.IMAGES)


def test_ensure_dir(tmp_path):
    target = tmp_path / "a" / "b"
    assert ensure_dir(target) == target
    assert target.is_dir()
    assert ensure_dir(target) == target
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError):
        ensure_dir(tmp_path / "file")
    with pytest.raises(StorageError):
        ensure_dir(tmp_path / "file" / "sub")


def test_disk_free(tmp_path):
    assert disk_free(tmp_path) > 0
    assert disk_free(tmp_path / "not" / "yet") == pytest.approx(disk_free(tmp_path), rel=0.1)


# --- atomic_write -------------------------------------------------------------------------------


def test_atomic_write_writes_exactly(tmp_path):
    data = os.urandom(100_000)
    atomic_write(tmp_path / "a.png", data)
    assert (tmp_path / "a.png").read_bytes() == data
    assert os.listdir(tmp_path) == ["a.png"]
    atomic_write(tmp_path / "empty.png", b"")
    assert (tmp_path / "empty.png").read_bytes() == b""


def test_atomic_write_refuses_to_overwrite(tmp_path):
    target = tmp_path / "a.png"
    target.write_bytes(b"old")
    with pytest.raises(StorageError, match="already exists"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.png"]


def test_atomic_write_overwrite_for_caches(tmp_path):
    target = tmp_path / "a.jpg"
    target.write_bytes(b"old")
    atomic_write(target, b"new", overwrite=True, durable=False)
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["a.jpg"]


def test_atomic_write_into_a_file_fails_cleanly(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError) as info:
        atomic_write(tmp_path / "file" / "a.png", b"data")
    assert "a.png" in info.value.user_message
    assert os.listdir(tmp_path) == ["file"]


def test_atomic_write_into_a_missing_folder(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        atomic_write(tmp_path / "missing" / "a.png", b"data")


def test_disk_full_removes_the_temp_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.os, "fsync", full)
    with pytest.raises(StorageError) as info:
        atomic_write(tmp_path / "a.png", b"data")
    assert info.value.user_message.startswith("Not enough disk space to save a.png")
    assert os.listdir(tmp_path) == []


def test_interrupted_write_removes_the_temp_file(tmp_path, monkeypatch):
    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(storage.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "a.png", b"data")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not POSIX or os.geteuid() == 0, reason="needs POSIX permissions, not root")
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(StorageError, match="permission"):
            atomic_write(folder / "a.png", b"data")
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


@pytest.mark.skipif(not POSIX, reason="hard-link commit is POSIX only")
def test_without_hard_links_falls_back_to_check_and_rename(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(storage.os, "link", no_links)
    atomic_write(tmp_path / "a.png", b"data")
    assert (tmp_path / "a.png").read_bytes() == b"data"
    with pytest.raises(StorageError, match="already exists"):
        atomic_write(tmp_path / "a.png", b"other")
    assert (tmp_path / "a.png").read_bytes() == b"data"
    assert os.listdir(tmp_path) == ["a.png"]


def test_temp_files_are_recognised(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(storage.os, "replace", spy)
    atomic_write(tmp_path / "Caf\u00e9 .png", b"x", overwrite=True)
    assert len(seen) == 1
    assert is_temp_file(seen[0])
    assert is_temp_file(".a.png.1234.part")  # the service's quick writer: pid token
    for name in ("a.png", ".part", "a.png.part", ".a.png", ".hidden.png", "x.1234.part"):
        assert not is_temp_file(name)


def test_long_names_get_short_enough_temp_names(tmp_path):
    name = safe_file_name("\u00e9" * 200 + ".png")
    atomic_write(tmp_path / name, b"x")
    assert os.listdir(tmp_path) == [name]


# --- unique_file_path / write_new_file / move_within -------------------------------------------


def test_unique_file_path(tmp_path):
    assert unique_file_path(tmp_path, "img", "png") == tmp_path / "img.png"
    (tmp_path / "img.png").write_bytes(b"")
    assert unique_file_path(tmp_path, "img", ".png") == tmp_path / "img-2.png"
    (tmp_path / "IMG-2.PNG").write_bytes(b"")  # a clash on case-insensitive file systems
    assert unique_file_path(tmp_path, "img", "png") == tmp_path / "img-3.png"
    assert unique_file_path(tmp_path / "missing", "img", "png").name == "img.png"
    assert unique_file_path(tmp_path, "a/b", "").name == "a_b"
    assert unique_file_path(tmp_path, "", "png").name == "image.png"
    assert unique_file_path(tmp_path, "con", "png").name == "con_.png"
    with pytest.raises(ValueError):
        unique_file_path(tmp_path, "img", "png/../x")


def test_unique_file_path_keeps_the_limit(tmp_path):
    stem = "\u00e9" * 100
    first = unique_file_path(tmp_path, stem, "png")
    first.write_bytes(b"")
    second = unique_file_path(tmp_path, stem, "png")
    assert second.name.endswith("-2.png")
    assert len(second.name.encode()) <= MAX_FOLDER_BYTES
    assert portable_name_problems(second.name) == []


def test_write_new_file_retries_when_a_name_is_taken_meanwhile(tmp_path, monkeypatch):
    (tmp_path / "img.png").write_bytes(b"old")
    calls = []
    real = storage.unique_file_path

    def racing(folder, stem, ext):
        calls.append(1)
        if len(calls) == 1:  # another writer takes img-2.png right after we picked it
            path = real(folder, stem, ext)
            path.write_bytes(b"theirs")
            return path
        return real(folder, stem, ext)

    monkeypatch.setattr(storage, "unique_file_path", racing)
    path = write_new_file(tmp_path, "img", "png", b"ours")
    assert path.name == "img-3.png"
    assert path.read_bytes() == b"ours"
    assert (tmp_path / "img-2.png").read_bytes() == b"theirs"
    assert sorted(os.listdir(tmp_path)) == ["img-2.png", "img-3.png", "img.png"]


def test_move_within(tmp_path):
    src = tmp_path / "Projects" / "a.png"
    src.parent.mkdir()
    src.write_bytes(b"x")
    dst = tmp_path / ".trash" / "id" / "a.png"
    move_within(tmp_path, src, dst)
    assert dst.read_bytes() == b"x"
    assert not src.exists()
    with pytest.raises(StorageError, match="no longer exists"):
        move_within(tmp_path, src, dst)
    src.write_bytes(b"y")
    with pytest.raises(StorageError, match="already exists"):
        move_within(tmp_path, src, dst)
    assert dst.read_bytes() == b"x"
    with pytest.raises(StorageError, match="outside"):
        move_within(tmp_path, src, tmp_path.parent / "stolen.png")
    with pytest.raises(StorageError, match="outside"):
        move_within(tmp_path, src, tmp_path)
    assert src.read_bytes() == b"y"


def test_move_within_renames_folders(tmp_path):
    old = tmp_path / "Projects" / "Cats"
    (old / "Assets" / "Images").mkdir(parents=True)
    move_within(tmp_path, old, tmp_path / "Projects" / "Kittens")
    assert (tmp_path / "Projects" / "Kittens" / "Assets" / "Images").is_dir()
    assert not old.exists()


def test_move_within_allows_a_case_only_rename(tmp_path):
    old = tmp_path / "Cats"
    old.mkdir()
    move_within(tmp_path, old, tmp_path / "cats")
    assert os.listdir(tmp_path) == ["cats"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX error mapping")
def test_error_messages_are_actionable():
    err = storage._os_error("save", Path("/x/a.png"), OSError(errno.EROFS, "Read-only"))
    assert "read-only" in err.user_message
    err = storage._os_error("save", Path("/x/a.png"), OSError(errno.EIO, "I/O error"))
    assert err.user_message == "Cannot save a.png in /x: I/O error."


@pytest.mark.skipif(sys.platform != "linux", reason="Linux accepts names that are not UTF-8")
def test_undecodable_long_name(tmp_path):
    name = "\udcff" * 150  # 150 bytes 0xFF on disk, as os.listdir reports them
    atomic_write(tmp_path / name, b"x")
    assert os.listdir(tmp_path) == [name]
