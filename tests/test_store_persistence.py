"""State survives a restart: a monthly budget must not reset when the process does."""

from __future__ import annotations

from meters.limits import LimitName, Limits, Scope
from meters.store import Amounts
from meters.tenants import Tenant
from tests.support import stores as helpers
from tests.support.stores import make_record

# Fixtures shared by the store suites (both backends).
factory, store, clock = helpers.factory, helpers.store, helpers.clock


async def test_budget_usage_keys_and_reservations_survive_reopen(factory, clock):
    scopes = [Scope("t:acme", Limits.from_config({"gco2e_per_month": 5.0}, "acme"))]
    store = await factory.open(clock=clock)
    await store.directory.put_tenant(Tenant(id="acme", limits=scopes[0].limits))
    _, plaintext = await store.directory.issue_key("acme")
    assert await store.meter.record(make_record("acme", request_id="r1", gco2e=3.0))
    held = await store.meter.reserve("acme", key_id=None, model="small", amounts=Amounts(gco2e=1.5), scopes=scopes)
    assert held.ok
    await store.close()

    reopened = await factory.open(clock=clock)
    tenant, _ = await reopened.directory.resolve_key(plaintext)
    assert tenant.limits.get(LimitName.GCO2E_PER_MONTH) == 5.0
    assert (await reopened.reports.usage("acme", "2030-03"))["totals"]["gco2e"] == 3.0
    assert await reopened.meter.outstanding_reservations("acme") == 1
    over = await reopened.meter.reserve(
        "acme", key_id=None, model="small", amounts=Amounts(gco2e=1.0), scopes=scopes
    )
    assert not over.ok and over.blocked[0].current == 4.5  # 3.0 used + 1.5 still held
    assert await reopened.meter.record(make_record("acme", request_id="r1", gco2e=3.0)) is False  # still idempotent
    assert [e["request_id"] async for e in reopened.reports.ledger("acme", 0, 2e9)] == ["r1"]
    await reopened.meter.settle(held.reservation, make_record("acme", request_id="r2", gco2e=1.0))
    assert await reopened.meter.outstanding_reservations("acme") == 0
