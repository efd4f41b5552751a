"""count_many: the gateway's usage writer settles and records in batches, on both backends."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from meters.carbon.estimate import Estimate
from meters.limits import Limits, Scope
from meters.store import Amounts, Store, open_store
from meters.store.records import UncountableRecord
from meters.store.redis import meter as redis_meter
from meters.store.windows import to_nano, windows_at
from tests.support import stores as helpers
from tests.support.stores import REDIS_URL, make_estimate, make_record

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


async def test_a_request_twice_in_a_batch_of_several_chunks_is_counted_once(store) -> None:
    """A batch longer than one statement's list of idempotency marks (the embedded store marks 256 a
    statement), with a request repeated within it, on either side of a chunk's end, and replays of an
    earlier batch: each request is counted the first time the batch has it, never again."""
    before = [make_record("acme", gco2e=0.25) for _ in range(5)]
    assert await store.meter.count_many([(None, r) for r in before]) == [True] * 5
    fresh = [make_record("acme", gco2e=0.5) for _ in range(600)]
    batch = [*fresh[:300], fresh[0], fresh[299], before[2], *fresh[300:], fresh[599], before[0]]
    answers = await store.meter.count_many([(None, r) for r in batch])
    assert answers == [True] * 300 + [False, False, False] + [True] * 300 + [False, False]
    totals = (await store.reports.usage("acme", "2030-03"))["totals"]
    assert totals["requests"] == 605
    assert totals["gco2e"] == pytest.approx(5 * 0.25 + 600 * 0.5)
    assert await store.meter.count_many([(None, r) for r in fresh[250:262]]) == [False] * 12


async def test_an_uncountable_record_anywhere_leaves_its_batch_uncounted(store, monkeypatch) -> None:
    """Every record of a batch is checked before the store sees any of them. Redis checks them record by
    record within its batch's slices of the loop (here a turn after every record): a record no counter can
    hold, last of 300, still leaves the whole batch uncounted; the batch without it counts."""
    monkeypatch.setattr(redis_meter, "_SLICE_S", 0.0)
    turns = 0

    async def ticking() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    ticker = asyncio.create_task(ticking())
    good = [make_record("acme", gco2e=0.25) for _ in range(300)]
    bad = make_record("acme", prompt_tokens=2**62)
    with pytest.raises(UncountableRecord, match=bad.request_id):
        await store.meter.count_many([(None, record) for record in [*good, bad]])
    ticker.cancel()
    if store.backend.name == "redis":
        assert turns > len(good) // 2  # the loop served between the records' checks
    assert (await store.reports.usage("acme", "2030-03"))["totals"]["requests"] == 0
    assert await store.meter.count_many([(None, record) for record in good]) == [True] * len(good)
    assert (await store.reports.usage("acme", "2030-03"))["totals"]["requests"] == len(good)


async def test_large_amounts_in_one_batch_stay_exact(store) -> None:
    """Amounts of many digits (nano-units) are added exactly beside small ones in the same call."""
    big = make_record("acme", gco2e=2_000_000.000000001)
    small = [make_record("acme", gco2e=0.000000001) for _ in range(30)]
    assert all(await store.meter.count_many([(None, r) for r in [*small[:15], big, *small[15:]]]))
    totals = (await store.reports.usage("acme", "2030-03"))["totals"]
    assert totals["requests"] == 31
    assert round(totals["gco2e"] * 1e9) == 2_000_000_000_000_001 + 30


@contextlib.asynccontextmanager
async def raw_redis(tmp_path: Path) -> AsyncIterator[tuple[Store, aioredis.Redis, str]]:
    """A Redis store under a prefix of its own, a client to read its keys as they are, and the prefix; every key
    under it deleted afterwards."""
    prefix = f"cgtest:{uuid.uuid4().hex[:12]}:"
    store = await open_store(REDIS_URL, state_dir=tmp_path, prefix=prefix)
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        yield store, client, prefix
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await store.close()


async def test_redis_sums_past_2_to_the_53_exactly(tmp_path: Path) -> None:
    """Redis settles a chunk's counters summed in Lua (doubles): an amount past 2^53 nano-units must not be
    rounded. Read back from the daily usage hash itself, as integers."""
    async with raw_redis(tmp_path) as (store, client, prefix):
        grams = 9_999_999.999999999  # 9,999,999,999,999,999 nano-g > 2^53 (energy left out: it would pass 2^56)
        fields = {**make_estimate(grams).as_dict(), "energy_wh": None}
        huge = make_record("acme", estimate=Estimate(**fields))
        small = [make_record("acme", gco2e=0.000000001) for _ in range(5)]
        assert all(await store.meter.count_many([(None, r) for r in [small[0], huge, *small[1:]]]))
        day = windows_at(huge.timestamp).day[1:]
        stored = await client.hget(f"{prefix}u:{{acme}}|{day}", "small\tUSD\tg")
        assert to_nano(grams) > 2**53
        assert int(stored) == to_nano(grams) + 5


async def test_redis_a_script_error_keeps_the_sums_of_the_requests_before_it(tmp_path: Path) -> None:
    """Redis never rolls a script back: when a request of a SETTLE call fails, the requests settled before it in
    the same call keep their counters (summed in Lua, written at the end) — not only their done-marks."""
    async with raw_redis(tmp_path) as (store, client, prefix):
        first, tagged = make_record("acme", gco2e=0.5), make_record("acme", gco2e=0.25, tags={"team": "x"})
        month = windows_at(first.timestamp).month[2:]
        await client.set(f"{prefix}rt:{{acme}}|{month}", "not a hash")  # the tagged request's report row fails
        with pytest.raises(redis.exceptions.ResponseError):
            await store.meter.count_many([(None, first), (None, tagged)])
        day = windows_at(first.timestamp).day[1:]
        stored = await client.hget(f"{prefix}u:{{acme}}|{day}", "small\tUSD\tg")
        # The first request whole, and what the failing one wrote before its error (its daily usage comes
        # before its report rows), as when each write was made at once; never nothing.
        assert stored is not None and int(stored) == to_nano(0.5) + to_nano(0.25)


async def _hashes(client: aioredis.Redis, prefix: str) -> dict[str, dict[bytes, bytes]]:
    """Every hash under `prefix`, keyed without it (the ledger stream and done-marks left out)."""
    found: dict[str, dict[bytes, bytes]] = {}
    async for key in client.scan_iter(match=prefix + "*", count=1000):
        if await client.type(key) == b"hash":
            found[key.decode()[len(prefix) :]] = await client.hgetall(key)
    return found


async def test_redis_one_call_writes_what_one_call_per_request_writes(tmp_path: Path) -> None:
    """SETTLE sums a call's counters and report rows (month, year, tag rows: `addpacked`) and writes each once:
    every hash ends exactly as when the same requests are settled one call each."""
    months = [T for T in (1_900_000_000.0, 1_900_000_000.0 + 40 * 86400)]  # two months: a year row's min and max
    records = [
        make_record(
            "acme",
            timestamp=months[i % 2] + i,
            model="small" if i % 3 else "large",
            gco2e=0.001 * (i + 1),
            spend=0.0 if i % 4 == 0 else 0.002 * i,
            tags={"team": "x"} if i % 2 else None,
            request_id=f"r{i}",
        )
        for i in range(30)
    ]
    async with raw_redis(tmp_path) as (batched, client, prefix):
        assert all(await batched.meter.count_many([(None, r) for r in records]))
        async with raw_redis(tmp_path) as (single, _, single_prefix):
            for record in records:
                assert await single.meter.count_many([(None, record)]) == [True]
            one_by_one = await _hashes(client, single_prefix)
        in_one_call = await _hashes(client, prefix)
    assert any(key.startswith("ry:") for key in in_one_call) and any(key.startswith("rt:") for key in in_one_call)
    assert in_one_call == one_by_one


async def test_redis_report_rows_and_counters_past_2_to_the_53_in_one_call(tmp_path: Path) -> None:
    """Amounts whose sum in one call passes 2^53: the daily counters and the month's report row are still exact
    (a report row's counters are summed as doubles only while that is exact, then as digit strings)."""
    # 999,999,999,999,997 nano-g (15 digits): the report row's sum passes 2^53 at the tenth request, and an odd
    # sum past 2^53 is not a double: any rounding shows.
    grams = 999_999.999999997
    fields = {**make_estimate(grams).as_dict(), "energy_wh": None, "water_ml": None, "gco2e_max": grams}
    records = [make_record("acme", estimate=Estimate(**fields), request_id=f"big{i}") for i in range(13)]
    async with raw_redis(tmp_path) as (store, client, prefix):
        assert all(await store.meter.count_many([(None, r) for r in records]))
        day, month = windows_at(records[0].timestamp).day[1:], windows_at(records[0].timestamp).month[2:]
        stored = await client.hget(f"{prefix}u:{{acme}}|{day}", "small\tUSD\tg")
        assert to_nano(grams) % 2 == 1 and 13 * to_nano(grams) > 2**53 and int(stored) == 13 * to_nano(grams)
        row = await client.hgetall(f"{prefix}ra:{{acme}}|{month}")
        (packed,) = row.values()
        assert int(packed.split(b",")[3]) == 13 * to_nano(grams)  # req, pt, ct, g, ...
