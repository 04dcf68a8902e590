"""What "Use all" restores beyond the catalog's columns, and what it could not restore.

The catalog keeps prompt, negative, model, sampler, scheduler, steps, CFG, size and seed (LoRAs
are part of the prompt text, so they come back with it). The infotext holds more:
`request_params_of` reads the hires fix (scale, upscaler, second-pass steps, denoising
strength), the first-pass size, the variation seed and strength, and styles when the infotext
names them (A1111's own infotexts do not: they hold the styles' text merged into the prompt).
What is still left out (e.g. clip skip) is named, so nobody generates believing it was
restored. A model or sampler the server does not list is named too, before generating.
"""

from __future__ import annotations

from typing import Any

from dlx_art.library.infotext import parse_infotext, request_params

#: infotext keys with no field in the prompt panel (shown by these names)
UNSUPPORTED = {
    "Hires resize-1": "hires fix size (a fixed hires size)", "Clip skip": "clip skip",
    # not A1111's own (its infotexts hold the styles' text, not their names): a note, no guess
    "Styles": "styles", "Style": "styles",
}


#: The request fields "Use all" takes from the infotext (the rest come from the catalog).
INFOTEXT_FIELDS = ("width", "height", "enable_hr", "hr_scale", "hr_upscaler",
                   "hr_second_pass_steps", "denoising_strength", "subseed", "subseed_strength",
                   "styles")


def request_params_of(infotext: str | None) -> dict[str, Any]:
    """Request fields (`GenerationRequest` names) an image's infotext holds beyond the
    catalog's columns: `width`/`height` (the first-pass size), the hires fix (`enable_hr`,
    `hr_scale`, `hr_upscaler`, `hr_second_pass_steps`, `denoising_strength`), a variation
    (`subseed`, `subseed_strength`) and `styles` when the infotext names them (A1111's do not).
    {} when there is no infotext or it cannot be read. Read by `infotext.request_params`.
    """
    if not infotext:
        return {}
    try:
        found = request_params(infotext)
    except Exception:  # noqa: BLE001 - a damaged infotext only loses these fields
        return {}
    return {key: found[key] for key in INFOTEXT_FIELDS if key in found}


def not_restorable(infotext: str | None) -> list[str]:
    """The settings in `infotext` the prompt panel has no field for (deduplicated, in order)."""
    if not infotext:
        return []
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
    infotext = getattr(asset, "infotext", None)
    missing = not_restorable(infotext)
    extras = request_params_of(infotext)
    if "denoising_strength" in extras and not extras.get("enable_hr"):
        # a refinement's strength: the prompt panel makes new images (the canvas has its own)
        missing.append("denoising strength (of a refinement)")
    if missing:
        notes.append("Not restored (no field for it here yet): " + ", ".join(missing) + ".")
    styles = getattr(panel, "styles", lambda: [])()
    if styles and "styles" not in extras:
        notes.append("The chosen styles stay as they were: this image's infotext does not "
                     "name its styles.")
    return notes
