"""Numbers as people read them in the HTML and PDF (JSON and CSV keep the raw values)."""

from __future__ import annotations


def number(value: float | None, unknown: str = "unknown") -> str:
    """Grams, Wh, mL: thousands separators, more decimals for small values, never "0" for a tiny figure."""
    if value is None:
        return unknown
    size = abs(value)
    if size == 0:
        return "0"
    if size < 0.001:
        return f"{value:.2e}"
    if size < 1:
        return f"{value:.4f}"
    if size < 100:
        return f"{value:,.3f}"
    if size < 100_000:
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def count(value: int) -> str:
    return f"{value:,}"


def percent(value: float | None, unknown: str = "n/a") -> str:
    return unknown if value is None else f"{value:.1f} %"


def share(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def tonnes(value: float | None, unknown: str = "not provided") -> str:
    return unknown if value is None else f"{value:.6f}"


def money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def text(value: str | None, unknown: str = "n/a") -> str:
    return value if value else unknown
