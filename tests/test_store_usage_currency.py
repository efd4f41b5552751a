"""Usage reports never sum spend across currencies, on both backends: spend per currency, a model's currency."""

from __future__ import annotations

import pytest

from meters.store.records import UNKNOWN_CURRENCY, build_usage_report, usage_label
from tests.support import stores as helpers
from tests.support.stores import T0, make_record

factory, store, clock = helpers.factory, helpers.store, helpers.clock


async def test_a_mixed_currency_tenant_gets_spend_per_currency(store):
    await store.meter.record(make_record("acme", model="mistral", spend=1.25, currency="EUR", tags={"build": "1"}))
    await store.meter.record(make_record("acme", model="mistral", spend=0.5, currency="EUR"))
    await store.meter.record(make_record("acme", model="gpt", spend=0.25, currency="USD", tags={"build": "1"}))
    await store.meter.record(make_record("acme", model="gpt", spend=0.5, currency="USD", timestamp=T0 + 86400))
    report = await store.reports.usage("acme", "2030-03")
    totals = report["totals"]
    assert totals["spend_by_currency"] == {"EUR": pytest.approx(1.75), "USD": pytest.approx(0.75)}
    assert totals["spend"] is None  # never 2.5: EUR and USD do not add up
    assert totals["requests"] == 4
    mistral, gpt = report["by_model"]["mistral"], report["by_model"]["gpt"]
    assert (mistral["currency"], mistral["spend"]) == ("EUR", pytest.approx(1.75))
    assert (gpt["currency"], gpt["spend"]) == ("USD", pytest.approx(0.75))
    assert mistral["spend_by_currency"] == {"EUR": pytest.approx(1.75)}
    first, second = report["by_day"]["2030-03-15"], report["by_day"]["2030-03-16"]
    assert first["spend"] is None and first["spend_by_currency"] == {"EUR": pytest.approx(1.75), "USD": pytest.approx(0.25)}
    assert second["spend"] == pytest.approx(0.5) and second["spend_by_currency"] == {"USD": pytest.approx(0.5)}
    tag = report["by_tag"]["build=1"]
    assert tag["spend"] is None and tag["spend_by_currency"] == {"EUR": pytest.approx(1.25), "USD": pytest.approx(0.25)}
    assert tag["requests"] == 2  # one tag row, whatever the currencies


async def test_one_currency_keeps_spend_a_number(store):
    await store.meter.record(make_record("acme", spend=0.25, currency="EUR"))
    await store.meter.record(make_record("acme", spend=0.0, currency="EUR"))
    totals = (await store.reports.usage("acme", "2030-03"))["totals"]
    assert totals["spend"] == pytest.approx(0.25) and totals["spend_by_currency"] == {"EUR": pytest.approx(0.25)}
    empty = (await store.reports.usage("acme", "2030-02"))["totals"]
    assert empty["spend"] == 0.0 and empty["spend_by_currency"] == {}


def test_rows_from_before_the_currency_was_kept_say_unknown():
    rows = [
        ("2030-03-01", "old-model", {"req": 1, "sp": 1_000_000_000}),
        ("2030-03-01", usage_label("old-model", "EUR"), {"req": 1, "sp": 500_000_000}),
    ]
    report = build_usage_report("acme", "2030-03", rows, [("2030-03-01", "k=v", {"req": 1, "sp": 1})])
    model = report["by_model"]["old-model"]
    assert model["spend_by_currency"] == {UNKNOWN_CURRENCY: 1.0, "EUR": 0.5} and model["currency"] is None
    assert model["spend"] is None and model["requests"] == 2
    assert set(report["by_tag"]) == {"k=v"}
