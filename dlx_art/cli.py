"""`dlx-art`: the command line other programs and scripts rely on.

With no command it starts the window. Every listing command takes `--json`; errors are one line
on stderr with a non-zero exit code (2 for usage errors, see `dlx_art.errors` for the others).
Output to a closed pipe (`| head -1`) ends quietly with exit code 141 (`PIPE_CLOSED_EXIT`);
SIGTERM is a clean exit with code 143 (clean-up runs; a generation is cancelled on the server).
Qt is never imported here unless the window is started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from dlx_art import __version__
from dlx_art.cli_extras import IMAGE_OPS, add_image_op_commands, image_op_request
from dlx_art.errors import DlxError, UsageError

log = logging.getLogger("dlx_art.cli")


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"dlx-art: {message} (see `dlx-art --help`)\n")


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print machine-readable JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dlx-art", description="DLX Art Studio: AI image generation studio.")
    parser.add_argument("--version", action="version", version=f"dlx-art {__version__}")
    parser.add_argument("--home", metavar="DIR",
                        help="keep config, catalog and images under DIR (also DLX_ART_HOME)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--smoke", action="store_true",
                        help="start the window, let the event loop run, then exit 0")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    projects = commands.add_parser("projects", help="list and manage projects")
    psub = projects.add_subparsers(dest="action", metavar="ACTION", required=True,
                                   parser_class=_Parser)
    p = psub.add_parser("list", help="list projects")
    p.add_argument("--all", action="store_true", help="include archived projects")
    _json_flag(p)
    p = psub.add_parser("create", help="create a project")
    p.add_argument("name")
    p.add_argument("--type", default="art", choices=["art", "unified", "dev"])
    p.add_argument("--description")
    _json_flag(p)
    p = psub.add_parser("rename", help="rename a project (and its folder)")
    p.add_argument("name")
    p.add_argument("new_name")
    _json_flag(p)
    for action in ("archive", "unarchive"):
        p = psub.add_parser(action, help=f"{action} a project")
        p.add_argument("name")
        _json_flag(p)

    assets = commands.add_parser("assets", help="list and manage images")
    asub = assets.add_subparsers(dest="action", metavar="ACTION", required=True,
                                 parser_class=_Parser)
    p = asub.add_parser("list", help="list a project's images, newest first")
    p.add_argument("--project", required=True)
    p.add_argument("--favorites", action="store_true")
    p.add_argument("--search", metavar="TEXT")
    p.add_argument("--limit", type=_positive_int, default=50)
    p.add_argument("--trash", action="store_true", help="list the project's trash")
    _json_flag(p)
    for action, text in (("show", "show one image"), ("trash", "move an image to the trash"),
                         ("restore", "restore an image from the trash"),
                         ("lineage", "show an image's ancestors and descendants")):
        p = asub.add_parser(action, help=text)
        p.add_argument("id")
        _json_flag(p)
    p = asub.add_parser("favorite", help="mark an image as favorite")
    p.add_argument("id")
    p.add_argument("--off", action="store_true", help="remove the mark")
    _json_flag(p)
    p = asub.add_parser("empty-trash", help="delete trashed images for good")
    _json_flag(p)

    p = commands.add_parser("import", help="import images or folders into a project")
    p.add_argument("--project", required=True)
    p.add_argument("paths", nargs="+", metavar="PATH")
    _json_flag(p)

    p = commands.add_parser("export", help="copy an image out of the library")
    p.add_argument("id")
    p.add_argument("dest")
    p.add_argument("--strip-metadata", action="store_true")
    p.add_argument("--force", action="store_true",
                   help="replace an existing file (never one inside the library)")
    _json_flag(p)

    p = commands.add_parser("doctor", help="check catalog and files; --repair fixes what it can")
    p.add_argument("--repair", action="store_true")
    _json_flag(p)

    p = commands.add_parser("rebuild", help="recreate the catalog from the image files")
    _json_flag(p)

    backups = commands.add_parser("backups", help="list or restore catalog backups")
    bsub = backups.add_subparsers(dest="action", metavar="ACTION", required=True,
                                  parser_class=_Parser)
    p = bsub.add_parser("list")
    _json_flag(p)
    p = bsub.add_parser("create")
    _json_flag(p)
    p = bsub.add_parser("restore")
    p.add_argument("name", help="a backup file name from `backups list`")
    _json_flag(p)

    _add_generation_commands(commands)
    _add_library_commands(commands)
    _add_serve_command(commands)
    return parser


def _add_serve_command(commands: Any) -> None:
    p = commands.add_parser("serve", help="serve the art API over HTTP for the suite's studios")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=_positive_int, default=7870)
    p.add_argument("--show-token", action="store_true",
                   help="print the API's bearer token (created if missing) and exit")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --host; put a TLS-terminating proxy in front")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="another Host name to answer for (e.g. the proxy's public name)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                   help="a browser origin allowed to call the API (none by default)")
    p.add_argument("--max-body-mb", type=_positive_int, default=32,
                   help="largest request body accepted, in MB")


def _add_generation_commands(commands: Any) -> None:
    from dlx_art.cli_toolbox import add_generate_flags

    def backend_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--backend", choices=["auto", "a1111", "hf"], default="auto")

    p = commands.add_parser("generate", help="generate images from a prompt")
    p.add_argument("--project", required=True)
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative", default="")
    p.add_argument("--model")
    p.add_argument("--sampler")
    p.add_argument("--scheduler")
    p.add_argument("--steps", type=_checked("check_steps"), default=20)
    p.add_argument("--cfg", type=_checked("check_cfg_scale"), default=7.0)
    p.add_argument("--seed", type=_checked("check_seed"), default=-1,
                   help="-1 (random) or 0..4294967295")
    p.add_argument("--width", type=_checked("check_side"), default=512)
    p.add_argument("--height", type=_checked("check_side"), default=512)
    p.add_argument("--batch", "--batch-count", type=_checked("check_image_count"), default=1,
                   dest="batch", help="batches run one after another (A1111 n_iter); "
                                      "images = batch count x batch size")
    add_generate_flags(p, _checked)
    backend_flag(p)
    _json_flag(p)

    p = commands.add_parser("refine", help="img2img or inpaint an image (new image, same lineage)")
    p.add_argument("id")
    p.add_argument("--mask", metavar="PNG", help="white = repaint; without it: img2img")
    p.add_argument("--prompt")
    p.add_argument("--negative")
    p.add_argument("--denoise", type=_checked("check_denoise"), default=0.75)
    p.add_argument("--mask-blur", type=_checked("check_mask_blur"), default=4)
    p.add_argument("--inpaint-area", choices=["whole", "masked"], default="whole")
    p.add_argument("--padding", type=_checked("check_padding"), default=32)
    p.add_argument("--masked-content", choices=["fill", "original", "noise", "nothing"],
                   default="original")
    p.add_argument("--invert-mask", action="store_true")
    p.add_argument("--seed", type=_checked("check_seed"), default=-1,
                   help="-1 (random) or 0..4294967295")
    p.add_argument("--steps", type=_checked("check_steps"))
    p.add_argument("--keep-partial", action="store_true", help=argparse.SUPPRESS)
    backend_flag(p)
    _json_flag(p)

    add_image_op_commands(commands, _checked, backend_flag, _json_flag)  # upscale, outpaint

    p = commands.add_parser("backends", help="configured backends: reachable, busy, models")
    _json_flag(p)


def _checked(check_name: str) -> Any:
    """An argparse type running one of `generation.types`' value checks (the GUI's too).

    A refused value is an argparse error: one line on stderr, exit code 2, nothing sent.
    `generation.types` is imported when a value is checked, not when the parser is built
    (the window builds it too, before its first paint).
    """

    def convert(value: str) -> Any:
        from dlx_art.generation import types

        try:
            return getattr(types, check_name)(value)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(exc.user_message) from None

    convert.__name__ = check_name.removeprefix("check_").replace("_", " ")
    return convert


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return number


# --- running ------------------------------------------------------------------------------------


def window_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """`argv` parsed without building the parser, when it only starts the window.

    Only the plain spellings (`--home DIR`, `--home=DIR`, `--smoke`, `--json`); anything else
    (a command, `--help`, an abbreviation, a missing value) returns None for `build_parser`
    to handle. The result equals what `build_parser().parse_args(argv)` returns. Building
    the full parser, every command's included, costs a start-up about 8 ms.
    """
    values: dict[str, Any] = {"home": None, "json": False, "smoke": False, "command": None}
    items = list(argv)
    while items:
        item = items.pop(0)
        if item in ("--smoke", "--json"):
            values[item[2:]] = True
        elif item == "--home" and items and not items[0].startswith("-"):
            values["home"] = items.pop(0)
        elif item.startswith("--home=") and len(item) > len("--home="):
            values["home"] = item[len("--home="):]
        else:
            return None
    return argparse.Namespace(**values)


def main(argv: Sequence[str] | None = None) -> int:
    entry = argv is None  # the program itself (the script, `python -m dlx_art`)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = window_args(argv) or build_parser().parse_args(argv)
    if args.command is None:
        from dlx_art.app import finish_process
        from dlx_art.app import main as app_main

        code = app_main(argv, parsed=args)
        return finish_process(code) if entry else code
    if args.home:
        os.environ["DLX_ART_HOME"] = str(Path(args.home).expanduser().resolve())
    from dlx_art.log import setup_logging

    setup_logging(console=False)
    # the log lives in the library's home: on a full or read-only drive a failed log write
    # must not print logging's own traceback over the one-line message
    logging.raiseExceptions = False
    try:
        with _sigterm_as_exit():
            code = _run(args)
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        return _pipe_closed()
    except KeyboardInterrupt:
        if args.command in ("generate", "refine", *IMAGE_OPS):  # nothing stored
            print("dlx-art: cancelled", file=sys.stderr)
            return 5
        print("dlx-art: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return _report(args, exc)


#: Exit code when the reader of our output went away (`dlx-art ... | head -1`): what a shell
#: reports for a program ended by SIGPIPE (128 + 13), like other command-line tools.
PIPE_CLOSED_EXIT = 141


def _pipe_closed() -> int:
    """End quietly when stdout's reader is gone (see the `signal` module's documentation).

    Python's own flush at exit would fail again and print "Exception ignored ...": point
    stdout at the null device first.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (tests)
        pass
    return PIPE_CLOSED_EXIT


