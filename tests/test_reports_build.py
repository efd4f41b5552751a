"""The report model from synthetic store rows: apportionment, reconciliation, totals, labels, logs."""

from __future__ import annotations

import dataclasses

import pytest

from meters.reports import ReportError, build_report, calibration_ratios
from meters.reports.equivalents import EquivalenceFactor
from tests.support.report_rows import ENERGY, MARKET, MEASURED, audited_import, counters, tag, usage

MONTH = "2026-10"
GPT = "gpt-oss-120b"
NO_EQUIVALENTS: tuple[EquivalenceFactor, ...] = ()


def seed_rows() -> list:
    # 600k / 300k / 100k tokens of gpt-oss-120b, live estimates 5, 2.5 and 1 g; one other model.
    return [
        usage(
            f"{MONTH}-03",
            "t-a",
            GPT,
            counters(400_000, 200_000, 5.0, requests=60, energy_wh=50.0, water_ml=9.0),
        ),
        usage(f"{MONTH}-04", "t-b", GPT, counters(200_000, 100_000, 2.5, requests=30, energy_wh=25.0)),
        usage(f"{MONTH}-05", "t-c", GPT, counters(60_000, 40_000, 1.0, requests=10)),
        usage(
            f"{MONTH}-05",
            "t-a",
            "mistral-large-2",
            counters(1_000, 400, 4.0, requests=2),
            label=MEASURED,
            provider="mistral",
            currency="USD",
        ),
    ]


def report(**kwargs):
    defaults = dict(catalogue_version="2026-11-22", gateway_version="0.1.0", equivalents=NO_EQUIVALENTS)
    return build_report(**{**defaults, **kwargs})


def test_seed_apportionment_is_exact_and_sums_to_the_audited_total() -> None:
    built = report(period=MONTH, usage=seed_rows(), audited=[audited_import(MONTH, [(GPT, 12.5)])])
    shares = {(a.tenant, a.model): a.gco2e for a in built.apportionment}
    assert shares == {("t-a", GPT): 7500.0, ("t-b", GPT): 3750.0, ("t-c", GPT): 1250.0}
    gpt_lines = [line for line in built.lines if line.model == GPT]
    assert {line.method for line in gpt_lines} == {"audited_apportioned"}
    assert {line.confidence for line in gpt_lines} == {"estimated"}
    assert sum(line.gco2e for line in gpt_lines) == 12500.0
    (summary,) = [m for m in built.models if m.model == GPT]
    assert (summary.method, summary.confidence, summary.boundary, summary.basis) == (
        "audited",
        "audited",
        "supplier",
        "location",
    )
    assert summary.gco2e == 12500.0 and summary.gco2e_min == summary.gco2e_max == 12500.0
    assert summary.estimated_gco2e == 8.5
    assert built.totals.gco2e == 12504.0
    assert built.totals.estimated_gco2e == 12.5


def test_reconciliation_gap_is_audited_minus_estimated() -> None:
    built = report(period=MONTH, usage=seed_rows(), audited=[audited_import(MONTH, [(GPT, 0.0102)])])
    (line,) = built.reconciliation
    assert (line.month, line.model, line.estimated_gco2e, line.audited_gco2e) == (MONTH, GPT, 8.5, 10.2)
    assert line.gap_gco2e == line.audited_gco2e - line.estimated_gco2e
    assert line.ratio == pytest.approx(1.2) and line.gap_pct == pytest.approx(20.0)
    assert line.audited_total_gco2e == 10.2 and line.outside_gateway_gco2e == 0.0
    assert "no supplier token count" in (line.note or "")
    ratios = calibration_ratios(built.reconciliation)
    assert ratios[GPT].ratio == line.ratio and ratios[GPT].month == MONTH


