"""What "Use all" could not restore, in words the person can act on.

The prompt panel has fields for prompt, negative, model, sampler, scheduler, steps, CFG, size
and seed (LoRAs are part of the prompt text, so they come back with it). An infotext can hold
more (hires fix, variation seed, styles, a denoising strength for hires): those are named, so
nobody generates believing they were restored. A model or sampler the server does not list is
named too, before generating.
"""

from __future__ import annotations

from typing import Any

#: infotext keys with no field in the prompt panel yet (shown by these names)
UNSUPPORTED = {
    "Hires upscale": "hires fix", "Hires steps": "hires fix", "Hires upscaler": "hires fix",
    "Hires resize-1": "hires fix", "Denoising strength": "denoising strength",
    "Variation seed": "variation seed", "Variation seed strength": "variation seed",
    "Styles": "styles", "Style": "styles", "Clip skip": "clip skip",
}


def not_restorable(infotext: str | None) -> list[str]:
    """The settings in `infotext` the prompt panel has no field for (deduplicated, in order)."""
    if not infotext:
        return []
    # imported here: the metadata module loads Pillow, which the window's first frame does
    # not need (this runs when "Use all" is pressed)
    from dlx_art.library.metadata import parse_infotext

    try:
        params = parse_infotext(infotext).params
    except Exception:  # noqa: BLE001 - a damaged infotext only loses this note
        return []
    found: list[str] = []
    for key in params:
        name = UNSUPPORTED.get(key)
        if name and name not in found:
            found.append(name)
    return found


def _listed(combo: Any, value: str) -> bool:
    lowered = value.lower()
    return any(str(combo.itemData(i)).lower() == lowered for i in range(combo.count()))


def reuse_notes(panel: Any, asset: Any) -> list[str]:
    """Notes for reusing `asset` in `panel` (call before its values are applied)."""
    from dlx_art.gui.prompt_panel import _find_model

    notes: list[str] = []
    server_models = panel.model_combo.count() > 1  # 0 is "Server default"
    if asset.model and server_models and _find_model(panel.model_combo, asset.model) < 0:
        notes.append(f"The model “{asset.model}” is not on the server: choose another one "
                     "before generating.")
    server_samplers = getattr(panel, "_samplers_from_server", False)
    if asset.sampler and server_samplers and not _listed(panel.sampler_combo, asset.sampler):
        notes.append(f"The sampler “{asset.sampler}” is not on the server.")
    missing = not_restorable(getattr(asset, "infotext", None))
    if missing:
        notes.append("Not restored (no field for it here yet): " + ", ".join(missing) + ".")
    return notes
