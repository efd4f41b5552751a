"""build_report: the store's rows for one period and scope -> the one Report every format renders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from meters.audited.figures import AuditedImport
from meters.reports.aggregate import catalogue_versions, tally_tags, tally_usage
from meters.reports.audited_months import MonthInForce, months_in_force, restatements
from meters.reports.equivalents import EquivalenceFactor, equivalents_of, load_equivalents
from meters.reports.model import (
    AUDITED_APPORTIONED,
    SUPPLIER_BOUNDARY,
    ApportionLine,
    CatalogueUse,
    DayPoint,
    EsrsLine,
    Line,
    Report,
    TagLine,
    UnattributedLine,
)
from meters.reports.period import Period, Scope, parse_period
from meters.reports.reconcile import Shares, apportion_tags, apportion_usage
from meters.reports.rows import CarbonLabel, DailyRow, FactorFact, StoreRows, TagRow, UsageRow, factor_facts
from meters.reports.statements import Pruned, esrs_lines, limitations
from meters.reports.summary import breakdown, primary_share, summarise_models, totals_of
from meters.reports.tally import (
    CT,
    EN,
    ENK,
    GMAX,
    GMIN,
    MONTHS,
    PT,
    REQ,
    SP,
    WA,
    WAK,
    WATER_BOUNDARY,
    G,
    ModelMonth,
    UsageTally,
)
from meters.reports.tally_tuples import tally_store_rows, tally_tag_tuples


class _AuditedLabels:
    """The label of an audited model-month's share: one object per source, basis and data centre (so that
    a model's audited months share one line)."""

    def __init__(self, months: Mapping[str, MonthInForce]) -> None:
        self._months = months
        self._cache: dict[tuple[str, str | None, str | None], CarbonLabel] = {}
        self.pairs = frozenset((month, model) for month, item in months.items() for model in item.by_model)

    def __call__(self, month: str, label: CarbonLabel) -> CarbonLabel:
        current = self._months[month].current
        key = (current.source, current.basis, label.datacentre)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = CarbonLabel(
                method=AUDITED_APPORTIONED,
                boundary=SUPPLIER_BOUNDARY,
                confidence="estimated",
                basis=current.basis,
                source=f"{current.source} (audited; apportioned by token share)",
                catalogue_version="",
                water_boundary=SUPPLIER_BOUNDARY,
                datacentre=label.datacentre,
            )
        return found


def _month_versions(months: Mapping[str, MonthInForce], audited_months: Iterable[str]) -> str:
    """ "2026-01..2026-06 v2, 2026-07 v3": consecutive months of one import version as a range."""
    runs: list[list[str]] = []  # [first, last, version]
    for month in sorted(audited_months):
        version = f"v{months[month].current.version}"
        if runs and runs[-1][2] == version and _next_month(runs[-1][1]) == month:
            runs[-1][1] = month
        else:
            runs.append([month, month, version])
    return ", ".join(f"{a} {v}" if a == b else f"{a}..{b} {v}" for a, b, v in runs)


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def _lines(
    tally: UsageTally, shares: Shares, months: Mapping[str, MonthInForce], facts: Mapping[str, FactorFact]
) -> list[Line]:
    lines: list[Line] = []
    keys: list[tuple[str, ...]] = []  # each line's sort key
    provenance: dict[tuple[str, ...], tuple[str, str]] = {}  # audited months -> (source, "M vN, ...")
    labels = tally.labels.labels
    for key, acc in tally.lines.items():
        tenant, model, provider, currency, label_id = key
        label = labels[label_id]
        requests = int(acc[REQ])
        tokens_in, tokens_out = int(acc[PT]), int(acc[CT])
        water_known = int(acc[WAK])
        water = acc[WA] if water_known else None
        water_boundary = label.water_boundary
        audited_months: tuple[str, ...] = ()
        if label.method == AUDITED_APPORTIONED:
            found = shares.per_line.get(key)
            grams = found[0] / 1e6 if found else 0.0
            low = high = grams
            supplier_water = found[1] if found else None
            if supplier_water is not None:  # the supplier's water, else the live estimate's
                water, water_known = supplier_water, requests
            else:
                water_boundary = acc[WATER_BOUNDARY]
            audited_months = tuple(sorted(acc[MONTHS]))
            known = provenance.get(audited_months)
            if known is None:
                source = months[audited_months[0]].current.source
                known = provenance[audited_months] = (source, _month_versions(months, audited_months))
            tokens = tokens_in + tokens_out
            factor = None
            if tokens:
                unit = "gCO2e/1k tokens (effective)"
                factor = FactorFact(grams / tokens * 1000, unit, known[0], known[1], known[1])
        else:
            grams, low, high = acc[G], acc[GMIN], acc[GMAX]
            factor = facts.get(model)
        lines.append(
            Line(  # positional, in Line's field order: keywords cost 4x for 27 fields (50k lines)
                tenant,
                model,
                provider,
                label.datacentre,
                label.method,
                label.boundary,
                label.confidence,
                label.basis,
                label.source,
                label.catalogue_version,
                water_boundary if water is not None else None,
                factor,
                currency,
                requests,
                tokens_in,
                tokens_out,
                grams,
                low,
                high,
                acc[G],
                acc[EN] if acc[ENK] else None,
                int(acc[ENK]),
                water,
                water_known,
                acc[SP],
                audited_months,
            )
        )
        keys.append((tenant or "", model, provider, currency, label.method))
    return [lines[i] for i in sorted(range(len(lines)), key=keys.__getitem__)]  # stable, as a sort of lines


