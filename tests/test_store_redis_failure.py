"""Redis outages against a real redis-server this test starts, stops and restarts on its own port.

The server is stopped with SHUTDOWN SAVE and restarted from its dump, as a production Redis
with persistence would come back; fail_open must then replay the journal without losing
or double-counting anything, and fail_closed must raise StoreUnavailable while it is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from meters.limits import Limits, Scope
from meters.store import Amounts, StoreUnavailable, open_store
from meters.store.records import record_to_dict
from meters.tenants import Tenant
from tests.support.redis_server import RedisServer
from tests.support.stores import make_record

SCOPES = [Scope("t:acme", Limits.from_config({"gco2e_per_month": 100}, "acme"))]


@pytest.fixture
async def server(tmp_path) -> AsyncIterator[RedisServer]:
    made = RedisServer(tmp_path)
    made.start()
    yield made
    if made.process is not None:
        made.process.terminate()
        made.process.wait(timeout=10)


async def _open(server: RedisServer, tmp_path: Path, **kwargs):
    return await open_store(server.url, state_dir=tmp_path, prefix="cg:", **kwargs)


async def _reserve(store):
    return await store.meter.reserve("acme", key_id=None, model="small", amounts=Amounts(gco2e=1.0), scopes=SCOPES)


async def test_fail_open_journals_while_down_and_replays_once(server, tmp_path):
    store = await _open(server, tmp_path, on_failure="fail_open")
    await store.directory.put_tenant(Tenant(id="acme"))
    before = make_record("acme", request_id="before", gco2e=1.0)
    assert await store.meter.record(before)
    held = await _reserve(store)
    assert held.ok and not held.degraded

    server.stop()
    assert await store.ping() is False
    degraded = await _reserve(store)
    assert degraded.ok and degraded.degraded and degraded.reservation_id.startswith("degraded-")
    assert await store.meter.settle(degraded.reservation, make_record("acme", request_id="during-1", gco2e=2.0))
    assert await store.meter.settle(held.reservation, make_record("acme", request_id="during-2", gco2e=4.0))
    assert await store.meter.record(make_record("acme", request_id="during-3", gco2e=8.0, tags={"build": "9"}))
    assert await store.meter.record(before)  # a retry of an already counted request, journalled again
    await store.meter.release("some-reservation")  # releases while down are dropped: reservations expire
    with pytest.raises(StoreUnavailable):
        await store.reports.usage("acme", "2030-03")
    assert len(store.backend.journal.path.read_bytes().splitlines()) == 4

    server.start()
    assert await store.directory.get_tenant("acme") is not None  # the first successful call starts the replay
    assert store.backend.replay_task is not None
    assert await store.backend.replay_task == 4
    assert not store.backend.journal.pending()
    totals = (await store.reports.usage("acme", "2030-03"))["totals"]
    assert totals["requests"] == 4 and totals["gco2e"] == 15.0  # 1 + 2 + 4 + 8: nothing lost or doubled
    assert (await store.reports.usage("acme", "2030-03"))["by_tag"]["build=9"]["gco2e"] == 8.0
    assert await store.meter.outstanding_reservations("acme") == 0  # the held reservation was settled on replay
    assert await store.backend.replay_journal() == 0
    await store.close()


async def test_journal_is_bounded(server, tmp_path):
    store = await _open(server, tmp_path, on_failure="fail_open", journal_max=2)
    server.stop()
    results = [await store.meter.record(make_record("acme", request_id=f"r{i}")) for i in range(3)]
    assert results == [True, True, False] and store.backend.journal.dropped == 1
    server.start()
    assert await store.backend.replay_journal() == 2
    assert (await store.reports.usage("acme", "2030-03"))["totals"]["requests"] == 2
    await store.close()


async def test_journal_shared_by_two_stores_replays_each_record_once(server, tmp_path):
    first = await _open(server, tmp_path, on_failure="fail_open")
    second = await _open(server, tmp_path, on_failure="fail_open")
    server.stop()
    for i in range(20):
        await (first if i % 2 else second).meter.record(make_record("acme", request_id=f"r{i}", gco2e=0.5))
    server.start()
    replayed = await asyncio.gather(first.backend.replay_journal(), second.backend.replay_journal())
    assert sum(replayed) == 20
    assert (await first.reports.usage("acme", "2030-03"))["totals"]["gco2e"] == 10.0
    await first.close()
    await second.close()


async def test_fail_closed_raises_while_down_and_recovers(server, tmp_path):
    store = await _open(server, tmp_path, on_failure="fail_closed")
    await store.directory.put_tenant(Tenant(id="acme"))
    _, plaintext = await store.directory.issue_key("acme")
    server.stop()
    with pytest.raises(StoreUnavailable):
        await _reserve(store)
    with pytest.raises(StoreUnavailable):
        await store.meter.record(make_record("acme"))
    with pytest.raises(StoreUnavailable):
        await store.directory.resolve_key(plaintext)
    assert not store.backend.journal.pending()
    server.start()
    assert (await _reserve(store)).ok
    assert (await store.directory.resolve_key(plaintext))[0].id == "acme"
    await store.close()


async def test_fail_closed_refuses_to_open_without_redis(server, tmp_path):
    server.stop()
    with pytest.raises(StoreUnavailable):
        await _open(server, tmp_path, on_failure="fail_closed")
    client = aioredis.from_url(server.url)
    with pytest.raises(redis.ConnectionError):
        await client.ping()
    await client.aclose()


async def test_an_entry_that_can_never_be_counted_does_not_hold_back_the_journal(server, tmp_path):
    """A line torn by a crash, an entry that is not a record and a record no counter can hold are set aside in
    `<journal>.rejected` (logged); every entry around them is replayed, in order, and the journal empties. Before,
    the first of them stopped every replay there: the usage after it never reached Redis."""
    store = await _open(server, tmp_path, on_failure="fail_open")
    server.stop()
    assert await store.meter.record(make_record("acme", request_id="first", gco2e=1.0))
    journal = store.backend.journal
    with journal.path.open("ab") as handle:
        handle.write(b'{"reservation_id": null, "record": {"request_id": "torn"\n')  # a crash mid-write
        handle.write(b'{"reservation_id": null, "record": {"unknown_field": 1}}\n')
        handle.write(b"[1, 2]\n")
    negative = make_record("acme", request_id="negative", gco2e=1.0)
    negative.prompt_tokens = -5
    journal.append({"reservation_id": None, "record": record_to_dict(negative)})
    assert await store.meter.record(make_record("acme", request_id="last", gco2e=2.0))
    server.start()

    assert await store.backend.replay_journal() == 2
    assert not journal.pending()
    rejected = journal.rejected_path.read_bytes().splitlines()
    assert len(rejected) == 4 and b"torn" in rejected[0] and b"negative" in rejected[3]
    totals = (await store.reports.usage("acme", "2030-03"))["totals"]
    assert totals["requests"] == 2 and totals["gco2e"] == 3.0
    await store.close()
