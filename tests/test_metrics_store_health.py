"""store_up follows a real redis-server going down and coming back; the usage writer's backlog is exported."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import redis.exceptions
from prometheus_client import CollectorRegistry

from gateway.config import ObservabilitySettings
from gateway.observability.health import StoreHealthProbe
from gateway.observability.metrics import Metrics
from gateway.writer import UsageWriter
from tests.support.ports import free_port
from tests.support.stores import make_record

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def start_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(directory)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def eventually(check: Callable[[], Awaitable[bool] | bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


async def test_store_up_tracks_redis_down_and_back(tmp_path: Path) -> None:
    port = free_port()
    registry = CollectorRegistry()
    metrics = Metrics(ObservabilitySettings(), ["demo"], registry=registry)
    client = aioredis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, socket_timeout=0.5)

    async def ping() -> bool:
        try:
            return bool(await client.ping())
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            return False

    def store_up() -> float | None:
        return registry.get_sample_value("carbon_gateway_store_up", {"backend": "redis"})

    server = start_redis(port, tmp_path)
    probe = StoreHealthProbe(metrics, ping, "redis", interval_s=0.05)
    probe.start()
    try:
        await eventually(lambda: store_up() == 1.0, "store_up == 1 with redis running")
        server.terminate()
        server.wait(timeout=10)
        await eventually(lambda: store_up() == 0.0, "store_up == 0 after redis stopped")
        server = start_redis(port, tmp_path)
        await eventually(lambda: store_up() == 1.0, "store_up == 1 after redis restarted")
    finally:
        await probe.stop()
        server.terminate()
        server.wait(timeout=10)
        await client.aclose()


async def test_a_failing_ping_is_down_and_does_not_stop_the_probe() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(ObservabilitySettings(), ["demo"], registry=registry)
    calls = 0

    async def flaky_ping() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("store exploded")
        return True

    probe = StoreHealthProbe(metrics, flaky_ping, "embedded", interval_s=0.01)
    assert await probe.check_once() is False
    assert registry.get_sample_value("carbon_gateway_store_up", {"backend": "embedded"}) == 0.0
    probe.start()
    await eventually(lambda: calls >= 3, "the probe keeps running after an exception")
    await probe.stop()
    assert registry.get_sample_value("carbon_gateway_store_up", {"backend": "embedded"}) == 1.0
    with pytest.raises(ValueError):
        StoreHealthProbe(metrics, flaky_ping, "embedded", interval_s=0)


async def test_the_writer_backlog_is_exported_and_drains() -> None:
    # A store that takes its time: what the usage writer still holds in memory shows on the gauge.
    registry = CollectorRegistry()
    metrics = Metrics(ObservabilitySettings(), ["demo"], registry=registry)
    store_free = asyncio.Event()
    written: list[int] = []

    async def slow_store(items: list) -> list[bool]:
        await store_free.wait()
        written.append(len(items))
        return [True] * len(items)

    async def ping() -> bool:
        return True

    writer = UsageWriter(slow_store, linger_s=0.0)
    writer.start()
    probe = StoreHealthProbe(metrics, ping, "embedded", interval_s=0.02, backlog=lambda: writer.backlog)

    def backlog() -> float | None:
        return registry.get_sample_value("carbon_gateway_usage_writer_backlog")

    probe.start()
    try:
        writer.submit(None, make_record("acme"))  # taken at once: the batch the store is busy with
        await eventually(lambda: writer.backlog == 0, "the first record taken into a batch")
        for _ in range(5):
            writer.submit(None, make_record("acme"))
        await eventually(lambda: backlog() == 5.0, "a backlog of 5 exported")
        store_free.set()
        await eventually(lambda: backlog() == 0.0 and sum(written) == 6, "the backlog drained into the store")
    finally:
        await probe.stop()
        store_free.set()
        await writer.close()
