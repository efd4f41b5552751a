"""Leases on both backends: requests admitted without the store, counted exactly, given back."""

from __future__ import annotations

import asyncio

import pytest

from meters.limits import Limits, Scope
from meters.store import Amounts, Store
from meters.store.leasing import LeasingMeter
from meters.store.portions import split_portion
from tests.support import stores as helpers
from tests.support.stores import make_record

# Fixtures shared by the store suites (both backends).
factory, clock = helpers.factory, helpers.clock

LIMITS = {"requests_per_minute": 1000, "tokens_per_minute": 100_000, "gco2e_per_month": 100.0}


def scopes(**limits: float) -> list[Scope]:
    return [Scope("t:acme", Limits.from_config(limits or LIMITS, "test")), Scope("m:acme:small", Limits())]


class CountingStore:
    """Counts the calls that reach the backend's reserve."""

    def __init__(self, store: Store) -> None:
        leasing = store.meter
        assert isinstance(leasing, LeasingMeter)
        self.calls: list[int] = []
        inner_reserve = leasing.inner.reserve

        async def reserve(*args, **kwargs):
            self.calls.append(kwargs.get("lease", 0))
            return await inner_reserve(*args, **kwargs)

        leasing.inner.reserve = reserve  # type: ignore[method-assign]


async def leasing(factory, clock, lease_requests: int = 16) -> Store:
    store = await factory.open(clock=clock, lease_requests=lease_requests, lease_s=60)
    assert isinstance(store.meter, LeasingMeter)
    return store


async def reserve(store, *, gco2e: float = 0.1, tokens: int = 10, scope_list=None, **kwargs):
    return await store.meter.reserve(
        "acme",
        key_id=None,
        model="small",
        amounts=Amounts(tokens=tokens, gco2e=gco2e),
        scopes=scope_list if scope_list is not None else scopes(),
        **kwargs,
    )


async def exact_view(store: Store, scope_list=None):
    """What the backend itself says is left (used + held), through a reservation of nothing."""
    inner = store.meter.inner
    outcome = await inner.reserve(
        "acme",
        key_id=None,
        model="small",
        amounts=Amounts(),
        scopes=scope_list if scope_list is not None else scopes(),
    )
    assert outcome.ok
    await inner.release(outcome.reservation)
    return outcome.snapshot


async def test_one_lease_admits_many_requests_with_exact_headers(factory, clock):
    store = await leasing(factory, clock)
    counting = CountingStore(store)
    outcomes = [await reserve(store) for _ in range(8)]
    assert all(o.ok for o in outcomes)
    assert counting.calls == [8]  # one lease for all eight (a first lease is 8 requests' worth)
    rows = {split_portion(o.reservation_id)[0] for o in outcomes}
    assert len(rows) == 1 and all(split_portion(o.reservation_id)[1] is not None for o in outcomes)
    # What the headers say falls by one request's worth each time, as if each had reserved alone.
    remaining = [o.snapshot.requests_remaining for o in outcomes]
    assert remaining == list(range(999, 991, -1))
    assert [o.snapshot.tokens_remaining for o in outcomes] == [100_000 - 10 * (i + 1) for i in range(8)]
    assert outcomes[-1].snapshot.gco2e_budget_remaining == pytest.approx(100.0 - 0.8)


async def test_reserve_now_admits_from_a_live_lease_only(factory, clock):
    """The synchronous path the gateway tries first: None where the store would be needed (no lease yet, a
    request bigger than the lease's, one outliving it), else what `reserve` would have answered."""
    store = await leasing(factory, clock)
    meter = store.meter
    small = Amounts(tokens=10, gco2e=0.1)

    def now(amounts: Amounts = small, ttl_s: float = 120.0):
        return meter.reserve_now("acme", None, "small", amounts, scopes(), ttl_s)

    assert now() is None  # no lease yet: nothing is reserved
    assert (await exact_view(store)).requests_remaining == 999  # the view's own request only
    first = await reserve(store)  # asks the store for a lease
    second = now()
    assert second is not None and second.ok and second.reservation is not None
    assert split_portion(second.reservation_id)[0] == split_portion(first.reservation_id)[0]
    assert second.snapshot.requests_remaining == first.snapshot.requests_remaining - 1
    assert now(Amounts(tokens=10_000, gco2e=0.1)) is None  # bigger than the requests the lease was sized on
    assert now(ttl_s=5_000.0) is None  # would outlive the lease's row
    assert meter.reserve_now("acme", None, "other-model", small, scopes(), 120.0) is None
    assert meter.inner.reserve_now("acme", None, "small", small, scopes(), 120.0) is None  # a backend never can


