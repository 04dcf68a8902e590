"""The `upscale` and `outpaint` commands (registered by `dlx_art.cli`).

Both make one new image from an image of the library, a child of it (same lineage), through
the library's job queue like `refine`: the same output (`--json` prints the job's outcome), the
same exit codes (2 usage, 3 no backend, 4 rejected by the server, 5 cancelled).

    dlx-art upscale ID [--scale X] [--upscaler NAME] [--upscaler2 NAME --upscaler2-visibility X]
    dlx-art outpaint ID [--left N] [--right N] [--top N] [--bottom N] [--prompt TEXT]
                     [--negative TEXT] [--denoise X] [--seed N] [--steps N]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from dlx_art.errors import UsageError

__all__ = ["IMAGE_OPS", "add_image_op_commands", "image_op_request"]

IMAGE_OPS = ("upscale", "outpaint")


Flag = Callable[[argparse.ArgumentParser], None]


def add_image_op_commands(commands: Any, checked: Callable[[str], Any], backend_flag: Flag,
                          json_flag: Flag) -> None:
    """Add `upscale` and `outpaint` to the command parsers.

    Args:
        commands: the sub-parsers of `dlx-art`.
        checked: `cli._checked` (an argparse type running a `generation.types` check).
        backend_flag, json_flag: add `--backend` and `--json`, as on the other commands.
    """
    p = commands.add_parser("upscale", help="a bigger copy of an image, made by an A1111 "
                                            "upscaler (new image, same lineage)")
    p.add_argument("id")
    p.add_argument("--scale", type=checked("check_upscale_factor"), default=2.0,
                   help="factor, above 0 and at most 8 (default 2)")
    p.add_argument("--upscaler", type=checked("check_upscaler"), default="Lanczos",
                   help="an upscaler the server lists (default Lanczos)")
    p.add_argument("--upscaler2", type=checked("check_upscaler"), metavar="NAME",
                   help="a second upscaler blended in (needs --upscaler2-visibility)")
    p.add_argument("--upscaler2-visibility", type=checked("check_visibility"), metavar="X",
                   help="how much of the second upscaler shows, 0 to 1")
    backend_flag(p)
    json_flag(p)

    p = commands.add_parser("outpaint", help="grow an image's canvas and paint the new area "
                                             "(new image, same lineage)")
    p.add_argument("id")
    for side in ("left", "right", "top", "bottom"):
        p.add_argument(f"--{side}", type=checked("check_expand"), default=0, metavar="N",
                       help=f"pixels added on the {side} (a multiple of 8)")
    p.add_argument("--prompt", help="what the new area shows (default: the image's prompt)")
    p.add_argument("--negative")
    p.add_argument("--denoise", type=checked("check_denoise"), default=0.9,
                   help="denoising strength, 0 to 1 (default 0.9)")
    p.add_argument("--seed", type=checked("check_seed"), default=-1,
                   help="-1 (random) or 0..4294967295")
    p.add_argument("--steps", type=checked("check_steps"))
    backend_flag(p)
    json_flag(p)


def image_op_request(args: argparse.Namespace, library: Any) -> Any:
    """The checked `GenerationRequest` of an `upscale` or `outpaint` command.

    Raises:
        NotFound: No image has that id.
        UsageError: The image is in no project, or the settings cannot be used.
    """
    from dlx_art.generation.request_builder import build_request

    parent = library.get_asset(args.id)
    if parent.projectId is None:
        raise UsageError("This image belongs to no project; import it into one first.")
    params: dict[str, object]
    if args.command == "upscale":
        if (args.upscaler2 is None) != (args.upscaler2_visibility is None):
            raise UsageError("--upscaler2 and --upscaler2-visibility go together: name the "
                             "second upscaler and how much of it shows (0 to 1).")
        params = {"upscaling_resize": args.scale, "upscaler_1": args.upscaler,
                  "upscaler_2": args.upscaler2 or "None",
                  "upscaler_2_visibility": args.upscaler2_visibility or 0.0,
                  "backend": args.backend}
    else:
        params = {"expand_left": args.left, "expand_right": args.right,
                  "expand_top": args.top, "expand_bottom": args.bottom,
                  "prompt": args.prompt, "negative": args.negative,
                  "denoising_strength": args.denoise, "seed": args.seed, "steps": args.steps,
                  "backend": args.backend}
    # what is not given comes from the parent image (prompt, model, sampler, steps...)
    return build_request(args.command, parent.projectId, params, parent=parent,
                         init_image=library.read_bytes(parent))
