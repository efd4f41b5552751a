"""A sustainability report from the store: its audited imports and label-keyed monthly aggregates."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from meters.reports import build_report
from meters.reports.audited_months import months_in_force
from meters.reports.model import Report
from meters.reports.period import Period, ReportError, parse_period
from meters.reports.rows import FactorFact, StoreRows
from meters.store.store import Store
from meters.store.windows import NANO, first_kept_month

_paused = 0  # reports in progress (the event loop's): the last one out resumes the collector
_resume = False


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a report reads and builds: a yearly report makes ~1M
    long-lived objects (rows, counters, line keys), and each full collection walked them all again
    (measured: ~2.5 of ~11 CPU s of the yearly organisation report with 25 audited models). Reference
    counting still frees everything as usual; the collector is resumed (if it ran before) when the last
    report in progress ends, error or not."""
    global _paused, _resume
    if _paused == 0:
        _resume = gc.isenabled()
        gc.disable()
    _paused += 1
    try:
        yield
    finally:
        _paused -= 1
        if _paused == 0 and _resume:
            gc.enable()


async def store_report(
    store: Store,
    period: str,
    *,
    tenant: str | None = None,
    factors: Mapping[str, FactorFact] | Mapping[str, Mapping[str, object]] | None = None,
    catalogue_version: str,
    gateway_version: str,
) -> Report:
    """The report of `period` ("YYYY-MM" or "YYYY") for the organisation or one tenant. Every import of the
    period's months is read (the newest in force, the earlier ones restated); the audited model-months'
    rows come monthly, the rest summed by the store. Months the store no longer keeps (its
    `monthly_retention_months`, by its clock) are named in the report. Raises ReportError naming
    `period`/`tenant`."""
    parsed = parse_period(period)
    if tenant is not None and not tenant.strip():
        raise ReportError("must be a tenant id", "tenant")
    with cyclic_gc_paused():
        return await _report(store, parsed, tenant, factors, catalogue_version, gateway_version)


async def _report(
    store: Store,
    parsed: Period,
    tenant: str | None,
    factors: Mapping[str, FactorFact] | Mapping[str, Mapping[str, object]] | None,
    catalogue_version: str,
    gateway_version: str,
) -> Report:
    imports = await store.audited.for_months(parsed.months)
    in_force = months_in_force(imports, parsed)
    pairs = frozenset((month, model) for month, item in in_force.items() for model in item.by_model)
    sources = {(item.current.source, item.current.basis) for item in in_force.values()}
    # Months past the retention are left out whether or not the store has deleted them yet (SQLite prunes
    # at its next maintenance, Redis when the keys expire): the same report whenever it is asked for.
    kept_from = first_kept_month(store.clock(), store.monthly_retention_months)
    kept = tuple(month for month in parsed.months if month >= kept_from)
    rows = (
        await store.aggregates.report_input(kept, tenant, pairs, sums=len(sources) <= 1)
        if kept
        else StoreRows({}, NANO)
    )
    return build_report(
        parsed.text,
        store_rows=rows,
        audited=imports,
        factors=factors,
        catalogue_version=catalogue_version,
        gateway_version=gateway_version,
        tenant=tenant,
        pruned_months=tuple(month for month in parsed.months if month < kept_from),
        monthly_retention_months=store.monthly_retention_months,
    )