async def test_a_lease_admits_requests_whose_ttl_is_as_long_as_its_own(factory, clock):
    # Streams reserve for ~960 s (longer than a lease row's 900 s): the row must outlive each admitted one.
    store = await leasing(factory, clock)
    counting = CountingStore(store)
    for _ in range(8):
        assert (await reserve(store, ttl_s=960.0)).ok
        clock.advance(0.05)
    assert counting.calls == [8]


async def test_settled_portions_count_once_and_the_lease_is_given_back(factory, clock):
    store = await leasing(factory, clock)
    outcomes = [await reserve(store) for _ in range(3)]
    records = [make_record("acme", gco2e=0.05, prompt_tokens=2, completion_tokens=3) for _ in outcomes]
    counted = await store.meter.count_many(
        [(o.reservation_id, r) for o, r in zip(outcomes, records, strict=True)]
    )
    assert counted == [True, True, True]
    assert not await store.meter.settle(outcomes[0].reservation, records[0])  # idempotent: not taken twice
    await store.meter.drain()
    assert await store.meter.outstanding_reservations("acme") == 0
    view = await exact_view(store)
    # Exactly three requests, their 15 tokens and 0.15 g: nothing of the lease is still held.
    assert view.requests_remaining == 1000 - 3 - 1
    assert view.tokens_remaining == 100_000 - 15
    assert view.gco2e_budget_remaining == pytest.approx(100.0 - 0.15)
    usage = await store.reports.usage("acme", "2030-03")
    assert usage["totals"]["requests"] == 3


async def test_a_released_portion_frees_its_room_but_counts_the_request(factory, clock):
    store = await leasing(factory, clock)
    admitted = await reserve(store, gco2e=1.0, tokens=500)
    held = await exact_view(store)
    assert held.tokens_remaining < 100_000 - 500  # the whole lease is held meanwhile
    await store.meter.release(admitted.reservation)
    await store.meter.drain()
    view = await exact_view(store)
    assert view.tokens_remaining == 100_000
    assert view.gco2e_budget_remaining == pytest.approx(100.0)
    assert view.requests_remaining == 1000 - 1 - 2  # the failed request still used the rate (+ 2 probes)
    assert await store.meter.outstanding_reservations("acme") == 0


async def test_near_a_limit_requests_are_reserved_one_by_one(factory, clock):
    store = await leasing(factory, clock)
    counting = CountingStore(store)
    tight = scopes(gco2e_per_month=0.5)
    outcomes = [await reserve(store, gco2e=0.1, scope_list=tight) for _ in range(6)]
    assert [o.ok for o in outcomes] == [True] * 5 + [False]
    assert [b.limit.value for b in outcomes[-1].blocked] == ["gco2e_per_month"]
    assert counting.calls[0] == 8 and all(call == 0 for call in counting.calls[1:])  # refused, then exact
    assert all(split_portion(o.reservation_id)[1] is None for o in outcomes[:5])


async def test_leases_shrink_as_the_room_does(factory, clock):
    store = await leasing(factory, clock, lease_requests=64)
    budget = scopes(gco2e_per_month=10.0)
    admitted = 0
    while True:
        outcome = await reserve(store, gco2e=0.1, scope_list=budget)
        if not outcome.ok:
            break
        admitted += 1
        await store.meter.settle(outcome.reservation, make_record("acme", gco2e=0.1))
    assert admitted == 100  # every gram of the budget, and not one request more
    await store.meter.drain()
    assert await store.meter.outstanding_reservations("acme") == 0


async def test_a_lease_ends_with_its_minute_and_gives_back_what_it_did_not_use(factory, clock):
    store = await leasing(factory, clock)
    first = await reserve(store)
    clock.advance(30)  # the next minute
    second = await reserve(store)
    assert split_portion(first.reservation_id)[0] != split_portion(second.reservation_id)[0]
    await store.meter.settle(first.reservation, make_record("acme", gco2e=0.1, timestamp=clock.now - 30))
    await store.meter.settle(second.reservation, make_record("acme", gco2e=0.1, timestamp=clock.now))
    await store.meter.drain()
    assert await store.meter.outstanding_reservations("acme") == 0
    view = await exact_view(store)
    assert view.requests_remaining == 1000 - 1 - 1  # this minute: the second request and the probe


