"""The command line's A1111 toolbox: `generate`'s styles, batch, hires fix and variation flags,
and the LoRAs, embeddings, styles and upscalers `backends` lists per A1111 server.

Kept out of `cli.py` so that module stays small; `cli.py` calls `add_generate_flags`,
`generate_params` and `backends_toolbox`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from dlx_art.errors import UsageError

__all__ = ["add_generate_flags", "backends_toolbox", "generate_params", "toolbox_lines"]

HIRES_FLAGS = ("hires_scale", "hires_upscaler", "hires_steps", "hires_denoise")


def add_generate_flags(p: argparse.ArgumentParser, checked: Callable[[str], Any]) -> None:
    """`generate`'s A1111 toolbox flags (`checked` makes an argparse type from a check)."""
    p.add_argument("--style", action="append", default=[], metavar="NAME", dest="styles",
                   help="a saved A1111 style (repeat for several; applied in order)")
    p.add_argument("--batch-size", type=checked("check_image_count"), default=1,
                   help="images made together in one batch (A1111 batch_size; uses more memory)")
    p.add_argument("--hires-scale", type=checked("check_hr_scale"), metavar="X",
                   help="hires fix: upscale by X (e.g. 2) and refine; any --hires-* turns it on")
    p.add_argument("--hires-upscaler", metavar="NAME",
                   help="hires fix upscaler: a latent mode or an upscaler (default Latent)")
    p.add_argument("--hires-steps", type=checked("check_hr_steps"), metavar="N",
                   help="hires fix second-pass steps (0 = as many as --steps)")
    p.add_argument("--hires-denoise", type=checked("check_denoise"), metavar="X",
                   help="hires fix denoising strength 0..1 (default 0.75)")
    p.add_argument("--variation-seed", type=checked("check_variation_seed"), metavar="N",
                   help="variation seed (A1111 subseed); -1 = random")
    p.add_argument("--variation-strength", type=checked("check_variation_strength"),
                   metavar="X", help="how far from --seed the variation goes, 0..1")


def generate_params(args: argparse.Namespace) -> dict[str, object]:
    """`build_request` parameters for the toolbox flags that were given."""
    params: dict[str, object] = {"batch_size": args.batch_size}
    if args.styles:
        params["styles"] = list(args.styles)
    if any(getattr(args, name) is not None for name in HIRES_FLAGS):
        params.update(enable_hr=True, hr_scale=args.hires_scale,
                      hr_upscaler=args.hires_upscaler, hr_second_pass_steps=args.hires_steps,
                      denoising_strength=args.hires_denoise)
    if args.variation_seed is not None and not args.variation_strength:
        raise UsageError("A variation seed needs a variation strength above 0 "
                         "(--variation-strength, e.g. 0.3).")
    if args.variation_strength:
        params.update(subseed=args.variation_seed, subseed_strength=args.variation_strength)
    return params


def backends_toolbox(router: Any, statuses: list[Any]) -> list[dict[str, list[str]]]:
    """Per configured A1111 client (in `router.a1111` order, the first of `statuses`): its
    toolbox as name lists; empty lists for a server that is not up or cannot be read. Never
    raises for network problems."""
    from dlx_art.errors import DlxError

    found: list[dict[str, list[str]]] = []
    for client, status in zip(router.a1111, statuses, strict=False):
        entry: dict[str, list[str]] = {"loras": [], "embeddings": [], "styles": [],
                                       "upscalers": [], "latentModes": []}
        if status.state not in ("up", "busy"):
            found.append(entry)
            continue
        try:
            box = client.toolbox()
        except DlxError:
            found.append(entry)
            continue
        entry.update(loras=[lora.name for lora in box.loras],
                     embeddings=[emb.name for emb in box.embeddings],
                     styles=[style.name for style in box.styles], upscalers=list(box.upscalers),
                     latentModes=list(box.latent_modes))
        found.append(entry)
    return found


def toolbox_lines(entry: dict[str, list[str]]) -> str:
    """The plain `backends` line of one server's toolbox (counts; styles by name)."""
    styles = f" ({', '.join(entry['styles'][:10])})" if entry["styles"] else ""
    return (f"\n  toolbox: {len(entry['loras'])} LoRAs, {len(entry['embeddings'])} embeddings, "
            f"{len(entry['styles'])} styles{styles}, {len(entry['upscalers'])} upscalers")
