"""Equivalents for context, from a sourced, dated data file (config/reports/equivalents.yaml)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from meters.paths import data_dir
from meters.reports.model import Equivalent


@dataclass(frozen=True, slots=True)
class EquivalenceFactor:
    id: str
    label: str
    gco2e_per_unit: float
    unit: str
    source: str
    date: str


def default_path() -> Path:
    return data_dir() / "reports" / "equivalents.yaml"


def load_equivalents(path: Path | None = None) -> tuple[EquivalenceFactor, ...]:
    """Read the file; every entry needs a positive factor, a source and a date."""
    where = path or default_path()
    raw = yaml.safe_load(where.read_text(encoding="utf-8")) or {}
    factors: list[EquivalenceFactor] = []
    for index, entry in enumerate(raw.get("equivalents") or []):
        value = entry.get("gco2e_per_unit")
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ValueError(f"{where}: equivalents[{index}].gco2e_per_unit must be a number > 0")
        for name in ("id", "label", "unit", "source", "date"):
            if not entry.get(name):
                raise ValueError(f"{where}: equivalents[{index}].{name} is required")
        factors.append(
            EquivalenceFactor(
                str(entry["id"]),
                str(entry["label"]),
                float(value),
                str(entry["unit"]),
                str(entry["source"]),
                str(entry["date"]),
            )
        )
    return tuple(factors)


def equivalents_of(gco2e: float, factors: tuple[EquivalenceFactor, ...]) -> tuple[Equivalent, ...]:
    return tuple(
        Equivalent(factor.label, gco2e / factor.gco2e_per_unit, factor.unit, factor.source, factor.date)
        for factor in factors
    )
