"""A Redis (or a cluster master) that lost its scripts (restarted, SCRIPT FLUSH) gets them again: a batch of
settles is counted once each, and each answer is the first one (counted now / counted before)."""

from __future__ import annotations

import pytest
import redis

from tests.support import stores as helpers
from tests.support.stores import REDIS_URL, make_record

factory, store, clock = helpers.factory, helpers.store, helpers.clock


def flush_scripts(factory) -> None:
    ports = [node.port for node in factory.cluster.nodes] if factory.cluster else [None]
    for port in ports:
        client = redis.Redis(port=port) if port else redis.Redis.from_url(REDIS_URL)
        client.script_flush()
        client.close()


@pytest.mark.parametrize("factory", ["redis", "redis-cluster"], indirect=True)  # Redis scripts only
async def test_batch_after_the_scripts_were_flushed(factory, clock):
    store = await factory.open(clock=clock)
    tenants = [f"t{i}" for i in range(12)]  # on every master of a cluster
    assert await store.meter.record(make_record("t0", request_id="first"))
    flush_scripts(factory)
    items = [(None, make_record(t, request_id=f"r-{t}")) for t in tenants]
    items.append((None, make_record("t0", request_id="first")))
    assert await store.meter.count_many(items) == [True] * len(tenants) + [False]
    usage = await store.reports.usage("t0", "2030-03")
    assert usage["totals"]["requests"] == 2
