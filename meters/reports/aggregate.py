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
REQ, PT, CT, G, GMIN, GMAX, EN, ENK, WA, WAK, SP, FIRST, LAST = range(13)

LineKey = tuple[str, str, str, str, CarbonLabel]
"""(tenant, model, provider, currency, label): a line of the report."""
ModelMonth = tuple[str, str]
"""(month, model)."""
TagKey = tuple[str, str, str]
"""(tenant, tag, model)."""

# (month, the row's label) -> the label of an audited model-month's share.
AuditedLabelOf = Callable[[str, CarbonLabel], CarbonLabel]


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
    live_water_boundary: dict[LineKey, str | None] = field(default_factory=dict)
    """Water boundary of the live estimates behind each audited line (used when the supplier gives no water)."""
    by_day: dict[str, float] = field(default_factory=dict)
    by_month: dict[str, float] = field(default_factory=dict)
    versions: dict[str, list] = field(default_factory=dict)
    """catalogue version -> [first date, last date, set of models] of the audited rows (the other rows'
    dates are in their line's FIRST/LAST slots; see catalogue_versions)."""


def _check(date: str, tenant: str, period: Period, scope: Scope, kind: str) -> None:
    if not period.covers(date):
        raise ReportError(f"{kind} row dated {date!r} is outside period {period.text}", "period")
    if scope.tenant_id is not None and tenant != scope.tenant_id:
        raise ReportError(f"{kind} row of tenant {tenant!r} in a report for {scope.tenant_id!r}", "tenant")


def tally_usage(
    rows: Iterable[UsageRow],
    period: Period,
    scope: Scope,
    audited_pairs: frozenset[ModelMonth],
    audited_label: AuditedLabelOf,
) -> UsageTally:
    """`audited_pairs`: the (month, model) with an audited figure in force; their rows get `audited_label`."""
    tally = UsageTally()
    lines, parts, live, tokens = tally.lines, tally.audited_parts, tally.live_audited, tally.tokens
    by_day, by_month, versions, line_months = tally.by_day, tally.by_month, tally.versions, tally.line_months
    water_boundary = tally.live_water_boundary
    prefix = period.text
    tenant_only = scope.tenant_id
    for row in rows:
        date = row.date
        tenant = row.tenant_id
        if not date.startswith(prefix) or len(date) not in (7, 10) or (tenant_only and tenant != tenant_only):
            _check(date, tenant, period, scope, "usage")
        month = date[:7]
        model = row.model
        label = row.label
        c = row.counters
        model_month = (month, model)
        audited = model_month in audited_pairs
        key = (tenant, model, row.provider, row.currency, audited_label(month, label) if audited else label)
        acc = lines.get(key)
        if acc is None:
            acc = lines[key] = [0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0, 0.0, date, date]
        elif date < acc[FIRST]:
            acc[FIRST] = date
        elif date > acc[LAST]:
            acc[LAST] = date
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
        if audited:
            row_tokens = c.prompt_tokens + c.completion_tokens
            tokens[model_month] = tokens.get(model_month, 0) + row_tokens
            share = parts.get(model_month)
            if share is None:
                share = parts[model_month] = {}
            share[key] = share.get(key, 0) + row_tokens
            live[model_month] = live.get(model_month, 0.0) + c.gco2e
            months = line_months.get(key)
            if months is None:
                months = line_months[key] = set()
            months.add(month)
            if c.water_known:
                water_boundary[key] = label.water_boundary
            _see_version(versions, label.catalogue_version, date, model)
        if len(date) == 10:
            by_day[date] = by_day.get(date, 0.0) + c.gco2e
        else:
            by_month[month] = by_month.get(month, 0.0) + c.gco2e
    return tally


def catalogue_versions(tally: UsageTally) -> dict[str, list]:
    """catalogue version -> [first date, last date, set of models] over every row."""
    versions = {version: [seen[0], seen[1], set(seen[2])] for version, seen in tally.versions.items()}
    for key, acc in tally.lines.items():
        label = key[4]
        if label.method == "audited_apportioned":
            continue  # its rows' versions are in tally.versions
        seen = versions.get(label.catalogue_version)
        if seen is None:
            versions[label.catalogue_version] = [acc[FIRST], acc[LAST], {key[1]}]
            continue
        seen[0] = min(seen[0], acc[FIRST])
        seen[1] = max(seen[1], acc[LAST])
        seen[2].add(key[1])
    return versions


def _see_version(versions: dict[str, list], version: str, date: str, model: str) -> None:
    seen = versions.get(version)
    if seen is None:
        versions[version] = [date, date, {model}]
        return
    if date < seen[0]:
        seen[0] = date
    if date > seen[1]:
        seen[1] = date
    seen[2].add(model)


@dataclass
class TagTally:
    tags: dict[TagKey, list[float]] = field(default_factory=dict)
    """[requests, tokens, live g, live g of months not audited]."""
    parts: dict[tuple[str, str, str], dict[tuple[str, str], int]] = field(default_factory=dict)
    """(month, model, tag key "k") -> {(tenant, "k=v"): tokens} for audited model-months."""
    months: dict[TagKey, set[str]] = field(default_factory=dict)


def tally_tags(
    rows: Iterable[TagRow], period: Period, scope: Scope, audited_pairs: frozenset[ModelMonth]
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
        if (month, row.model) in audited_pairs:
            tag_key = row.tag.split("=", 1)[0]
            share = tally.parts.setdefault((month, row.model, tag_key), {})
            share[(row.tenant_id, row.tag)] = share.get((row.tenant_id, row.tag), 0) + row_tokens
            tally.months.setdefault(key, set()).add(month)
        else:
            acc[3] += c.gco2e
    return tally
