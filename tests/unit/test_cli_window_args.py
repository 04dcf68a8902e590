"""The window's start-up parse (`cli.window_args`) agrees with the full command-line parser."""

from __future__ import annotations

import pytest

from dlx_art.cli import build_parser, window_args

WINDOW = [
    [],
    ["--smoke"],
    ["--json"],
    ["--home", "/tmp/x"],
    ["--home=/tmp/x"],
    ["--home", "/tmp/x", "--smoke"],
    ["--smoke", "--home=/tmp/x", "--json"],
    ["--home", "a", "--home", "b"],  # the last one wins, as in argparse
    ["--home", ""],
    ["--home", "projects"],  # a value that is also a command's name
]
OTHERS = [
    ["projects", "list"],
    ["--help"],
    ["--version"],
    ["--hom", "/tmp/x"],  # an abbreviation: argparse's business
    ["--home"],
    ["--home", "--smoke"],
    ["--home="],
    ["--smoke", "assets", "list", "--project", "p"],
    ["--", "--smoke"],
    ["-x"],
]


@pytest.mark.parametrize("argv", WINDOW)
def test_window_arguments_parse_as_the_full_parser_does(argv):
    assert window_args(argv) == build_parser().parse_args(argv)


@pytest.mark.parametrize("argv", OTHERS)
def test_anything_else_is_left_to_the_full_parser(argv):
    assert window_args(argv) is None