def _apportionment(lines: Iterable[Line]) -> tuple[ApportionLine, ...]:
    grouped: dict[tuple[str, str], list[Any]] = {}
    for line in lines:
        if line.method != AUDITED_APPORTIONED:
            continue
        key = (line.tenant or "", line.model)
        entry = grouped.get(key)
        if entry is None:
            entry = grouped[key] = [set(), 0, 0.0, 0.0]
        entry[0].update(line.audited_months)
        entry[1] += line.tokens_in + line.tokens_out
        entry[2] += line.estimated_gco2e
        entry[3] += line.gco2e
    return tuple(
        ApportionLine(tenant, model, tuple(sorted(e[0])), e[1], e[2], e[3])
        for (tenant, model), e in sorted(grouped.items())
    )


def _by_day(
    tally: UsageTally, daily: Iterable[DailyRow] | None, period: Period
) -> tuple[tuple[DayPoint, ...], bool]:
    if daily is not None:
        days: dict[str, float] = {}
        for row in daily:
            if not period.covers(row.day) or len(row.day) != 10:
                raise ValueError(f"daily row {row.day!r} is not a day of {period.text}")
            days[row.day] = days.get(row.day, 0.0) + row.gco2e
        return tuple(DayPoint(day, g) for day, g in sorted(days.items())), False
    if tally.by_day:
        return tuple(DayPoint(day, g) for day, g in sorted(tally.by_day.items())), False
    return tuple(DayPoint(month, g) for month, g in sorted(tally.by_month.items())), True


