"""A1111 infotext: the `parameters` text, written and read the way AUTOMATIC1111 v1.10.1 does.

`format_infotext` / `parse_infotext` follow `processing.create_infotext` and
`infotext_utils.parse_generation_parameters`, so our files and A1111's read each other. The
parser runs in linear time on any input (tests/unit/test_hostile_input.py).
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "MAX_KEPT_TEXT",
    "TRUNCATION_MARKER",
    "Infotext",
    "build_params",
    "cap_text",
    "format_infotext",
    "parse_infotext",
    "quote",
    "request_params",
]

# --- A1111 infotext -------------------------------------------------------------------------------

# Both regexes are A1111 v1.10.1's own (`infotext_utils.re_param_code`, `re_imagesize`).
# `_RE_PARAM` is kept as the specification only: run with findall on a long line it backtracks
# quadratically (a megabyte of "a a a ..." never ends), so `_param_pairs` gives the same pairs
# in linear time (tests/unit/test_hostile_input.py compares the two on random lines).
_RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_RE_IMAGESIZE = re.compile(r"^(\d+)x(\d+)$")
_NEGATIVE_PREFIX = "Negative prompt:"
# Pieces of `_RE_PARAM` that cannot backtrack: each is matched once at a known position.
_RE_SPACES = re.compile(r"\s*")
_RE_WORD = re.compile(r"\w")
_RE_KEY_REST = re.compile(r"[\w \-/]*")
_RE_BACKSLASHES = re.compile(r"\\*")
_RE_UNTIL_COMMA = re.compile(r"[^,]*")

MAX_KEPT_TEXT = 64 * 1024
"""Most characters of an infotext, prompt or negative prompt that the catalog keeps from a file
or a server. Longer text is cut and ends with `TRUNCATION_MARKER`; the file keeps it whole.
(A text at most a marker's length longer than the limit is kept as is.)"""

TRUNCATION_MARKER = "\n[cut by DLX Art Studio: the first {kept:,} of {total:,} characters are kept]"
"""Appended to text cut by `cap_text` (on a line of its own, so it never reads as parameters)."""


def cap_text(text: str | None, limit: int = MAX_KEPT_TEXT) -> str | None:
    """Cut `text` to `limit` characters plus a `TRUNCATION_MARKER` saying so.

    Args:
        text: Text from outside (an infotext, a prompt), or None.
        limit: The most characters to keep before the marker.

    Returns:
        `text` unchanged when it is short enough (or None), else its first `limit` characters
        and the marker. Cutting an already cut text again gives the same text.
    """
    # The slack lets a cut text (limit + marker) pass unchanged a second time.
    if text is None or len(text) <= limit + len(TRUNCATION_MARKER) + 40:
        return text
    return text[:limit] + TRUNCATION_MARKER.format(kept=limit, total=len(text))


def quote(value: object) -> str:
    """Quote one infotext value the way A1111's `infotext_utils.quote` does.

    Args:
        value: Any value; it is turned into text with `str()`.

    Returns:
        The text unchanged unless it contains `,`, `:` or a newline; then a JSON string
        (double quotes, backslash escapes, non-ASCII kept as is).
    """
    text = str(value)
    if "," not in text and ":" not in text and "\n" not in text:
        return text
    # A1111 dumps the original object; dumping its text keeps non-str values parseable.
    return json.dumps(text, ensure_ascii=False)


def format_infotext(prompt: str, negative: str, params: Mapping[str, object]) -> str:
    """Build an A1111 infotext (the PNG `parameters` text).

    Args:
        prompt: The prompt; may span several lines. Written as is, never quoted.
        negative: The negative prompt; its `Negative prompt:` line is left out when empty.
        params: Parameter pairs in the order to write them (see `build_params`). Pairs whose
            value is None are skipped; a pair whose value equals its key is written as the
            bare key, as A1111 does for flags.

    Returns:
        `prompt`, the optional negative prompt line and the parameter line, `.strip()`ped.
    """
    pairs = ", ".join(
        key if key == value else f"{key}: {quote(value)}"
        for key, value in params.items()
        if value is not None
    )
    negative_text = f"\n{_NEGATIVE_PREFIX} {negative}" if negative else ""
    return f"{prompt}{negative_text}\n{pairs}".strip()


def build_params(
    *,
    steps: int | None = None,
    sampler: str | None = None,
    scheduler_label: str | None = None,
    cfg_scale: float | None = None,
    seed: int | None = None,
    width: int | None = None,
    height: int | None = None,
    model_hash: str | None = None,
    model: str | None = None,
    denoising_strength: float | None = None,
    extra: Mapping[str, object] | None = None,
    version: str | None = None,
) -> dict[str, object]:
    """Collect generation parameters in A1111's fixed infotext key order.

    Args:
        steps: Sampling steps (`Steps`).
        sampler: Sampler name (`Sampler`).
        scheduler_label: Scheduler label actually used, e.g. `Karras` (`Schedule type`).
        cfg_scale: CFG scale (`CFG scale`); floats keep their `.0` like A1111's API.
        seed: The resolved seed (`Seed`).
        width: Requested width; `Size` is written only when width and height are both given.
        height: Requested height.
        model_hash: Short checkpoint hash (`Model hash`).
        model: Checkpoint name (`Model`).
        denoising_strength: img2img / inpaint strength (`Denoising strength`).
        extra: Further pairs in their own order, e.g. `Mask blur`, `Inpaint area`,
            `Masked area padding`, `Masked content`, `Backend`. A key that is already present
            takes the new value but keeps its place.
        version: Generator version, written last (`Version`).

    Returns:
        A new dict; arguments that are None are left out.
    """
    size = f"{width}x{height}" if width is not None and height is not None else None
    fixed: dict[str, object | None] = {
        "Steps": steps,
        "Sampler": sampler,
        "Schedule type": scheduler_label,
        "CFG scale": cfg_scale,
        "Seed": seed,
        "Size": size,
        "Model hash": model_hash,
        "Model": model,
        "Denoising strength": denoising_strength,
    }
    params: dict[str, object] = {key: value for key, value in fixed.items() if value is not None}
    for key, value in (extra or {}).items():
        if value is not None:
            params[key] = value
    if version is not None:
        params["Version"] = version
    return params


def _to_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        number = _to_float(text)
        return int(number) if number is not None and number.is_integer() else None


def _to_float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Infotext:
    """A parsed infotext.

    Attributes:
        prompt: The prompt (lines joined with `\\n`).
        negative: The negative prompt, `""` when there is none.
        params: Every parameter as text, in file order. Quoted values are already decoded.
            A `WxH` value such as `Size: 512x768` is also split into `Size-1` / `Size-2`, as
            A1111 does.
    """

    prompt: str
    negative: str
    params: dict[str, str]

    def _get(self, key: str) -> str | None:
        return self.params.get(key)

    @property
    def steps(self) -> int | None:
        return _to_int(self._get("Steps"))

    @property
    def sampler(self) -> str | None:
        return self._get("Sampler")

    @property
    def scheduler(self) -> str | None:
        return self._get("Schedule type")

    @property
    def cfg_scale(self) -> float | None:
        return _to_float(self._get("CFG scale"))

    @property
    def seed(self) -> int | None:
        return _to_int(self._get("Seed"))

    def _size(self, index: int) -> int | None:
        value = _to_int(self._get(f"Size-{index}"))
        if value is None:
            match = _RE_IMAGESIZE.match(self._get("Size") or "")
            # _to_int: int() refuses more than 4,300 digits (ValueError), a file may hold more
            value = _to_int(match.group(index)) if match else None
        return value if value is not None and value > 0 else None

    @property
    def width(self) -> int | None:
        return self._size(1)

    @property
    def height(self) -> int | None:
        return self._size(2)

    @property
    def model(self) -> str | None:
        return self._get("Model")

    @property
    def model_hash(self) -> str | None:
        return self._get("Model hash")

    @property
    def denoising_strength(self) -> float | None:
        return _to_float(self._get("Denoising strength"))

    # hires fix (`Hires upscale`, `Hires steps`, `Hires upscaler`); the infotext's `Size` is
    # the first pass's size, the image is `Hires upscale` times larger

    @property
    def hires(self) -> bool:
        """True when the image was made with the hires fix."""
        return any(key in self.params for key in ("Hires upscale", "Hires upscaler",
                                                  "Hires resize"))

    @property
    def hires_scale(self) -> float | None:
        return _to_float(self._get("Hires upscale"))

    @property
    def hires_steps(self) -> int | None:
        return _to_int(self._get("Hires steps"))

    @property
    def hires_upscaler(self) -> str | None:
        return self._get("Hires upscaler")

    # variations: `Variation seed` (A1111 subseed) and `Variation seed strength`

    @property
    def variation_seed(self) -> int | None:
        return _to_int(self._get("Variation seed"))

    @property
    def variation_strength(self) -> float | None:
        return _to_float(self._get("Variation seed strength"))


def request_params(text: str) -> dict[str, object]:
    """The generation request an infotext describes, as `GenerationRequest` field names
    (`request_builder.PARAMETERS`), for "reuse these settings".

    Only what the text holds is returned: `prompt`, `negative`, `steps`, `sampler`,
    `scheduler` (the `Schedule type` label; left out when "Automatic"), `cfg_scale`, `seed`,
    `width`/`height` (the requested, first-pass size), `model`, `denoising_strength`, the hires
    fix (`enable_hr`, `hr_scale`, `hr_upscaler`, `hr_second_pass_steps`) and a variation
    (`subseed`, `subseed_strength`).

    Styles cannot be recovered: A1111 writes the prompts with the styles already merged in,
    and not their names. The values are not range-checked here (`build_request` does that).
    """
    info = parse_infotext(text)
    found: dict[str, object | None] = {
        "prompt": info.prompt, "negative": info.negative, "steps": info.steps,
        "sampler": info.sampler,
        "scheduler": info.scheduler if info.scheduler != "Automatic" else None,
        "cfg_scale": info.cfg_scale, "seed": info.seed, "width": info.width,
        "height": info.height, "model": info.model,
        "denoising_strength": info.denoising_strength,
    }
    if info.hires:
        found.update(enable_hr=True, hr_scale=info.hires_scale or 2.0,
                     hr_upscaler=info.hires_upscaler or "Latent",
                     hr_second_pass_steps=info.hires_steps or 0)
    strength = info.variation_strength
    if strength:
        found.update(subseed=info.variation_seed if info.variation_seed is not None else -1,
                     subseed_strength=strength)
    return {key: value for key, value in found.items() if value is not None}


def _unquote(text: str) -> str:
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str) else text


