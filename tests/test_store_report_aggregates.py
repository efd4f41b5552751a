"""Label-keyed monthly aggregates and audited imports, on both backends, read back as reports."""

from __future__ import annotations

import pytest

from meters.audited import ImportedFigure, ParsedImport
from meters.store.reporting import store_report
from tests.support import stores as helpers
from tests.support.stores import T0, make_estimate, make_record

factory, store, clock = helpers.factory, helpers.store, helpers.clock
MONTH = "2030-03"  # T0's month


def audited(
    kg: float, model: str = "small", source: str = "Scaleway test", tokens: int | None = None
) -> ParsedImport:
    return ParsedImport(MONTH, source, (ImportedFigure(kg, model, tokens=tokens),), "location")


async def report(store, period=MONTH, tenant=None):
    return await store_report(store, period, tenant=tenant, catalogue_version="c", gateway_version="g")


async def count(store, *records) -> None:
    assert all(await store.meter.count_many([(None, r) for r in records]))


async def test_apportionment_exact_through_the_store(store):
    await count(
        store,
        *(
            make_record(t, prompt_tokens=n, completion_tokens=0, gco2e=g, tags={"build": t})
            for t, n, g in (("a", 600_000, 3.0), ("b", 300_000, 1.5), ("c", 100_000, 0.5))
        ),
    )
    await store.audited.add(audited(12.5))
    built = await report(store)
    assert [(a.tenant, a.model, a.gco2e) for a in built.apportionment] == [
        ("a", "small", 7500.0),
        ("b", "small", 3750.0),
        ("c", "small", 1250.0),
    ]
    (line,) = built.reconciliation
    assert line.estimated_gco2e == pytest.approx(5.0)
    assert line.audited_gco2e == 12500.0
    assert line.gap_gco2e == pytest.approx(line.audited_gco2e - line.estimated_gco2e)
    assert {(t.tenant, t.gco2e) for t in built.tags} == {("a", 7500.0), ("b", 3750.0), ("c", 1250.0)}
    # A tenant's own report: its share of the organisation's audited figure, nobody else's lines.
    own = await report(store, tenant="b")
    assert [(a.tenant, a.gco2e) for a in own.apportionment] == [("b", 3750.0)]
    assert {line.tenant for line in own.lines} == {"b"}


async def test_labels_counters_and_unknown_energy(store):
    unknown = make_estimate(0.25)._replace(energy_wh=None, water_ml=None, method="coefficient")
    first = make_record("acme", model="big", prompt_tokens=7, completion_tokens=3)
    first.datacentre = "scw-fr-par-2"
    second = make_record("acme", model="big", prompt_tokens=1, completion_tokens=1)
    second.estimate = unknown
    await count(store, first, second, make_record("acme", timestamp=T0 + 86400))
    built = await report(store, "2030")
    lines = {(line.model, line.method): line for line in built.lines}
    measured = lines[("big", "test")]
    assert (measured.requests, measured.tokens_in, measured.tokens_out) == (1, 7, 3)
    assert measured.datacentre == "scw-fr-par-2" and measured.boundary == "usage+embodied"
    assert measured.energy_wh == pytest.approx(5.0) and measured.energy_known_requests == 1
    unknown_line = lines[("big", "coefficient")]
    assert unknown_line.energy_wh is None and unknown_line.water_ml is None  # unknown, never 0
    assert built.totals.gco2e == pytest.approx(0.5 + 0.25 + 0.5)
    assert [(p.day, round(p.gco2e, 6)) for p in built.by_day] == [("2030-03-15", 0.75), ("2030-03-16", 0.5)]


async def test_reimport_is_a_restatement(store):
    await count(store, make_record("acme", prompt_tokens=1000, completion_tokens=0))
    first = await store.audited.add(audited(1.0, source="first"))
    second = await store.audited.add(audited(2.0, source="second"))
    assert (first.version, second.version) == (1, 2)
    assert [i.version for i in await store.audited.list(MONTH)] == [2, 1]
    assert [i.source for i in await store.audited.for_months((MONTH,))] == ["second", "first"]
    assert await store.audited.list("2030-04") == []
    built = await report(store)
    assert built.totals.gco2e == pytest.approx(2000.0)  # the newest version is in force
    assert built.restatements and built.restatements[0].month == MONTH


