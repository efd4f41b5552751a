"""count_many: the gateway's usage writer settles and records in batches, on both backends."""

from __future__ import annotations

import pytest

from meters.limits import Limits, Scope
from meters.store import Amounts
from tests.support import stores as helpers
from tests.support.stores import make_record

factory, store, clock = helpers.factory, helpers.store, helpers.clock


async def test_count_many_settles_records_and_stays_idempotent(store) -> None:
    scopes = [Scope("t:acme", Limits.from_config({"gco2e_per_month": 100}, "test"))]
    outcome = await store.meter.reserve(
        "acme", key_id=None, model="small", amounts=Amounts(gco2e=5.0), scopes=scopes
    )
    assert outcome.ok
    settled = make_record("acme", gco2e=1.25)
    recorded = make_record("acme", gco2e=0.5)
    assert await store.meter.count_many([(outcome.reservation_id, settled), (None, recorded)]) == [True, True]
    assert await store.meter.outstanding_reservations("acme") == 0
    # the same records again (a replay) count nothing
    assert await store.meter.count_many([(None, settled), (None, recorded)]) == [False, False]
    usage = await store.reports.usage("acme", "2030-03")
    assert usage["totals"]["requests"] == 2
    assert usage["totals"]["gco2e"] == pytest.approx(1.75)