def _unescaped_quotes(line: str) -> list[int]:
    """Offsets of the `"` in `line` preceded by an even run of backslashes (sorted)."""
    found = []
    at = line.find('"')
    while at >= 0:
        run = 0
        while at - run - 1 >= 0 and line[at - run - 1] == "\\":  # runs are disjoint: O(n)
            run += 1
        if run % 2 == 0:
            found.append(at)
        at = line.find('"', at + 1)
    return found


def _run_end(pattern: re.Pattern[str], line: str, pos: int) -> int:
    """Where `pattern` (one that matches the empty string, so always matches) ends at `pos`."""
    match = pattern.match(line, pos)
    return pos if match is None else match.end()


def _closing_quote(line: str, start: int, quotes: list[int]) -> int:
    """Where `"(?:\\.|[^\\"])+"` opened just before `start` closes; -1 if it does not."""
    run_end = _run_end(_RE_BACKSLASHES, line, start)
    if run_end < len(line) and line[run_end] == '"':
        if run_end == start:
            return -1  # `""`: the pattern needs at least one character
        if (run_end - start) % 2 == 0:
            return run_end
    # Past the backslashes that start the value, escapes pair up as in the whole line.
    index = bisect.bisect_right(quotes, run_end)
    return quotes[index] if index < len(quotes) else -1


