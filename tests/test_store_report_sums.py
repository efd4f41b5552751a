"""A year mostly audited under one import source: the stores hand each line's audited months summed, with each
month's tokens and live g apart (StoreRows.audited_parts). The report is the same as from monthly rows."""

from __future__ import annotations

import pytest

from meters.audited import ImportedFigure, ParsedImport
from meters.reports import build_report
from meters.reports.period import parse_period
from meters.store.reporting import store_report
from tests.support import stores as helpers
from tests.support.stores import T0, make_estimate, make_record

factory, store, clock = helpers.factory, helpers.store, helpers.clock
YEAR = "2030"
DAY = 86400.0
MODELS = ("small", "large")


def _month_start(month: int) -> float:
    """A moment in `month` of 2030 (T0 is 2030-03-15)."""
    return T0 + (month - 3) * 30.4 * DAY


async def _fill(store) -> None:
    records = []
    for month in range(1, 13):
        at = _month_start(month)
        for t, tenant in enumerate(("a", "b", "c")):
            for m, model in enumerate(MODELS):
                if (tenant, model, month) == ("c", "large", 7):
                    continue  # no traffic: a tenant absent from one audited model-month
                estimate = make_estimate(0.1 * (t + 1) + 0.01 * month)
                if month % 3 == 0:  # a second label in some months (another catalogue version)
                    estimate = estimate._replace(catalogue_version="test-2")
                if tenant == "b" and month % 2:  # unknown water and energy stay unknown
                    estimate = estimate._replace(water_ml=None, energy_wh=None, water_boundary=None)
                records.append(
                    make_record(
                        tenant,
                        timestamp=at + t * 60,
                        model=model,
                        prompt_tokens=100 * (t + 1) + month,
                        completion_tokens=7 * (m + 1) * month,
                        estimate=estimate,
                        tags={"build": str(month % 2)},
                    )
                )
    assert all(await store.meter.count_many([(None, r) for r in records]))


async def _audit(store, sources: tuple[str, ...], every: bool = False) -> None:
    for month in range(1, 13):
        figures = tuple(
            ImportedFigure(0.001 * (month + m), model, tokens=(10**6 if model == "large" else None))
            for m, model in enumerate(MODELS)
            if every or (month, model) != (5, "large")  # one model-month left live: 23 of 24 audited
        )
        source = sources[month % len(sources)]
        await store.audited.add(ParsedImport(f"{YEAR}-{month:02d}", source, figures, "location"))


def _comparable(report):
    def approx(x):
        return None if x is None else pytest.approx(x, rel=1e-12, abs=1e-12)

    lines = [
        (
            x.tenant,
            x.model,
            x.method,
            x.source,
            x.requests,
            x.tokens_in,
            x.tokens_out,
            approx(x.gco2e),
            approx(x.gco2e_min),
            approx(x.gco2e_max),
            approx(x.estimated_gco2e),
            approx(x.energy_wh),
            x.energy_known_requests,
            approx(x.water_ml),
            x.water_boundary,
            x.audited_months,
        )
        for x in report.lines
    ]
    return {
        "lines": lines,
        "apportionment": [(a.tenant, a.model, a.months, approx(a.gco2e)) for a in report.apportionment],
        "reconciliation": [
            (r.month, r.model, approx(r.estimated_gco2e), r.audited_gco2e, r.gateway_tokens)
            for r in report.reconciliation
        ],
        "tags": [(t.tenant, t.tag, t.model, approx(t.gco2e), t.audited_months) for t in report.tags],
        "total": approx(report.totals.gco2e),
        "catalogue": [(c.version, c.first_date, c.last_date, c.models) for c in report.catalogue_uses],
    }


async def _monthly_rows_report(store, tenant=None):
    """The same report from one row per line and audited month (what the stores hand without `sums`)."""
    months = parse_period(YEAR).months
    imports = await store.audited.for_months(months)
    report = await store_report(store, YEAR, tenant=tenant, catalogue_version="c", gateway_version="g")
    pairs = frozenset((r.month, r.model) for r in report.reconciliation)
    rows = await store.aggregates.report_input(months, tenant, pairs, sums=False)
    assert rows.audited_parts is None
    monthly = build_report(
        YEAR,
        store_rows=rows,
        audited=imports,
        catalogue_version="c",
        gateway_version="g",
        tenant=tenant,
        generated_at=None,
    )
    return report, monthly


@pytest.mark.parametrize("every", [False, True], ids=["23-of-24-audited", "all-audited"])
@pytest.mark.parametrize("tenant", [None, "b"])
async def test_summed_audited_months_give_the_monthly_rows_report(store, tenant, every):
    await _fill(store)
    await _audit(store, ("Scaleway",), every)
    months = parse_period(YEAR).months
    pairs = frozenset((f"{YEAR}-{m:02d}", model) for m in range(1, 13) for model in MODELS)
    if not every:
        pairs -= {(f"{YEAR}-05", "large")}
    summed = await store.aggregates.report_input(months, tenant, pairs, sums=True)
    assert summed.audited_parts is not None  # 23 (or 24) of 24 pairs audited: the summed form
    assert len(summed.audited_parts) > len(list(summed.audited))

    report, monthly = await _monthly_rows_report(store, tenant)
    assert _comparable(report) == _comparable(monthly)
    live = [x for x in report.lines if x.method != "audited_apportioned"]
    if every:
        assert live == []
    else:
        assert {(x.model, x.tenant) for x in live} == {("large", t) for t in ([tenant] if tenant else "abc")}
    if tenant is None:
        (c_large,) = [a for a in report.apportionment if a.model == "large" and a.tenant == "c"]
        assert len(c_large.months) == (11 if every else 10) and "2030-07" not in c_large.months


async def test_several_sources_keep_one_line_per_source(store):
    """Months imported from two sources: each line splits by source, so the store hands monthly rows."""
    await _fill(store)
    await _audit(store, ("Scaleway API", "Scaleway PDF"))
    report, monthly = await _monthly_rows_report(store)
    assert _comparable(report) == _comparable(monthly)
    sources = {x.source for x in report.lines if x.tenant == "a" and x.model == "small"}
    assert len(sources) == 2
