"""A sustainability report from the store: its audited imports and label-keyed monthly aggregates."""

from __future__ import annotations

from collections.abc import Mapping

from meters.reports import build_report
from meters.reports.audited_months import months_in_force
from meters.reports.model import Report
from meters.reports.period import ReportError, parse_period
from meters.reports.rows import FactorFact
from meters.store.store import Store


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
    rows come monthly, the rest summed by the store. Raises ReportError naming `period`/`tenant`."""
    parsed = parse_period(period)
    if tenant is not None and not tenant.strip():
        raise ReportError("must be a tenant id", "tenant")
    imports = await store.audited.for_months(parsed.months)
    in_force = months_in_force(imports, parsed)
    pairs = frozenset((month, model) for month, item in in_force.items() for model in item.by_model)
    data = await store.aggregates.report_input(parsed.months, tenant, pairs)
    return build_report(
        parsed.text,
        usage=data.usage,
        tags=data.tags,
        audited=imports,
        factors=factors,
        catalogue_version=catalogue_version,
        gateway_version=gateway_version,
        tenant=tenant,
        org_tokens=data.org_tokens if tenant is not None else None,
        daily=data.daily,
    )
