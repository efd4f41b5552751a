"""Exactness under concurrency: several OS processes race one tenant to its carbon budget.

Each process opens its own store and runs hundreds of concurrent reserve -> (settle |
release | crash) cycles. Afterwards the tenant's usage must not exceed the budget by more
than one request's worth, must equal exactly what the workers settled, and no reservation
may be left once the crashed ones have expired.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
import uuid
from pathlib import Path

import pytest

from meters.limits import Limits, Scope
from meters.periods import month_of
from meters.store import Amounts, open_store
from meters.store.leasing import LEASE_TTL_S
from meters.store.windows import to_nano
from tests.support import stores as helpers
from tests.support.stores import make_record

# Fixtures shared by the store suites (both backends).
factory, store, clock = helpers.factory, helpers.store, helpers.clock

PROCESSES = 4
CYCLES_PER_PROCESS = 150
BUDGET_G = 6.0
RESERVE_G = 0.1  # an upper bound of each request's carbon, as the gateway reserves from max_tokens
CRASH_TTL_S = 0.5


async def _run_worker(
    backend: str,
    redis_url: str | None,
    prefix: str,
    state_dir: str,
    seed: int,
    lease_requests: int,
    budget_g: float = BUDGET_G,
    cycles: int = CYCLES_PER_PROCESS,
) -> dict:
    rng = random.Random(seed)
    store = await open_store(
        redis_url if backend.startswith("redis") else None,
        prefix=prefix,
        state_dir=state_dir,
        lease_requests=lease_requests,
    )
    scopes = [Scope("t:race", Limits.from_config({"gco2e_per_month": budget_g}, "race"))]
    stats = dict.fromkeys(
        ("admitted", "blocked", "settled", "released", "crashed", "degraded", "settled_nano"), 0
    )

    async def cycle() -> None:
        await asyncio.sleep(rng.random() * 0.01)
        fate = rng.random()
        outcome = await store.meter.reserve(
            "race",
            key_id=None,
            model="m",
            amounts=Amounts(tokens=100, gco2e=RESERVE_G),
            scopes=scopes,
            ttl_s=CRASH_TTL_S if fate >= 0.85 else 120.0,
        )
        stats["degraded"] += outcome.degraded  # must stay 0: a real store answered every call
        if not outcome.ok:
            stats["blocked"] += 1
            return
        stats["admitted"] += 1
        await asyncio.sleep(rng.random() * 0.01)  # the upstream call
        if fate < 0.7:
            actual = round(RESERVE_G * rng.uniform(0.3, 1.0), 6)
            record = make_record("race", timestamp=time.time(), model="m", gco2e=actual)
            assert await store.meter.settle(outcome.reservation, record)
            stats["settled"] += 1
            stats["settled_nano"] += to_nano(actual)
        elif fate < 0.85:
            await store.meter.release(outcome.reservation)  # upstream failed
            stats["released"] += 1
        else:
            stats["crashed"] += 1  # never settled nor released: must expire

    await asyncio.gather(*(cycle() for _ in range(cycles)))
    await store.close()
    return stats


def race_worker(
    backend, redis_url, prefix, state_dir, seed, lease_requests, barrier, results, *extra
) -> None:
    barrier.wait()  # start together so the processes really overlap
    results.put(asyncio.run(_run_worker(backend, redis_url, prefix, state_dir, seed, lease_requests, *extra)))


async def race(factory, lease_requests: int, *extra: float) -> dict[str, int]:
    """PROCESSES worker processes racing the budget together; their stats summed."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    args = (factory.backend, factory.redis_url, factory.prefix, str(factory.state_dir))
    processes = [
        ctx.Process(target=race_worker, args=(*args, seed, lease_requests, barrier, results, *extra))
        for seed in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    stats = [await asyncio.to_thread(results.get, True, 120) for _ in processes]
    for process in processes:
        await asyncio.to_thread(process.join, 30)
        assert process.exitcode == 0
    return {key: sum(s[key] for s in stats) for key in stats[0]}


async def admit_and_settle(store, scopes: list[Scope]) -> bool:
    """One request of the in-process races: reserved, and settled if admitted."""
    outcome = await store.meter.reserve(
        "tasks", key_id=None, model="m", amounts=Amounts(tokens=1, gco2e=0.01), scopes=scopes
    )
    if outcome.ok:
        record = make_record(
            "tasks", timestamp=time.time(), model="m", gco2e=0.01, request_id=uuid.uuid4().hex
        )
        await store.meter.settle(outcome.reservation, record)
    return outcome.ok


# With leases (16 requests' worth at most) each process admits most requests from memory; a
# "crashed" request's portion stays held until its process gives the lease back on close.
@pytest.mark.parametrize("lease_requests", [0, 16], ids=["one-by-one", "leases"])
async def test_processes_racing_a_budget_never_overspend_nor_leak(factory, lease_requests):
    total = await race(factory, lease_requests)
    assert total["admitted"] + total["blocked"] == PROCESSES * CYCLES_PER_PROCESS
    assert total["degraded"] == 0
    assert total["blocked"] > 0 and total["settled"] > 0 and total["released"] > 0 and total["crashed"] > 0

    now = time.time()
    store = await factory.open()
    usage = await store.reports.usage("race", month_of(now))
    # Counted exactly what was settled, and never more than the budget plus one request.
    assert to_nano(usage["totals"]["gco2e"]) == total["settled_nano"]
    assert usage["totals"]["requests"] == total["settled"]
    assert usage["totals"]["gco2e"] <= BUDGET_G + RESERVE_G
    # Once the crashed requests' reservations are past their TTL, nothing is held (with leases, a
    # crashed request's portion is held by its lease, until the lease's own TTL).
    ttl_s = LEASE_TTL_S if lease_requests else CRASH_TTL_S
    later = await factory.open(clock=lambda: time.time() + ttl_s + 1)
    assert await later.meter.outstanding_reservations("race") == 0


@pytest.mark.parametrize("lease_requests", [0, 16], ids=["one-by-one", "leases"])
async def test_concurrent_tasks_in_one_process_are_exact(factory, lease_requests):
    clients = 64
    store = await factory.open(lease_requests=lease_requests)
    scopes = [Scope("t:tasks", Limits.from_config({"gco2e_per_month": 1.0, "tokens_per_minute": 10**9}, "t"))]
    admitted = sum(await asyncio.gather(*(admit_and_settle(store, scopes) for _ in range(clients * 3))))
    assert admitted == 100  # exactly the budget: 1.0 g / 0.01 g
    if lease_requests:
        await store.meter.drain()
    assert await store.meter.outstanding_reservations("tasks") == 0
    assert Path(factory.state_dir).exists()


# Leases of up to 256 requests' worth and a budget of ~1,200 requests: busy keys' leases grow past
# leasing.PREFETCH_SIZE, so each process asks for its next lease while the current one still admits, racing
# the others and the budget with two leases held at times.
AHEAD_BUDGET_G = 120.0
AHEAD_CYCLES = 700


async def test_processes_racing_with_leases_asked_ahead_stay_exact(factory):
    total = await race(factory, 256, AHEAD_BUDGET_G, AHEAD_CYCLES)
    assert total["admitted"] + total["blocked"] == PROCESSES * AHEAD_CYCLES
    assert total["degraded"] == 0 and total["blocked"] > 0 and total["crashed"] > 0
    store = await factory.open()
    usage = await store.reports.usage("race", month_of(time.time()))
    assert to_nano(usage["totals"]["gco2e"]) == total["settled_nano"]
    assert usage["totals"]["requests"] == total["settled"]
    assert usage["totals"]["gco2e"] <= AHEAD_BUDGET_G + RESERVE_G
    later = await factory.open(clock=lambda: time.time() + LEASE_TTL_S + 1)
    assert await later.meter.outstanding_reservations("race") == 0


async def test_concurrent_tasks_with_leases_asked_ahead_are_exact(factory):
    store = await factory.open(lease_requests=256)
    scopes = [
        Scope("t:tasks", Limits.from_config({"gco2e_per_month": 10.0, "tokens_per_minute": 10**9}, "t"))
    ]
    admitted = 0
    big_leases = 0
    inner_reserve = store.meter.inner.reserve

    async def counting(*args, **kwargs):
        nonlocal big_leases
        big_leases += kwargs.get("lease", 0) >= 64
        return await inner_reserve(*args, **kwargs)

    store.meter.inner.reserve = counting

    for _ in range(5):  # waves of 256 concurrent requests, as a busy worker sees them
        admitted += sum(await asyncio.gather(*(admit_and_settle(store, scopes) for _ in range(256))))
    assert admitted == 1000  # exactly the budget: 10 g / 0.01 g
    assert big_leases > 0  # leases reached leasing.PREFETCH_SIZE: from there the next is asked for ahead
    await store.meter.drain()
    assert await store.meter.outstanding_reservations("tasks") == 0
