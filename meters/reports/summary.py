"""From finished lines: the per-model summary, the totals and the totals per boundary, method and basis."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from meters.reports.model import AUDITED, AUDITED_APPORTIONED, Breakdown, Line, Totals
from meters.reports.rows import FactorFact

PRIMARY_METHODS = frozenset({AUDITED, AUDITED_APPORTIONED, "supplier", "measured"})
"""Supplier-specific data (ESRS E1 AR 46(g)): audited figures, the supplier's own per-token factors and
published measurements (confidence `measured` counts too)."""

_SUMMED = (
    "requests",
    "tokens_in",
    "tokens_out",
    "gco2e",
    "gco2e_min",
    "gco2e_max",
    "estimated_gco2e",
    "energy_known_requests",
    "water_known_requests",
    "spend",
)
_SUMMED_OF = attrgetter(*_SUMMED)


def _add_optional(a: float | None, b: float | None) -> float | None:
    """Sum of the known values; None only when neither is known (coverage: the *_known_requests counts)."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def effective_factor(line: Line, source: str, date: str, version: str) -> FactorFact | None:
    tokens = line.tokens_in + line.tokens_out
    if tokens == 0:
        return None
    return FactorFact(line.gco2e / tokens * 1000, "gCO2e/1k tokens (effective)", source, date, version)


def summarise_models(lines: Iterable[Line], organisation: bool = True) -> tuple[Line, ...]:
    """Lines summed over tenants per (model, provider, data centre, currency, label), largest first.

    In the organisation report a model's audited share lines add up to its audited figure: that line is
    `audited` (method and confidence). A tenant's share stays `audited_apportioned`, an estimate.
    """
    groups: dict[tuple[object, ...], dict[str, Any]] = {}
    for line in lines:
        method, confidence = line.method, line.confidence
        if method == AUDITED_APPORTIONED and organisation:
            method, confidence = AUDITED, AUDITED
        key = (
            line.model,
            line.provider,
            line.datacentre,
            line.currency,
            method,
            line.boundary,
            confidence,
            line.basis,
            line.source,
            line.catalogue_version,
        )
        group = groups.get(key)
        if group is None:
            groups[key] = group = dict(
                sums=_SUMMED_OF(line),
                energy_wh=line.energy_wh,
                water_ml=line.water_ml,
                months=set(line.audited_months),
                water_boundaries={line.water_boundary} - {None},
                line=line,
                method=method,
                confidence=confidence,
            )
            continue
        group["sums"] = tuple(map(operator.add, group["sums"], _SUMMED_OF(line)))  # each field in line order
        group["energy_wh"] = _add_optional(group["energy_wh"], line.energy_wh)
        group["months"].update(line.audited_months)
        group["water_ml"] = _add_optional(group["water_ml"], line.water_ml)
        if line.water_boundary is not None:
            group["water_boundaries"].add(line.water_boundary)
    result: list[Line] = []
    for group in groups.values():
        first: Line = group["line"]
        merged = dataclasses.replace(
            first,
            tenant=None,
            method=group["method"],
            confidence=group["confidence"],
            energy_wh=group["energy_wh"],
            water_ml=group["water_ml"],
            audited_months=tuple(sorted(group["months"])),
            water_boundary=" + ".join(sorted(group["water_boundaries"])) or None,
            **dict(zip(_SUMMED, group["sums"], strict=True)),
        )
        if merged.method == AUDITED and first.factor is not None:
            merged = dataclasses.replace(
                merged,
                factor=effective_factor(
                    merged, first.factor.source, first.factor.date or "", first.factor.version
                ),
            )
        result.append(merged)
    result.sort(key=lambda line: (-line.gco2e, line.model, line.currency))
    return tuple(result)


def totals_of(
    models: Sequence[Line], outside_gco2e: float | None, unattributed_gco2e: float | None
) -> Totals:
    spend: dict[str, float] = {}
    energy: float | None = None
    water: float | None = None
    for line in models:
        spend[line.currency] = spend.get(line.currency, 0.0) + line.spend
        energy = _add_optional(energy, line.energy_wh)
        water = _add_optional(water, line.water_ml)
    return Totals(
        requests=sum(line.requests for line in models),
        tokens_in=sum(line.tokens_in for line in models),
        tokens_out=sum(line.tokens_out for line in models),
        gco2e=sum(line.gco2e for line in models),
        gco2e_min=sum(line.gco2e_min for line in models),
        gco2e_max=sum(line.gco2e_max for line in models),
        estimated_gco2e=sum(line.estimated_gco2e for line in models),
        energy_wh=energy,
        energy_known_requests=sum(line.energy_known_requests for line in models),
        water_ml=water,
        water_known_requests=sum(line.water_known_requests for line in models),
        water_boundaries=tuple(
            sorted(
                {
                    line.water_boundary
                    for line in models
                    if line.water_ml is not None and line.water_boundary is not None
                }
            )
        ),
        spend=dict(sorted(spend.items())),
        outside_gateway_gco2e=outside_gco2e,
        unattributed_gco2e=unattributed_gco2e,
    )


def breakdown(models: Sequence[Line], attribute: str, unknown: str = "not stated") -> tuple[Breakdown, ...]:
    grams: dict[str, float] = {}
    counts: dict[str, int] = {}
    for line in models:
        key = getattr(line, attribute) or unknown
        grams[key] = grams.get(key, 0.0) + line.gco2e
        counts[key] = counts.get(key, 0) + 1
    return tuple(Breakdown(key, grams[key], counts[key]) for key in sorted(grams, key=lambda k: -grams[k]))


def primary_share(models: Sequence[Line]) -> float | None:
    total = sum(line.gco2e for line in models)
    if total <= 0:
        return None
    primary = sum(
        line.gco2e for line in models if line.method in PRIMARY_METHODS or line.confidence == "measured"
    )
    return primary / total