async def test_months_summed_and_audited_months_kept_apart(store):
    march, april = T0, T0 + 31 * 86400
    await count(
        store,
        make_record("a", timestamp=march, prompt_tokens=100, completion_tokens=0, gco2e=1.0),
        make_record("a", timestamp=april, prompt_tokens=300, completion_tokens=0, gco2e=3.0),
        make_record("b", timestamp=april, prompt_tokens=100, completion_tokens=0, gco2e=1.0),
    )
    await store.audited.add(ParsedImport("2030-04", "s", (ImportedFigure(0.008, "small"),), "location"))

    def rows(data):  # (date, tenant, prompt tokens): audited rows monthly, each line's other months summed
        return sorted([(r[5], r[0], r[7]) for r in data.audited] + [(x[5], x[0], x[8]) for x in data.lines])

    year = tuple(f"2030-{m:02d}" for m in range(1, 13))
    data = await store.aggregates.report_input(year, None, frozenset({("2030-04", "small")}))
    assert rows(data) == [("2030-03", "a", 100), ("2030-04", "a", 300), ("2030-04", "b", 100)]
    monthly = await store.aggregates.report_input(
        ("2030-03", "2030-04"), None, frozenset({("2030-04", "small")})
    )
    assert rows(monthly) == [("2030-03", "a", 100), ("2030-04", "a", 300), ("2030-04", "b", 100)]
    built = await report(store, "2030", tenant="b")
    assert [(a.tenant, a.gco2e) for a in built.apportionment] == [("b", 2.0)]  # 8 g x 100 / 400 tokens


async def test_live_months_of_a_line_first_used_in_an_audited_month(store):
    """A yearly report: a line used in an audited month (its first) and in a month with no audited figure
    apportions the audited month over that month's tokens only and keeps the other month live."""
    march, april = T0, T0 + 31 * 86400
    await count(
        store,
        make_record("a", timestamp=march, prompt_tokens=100, completion_tokens=0, gco2e=1.0),
        make_record("a", timestamp=april, prompt_tokens=300, completion_tokens=0, gco2e=3.0),
        make_record("b", timestamp=march, prompt_tokens=100, completion_tokens=0, gco2e=1.0),
    )
    await store.audited.add(ParsedImport("2030-03", "s", (ImportedFigure(0.008, "small"),), "location"))
    for tenant in (None, "a"):
        built = await report(store, "2030", tenant=tenant)
        expected = [("a", 4.0), ("b", 4.0)] if tenant is None else [("a", 4.0)]  # 8 g x 100 / 200 tokens
        assert [(a.tenant, a.gco2e) for a in built.apportionment] == expected
        live = [(x.tenant, x.tokens_in, x.gco2e) for x in built.lines if x.method != "audited_apportioned"]
        assert live == [("a", 300, 3.0)]
    (line,) = (await report(store, "2030")).reconciliation
    assert (line.month, line.gateway_tokens, line.estimated_gco2e) == ("2030-03", 200, 2.0)


