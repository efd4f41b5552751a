"""Usage reports keep unknown energy and water unknown (null, never 0), on both backends; rows from before the
known counts follow one documented rule (records.known_counts)."""

from __future__ import annotations

import sqlite3

import pytest

from meters.store.records import build_usage_report
from meters.store.sqlite import open_sqlite
from meters.store.sqlite.schema import SCHEMA_VERSION
from tests.support import stores as helpers
from tests.support.stores import make_estimate, make_record

factory, store, clock = helpers.factory, helpers.store, helpers.clock


def unknown(gco2e: float, *, water_known: bool = False):
    """A coefficient-style estimate: carbon known, energy unknown (water unknown unless asked)."""
    estimate = make_estimate(gco2e)
    return estimate._replace(energy_wh=None, water_ml=estimate.water_ml if water_known else None)


async def test_unknown_energy_and_water_are_null_with_known_counts(store):
    await store.meter.record(make_record("acme", model="known", gco2e=1.0, tags={"build": "1"}))
    await store.meter.record(make_record("acme", model="coef", estimate=unknown(2.0), tags={"build": "2"}))
    await store.meter.record(make_record("acme", model="coef", estimate=unknown(0.5, water_known=True)))
    report = await store.reports.usage("acme", "2030-03")
    coef, known, totals = report["by_model"]["coef"], report["by_model"]["known"], report["totals"]
    assert coef["energy_wh"] is None and coef["energy_known_requests"] == 0  # never 0
    assert coef["water_ml"] == pytest.approx(1.5) and coef["water_known_requests"] == 1
    assert known["energy_wh"] == pytest.approx(10.0) and known["energy_known_requests"] == 1
    # A mixed row sums what was known and says for how many requests.
    assert totals["requests"] == 3 and totals["gco2e"] == pytest.approx(3.5)
    assert totals["energy_wh"] == pytest.approx(10.0) and totals["energy_known_requests"] == 1
    assert totals["water_ml"] == pytest.approx(4.5) and totals["water_known_requests"] == 2
    assert report["by_tag"]["build=2"]["energy_wh"] is None and report["by_tag"]["build=2"]["water_ml"] is None
    assert report["by_tag"]["build=1"]["energy_known_requests"] == 1
    assert report["by_day"]["2030-03-15"]["energy_known_requests"] == 1
    empty = await store.reports.usage("acme", "2030-02")
    assert empty["totals"]["energy_wh"] is None and empty["totals"]["energy_known_requests"] == 0


async def test_known_energy_of_zero_is_zero_not_null(store):
    zero = make_estimate(1.0)._replace(energy_wh=0.0, water_ml=0.0)
    await store.meter.record(make_record("acme", estimate=zero))
    totals = (await store.reports.usage("acme", "2030-03"))["totals"]
    assert totals["energy_wh"] == 0.0 and totals["energy_known_requests"] == 1
    assert totals["water_ml"] == 0.0 and totals["water_known_requests"] == 1


def test_rows_without_known_counts_follow_the_legacy_rule():
    """A row stored before `enk`/`wak` existed: known for all its requests when its sum is above 0, else unknown."""
    rows = [
        ("2030-03-01", "old", {"req": 4, "en": 2_000_000_000, "wa": 0, "g": 1}),
        ("2030-03-01", "new", {"req": 2, "en": 1_000_000_000, "enk": 1, "wa": 0, "wak": 0, "g": 1}),
    ]
    report = build_usage_report("acme", "2030-03", rows, [])
    old = report["by_model"]["old"]
    assert old["energy_wh"] == 2.0 and old["energy_known_requests"] == 4
    assert old["water_ml"] is None and old["water_known_requests"] == 0
    assert report["totals"]["energy_known_requests"] == 5 and report["totals"]["energy_wh"] == 3.0


async def test_a_version_2_file_gets_known_counts_by_the_legacy_rule(tmp_path):
    path = tmp_path / "state.sqlite3"
    first = open_sqlite(path)
    await first.meter.record(make_record("acme", model="measured", gco2e=1.0))
    await first.meter.record(make_record("acme", model="coef", estimate=unknown(1.0)))
    await first.close()
    # Make it a version 2 file: the daily tables without enk/wak (what the version-2 gateway wrote).
    conn = sqlite3.connect(path, isolation_level=None)
    for table in ("usage_model_day", "usage_tag_day"):
        conn.execute(f"ALTER TABLE {table} DROP COLUMN enk")
        conn.execute(f"ALTER TABLE {table} DROP COLUMN wak")
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    reopened = open_sqlite(path)
    try:
        report = await reopened.reports.usage("acme", "2030-03")
        assert report["by_model"]["measured"]["energy_known_requests"] == 1
        assert report["by_model"]["measured"]["energy_wh"] == pytest.approx(10.0)
        assert report["by_model"]["coef"]["energy_wh"] is None
    finally:
        await reopened.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()
