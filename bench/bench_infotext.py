"""Infotext parsing is linear in its input: time for 1 MB and 2 MB of adversarial lines.

Run (from the repository root, in the project's environment):

    python bench/bench_infotext.py          # prints one row per input shape, exits 1 on failure

For each shape the `parameters` text is parsed at 1 MB and at 2 MB (best of 3 runs each). A
linear parser takes about twice as long for twice the input; the check allows a ratio up to 4
(timer noise on a busy machine) and 10 s for any single parse. A1111's own regex
(`infotext._RE_PARAM` with findall), which the studio used before, is timed on 10 KB and 20 KB
of the first shape as the baseline: it grows with the square of the length (a megabyte of
"a a a ..." would take hours), so it is never run at full size.

The test suite keeps only the generous absolute guard (tests/unit/test_hostile_input.py): a
ratio measured on a loaded CI machine would fail for reasons that have nothing to do with the
code.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlx_art.library import infotext, metadata  # noqa: E402

SHAPES: dict[str, Callable[[int], str]] = {
    "words, no colon": lambda n: "a " * (n // 2),
    "unclosed quotes": lambda n: 'k: "x, ' * (n // 7),
    "backslashes": lambda n: "\\" * n,
    "colons": lambda n: "a:" * (n // 2),
    "quotes": lambda n: '"' * n,
    "escaped quotes": lambda n: 'k: "\\' * (n // 5),
    "real pairs": lambda n: "Steps: 20, Sampler: Euler, " * (n // 27),
}
MAX_RATIO = 4.0
MAX_SECONDS = 10.0


def best_of(runs: int, text: str) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        metadata.parse_infotext(text)
        best = min(best, time.perf_counter() - started)
    return best


def regex_time(text: str) -> float:
    started = time.perf_counter()
    infotext._RE_PARAM.findall(text)
    return time.perf_counter() - started


def main() -> int:
    failed = False
    print(f"{'shape':<18} {'1 MB s':>8} {'2 MB s':>8} {'ratio':>6}  A1111 regex, 10 KB / 20 KB")
    for name, make in SHAPES.items():
        one = best_of(3, "prompt\n" + make(1_000_000))
        two = best_of(3, "prompt\n" + make(2_000_000))
        ratio = two / max(one, 1e-9)
        # below 50 ms the ratio is timer noise; the absolute limit still applies
        bad = (ratio > MAX_RATIO and two > 0.05) or two > MAX_SECONDS
        failed |= bad
        baseline = ""
        if name == "words, no colon":
            small, double = regex_time(make(10_000)), regex_time(make(20_000))
            baseline = f"{small:.3f} s / {double:.3f} s (x{double / max(small, 1e-9):.1f})"
        print(f"{name:<18} {one:8.3f} {two:8.3f} {ratio:6.2f}  {baseline}"
              + ("  <- FAIL" if bad else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