def _param_pairs(line: str) -> list[tuple[str, str]]:
    """`_RE_PARAM.findall(line)`, in time linear in `len(line)` (up to a log factor).

    Every attempt of the regex is replayed with anchored, non-backtracking steps. An attempt
    that fails on its key fails for every start inside that key too, so the scan jumps past it;
    the closing quote of a quoted value is looked up, not searched for again from each value.
    """
    pairs: list[tuple[str, str]] = []
    quotes: list[int] | None = None
    size = len(line)
    pos = 0
    while pos < size:
        key_start = _run_end(_RE_SPACES, line, pos)
        if key_start >= size:
            break
        if not _RE_WORD.match(line, key_start):
            pos = key_start + 1
            continue
        key_end = _run_end(_RE_KEY_REST, line, key_start + 1)
        if key_end == key_start + 1 or key_end >= size or line[key_end] != ":":
            pos = key_end
            continue
        value_start = _run_end(_RE_SPACES, line, key_end + 1)
        end = -1
        if value_start < size and line[value_start] == '"':
            if quotes is None:
                quotes = _unescaped_quotes(line)
            close = _closing_quote(line, value_start + 1, quotes)
            if close >= 0 and (close + 1 == size or line[close + 1] == ","):
                end = close + 1
        if end < 0:
            end = _run_end(_RE_UNTIL_COMMA, line, value_start)
        pairs.append((line[key_start:key_end], line[value_start:end]))
        pos = end + 1 if end < size else end
    return pairs


