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


async def test_a_large_batch_of_two_tenants_answers_each_request_in_order(store) -> None:
    """More requests than one script call takes (Redis settles a batch in chunks per tenant): every answer
    is the request's own, in the batch's order, replays included, and every request is counted once."""
    first = [make_record("acme" if i % 3 else "globex", gco2e=0.25) for i in range(40)]
    assert await store.meter.count_many([(None, r) for r in first]) == [True] * 40
    fresh = [make_record("acme" if i % 2 else "globex", gco2e=0.5) for i in range(70)]
    mixed = [record for pair in zip(fresh, first, strict=False) for record in pair] + fresh[40:]
    answers = await store.meter.count_many([(None, r) for r in mixed])
    assert answers == [record in fresh for record in mixed]
    for tenant in ("acme", "globex"):
        totals = (await store.reports.usage(tenant, "2030-03"))["totals"]
        requests = sum(r.tenant_id == tenant for r in first + fresh)
        assert totals["requests"] == requests
        grams = 0.25 * sum(r.tenant_id == tenant for r in first) + 0.5 * sum(r.tenant_id == tenant for r in fresh)
        assert totals["gco2e"] == pytest.approx(grams)
