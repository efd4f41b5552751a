"""Shared fixtures for the store suites: every store test runs on both backends.

Redis tests use the shared server at REDIS_URL (default redis://127.0.0.1:6379/0) under a
unique key prefix, deleted afterwards; "redis-cluster" tests the same on a Redis Cluster of three
masters the session starts (tests/support/redis_cluster.py); SQLite tests use a fresh state directory.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis

from meters.carbon.estimate import Estimate
from meters.store import Store, open_store
from meters.usage import UsageRecord
from tests.support.redis_cluster import RedisCluster, redis_cluster

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ["sqlite", "redis", "redis-cluster"]

# 2030-03-15T12:00:30Z (in the future: Redis expires keys on its own clock): mid-minute, mid-month, so tests control which window they are in.
T0 = 1899806430.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class StoreFactory:
    """Opens stores of one backend that share state (same prefix / same directory)."""

    def __init__(self, backend: str, state_dir: Path, cluster: RedisCluster | None = None) -> None:
        self.backend = backend
        self.state_dir = state_dir
        self.prefix = f"cgtest:{uuid.uuid4().hex[:12]}:"
        self.cluster = cluster
        self.redis_url = cluster.url if cluster is not None else REDIS_URL if backend == "redis" else None
        self.opened: list[Store] = []

    async def open(self, **kwargs) -> Store:
        kwargs.setdefault("state_dir", self.state_dir)
        kwargs.setdefault("prefix", self.prefix)
        store = await open_store(self.redis_url, **kwargs)
        self.opened.append(store)
        return store

    async def cleanup(self) -> None:
        for store in self.opened:
            await store.close()
        if self.cluster is not None:
            delete_prefix(self.cluster, self.prefix)
        if self.backend == "redis":
            client = aioredis.from_url(REDIS_URL)
            keys = [key async for key in client.scan_iter(match=self.prefix + "*", count=1000)]
            if keys:
                await client.delete(*keys)
            await client.aclose()


def delete_prefix(cluster: RedisCluster, prefix: str) -> None:
    """Every key under `prefix` on every master (one by one: they are in many slots)."""
    for node in cluster.nodes:
        if node.process is None:
            continue
        client = redis.Redis(port=node.port)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 500):
            pipe = client.pipeline(transaction=False)
            for key in keys[start : start + 500]:
                pipe.unlink(key)
            pipe.execute()
        client.close()


@pytest.fixture(scope="session")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """One Redis Cluster (three masters on loopback) for the session's store tests."""
    with redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture(params=BACKENDS)
async def factory(request, tmp_path) -> AsyncIterator[StoreFactory]:
    cluster = request.getfixturevalue("shared_cluster") if request.param == "redis-cluster" else None
    made = StoreFactory(request.param, tmp_path, cluster)
    yield made
    await made.cleanup()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(factory: StoreFactory, clock: FakeClock) -> Store:
    return await factory.open(clock=clock)


def make_estimate(gco2e: float) -> Estimate:
    return Estimate(
        gco2e=gco2e,
        gco2e_min=gco2e / 2,
        gco2e_max=gco2e * 2,
        energy_wh=gco2e * 10,
        water_ml=gco2e * 3,
        usage_gco2e=gco2e * 0.8,
        embodied_gco2e=gco2e * 0.2,
        method="test",
        boundary="usage+embodied",
        confidence="estimated",
        source="test fixture",
        catalogue_version="test",
    )


def make_record(
    tenant_id: str,
    *,
    timestamp: float = T0,
    model: str = "small",
    prompt_tokens: int = 10,
    completion_tokens: int = 20,
    gco2e: float = 0.5,
    spend: float = 0.001,
    key_id: str | None = None,
    tags: dict[str, str] | None = None,
    request_id: str | None = None,
    estimate: Estimate | None = None,
    currency: str = "USD",
) -> UsageRecord:
    return UsageRecord(
        request_id=request_id or uuid.uuid4().hex,
        timestamp=timestamp,
        tenant_id=tenant_id,
        model=model,
        provider="demo",
        upstream_model=f"demo/{model}",
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        estimate=estimate if estimate is not None else make_estimate(gco2e),
        key_id=key_id,
        spend=spend,
        currency=currency,
        tags=tags or {},
    )
