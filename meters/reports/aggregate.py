"""One pass over the report's UsageRows and TagRows: sums per line, per audited model-month, per day, per tag.

Hot loop of a yearly organisation report (600k monthly rows): plain lists as accumulators, one dict
lookup per row and per structure, no per-row objects. The rows of audited model-months and the tag rows go
through the loops of tally_tuples.py (as plain tuples), the same ones a store's StoreRows go through.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from meters.reports.period import Period, ReportError, Scope
from meters.reports.rows import AuditedTuple, TagRow, TagTuple, UsageRow
from meters.reports.tally import FIRST, LAST, MONTHS, AuditedLabelOf, ModelMonth, TagTally, UsageTally
from meters.reports.tally_tuples import tally_audited, tally_tag_tuples


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
    lines, by_day, by_month = tally.lines, tally.by_day, tally.by_month
    intern = tally.labels.id_of
    identity = tally.labels.by_identity
    audited: list[AuditedTuple] = []
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
        if (month, model) in audited_pairs:
            audited.append(
                (tenant, model, row.provider, row.currency, lid, date, c.requests, c.prompt_tokens,
                 c.completion_tokens, c.gco2e, c.gco2e_min, c.gco2e_max, c.energy_wh, c.energy_known,
                 c.water_ml, c.water_known, c.spend)
            )  # fmt: skip
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
        if is_day:
            by_day[date] = by_day.get(date, 0.0) + c.gco2e
        else:
            by_month[month] = by_month.get(month, 0.0) + c.gco2e
    # Amounts as they are (scale 1: x / 1 == x), labels by their interned ids.
    tally_audited(tally, audited, tally.labels.labels.__getitem__, 1, audited_label)
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


def tally_tags(
    rows: Iterable[TagRow], period: Period, scope: Scope, audited_pairs: frozenset[ModelMonth]
) -> TagTally:
    def tuples() -> Iterator[TagTuple]:
        prefix, tenant_only = period.text, scope.tenant_id
        for row in rows:
            date = row.date
            if (
                not date.startswith(prefix)
                or len(date) not in (7, 10)
                or (tenant_only and row.tenant_id != tenant_only)
            ):
                _check(date, row.tenant_id, period, scope, "tag")
            c = row.counters
            yield (
                row.tenant_id,
                date[:7],
                row.tag,
                row.model,
                c.requests,
                c.prompt_tokens + c.completion_tokens,
                c.gco2e,
            )

    return tally_tag_tuples(tuples(), 1, audited_pairs)
