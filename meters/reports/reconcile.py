"""Audited figures against live estimates: the shares of each line and tag, and the reconciliation table.

For each audited model-month: the supplier's figure is split by token share over the scope's lines (exact,
in micrograms), the rest of the organisation's traffic and the traffic outside the gateway. The
reconciliation compares the live estimate of the same traffic with its audited share: gap = audited -
estimated, in g and % of the estimate, and the ratio audited / estimated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from meters.reports.apportion import token_shares
from meters.reports.audited_months import MonthInForce
from meters.reports.model import ReconciliationLine
from meters.reports.tally import LineKey, ModelMonth, TagKey, TagTally, UsageTally


@dataclass
class Shares:
    per_line: dict[LineKey, list[Any]] = field(default_factory=dict)
    """[micrograms, water mL] of each line's audited months; the water None once any of those months has no
    water figure."""
    reconciliation: list[ReconciliationLine] = field(default_factory=list)
    outside_ug: int = 0


def _scope_tokens(
    model_month: ModelMonth, tally: UsageTally, org_tokens: Mapping[ModelMonth, int] | None
) -> int:
    """The gateway's tokens of the model-month: the scope's own (organisation) or the organisation's."""
    if org_tokens is None:
        return tally.tokens.get(model_month, 0)
    if model_month not in org_tokens:
        raise ValueError(f"org_tokens lacks {model_month}: a tenant report needs the organisation's tokens")
    return org_tokens[model_month]


NO_SUPPLIER_TOKENS = (
    "no supplier token count: the whole audited figure is apportioned to the gateway's traffic"
)
FEWER_SUPPLIER_TOKENS = "the supplier counted fewer tokens than the gateway: check the SKU mapping"


def _note(gateway: int, supplier: int | None, organisation: bool) -> str | None:
    if supplier is None:
        return NO_SUPPLIER_TOKENS
    if supplier < gateway:
        counts = f" ({supplier:,} against {gateway:,})" if organisation else ""
        return FEWER_SUPPLIER_TOKENS + counts
    return None


def apportion_usage(
    months: Mapping[str, MonthInForce],
    tally: UsageTally,
    org_tokens: Mapping[ModelMonth, int] | None,
    organisation: bool,
) -> Shares:
    shares = Shares()
    targets: Iterable[ModelMonth]
    if organisation:  # every audited model-month, with or without gateway traffic
        targets = [(m, model) for m, month in months.items() for model in sorted(month.by_model)]
    else:
        targets = sorted(tally.audited_parts)
    labels = tally.labels.labels

    def order(key: LineKey) -> tuple[str, str, str, str, str, str]:
        """Ties go by tenant, then the rest of the line: independent of the order rows came in."""
        label = labels[key[4]]
        return key[0], key[1], key[2], key[3], label.source, label.datacentre or ""

    per_line = shares.per_line
    for model_month in targets:
        month, model = model_month
        figure = months[month].by_model[model]
        current = months[month].current
        parts = tally.audited_parts.get(model_month, {})
        gateway = _scope_tokens(model_month, tally, org_tokens)
        split = token_shares(figure.micrograms, parts, gateway, figure.tokens, order)
        per_token = None if figure.water_ml is None else figure.water_ml / max(gateway, figure.tokens or 0, 1)
        for key, part, tokens in zip(split.keys, split.parts, parts.values(), strict=True):
            acc = per_line.get(key)
            if acc is None:
                per_line[key] = [part, None if per_token is None else tokens * per_token]
            else:
                acc[0] += part
                if acc[1] is not None:  # water stays unknown once a month has none
                    acc[1] = None if per_token is None else acc[1] + tokens * per_token
        shares.outside_ug += split.outside
        estimated = tally.live_audited.get(model_month, 0.0)
        audited = sum(split.parts) / 1e6
        shares.reconciliation.append(
            ReconciliationLine(
                month=month,
                model=model,
                estimated_gco2e=estimated,
                audited_gco2e=audited,
                gap_gco2e=audited - estimated,
                gap_pct=(audited - estimated) / estimated * 100 if estimated > 0 else None,
                ratio=audited / estimated if estimated > 0 else None,
                audited_total_gco2e=figure.micrograms / 1e6 if organisation else None,
                outside_gateway_gco2e=split.outside / 1e6 if organisation else None,
                # A tenant sees its own tokens, not the organisation's volume or the supplier's count.
                gateway_tokens=gateway if organisation else sum(parts.values()),
                supplier_tokens=figure.tokens if organisation else None,
                source=current.source,
                version=current.version,
                note=_note(gateway, figure.tokens, organisation),
            )
        )
    return shares


def apportion_tags(
    months: Mapping[str, MonthInForce],
    tags: TagTally,
    tally: UsageTally,
    org_tokens: Mapping[ModelMonth, int] | None,
) -> dict[TagKey, int]:
    """Micrograms per (tenant, tag, model): each tag key's values split the audited figure by token share."""
    result: dict[TagKey, int] = {}
    for (month, model, _tag_key), parts in sorted(tags.parts.items()):
        figure = months[month].by_model[model]
        gateway = _scope_tokens((month, model), tally, org_tokens)
        split = token_shares(figure.micrograms, parts, gateway, figure.tokens, _tag_order)
        for (tenant, tag), part in zip(split.keys, split.parts, strict=True):
            key = (tenant, tag, model)
            result[key] = result.get(key, 0) + part
    return result


@dataclass(frozen=True, slots=True)
class Calibration:
    """The latest audited / estimated ratio of a model, for `carbon.calibrate_from_audited`."""

    model: str
    ratio: float
    month: str
    source: str
    version: int


def calibration_ratios(lines: Iterable[ReconciliationLine]) -> dict[str, Calibration]:
    """Per model, the ratio of its latest audited month that has one (use organisation-scope lines)."""
    latest: dict[str, Calibration] = {}
    for line in lines:
        if line.ratio is None:
            continue
        known = latest.get(line.model)
        if known is None or line.month > known.month:
            latest[line.model] = Calibration(line.model, line.ratio, line.month, line.source, line.version)
    return latest


def _tag_order(key: tuple[str, str]) -> tuple[str, str]:
    return key