async def test_downgraded_and_outsized_requests_reserve_on_their_own(factory, clock):
    store = await leasing(factory, clock)
    counting = CountingStore(store)
    small = await reserve(store, tokens=10)
    big = await reserve(store, tokens=5000)
    downgraded = await reserve(store, tokens=10, downgraded=True)
    assert counting.calls == [8, 0, 0]
    assert split_portion(small.reservation_id)[1] is not None
    assert (
        split_portion(big.reservation_id)[1] is None and split_portion(downgraded.reservation_id)[1] is None
    )
    for outcome in (small, big, downgraded):
        await store.meter.settle(outcome.reservation, make_record("acme"))
    await store.meter.drain()
    assert await store.meter.outstanding_reservations("acme") == 0


async def test_a_crashed_workers_lease_expires(factory, clock):
    store = await leasing(factory, clock)
    assert (await reserve(store, gco2e=1.0)).ok  # a lease of 8 g is held, and the worker dies
    later = await factory.open(clock=lambda: clock.now + 1000)  # past any lease's TTL (900 s)
    assert await later.meter.outstanding_reservations("acme") == 0
    view = await reserve(later, gco2e=0.0, tokens=0)
    assert view.snapshot.gco2e_budget_remaining == pytest.approx(100.0)


async def test_a_used_up_lease_goes_with_its_last_request(factory, clock):
    store = await leasing(factory, clock)
    outcomes = [await reserve(store) for _ in range(8)]  # the whole first lease (8 requests' worth)
    assert await store.meter.outstanding_reservations("acme") == 1
    for outcome in outcomes[:-1]:
        assert await store.meter.settle(outcome.reservation, make_record("acme", gco2e=0.1))
    assert await store.meter.outstanding_reservations("acme") == 1  # one request still running
    await store.meter.release(
        outcomes[-1].reservation
    )  # its last request failed: nothing left, no extra call
    assert await store.meter.outstanding_reservations("acme") == 0
    view = await exact_view(store)
    assert view.requests_remaining == 1000 - 8 - 1
    assert view.tokens_remaining == 100_000 - 7 * 30
    assert view.gco2e_budget_remaining == pytest.approx(100.0 - 0.7)


async def test_a_busy_keys_next_lease_is_asked_for_before_this_one_runs_out(factory, clock):
    store = await leasing(factory, clock, lease_requests=256)
    counting = CountingStore(store)
    outcomes = [await reserve(store) for _ in range(104)]
    # Leases double while they are used up within their life: 8, 16, 32, then 64 from the 57th request, whose
    # 48th admission (a quarter left) asks for the next one.
    await asyncio.sleep(0.05)  # the store answers while the current lease still admits
    assert counting.calls == [8, 16, 32, 64, 64]
    outcomes += [await reserve(store) for _ in range(16)]  # the 64-lease's last requests
    nxt = asyncio.ensure_future(reserve(store))
    await asyncio.sleep(0)
    assert nxt.done(), "the request after a used-up lease waited for the store"
    outcomes.append(nxt.result())
    assert counting.calls == [8, 16, 32, 64, 64]  # admitted from the lease asked for ahead
    assert all(o.ok for o in outcomes)
    rows = [split_portion(o.reservation_id)[0] for o in outcomes]
    assert len(set(rows[56:120])) == 1 and rows[120] != rows[119]
    # Exact throughout: each request's headers fall by one request's worth, across the change of lease.
    assert [o.snapshot.requests_remaining for o in outcomes] == list(range(999, 999 - 121, -1))
    records = [make_record("acme", gco2e=0.1, prompt_tokens=4, completion_tokens=6) for _ in outcomes]
    counted = await store.meter.count_many(
        [(o.reservation_id, r) for o, r in zip(outcomes, records, strict=True)]
    )
    assert counted == [True] * 121
    await store.meter.drain()  # gives back the current lease's rest and the one asked for ahead, if any
    assert await store.meter.outstanding_reservations("acme") == 0
    view = await exact_view(store)
    assert view.requests_remaining == 1000 - 121 - 1  # the view's own reservation counts as a request
    assert view.tokens_remaining == 100_000 - 121 * 10
