"""One pass over the store's rows: sums per line, per audited model-month, per day, per tag.

Hot loop of a yearly organisation report (600k monthly rows): plain lists as accumulators, one dict
lookup per row and per structure, no per-row objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from meters.reports.period import Period, ReportError, Scope
from meters.reports.rows import CarbonLabel, TagRow, UsageRow

# Accumulator slots of a line (the hot loop below writes them by literal index: keep in step).
REQ, PT, CT, G, GMIN, GMAX, EN, ENK, WA, WAK, SP, FIRST, LAST, MONTHS, WATER_BOUNDARY = range(15)

LineKey = tuple[str, str, str, str, int]
"""(tenant, model, provider, currency, label id): a line of the report (labels interned, see Labels)."""
ModelMonth = tuple[str, str]
"""(month, model)."""
TagKey = tuple[str, str, str]
"""(tenant, tag, model)."""

# (month, the row's label) -> the label of an audited model-month's share.
AuditedLabelOf = Callable[[str, CarbonLabel], CarbonLabel]


class Labels:
    """Labels interned to small ints: dict keys then hash in C, not through CarbonLabel.__hash__.

    Looked up by object identity first (a store that shares one CarbonLabel object between the rows of one
    label gets one C-level lookup per row), then by value; `labels[i]` is the label of id i. Objects whose
    id() is cached are kept alive, so a cached id() can never name another object.
    """

    IDENTITY_LIMIT = 4096

    def __init__(self) -> None:
        self.labels: list[CarbonLabel] = []
        self.by_identity: dict[int, int] = {}
        self._by_value: dict[CarbonLabel, int] = {}
        self._kept: list[CarbonLabel] = []

    def id_of(self, label: CarbonLabel) -> int:
        found = self.by_identity.get(id(label))
        if found is not None:
            return found
        found = self._by_value.get(label)
        if found is None:
            found = self._by_value[label] = len(self.labels)
            self.labels.append(label)
        if len(self._kept) < self.IDENTITY_LIMIT:  # past it, rows do not share label objects
            self.by_identity[id(label)] = found
            self._kept.append(label)
        return found


@dataclass
class UsageTally:
    lines: dict[LineKey, list[Any]] = field(default_factory=dict)
    """Accumulator per line (slots above); G is the live estimate. An audited line's MONTHS holds its
    audited months and WATER_BOUNDARY the live estimates' water boundary."""
    audited_parts: dict[ModelMonth, dict[LineKey, int]] = field(default_factory=dict)
    """Tokens per line of each audited model-month (what the audited figure is apportioned over)."""
    live_audited: dict[ModelMonth, float] = field(default_factory=dict)
    """Live gCO2e of each audited model-month (the reconciliation's estimate)."""
    tokens: dict[ModelMonth, int] = field(default_factory=dict)
    """The scope's gateway tokens per audited model-month."""
    by_day: dict[str, float] = field(default_factory=dict)
    by_month: dict[str, float] = field(default_factory=dict)
    audited_rows: dict[tuple[str, int, str], list[Any]] = field(default_factory=dict)
    """(month, row label id, model) of audited rows -> [audited label id, first date, last date]."""
    labels: Labels = field(default_factory=Labels)


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
    """One pass. `audited_pairs`: the (month, model) with an audited figure in force; their rows are
    tallied under `audited_label(month, label)` and kept per model-month for the apportionment."""
    tally = UsageTally()
    lines, audited_rows, by_day, by_month = tally.lines, tally.audited_rows, tally.by_day, tally.by_month
    intern = tally.labels.id_of
    identity = tally.labels.by_identity
    model_months: dict[ModelMonth, list[Any]] = {}  # [tokens, live g, {line key: tokens}]
    prefix = period.text
    tenant_only = scope.tenant_id
    for row in rows:
        date = row.date
        tenant = row.tenant_id
        is_day = len(date) == 10
        if (
            not date.startswith(prefix)
            or not (is_day or len(date) == 7)
            or (tenant_only and tenant != tenant_only)
        ):
            _check(date, tenant, period, scope, "usage")
        month = date[:7]
        model = row.model
        label = row.label
        c = row.counters
        lid = identity.get(id(label))
        if lid is None:
            lid = intern(label)
        model_month = (month, model)
        audited = model_month in audited_pairs
        if audited:
            seen = audited_rows.get((month, lid, model))
            if seen is None:
                seen = audited_rows[(month, lid, model)] = [intern(audited_label(month, label)), date, date]
            elif date < seen[1]:
                seen[1] = date
            elif date > seen[2]:
                seen[2] = date
            key = (tenant, model, row.provider, row.currency, seen[0])
            row_tokens = c.prompt_tokens + c.completion_tokens
            mm = model_months.get(model_month)
            if mm is None:
                mm = model_months[model_month] = [0, 0.0, {}]
            mm[0] += row_tokens
            mm[1] += c.gco2e
            share = mm[2]
            share[key] = share.get(key, 0) + row_tokens
        else:
            key = (tenant, model, row.provider, row.currency, lid)
        acc = lines.get(key)
        if acc is None:
            acc = lines[key] = [0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0, 0.0, date, date, None, None]
        elif date < acc[11]:
            acc[11] = date
        elif date > acc[12]:
            acc[12] = date
        acc[0] += c.requests
        acc[1] += c.prompt_tokens
        acc[2] += c.completion_tokens
        acc[3] += c.gco2e
        acc[4] += c.gco2e_min
        acc[5] += c.gco2e_max
        acc[6] += c.energy_wh
        acc[7] += c.energy_known
        acc[8] += c.water_ml
        acc[9] += c.water_known
        acc[10] += c.spend
        if audited:
            if acc[13] is None:
                acc[13] = {month}
            else:
                acc[13].add(month)
            if c.water_known:
                acc[14] = label.water_boundary
        if is_day:
            by_day[date] = by_day.get(date, 0.0) + c.gco2e
        else:
            by_month[month] = by_month.get(month, 0.0) + c.gco2e
    for model_month, (count, grams, share) in model_months.items():
        tally.tokens[model_month] = count
        tally.live_audited[model_month] = grams
        tally.audited_parts[model_month] = share
    return tally


def catalogue_versions(tally: UsageTally) -> dict[str, list[Any]]:
    """catalogue version -> [first date, last date, set of models] over every row."""
    versions: dict[str, list[Any]] = {}

    def see(version: str, first: str, last: str, models: set[str]) -> None:
        seen = versions.get(version)
        if seen is None:
            versions[version] = [first, last, set(models)]
            return
        seen[0] = min(seen[0], first)
        seen[1] = max(seen[1], last)
        seen[2] |= models

    labels = tally.labels.labels
    for (_month, lid, model), (_audited, first, last) in tally.audited_rows.items():
        see(labels[lid].catalogue_version, first, last, {model})
    for key, acc in tally.lines.items():
        if acc[MONTHS] is None:  # audited lines' rows are in audited_rows
            see(labels[key[4]].catalogue_version, acc[FIRST], acc[LAST], {key[1]})
    return versions


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
    prefix, tenant_only = period.text, scope.tenant_id
    for row in rows:
        date = row.date
        if (
            not date.startswith(prefix)
            or len(date) not in (7, 10)
            or (tenant_only and row.tenant_id != tenant_only)
        ):
            _check(date, row.tenant_id, period, scope, "tag")
        month = date[:7]
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
