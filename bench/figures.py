"""The machine-readable line every benchmark ends with, for ``--against`` (against.py).

    FIGURES {"bench": "pipeline", "figures": {"p50_s": 0.91, ...}}

One JSON object on one line after the human-readable output, so that a harness running the
benchmark of another revision can read its figures without parsing prose. Names end in their
unit (``_s``, ``_ms``, ``_per_s``) or are a plain ratio (``_x``).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping

PREFIX = "FIGURES "


def emit(bench: str, figures: Mapping[str, float | None]) -> None:
    kept = {name: round(value, 6) for name, value in figures.items() if value is not None}
    print(PREFIX + json.dumps({"bench": bench, "figures": kept}, sort_keys=True), flush=True)


def parse(output: str) -> dict[str, float] | None:
    """The figures of the last FIGURES line in ``output``, or None when it has none."""
    for line in reversed(output.splitlines()):
        if line.startswith(PREFIX):
            loaded = json.loads(line[len(PREFIX) :])
            return {name: float(value) for name, value in loaded["figures"].items()}
    return None


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (p99 of 12 runs is the slowest: said, not hidden)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