def parse_infotext(text: str) -> Infotext:
    """Parse an A1111 infotext the way `parse_generation_parameters` (v1.10.1) does.

    The text is split on `\\n`. The last line is the parameter line only if A1111's pair
    regex finds at least three `key: value` pairs in it; otherwise it is a prompt line. Lines
    before the first line starting with `Negative prompt:` form the prompt, the rest the
    negative prompt. Every line is stripped, as in A1111.

    The format is ambiguous, and this parser keeps A1111's answers:

    * a prompt (with no parameter line after it) whose last line looks like `a: b, c: d, e: f`
      is read as parameters;
    * a prompt line starting with `Negative prompt:` starts the negative prompt;
    * a raw value that starts and ends with `"` is JSON-decoded;
    * a bare flag key (written without `: value`) is not recovered.

    One deliberate difference: a pair with an empty value is kept as `""` (A1111 drops it
    through an IndexError).

    Args:
        text: The infotext, e.g. the PNG `parameters` chunk.

    Returns:
        The prompt, negative prompt and parameters. Never raises for any str input, and runs
        in time linear in its length (a megabyte-long line included).
    """
    *lines, last_line = text.strip().split("\n")
    pairs = _param_pairs(last_line)
    if len(pairs) < 3:
        lines.append(last_line)
        pairs = []

    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    done_with_prompt = False
    for raw_line in lines:
        line = raw_line.strip()
        if line.startswith(_NEGATIVE_PREFIX):
            done_with_prompt = True
            line = line[len(_NEGATIVE_PREFIX) :].strip()
        target = negative_lines if done_with_prompt else prompt_lines
        # A1111 skips empty lines only while nothing has been collected yet.
        if target or line:
            target.append(line)

    params: dict[str, str] = {}
    for key, raw_value in pairs:
        value = _unquote(raw_value)
        params[key] = value
        match = _RE_IMAGESIZE.match(value)
        if match is not None:
            params[f"{key}-1"] = match.group(1)
            params[f"{key}-2"] = match.group(2)
    return Infotext("\n".join(prompt_lines), "\n".join(negative_lines), params)
