"""Chart geometry shared by the HTML (SVG) and PDF renderers: scales, ticks and which labels to print."""

from __future__ import annotations

import math
from collections.abc import Sequence


def nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= value (1 for nothing to show)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-12):
            return step * power
    return 10 * power


def ticks(top: float, count: int = 4) -> list[float]:
    return [top * i / count for i in range(count + 1)]


def label_indices(labels: Sequence[str], most: int = 12) -> list[int]:
    """Indices of the time labels to print: month starts when a series spans months, else evenly spaced."""
    if not labels:
        return []
    if len(labels) <= most:
        return list(range(len(labels)))
    month_starts = [i for i, label in enumerate(labels) if len(label) == 10 and label.endswith("-01")]
    if 2 <= len(month_starts) <= most:
        return month_starts
    step = math.ceil(len(labels) / most)
    return list(range(0, len(labels), step))


def short_label(label: str) -> str:
    """2026-10-05 -> 10-05 in a day series; other labels unchanged."""
    return label[5:] if len(label) == 10 else label


def tick_label(value: float, top: float, count: int = 4) -> str:
    """An axis label with as many decimals as the tick step needs (12.5, 125, 0.25), never more."""
    step = top / count
    for decimals in range(0, 10):
        if abs(round(step, decimals) - step) <= 1e-9 * max(step, 1e-300):
            break
    return f"{value:,.{decimals}f}"
