"""One pass over the store's rows: sums per line, per audited model-month, per day, per tag.

Hot loop of a yearly organisation report (600k monthly rows): plain lists as accumulators, one dict
lookup per row and per structure, no per-row objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from meters.reports.period import Period, ReportError, Scope
from meters.reports.rows import CarbonLabel, TagRow, UsageRow

# Accumulator slots.
REQ, PT, CT, G, GMIN, GMAX, EN, ENK, WA, WAK, SP = range(11)

LineKey = tuple[str, str, str, str, CarbonLabel]
"""(tenant, model, provider, currency, label): a line of the report."""
ModelMonth = tuple[str, str]
"""(month, model)."""
TagKey = tuple[str, str, str]
"""(tenant, tag, model)."""

# (month, model, the row's label) -> the audited label when that model-month is audited, else None.
AuditedLabelOf = Callable[[str, str, CarbonLabel], CarbonLabel | None]


@dataclass
class UsageTally:
    lines: dict[LineKey, list[float]] = field(default_factory=dict)
    """Counters per line; slot G is the live estimate."""
    audited_parts: dict[ModelMonth, dict[LineKey, int]] = field(default_factory=dict)
    """Tokens per line of each audited model-month (what the audited figure is apportioned over)."""
    live_audited: dict[ModelMonth, float] = field(default_factory=dict)
    """Live gCO2e of each audited model-month (the reconciliation's estimate)."""
    tokens: dict[ModelMonth, int] = field(default_factory=dict)
    """The scope's gateway tokens per model-month."""
    line_months: dict[LineKey, set[str]] = field(default_factory=dict)
    """Audited months of each audited line."""
    by_day: dict[str, float] = field(default_factory=dict)
    by_month: dict[str, float] = field(default_factory=dict)
    versions: dict[str, list] = field(default_factory=dict)
    """catalogue version -> [first date, last date, set of models]."""


def _check(date: str, tenant: str, period: Period, scope: Scope, kind: str) -> None:
    if not period.covers(date):
        raise ReportError(f"{kind} row dated {date!r} is outside period {period.text}", "period")
    if scope.tenant_id is not None and tenant != scope.tenant_id:
        raise ReportError(f"{kind} row of tenant {tenant!r} in a report for {scope.tenant_id!r}", "tenant")


def tally_usage(
    rows: Iterable[UsageRow], period: Period, scope: Scope, audited_of: AuditedLabelOf
) -> UsageTally:
    tally = UsageTally()
    lines, parts, live, tokens = tally.lines, tally.audited_parts, tally.live_audited, tally.tokens
    by_day, by_month, versions, line_months = tally.by_day, tally.by_month, tally.versions, tally.line_months
    prefix = period.text
    tenant_only = scope.tenant_id
    for row in rows:
        date = row.date
        if (
            not date.startswith(prefix)
            or len(date) not in (7, 10)
            or (tenant_only and row.tenant_id != tenant_only)
        ):
            _check(date, row.tenant_id, period, scope, "usage")
        month = date[:7]
        model = row.model
        label = row.label
        c = row.counters
        row_tokens = c.prompt_tokens + c.completion_tokens
        audited = audited_of(month, model, label)
        key = (row.tenant_id, model, row.provider, row.currency, audited or label)
        acc = lines.get(key)
        if acc is None:
            acc = lines[key] = [0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0, 0.0]
        acc[REQ] += c.requests
        acc[PT] += c.prompt_tokens
        acc[CT] += c.completion_tokens
        acc[G] += c.gco2e
        acc[GMIN] += c.gco2e_min
        acc[GMAX] += c.gco2e_max
        acc[EN] += c.energy_wh
        acc[ENK] += c.energy_known
        acc[WA] += c.water_ml
        acc[WAK] += c.water_known
        acc[SP] += c.spend
        model_month = (month, model)
        tokens[model_month] = tokens.get(model_month, 0) + row_tokens
        if audited is not None:
            share = parts.get(model_month)
            if share is None:
                share = parts[model_month] = {}
            share[key] = share.get(key, 0) + row_tokens
            live[model_month] = live.get(model_month, 0.0) + c.gco2e
            line_months.setdefault(key, set()).add(month)
        if len(date) == 10:
            by_day[date] = by_day.get(date, 0.0) + c.gco2e
        by_month[month] = by_month.get(month, 0.0) + c.gco2e
        seen = versions.get(label.catalogue_version)
        if seen is None:
            versions[label.catalogue_version] = [date, date, {model}]
        else:
            if date < seen[0]:
                seen[0] = date
            if date > seen[1]:
                seen[1] = date
            seen[2].add(model)
    return tally


@dataclass
class TagTally:
    tags: dict[TagKey, list[float]] = field(default_factory=dict)
    """[requests, tokens, live g, live g of months not audited]."""
    parts: dict[tuple[str, str, str], dict[tuple[str, str], int]] = field(default_factory=dict)
    """(month, model, tag key "k") -> {(tenant, "k=v"): tokens} for audited model-months."""
    months: dict[TagKey, set[str]] = field(default_factory=dict)


def tally_tags(
    rows: Iterable[TagRow], period: Period, scope: Scope, audited: Callable[[str, str], bool]
) -> TagTally:
    tally = TagTally()
    for row in rows:
        _check(row.date, row.tenant_id, period, scope, "tag")
        month = row.date[:7]
        c = row.counters
        row_tokens = c.prompt_tokens + c.completion_tokens
        key = (row.tenant_id, row.tag, row.model)
        acc = tally.tags.get(key)
        if acc is None:
            acc = tally.tags[key] = [0, 0, 0.0, 0.0]
        acc[0] += c.requests
        acc[1] += row_tokens
        acc[2] += c.gco2e
        if audited(month, row.model):
            tag_key = row.tag.split("=", 1)[0]
            share = tally.parts.setdefault((month, row.model, tag_key), {})
            share[(row.tenant_id, row.tag)] = share.get((row.tenant_id, row.tag), 0) + row_tokens
            tally.months.setdefault(key, set()).add(month)
        else:
            acc[3] += c.gco2e
    return tally