async def test_yearly_apportionment_and_reconciliation_numbers(store):
    """A year from the store (the year's lines less their audited months, read monthly): exact shares per
    tenant, tag and month, supplier tokens beyond the gateway's outside it, live months kept live."""
    day = 86400
    march, april, may = T0, T0 + 31 * day, T0 + 61 * day
    records = [
        make_record("a", timestamp=march, prompt_tokens=600, completion_tokens=0, gco2e=3.0),
        make_record(
            "b", timestamp=march, prompt_tokens=300, completion_tokens=0, gco2e=1.5, tags={"build": "1"}
        ),
        make_record("a", timestamp=april, prompt_tokens=300, completion_tokens=0, gco2e=1.5),
        make_record(
            "b", timestamp=april, prompt_tokens=100, completion_tokens=0, gco2e=0.5, tags={"build": "1"}
        ),
        make_record("a", timestamp=may, prompt_tokens=100, completion_tokens=0, gco2e=0.5),
    ]
    await count(store, *records)
    await store.audited.add(ParsedImport("2030-03", "s", (ImportedFigure(0.009, "small"),), "location"))
    april_figure = ImportedFigure(0.004, "small", tokens=800)  # the supplier counted twice the gateway's
    await store.audited.add(ParsedImport("2030-04", "s", (april_figure,), "location"))
    built = await report(store, "2030")
    # March: 9 g over 600/300 tokens; April: 4 g x 400/800 for the gateway, over 300/100 tokens.
    assert [(a.tenant, a.months, a.gco2e) for a in built.apportionment] == [
        ("a", ("2030-03", "2030-04"), 7.5),
        ("b", ("2030-03", "2030-04"), 3.5),
    ]
    assert [
        (r.month, r.estimated_gco2e, r.audited_gco2e, r.gap_gco2e, r.outside_gateway_gco2e, r.gateway_tokens)
        for r in built.reconciliation
    ] == [("2030-03", 4.5, 9.0, 4.5, 0.0, 900), ("2030-04", 2.0, 2.0, 0.0, 2.0, 400)]
    live = [(x.tenant, x.tokens_in, x.gco2e) for x in built.lines if x.method != "audited_apportioned"]
    assert live == [("a", 100, 0.5)]
    assert [(t.tenant, t.tag, t.gco2e) for t in built.tags] == [("b", "build=1", 3.5)]
    own = await report(store, "2030", tenant="b")
    assert [(a.tenant, a.gco2e) for a in own.apportionment] == [("b", 3.5)]
    assert [(r.month, r.estimated_gco2e, r.audited_gco2e) for r in own.reconciliation] == [
        ("2030-03", 1.5, 3.0),
        ("2030-04", 0.5, 0.5),
    ]


async def test_retention_is_checked():
    from meters.store import open_store

    with pytest.raises(ValueError, match="monthly_retention_months"):
        await open_store(None, monthly_retention_months=12)


async def test_audited_model_without_gateway_traffic(store):
    """An audited model (with water) the gateway never served: all of it outside the gateway, no crash."""
    await count(store, make_record("acme"))
    figure = ImportedFigure(2.0, "unused", m3_water=0.001)
    await store.audited.add(ParsedImport(MONTH, "s", (figure,), "location"))
    built = await report(store)
    (line,) = built.reconciliation
    assert (line.model, line.estimated_gco2e, line.outside_gateway_gco2e) == ("unused", 0.0, 2000.0)
    assert (await report(store, tenant="acme")).reconciliation == ()


async def test_months_past_the_monthly_retention_are_named_and_left_out(store, clock):
    """A report asked for after some of its months left the store's retention (25 months by default) says so,
    and leaves those months out whether or not the store has deleted them yet (the same report either way)."""
    from datetime import UTC, datetime

    may = datetime(2030, 5, 10, tzinfo=UTC).timestamp()
    await count(store, make_record("acme", gco2e=1.0), make_record("acme", gco2e=2.0, timestamp=may))
    await store.audited.add(audited(3.0))
    before = await report(store, "2030")
    assert before.pruned_months == () and before.totals.requests == 2
    assert not any("retention" in note for note in before.limitations)

    clock.now = datetime(2032, 4, 15, tzinfo=UTC).timestamp()  # 25 months kept: 2030-04 .. 2032-04
    await count(store, make_record("acme", timestamp=clock.now))  # SQLite prunes in its next count
    built = await report(store, "2030")
    assert built.pruned_months == ("2030-01", "2030-02", "2030-03")
    assert built.totals.requests == 1 and built.totals.gco2e == pytest.approx(2.0)
    (note,) = [note for note in built.limitations if "retention" in note]
    assert "2030-01 to 2030-03" in note and "25 months" in note and "cover 2030-04 to 2030-12 only" in note
    assert built.as_dict()["pruned_months"] == ["2030-01", "2030-02", "2030-03"]
    # The audited figure of a pruned month is still reported, all of it outside what the report covers.
    (line,) = built.reconciliation
    assert (line.month, line.estimated_gco2e, line.outside_gateway_gco2e) == (MONTH, 0.0, 3000.0)

    gone = await report(store, MONTH, tenant="acme")
    assert gone.pruned_months == (MONTH,) and gone.totals.requests == 0 and gone.lines == ()
    assert any(f"Usage of {MONTH} is past" in note and "no figure" in note for note in gone.limitations)
    assert (await report(store, "2030-04")).pruned_months == ()