class _Stop:
    """A SIGTERM that a running step takes as a request to stop (see `_sigterm_as_exit`)."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.cooperative = False
        self.signal = 0

    @contextlib.contextmanager
    def stops_by_itself(self) -> Iterator[Callable[[], bool]]:
        """While inside, SIGTERM only sets the flag the step polls; it exits after the step."""
        self.cooperative = True
        try:
            yield self.requested.is_set
        finally:
            self.cooperative = False
        if self.requested.is_set():
            raise SystemExit(128 + self.signal)


_STOP = _Stop()


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into `SystemExit(143)` in the main thread, so that cleanup runs.

    Without this, SIGTERM ends the process at once: `finally` blocks, context managers and the
    import's clean-up of staged temporary files never run. Only done on the main thread
    (signals cannot be set elsewhere); the previous handler is put back after.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, _frame: Any) -> None:
        signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends at once
        if _STOP.cooperative:
            # the running step stops at its next safe point (an import between batches):
            # raising here could land inside a module being imported and leave it half made
            _STOP.signal = signum
            _STOP.requested.set()
            return
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _report(args: argparse.Namespace, exc: Exception) -> int:
    """One line on stderr for a failed command; returns its exit code."""
    from dlx_art.library import faults

    # a full disk or a read-only library, whichever layer noticed it: one plain message
    plain = faults.explain(exc)
    if plain is not None:
        log.warning("command %s failed: %s (%s)", args.command, plain.user_message, exc)
        exc = plain
    if isinstance(exc, DlxError):
        print(f"dlx-art: {_one_line(exc.user_message)}", file=sys.stderr)
        return exc.exit_code
    # a bug: keep the traceback in the log, one line for the person
    log.exception("command %s failed", args.command)
    print(f"dlx-art: unexpected error: {_one_line(str(exc)) or type(exc).__name__} "
          "(details in the log)", file=sys.stderr)
    return 1


def gui_main() -> int:
    """Entry point of the GUI script (double-click on Windows: no console window)."""
    from dlx_art.app import finish_process
    from dlx_art.app import main as app_main

    argv = sys.argv[1:]
    return finish_process(app_main(argv, parsed=window_args(argv)))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _run(args: argparse.Namespace) -> int:
    from dlx_art.config import load_context
    from dlx_art.library import lock

    context = load_context()
    # names this process when maintenance elsewhere is refused because of it
    lock.set_process_label(f"dlx-art {args.command}")
    if args.command == "rebuild":
        from dlx_art.library.service import Library

        library, report = Library.rebuild(context.storage_root)
        library.close()
        return _emit(args, report.to_json(), "Catalog rebuilt: " + report.summary())
    if args.command == "library":
        return _library_command(args, context)
    if args.command == "backups" and args.action == "restore":
        from dlx_art.library.service import Library

        path = Library.restore_backup(context.storage_root, args.name)
        return _emit(args, {"restored": str(path)}, f"Restored the catalog from {args.name}.")
    if args.command == "backups" and args.action == "list":
        return _backups_list(args, context.storage_root)  # works on a damaged catalog
    if args.command == "doctor":
        damage = _catalog_damage(context.storage_root)
        if damage is not None:
            if getattr(args, "json", False):
                print(json.dumps({"damaged": True, "message": damage, "clean": False}))
            print(f"dlx-art: {damage}", file=sys.stderr)
            return 1
    library = context.open_library()
    if library.recovery:
        print(f"dlx-art: {library.recovery}", file=sys.stderr)
    try:
        handler = _HANDLERS[args.command]
        return handler(args, library, context)
    finally:
        library.close()


def _emit(args: argparse.Namespace, data: object, text: str) -> int:
    if getattr(args, "json", False):
        print(json.dumps(data, ensure_ascii=False, indent=None))
    else:
        print(text)
    return 0


def _table(rows: list[list[str]], header: list[str]) -> str:
    if not rows:
        return ""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]
    return "\n".join(lines)


def _projects(args: argparse.Namespace, library: Any, _context: Any) -> int:
    if args.action == "list":
        projects = library.list_projects(include_archived=args.all)
        data = []
        for project in projects:
            item = project.to_json()
            item["assetCount"] = library.count_assets(project.id)
            data.append(item)
        text = _table([[p["name"], p["type"], p["status"], str(p["assetCount"])] for p in data],
                      ["NAME", "TYPE", "STATUS", "IMAGES"]) or "No projects yet."
        return _emit(args, data, text)
    if args.action == "create":
        project = library.create_project(args.name, type=args.type, description=args.description)
        return _emit(args, project.to_json(),
                     f"Created project {project.name!r} in Projects/{project.folder}.")
    if args.action == "rename":
        project = library.rename_project(args.name, args.new_name)
        return _emit(args, project.to_json(), f"Renamed to {project.name!r}.")
    project = library.set_archived(args.name, args.action == "archive")
    return _emit(args, project.to_json(), f"Project {project.name!r} is now {project.status}.")


def _asset_line(asset: Any) -> list[str]:
    prompt = asset.prompt.replace("\n", " ")
    return [asset.id, asset.createdAt.strftime("%Y-%m-%d %H:%M"),
            "*" if asset.isFavorite else "", _size(asset.width, asset.height),
            prompt[:60] + ("…" if len(prompt) > 60 else "")]


def _size(width: int | None, height: int | None) -> str:
    """`512x768`, or blank when the catalog does not know (rows written by other studios)."""
    return f"{width}x{height}" if width is not None and height is not None else ""


def _assets(args: argparse.Namespace, library: Any, _context: Any) -> int:
    if args.action == "list":
        project = library.get_project(args.project)
        assets = library.assets(project.id, limit=args.limit, favorites=args.favorites,
                                search=args.search, trashed=args.trash)
        text = _table([_asset_line(a) for a in assets], ["ID", "CREATED", "FAV", "SIZE",
                                                          "PROMPT"]) or "No images."
        return _emit(args, [a.to_json() for a in assets], text)
    if args.action == "empty-trash":
        count = library.empty_trash()
        return _emit(args, {"deleted": count}, f"Deleted {count} images for good.")
    if args.action == "lineage":
        lineage = library.lineage(args.id)
        data = {"ancestors": [a.to_json() for a in lineage.ancestors],
                "descendants": [dict(a.to_json(), depth=d) for a, d in lineage.descendants]}
        lines = [f"{'  ' * i}↑ {a.id}  {a.prompt[:50]}" for i, a in
                 enumerate(reversed(lineage.ancestors))]
        lines.append(f"{'  ' * len(lineage.ancestors)}• {args.id}")
        lines += [f"{'  ' * (len(lineage.ancestors) + d)}↓ {a.id}  {a.prompt[:50]}"
                  for a, d in lineage.descendants]
        return _emit(args, data, "\n".join(lines))
    if args.action == "show":
        asset = library.get_asset(args.id)
    elif args.action == "favorite":
        asset = library.set_favorite(args.id, not args.off)
    elif args.action == "trash":
        asset = library.trash(args.id)
    else:
        asset = library.restore(args.id)
    data = asset.to_json()
    if args.action == "show":
        text = "\n".join(f"{k}: {v}" for k, v in data.items() if v not in (None, ""))
    else:
        text = {"favorite": "Favorite mark removed." if getattr(args, "off", False)
                else "Marked as favorite.",
                "trash": "Moved to the trash.", "restore": "Restored."}[args.action]
    return _emit(args, data, text)


def _import(args: argparse.Namespace, library: Any, _context: Any) -> int:
    project = library.get_project(args.project)
    missing = [p for p in args.paths if not Path(p).exists()]
    with _STOP.stops_by_itself() as should_stop:  # SIGTERM: committed batches stay
        report = library.import_paths(project.id, [p for p in args.paths if p not in missing],
                                      should_stop=should_stop)
    report.rejected[:0] = [(p, f"{p} does not exist.") for p in missing]
    for _path, reason in report.rejected:
        print(f"dlx-art: skipped: {_one_line(reason)}", file=sys.stderr)
    text = f"Imported {len(report.imported)} images into {project.name!r}"
    if report.duplicates:
        text += f", {len(report.duplicates)} already there"
    if report.rejected:
        text += f", {len(report.rejected)} rejected"
    _emit(args, report.to_json(), text + ".")
    return 1 if report.rejected and not report.imported else 0


def _export(args: argparse.Namespace, library: Any, _context: Any) -> int:
    target = library.export(args.id, args.dest, strip_metadata=args.strip_metadata,
                            force=args.force)
    return _emit(args, {"path": str(target)}, f"Exported to {target}.")


def _doctor(args: argparse.Namespace, library: Any, _context: Any) -> int:
    import sqlite3

    try:
        # a repair needs the library to itself: refused, naming who has it open, while the
        # window or another command uses it
        with library.exclusive("repair the library") if args.repair else \
                contextlib.nullcontext():
            report = library.reconcile(repair=args.repair)
    except Exception as exc:
        # damage the first look missed (the catalog changed meanwhile, or a kind SQLite's
        # own check does not see): say so in words, as for the damage found before opening
        if not isinstance(getattr(exc, "orig", exc), sqlite3.DatabaseError):
            raise
        from dlx_art.library import doctor

        message = doctor.describe_damage(library.db_path, str(getattr(exc, "orig", exc)))
        if getattr(args, "json", False):
            print(json.dumps({"damaged": True, "message": message, "clean": False}))
        print(f"dlx-art: {message}", file=sys.stderr)
        return 1
    _emit(args, report.to_json(), "\n".join([report.summary(), *report.details()]))
    if report.integrity != "ok":
        return 1
    return 0 if report.clean or args.repair else 1


def _backups(args: argparse.Namespace, library: Any, _context: Any) -> int:
    path = library.backup("manual")  # `list` and `restore` never open the catalog: see _run
    return _emit(args, {"path": str(path)}, f"Backed up to {path.name}.")


def _backups_list(args: argparse.Namespace, root: Path) -> int:
    from dlx_art.library.doctor import list_backups

    backups = list_backups(root.expanduser().resolve())
    data = [{"name": p.name, "size": p.stat().st_size} for p in backups]
    return _emit(args, data, "\n".join(p.name for p in backups) or "No backups yet.")


def _catalog_damage(root: Path) -> str | None:
    """The damage SQLite finds in the catalog, in words (before anything opens it)."""
    from dlx_art.library import doctor, storage

    root = root.expanduser()
    if doctor.catalog_is_lost(root):
        return None  # opening recovers it (from a backup or the files) and says so
    return doctor.catalog_damage(root / storage.DB_NAME)


def _status_json(status: Any) -> dict[str, object]:
    return {"name": status.name, "label": status.label, "state": status.state,
            "detail": status.detail, "models": status.models, "samplers": status.samplers,
            "schedulers": status.schedulers, "currentModel": status.current_model}


def _generation(args: argparse.Namespace, library: Any, context: Any) -> int:
    from dlx_art.generation.router import BackendRouter

    router = BackendRouter.from_settings(context.effective)
    if args.command == "backends":
        from dlx_art.cli_toolbox import backends_toolbox, toolbox_lines

        statuses = router.statuses()
        boxes = backends_toolbox(router, statuses)  # the first statuses are the A1111 clients
        lines = []
        entries = []
        for i, status in enumerate(statuses):
            line = f"{status.label}: {status.state}"
            if status.detail:
                line += f" ({status.detail})"
            if status.models:
                line += f"\n  models: {', '.join(status.models)}"
            entry = _status_json(status)
            if i < len(boxes):
                entry.update(boxes[i])
                if status.state in ("up", "busy"):
                    line += toolbox_lines(boxes[i])
            lines.append(line)
            entries.append(entry)
        return _emit(args, entries, "\n".join(lines))
    build = {"generate": _generate_request, "refine": _refine_request}.get(args.command,
                                                                          image_op_request)
    request = build(args, library)
    outcome = _run_job(request, router, library)
    text = "\n".join(f"{a.id}  {library.path_of(a)}" for a in outcome.assets)
    if outcome.fallback_reason:
        print(f"dlx-art: {outcome.fallback_reason}", file=sys.stderr)
    return _emit(args, outcome.to_json(), text or "No images were returned.")


def _generate_request(args: argparse.Namespace, library: Any) -> Any:
    from dlx_art.cli_toolbox import generate_params
    from dlx_art.generation.request_builder import build_request

    project = library.get_project(args.project)
    if project.archived:
        raise UsageError(f"Project {project.name!r} is archived; unarchive it first.")
    return build_request("txt2img", project.id, {
        "prompt": args.prompt, "negative": args.negative, "model": args.model,
        "sampler": args.sampler, "scheduler": args.scheduler, "steps": args.steps,
        "cfg_scale": args.cfg, "seed": args.seed, "width": args.width, "height": args.height,
        "batch_count": args.batch, "backend": args.backend, **generate_params(args),
    }, exact_size=True)  # a size typed here is refused, not changed, when not a multiple of 8


def _refine_request(args: argparse.Namespace, library: Any) -> Any:
    from dlx_art.generation.request_builder import build_request
    from dlx_art.library import metadata

    parent = library.get_asset(args.id)
    if parent.projectId is None:
        raise UsageError("This image belongs to no project; import it into one first.")
    image = library.read_bytes(parent)
    mask = None
    if args.mask:
        probe, mask = metadata.probe_file(Path(args.mask))
        if (probe.width, probe.height) != (parent.width, parent.height):
            raise UsageError(f"The mask is {probe.width}x{probe.height} but the image is "
                             f"{parent.width}x{parent.height}; a mask must have the image's size.")
    # what is not given here comes from the parent image (prompt, model, steps, size…)
    return build_request("inpaint" if mask is not None else "img2img", parent.projectId, {
        "prompt": args.prompt, "negative": args.negative, "steps": args.steps,
        "seed": args.seed, "backend": args.backend, "denoising_strength": args.denoise,
        "mask_blur": args.mask_blur, "masked_content": args.masked_content,
        "inpaint_area": args.inpaint_area, "padding": args.padding,
        "invert_mask": args.invert_mask, "keep_partial": args.keep_partial,
    }, parent=parent, init_image=image, mask=mask)


def _run_job(request: Any, router: Any, library: Any) -> Any:
    """Run the job in the background so Ctrl+C can cancel it on the server."""
    from dlx_art.errors import Cancelled
    from dlx_art.generation import background, pipeline
    from dlx_art.generation.types import CancelToken

    token = CancelToken()
    show = sys.stderr.isatty()

    def progress(p: Any) -> None:
        if show:
            steps = f" step {p.step}/{p.steps}" if p.step and p.steps else ""
            eta = f" ETA {p.eta_seconds:.0f}s" if p.eta_seconds else ""
            print(f"\r{p.fraction * 100:5.1f}%{steps}{eta} {p.message}   ", end="",
                  file=sys.stderr, flush=True)

    job = background.start(lambda: _queued_job(request, router, library, progress, token),
                           "dlx-art-job")
    try:
        # short waits in a loop: Ctrl+C (or SIGTERM, see main) lands between two of them
        while not background.wait(job, 0.2):
            pass
    except (KeyboardInterrupt, SystemExit) as stop:  # Ctrl+C, or SIGTERM (see main)
        print("\ndlx-art: cancelling…", file=sys.stderr)
        token.cancel()
        # wait for the job to stop (the pipeline stores nothing once cancelled, and the server
        # is told to interrupt it; a job run elsewhere is cancelled there and recorded); a second
        # Ctrl+C gives up waiting
        while not background.wait(job, 0.2):
            pass
        if job.exception() is None and job.result().assets:  # it had finished saving just before
            pipeline.withdraw(library, job.result().assets)
        if isinstance(stop, SystemExit):
            raise
        raise Cancelled() from None
    finally:
        if show:
            print(file=sys.stderr)
    return job.result()


def _queued_job(request: Any, router: Any, library: Any, progress: Any, token: Any) -> Any:
    """The job goes through the library's durable queue: run here if no runner holds the
    library (the window or `dlx-art serve`), else followed to its end with the same output."""
    from dlx_art.generation.runner import submit_and_wait

    return submit_and_wait(library, router, request, origin="cli", cancel=token,
                           on_progress=progress)


def _serve(args: argparse.Namespace, library: Any, context: Any) -> int:
    from dlx_art.service import server

    if args.show_token:
        return server.show_token(context)
    # logs go to the studio's log file (set up in `main`), like every command's
    return server.serve(context, library, host=args.host, port=args.port,
                        allow_remote=args.allow_remote, cors_origins=args.cors_origin,
                        extra_hosts=args.allowed_host, max_body=args.max_body_mb * 1024 * 1024)


_HANDLERS = {
    "projects": _projects,
    "assets": _assets,
    "import": _import,
    "export": _export,
    "doctor": _doctor,
    "backups": _backups,
    "generate": _generation,
    "refine": _generation,
    **dict.fromkeys(IMAGE_OPS, _generation),  # upscale, outpaint (cli_extras)
    "backends": _generation,
    "serve": _serve,
}


# --- library: move ------------------------------------------------------------------------------


def _add_library_commands(commands: Any) -> None:
    library = commands.add_parser("library", help="the library as a whole (move it)")
    lsub = library.add_subparsers(dest="action", metavar="ACTION", required=True,
                                  parser_class=_Parser)
    p = lsub.add_parser("move", help="copy the library to DEST, verify every file, use it there "
                                     "(the old folder is kept until you delete it)")
    p.add_argument("dest", metavar="DEST", help="an empty or new folder")
    _json_flag(p)


def _window_lock(root: Path) -> Any:
    """The one-window-per-library lock on `root` (refused while a window shows it)."""
    from dlx_art.library.lock import LibraryLock

    return LibraryLock(root)


def _library_command(args: argparse.Namespace, context: Any) -> int:
    import copy

    from dlx_art.library.relocate import (
        MoveProgress,
        check_move_target,
        describe_move,
        move_library,
    )

    source = context.storage_root.expanduser().resolve()
    target = Path(args.dest).expanduser().resolve()
    check_move_target(source, target)  # before any lock: "already there" is not "in use"
    quiet = getattr(args, "json", False) or not sys.stderr.isatty()
    last = [""]

    def show(_done: int, _total: int, _stage: str) -> None:
        text = describe_move(progress)
        if not quiet and text != last[0]:
            last[0] = text
            print(f"\r{text}", end="", file=sys.stderr, flush=True)

    progress = MoveProgress(show)
    source_lock, target_lock = _window_lock(source), _window_lock(target)
    source_lock.acquire()  # no window may use the library while it is copied
    try:
        target_lock.acquire()
        try:
            count = move_library(source, target, progress)
        finally:
            target_lock.release()
    finally:
        source_lock.release()
        if not quiet and last[0]:
            print(file=sys.stderr)
    settings = copy.deepcopy(context.settings)
    settings.storage_root = str(target)
    context.save_settings(settings)
    data = {"moved": True, "from": str(source), "to": str(target), "files": count,
            "old_folder_kept": True}
    return _emit(args, data, f"Moved the library to {target} ({count:,} files copied and "
                             f"verified). The old folder {source} was kept; delete it when you "
                             "no longer need it.")

