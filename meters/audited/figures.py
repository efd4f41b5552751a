"""Audited supplier figures as imported: one figure per model or SKU, and the imports of a month.

Units: kg_co2e in kilograms CO2e, m3_water in cubic metres, token counts in tokens. A figure whose SKU maps
to no configured model is kept with `model=None` (unattributed): shown in reports, never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

MICROGRAMS_PER_KG = 10**9
ML_PER_M3 = 10**6


@dataclass(frozen=True, slots=True)
class ImportedFigure:
    """One audited line: a model's (or an SKU's) emissions for the month."""

    kg_co2e: float
    model: str | None
    """Configured model id, or None for an unattributed SKU."""
    sku: str | None = None
    m3_water: float | None = None
    """None: the supplier gave no water figure (unknown, not zero)."""
    tokens: int | None = None
    """The supplier's token count for this line (prompt + completion when given split)."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    location: str | None = None
    """Zone or region the supplier reported it under (Scaleway footprint), if any."""
    project_id: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedImport:
    """A validated import before the store gives it a version and a time."""

    month: str
    source: str
    figures: tuple[ImportedFigure, ...]
    basis: str | None = None
    """"location" or "market" when the supplier says which (Scaleway: location), else None."""

    @property
    def unattributed(self) -> tuple[ImportedFigure, ...]:
        return tuple(figure for figure in self.figures if figure.model is None)


@dataclass(frozen=True, slots=True)
class AuditedImport:
    """One stored import of a month. A re-import is a new version (a restatement), never an overwrite."""

    month: str
    source: str
    version: int
    """1 for the month's first import, then 2, 3, ... per re-import."""
    imported_at: str
    """ISO 8601, UTC."""
    figures: tuple[ImportedFigure, ...]
    basis: str | None = None


@dataclass(frozen=True, slots=True)
class ModelFigure:
    """All of one model's figures in an import, summed exactly."""

    model: str
    micrograms: int
    """kg_co2e x 1e9, summed in integers (exact)."""
    water_ml: float | None
    """None when any of the model's figures had no water figure."""
    tokens: int | None
    """None when any of the model's figures had no token count."""
    prompt_tokens: int | None
    completion_tokens: int | None

    @property
    def kg_co2e(self) -> float:
        return self.micrograms / MICROGRAMS_PER_KG


def to_micrograms(kg: float) -> int:
    """kg as written (its shortest decimal form) to integer micrograms, rounded half-even."""
    exact = Decimal(repr(float(kg))) * MICROGRAMS_PER_KG
    return int(exact.to_integral_value(rounding=ROUND_HALF_EVEN))


def _sum_or_none(values: Iterable[int | None]) -> int | None:
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def model_figures(figures: Iterable[ImportedFigure]) -> dict[str, ModelFigure]:
    """Attributed figures summed per model (a model's input- and output-token SKUs add up)."""
    grouped: dict[str, list[ImportedFigure]] = {}
    for figure in figures:
        if figure.model is not None:
            grouped.setdefault(figure.model, []).append(figure)
    result: dict[str, ModelFigure] = {}
    for model, items in grouped.items():
        waters = [item.m3_water for item in items]
        water = None if any(w is None for w in waters) else sum(float(w or 0.0) for w in waters) * ML_PER_M3
        result[model] = ModelFigure(
            model=model,
            micrograms=sum(to_micrograms(item.kg_co2e) for item in items),
            water_ml=water,
            tokens=_sum_or_none(item.tokens for item in items),
            prompt_tokens=_sum_or_none(item.prompt_tokens for item in items),
            completion_tokens=_sum_or_none(item.completion_tokens for item in items),
        )
    return result


def engine_figures(
    figures: Iterable[ImportedFigure],
) -> Mapping[str, tuple[float, int] | tuple[float, int, int]]:
    """The models with a token count, as `CarbonEngine.with_audited` takes them.

    (kg, prompt, completion) when the split is known, else (kg, tokens). Models without a supplier token
    count cannot give a per-token factor and are left out (reports still reconcile them).
    """
    result: dict[str, tuple[float, int] | tuple[float, int, int]] = {}
    for model, figure in model_figures(figures).items():
        if figure.prompt_tokens is not None and figure.completion_tokens is not None:
            if figure.prompt_tokens + figure.completion_tokens > 0:
                result[model] = (figure.kg_co2e, figure.prompt_tokens, figure.completion_tokens)
        elif figure.tokens:
            result[model] = (figure.kg_co2e, figure.tokens)
    return result
