"""The ledger is kept `ledger_retention_days` (default 35); the aggregates reports read 400 days."""

from __future__ import annotations

from meters.store.retention import LEDGER_RETENTION_DAYS
from tests.support import stores as helpers
from tests.support.stores import T0, make_record

# Fixtures shared by the store suites (every backend).
factory, store, clock = helpers.factory, helpers.store, helpers.clock

OLD = 300  # several Redis stream nodes' worth: XADD MINID ~ trims whole nodes


async def _ledger(store, tenant: str) -> list[dict]:
    return [entry async for entry in store.reports.ledger(tenant, 0, float("inf"))]


async def test_ledger_trimmed_after_retention_while_aggregates_stay(factory, clock):
    store = await factory.open(clock=clock)
    assert await store.meter.count_many([(None, make_record("keep", timestamp=T0)) for _ in range(OLD)])
    assert len(await _ledger(store, "keep")) == OLD

    clock.advance((LEDGER_RETENTION_DAYS + 5) * 86400)
    assert await store.meter.record(make_record("keep", timestamp=clock.now, request_id="new"))

    left = await _ledger(store, "keep")
    assert left[-1]["request_id"] == "new"
    # Redis trims whole stream nodes (MINID ~): at most one partly old node may stay until the next write.
    assert len([entry for entry in left if entry["timestamp"] == T0]) < OLD // 10
    # The daily aggregates of the trimmed days are still there for reports.
    assert (await store.reports.usage("keep", "2030-03"))["totals"]["requests"] == OLD


async def test_ledger_retention_is_configurable(factory, clock):
    store = await factory.open(clock=clock, ledger_retention_days=400)
    assert await store.meter.record(make_record("long", timestamp=T0))
    clock.advance((LEDGER_RETENTION_DAYS + 5) * 86400)
    assert await store.meter.record(make_record("long", timestamp=clock.now))
    assert len(await _ledger(store, "long")) == 2