def test_supplier_tokens_beyond_the_gateway_are_outside() -> None:
    # The supplier counted 1.25M tokens, the gateway 1M: the gateway's traffic gets 10 of 12.5 kg.
    built = report(period=MONTH, usage=seed_rows(), audited=[audited_import(MONTH, [(GPT, 12.5, 1_250_000)])])
    shares = {a.tenant: a.gco2e for a in built.apportionment}
    assert shares == {"t-a": 6000.0, "t-b": 3000.0, "t-c": 1000.0}
    (line,) = built.reconciliation
    assert line.audited_gco2e == 10000.0 and line.outside_gateway_gco2e == 2500.0
    assert line.audited_total_gco2e == 12500.0 and line.note is None
    assert built.totals.outside_gateway_gco2e == 2500.0
    gross = built.esrs[-1]
    assert gross.location_based_tco2e == pytest.approx((10000.0 + 4.0 + 2500.0) / 1e6)


def test_tenant_report_shows_its_share_only() -> None:
    rows = [row for row in seed_rows() if row.tenant_id == "t-b"]
    built = report(
        period=MONTH,
        tenant="t-b",
        usage=rows,
        audited=[audited_import(MONTH, [(GPT, 12.5), (None, 1.0)])],
        org_tokens={(MONTH, GPT): 1_000_000},
    )
    assert built.scope.as_dict() == {"type": "tenant", "tenant": "t-b"}
    assert [(a.tenant, a.gco2e) for a in built.apportionment] == [("t-b", 3750.0)]
    (line,) = built.reconciliation
    assert (
        line.audited_gco2e == 3750.0
        and line.audited_total_gco2e is None
        and line.outside_gateway_gco2e is None
    )
    assert (line.gateway_tokens, line.supplier_tokens) == (
        300_000,
        None,
    )  # its own tokens, not the organisation's
    assert {m.method for m in built.models if m.model == GPT} == {
        "audited_apportioned"
    }  # its share: an estimate
    assert built.unattributed == () and built.totals.unattributed_gco2e is None
    with pytest.raises(ValueError, match="org_tokens"):
        report(period=MONTH, tenant="t-b", usage=rows, audited=[audited_import(MONTH, [(GPT, 12.5)])])
    with pytest.raises(ReportError) as caught:
        report(period=MONTH, tenant="t-b", usage=seed_rows())
    assert caught.value.param == "tenant"


def test_unattributed_skus_are_reported_not_dropped() -> None:
    built = report(
        period=MONTH, usage=seed_rows(), audited=[audited_import(MONTH, [(GPT, 12.5), (None, 0.75)])]
    )
    (item,) = built.unattributed
    assert item.gco2e == 750.0 and "mystery" in item.sku
    assert built.totals.unattributed_gco2e == 750.0
    assert any("unattributed" in text for text in built.limitations)


def test_restatement_keeps_the_earlier_figure_in_the_log() -> None:
    imports = [
        audited_import(MONTH, [(GPT, 12.5)], version=2),
        audited_import(MONTH, [(GPT, 10.0)], version=1),
    ]
    built = report(period=MONTH, usage=seed_rows(), audited=imports)
    assert built.reconciliation[0].audited_gco2e == 12500.0 and built.reconciliation[0].version == 2
    (entry,) = built.restatements
    assert (entry.subject, entry.previous_gco2e, entry.restated_gco2e) == (GPT, 10000.0, 12500.0)
    assert entry.previous.startswith("v1") and entry.restated.startswith("v2")


def test_unknown_energy_and_water_stay_unknown() -> None:
    built = report(period=MONTH, usage=seed_rows())
    by_tenant = {(line.tenant, line.model): line for line in built.lines}
    assert by_tenant[("t-c", GPT)].energy_wh is None and by_tenant[("t-c", GPT)].water_ml is None
    assert by_tenant[("t-a", GPT)].energy_wh == 50.0
    assert built.totals.energy_wh == 75.0 and built.totals.energy_known_requests == 90
    assert built.totals.requests == 102
    assert any("Energy is known for 90 of 102 requests" in text for text in built.limitations)


def test_spend_is_never_summed_across_currencies() -> None:
    rows = [
        usage(f"{MONTH}-01", "t", GPT, counters(10, 10, 1.0, spend=2.0)),
        usage(f"{MONTH}-02", "t", GPT, counters(10, 10, 1.0, spend=3.0)),
        usage(
            f"{MONTH}-02", "t", "gpt-4o", counters(10, 10, 1.0, spend=1.5), provider="openai", currency="USD"
        ),
    ]
    assert report(period=MONTH, usage=rows).totals.spend == {"EUR": 5.0, "USD": 1.5}