def build_report(
    period: str,
    *,
    usage: Iterable[UsageRow] = (),
    store_rows: StoreRows | None = None,
    catalogue_version: str,
    gateway_version: str,
    tenant: str | None = None,
    tags: Iterable[TagRow] = (),
    audited: Iterable[AuditedImport] = (),
    factors: Mapping[str, FactorFact] | Mapping[str, Mapping[str, object]] | None = None,
    org_tokens: Mapping[ModelMonth, int] | None = None,
    daily: Iterable[DailyRow] | None = None,
    equivalents: tuple[EquivalenceFactor, ...] | None = None,
    generated_at: datetime | None = None,
    pruned_months: tuple[str, ...] = (),
    monthly_retention_months: int | None = None,
) -> Report:
    """The report of `period` ("YYYY-MM" or "YYYY") for the organisation, or for `tenant` alone.

    `usage`/`tags`: the scope's rows (see rows.py); or `store_rows`, the same as plain tuples with the days
    and the organisation's tokens (then `usage`, `tags`, `daily` and `org_tokens` are not given). `audited`: every import of the period's months (newest in
    force, earlier ones restated). `factors`: catalogue facts per model. `org_tokens`: the organisation's
    gateway tokens per (month, model), required for a tenant report when those months are audited (the
    tenant's share is its tokens over the organisation's). `pruned_months`: the period's months the store no
    longer keeps (past its `monthly_retention_months`), named in the report and its limitations. Raises
    ReportError (param "period"/"tenant") for a bad period or rows outside the scope.
    """
    parsed = parse_period(period)
    scope = Scope(tenant)
    months = months_in_force(audited, parsed)
    labels = _AuditedLabels(months)
    if store_rows is not None:
        if usage or tags or daily is not None or org_tokens is not None:
            raise ValueError("store_rows comes with its own rows, days and tokens")
        tally = tally_store_rows(store_rows, labels)
        tag_tally = tally_tag_tuples(store_rows.tags, store_rows.scale, labels.pairs)
        daily, org_tokens = store_rows.daily, store_rows.org_tokens
    else:
        tally = tally_usage(usage, parsed, scope, labels.pairs, labels)
        tag_tally = tally_tags(tags, parsed, scope, labels.pairs)
    scope_org_tokens = None if scope.is_organisation else (org_tokens or {})
    shares = apportion_usage(months, tally, scope_org_tokens, scope.is_organisation)
    facts: dict[str, FactorFact] = {
        model: fact for model, fact in (factors or {}).items() if isinstance(fact, FactorFact)
    }
    raw_facts = {model: fact for model, fact in (factors or {}).items() if not isinstance(fact, FactorFact)}
    facts.update(factor_facts(raw_facts))
    lines = _lines(tally, shares, months, facts)
    models = summarise_models(lines, scope.is_organisation)

    unattributed: list[UnattributedLine] = []
    if scope.is_organisation:
        for month, in_force in months.items():
            for figure in in_force.unattributed:
                water = None if figure.m3_water is None else figure.m3_water * 1e6
                unattributed.append(
                    UnattributedLine(
                        month,
                        figure.sku or "",
                        figure.kg_co2e * 1000,
                        water,
                        figure.location,
                        in_force.current.source,
                    )
                )
    totals = totals_of(
        models,
        shares.outside_ug / 1e6 if scope.is_organisation else None,
        sum(u.gco2e for u in unattributed) if scope.is_organisation else None,
    )

    tag_ug = apportion_tags(months, tag_tally, tally, scope_org_tokens)
    tag_lines: list[TagLine] = []
    for key, acc in sorted(tag_tally.tags.items()):
        tenant_id, tag, model = key
        grams = acc[3] + tag_ug.get(key, 0) / 1e6
        audited_months = tuple(sorted(tag_tally.months.get(key, ())))
        tag_lines.append(
            TagLine(tenant_id, tag, model, int(acc[0]), int(acc[1]), acc[2], grams, audited_months)
        )
    by_day, monthly = _by_day(tally, daily, parsed)
    versions = tuple(
        CatalogueUse(version, seen[0], seen[1], len(seen[2]))
        for version, seen in sorted(catalogue_versions(tally).items())
    )
    factors_for_equivalents = load_equivalents() if equivalents is None else equivalents
    return Report(
        period=parsed,
        scope=scope,
        generated_at=(generated_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        gateway_version=gateway_version,
        catalogue_version=catalogue_version,
        totals=totals,
        lines=tuple(lines),
        models=models,
        by_boundary=breakdown(models, "boundary"),
        by_method=breakdown(models, "method"),
        by_basis=breakdown(models, "basis"),
        by_day=by_day,
        by_day_is_monthly=monthly,
        tags=tuple(tag_lines),
        apportionment=_apportionment(lines),
        reconciliation=tuple(shares.reconciliation),
        unattributed=tuple(unattributed),
        primary_data_share=primary_share(models),
        esrs=tuple(EsrsLine(*row) for row in esrs_lines(models, totals)),
        restatements=tuple(restatements(months.values())),
        catalogue_uses=versions,
        equivalents=equivalents_of(totals.gco2e, factors_for_equivalents),
        pruned_months=pruned_months,
        limitations=limitations(
            models,
            totals,
            shares.reconciliation,
            len(unattributed),
            not scope.is_organisation,
            len(versions),
            Pruned(pruned_months, monthly_retention_months, parsed.months),
        ),
    )