def test_tags_apportion_by_token_share_and_keep_estimates_elsewhere() -> None:
    tags = [
        tag(f"{MONTH}-03", "t-a", "build=1", GPT, counters(300_000, 100_000, 3.0)),
        tag(f"{MONTH}-03", "t-a", "build=2", GPT, counters(100_000, 100_000, 2.0)),
        tag(f"{MONTH}-04", "t-b", "build=7", GPT, counters(200_000, 100_000, 2.5)),
        tag(f"{MONTH}-05", "t-a", "build=1", "mistral-large-2", counters(10, 10, 0.4), label=MEASURED),
    ]
    built = report(period=MONTH, usage=seed_rows(), tags=tags, audited=[audited_import(MONTH, [(GPT, 12.5)])])
    grams = {(t.tenant, t.tag, t.model): t.gco2e for t in built.tags}
    assert grams[("t-a", "build=1", GPT)] == 5000.0  # 400k of 1M tokens
    assert grams[("t-a", "build=2", GPT)] == 2500.0
    assert grams[("t-b", "build=7", GPT)] == 3750.0
    assert grams[("t-a", "build=1", "mistral-large-2")] == 0.4  # not audited: the live estimate


def test_totals_per_boundary_method_and_basis_and_the_market_line() -> None:
    rows = [
        *seed_rows(),
        usage(
            f"{MONTH}-06",
            "t-a",
            "gemini-1-5-flash",
            counters(100, 300, 0.03),
            label=MARKET,
            provider="google",
            currency="USD",
        ),
    ]
    built = report(period=MONTH, usage=rows)
    assert {b.key: b.gco2e for b in built.by_boundary} == pytest.approx(
        {"usage+embodied": 8.5, "lca": 4.0, "usage": 0.03}
    )
    assert {b.key for b in built.by_method} == {"energy", "measured"}
    assert {b.key: b.gco2e for b in built.by_basis} == pytest.approx(
        {"location": 8.5, "not stated": 4.0, "market": 0.03}
    )
    scope3 = built.esrs[1]
    assert scope3.location_based_tco2e == pytest.approx(12.5e-6) and scope3.market_based_tco2e is None
    assert "not provided by the supplier" in scope3.note
    assert built.esrs[2].market_based_tco2e == pytest.approx(0.03e-6)
    assert built.primary_data_share == pytest.approx(4.03 / 12.53)


def test_yearly_report_with_monthly_rows_and_catalogue_changes() -> None:
    label_old = ENERGY
    label_new = dataclasses.replace(ENERGY, catalogue_version="2027-01")
    rows = [
        usage("2026-01", "t", GPT, counters(10, 10, 1.0), label=label_old),
        usage("2026-07", "t", GPT, counters(10, 10, 2.0), label=label_new),
    ]
    built = report(period="2026", usage=rows)
    assert built.by_day_is_monthly and [p.day for p in built.by_day] == ["2026-01", "2026-07"]
    assert [(c.version, c.first_date, c.last_date) for c in built.catalogue_uses] == [
        ("2026-11-22", "2026-01", "2026-01"),
        ("2027-01", "2026-07", "2026-07"),
    ]
    assert len(built.lines) == 2  # one per label: never merged across catalogue versions


@pytest.mark.parametrize("period", ["2026-13", "26", "2026-1", "", "2026-10-01"])
def test_bad_period(period: str) -> None:
    with pytest.raises(ReportError) as caught:
        report(period=period, usage=[])
    assert caught.value.param == "period"


def test_rows_outside_the_period_are_refused() -> None:
    with pytest.raises(ReportError) as caught:
        report(period=MONTH, usage=[usage("2026-09-30", "t", GPT, counters(1, 1, 1.0))])
    assert caught.value.param == "period"


def test_empty_period_builds() -> None:
    built = report(period=MONTH, usage=[])
    assert built.totals.gco2e == 0 and built.primary_data_share is None and built.lines == ()


def test_tenant_share_matches_its_share_in_the_organisation_report() -> None:
    rows = [
        usage(f"{MONTH}-0{d}", f"t-{t}", GPT, counters(1_000 + 7 * t + d, 333 * t + 1, 0.5))
        for t in range(7)
        for d in range(1, 4)
    ]
    audited = [audited_import(MONTH, [(GPT, 0.123456789)])]
    org = report(period=MONTH, usage=rows, audited=audited)
    org_tokens = {(MONTH, GPT): sum(row.counters.tokens for row in rows)}
    assert sum(a.gco2e for a in org.apportionment) == pytest.approx(123.456789, abs=1e-9)
    for a in org.apportionment:
        own = [row for row in rows if row.tenant_id == a.tenant]
        alone = report(period=MONTH, tenant=a.tenant, usage=own, audited=audited, org_tokens=org_tokens)
        assert abs(alone.apportionment[0].gco2e - a.gco2e) <= 1e-6  # at most 1 microgram apart


def test_rows_need_not_share_label_objects() -> None:
    shared = [usage(f"{MONTH}-01", "t", GPT, counters(10, 10, 1.0)) for _ in range(3)]
    copies = [dataclasses.replace(row, label=dataclasses.replace(ENERGY)) for row in shared]
    assert report(period=MONTH, usage=copies).totals == report(period=MONTH, usage=shared).totals
    assert len(report(period=MONTH, usage=copies).lines) == 1


def test_supplier_water_is_apportioned_and_daily_rows_draw_the_chart() -> None:
    from meters.audited import AuditedImport, ImportedFigure
    from meters.reports import DailyRow

    figure = ImportedFigure(kg_co2e=12.5, model=GPT, m3_water=0.002, tokens=None)
    audited = [AuditedImport(MONTH, "Scaleway", 1, "2026-11-01T00:00:00Z", (figure,), "location")]
    daily = [DailyRow(f"{MONTH}-0{d}", float(d)) for d in range(1, 4)]
    built = report(period=MONTH, usage=seed_rows(), audited=audited, daily=daily)
    water = {line.tenant: line.water_ml for line in built.lines if line.model == GPT}
    assert water == pytest.approx(
        {"t-a": 1200.0, "t-b": 600.0, "t-c": 200.0}
    )  # 0.002 m3 = 2,000 mL, by token share
    assert {line.water_boundary for line in built.lines if line.model == GPT} == {"supplier"}
    assert [(p.day, p.gco2e) for p in built.by_day] == [
        (f"{MONTH}-01", 1.0),
        (f"{MONTH}-02", 2.0),
        (f"{MONTH}-03", 3.0),
    ]


def test_supplier_water_of_a_line_is_unknown_once_one_of_its_months_has_none() -> None:
    """Two audited months, water in one only: the line's supplier water would be partial, so the line keeps
    its live water estimate (and its boundary); a line audited only in the month with water gets the supplier's."""
    from meters.audited import AuditedImport, ImportedFigure

    def month_of(month: str, water: float | None) -> AuditedImport:
        figure = ImportedFigure(kg_co2e=1.0, model=GPT, m3_water=water, tokens=None)
        return AuditedImport(month, "Scaleway", 1, "2026-12-01T00:00:00Z", (figure,), "location")

    rows = [
        usage("2026-10", "t-a", GPT, counters(100, 0, 1.0, water_ml=4.0)),
        usage("2026-11", "t-a", GPT, counters(300, 0, 1.0, water_ml=5.0)),
        usage("2026-10", "t-b", GPT, counters(100, 0, 1.0, water_ml=6.0)),
    ]
    for order in ((0.001, None), (None, 0.001)):
        audited = [month_of("2026-10", order[0]), month_of("2026-11", order[1])]
        built = report(period="2026", usage=rows, audited=audited)
        water = {line.tenant: (line.water_ml, line.water_boundary) for line in built.lines}
        live = (pytest.approx(9.0), ENERGY.water_boundary)
        if order[0] is None:
            assert water == {"t-a": live, "t-b": (pytest.approx(6.0), ENERGY.water_boundary)}
        else:  # October: 1,000 mL over 100 + 100 tokens
            assert water == {"t-a": live, "t-b": (pytest.approx(500.0), "supplier")}
