"""Redis outages at HTTP level: a redis-server this test starts on its own port, stopped and
restarted under a running gateway. fail_open keeps serving (usage journalled, replayed, nothing
lost); fail_closed answers 503 with a clear error until Redis is back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from meters.periods import month_of
from meters.store import open_store
from meters.tenants import hash_key
from tests.support.gateway import running_gateway, write_config
from tests.support.redis_server import RedisServer
from tests.support.tenancy import ADMIN_KEY, bearer, chat, create_tenant, tenancy_config

STATIC_KEY = "sk-failover-static"


def failover_config(upstream_port: int, server: RedisServer, on_failure: str) -> dict[str, Any]:
    tenant = {"id": "steady", "keys": [f"sha256:{hash_key(STATIC_KEY)}"], "limits": {"gco2e_per_month": 100}}
    # No leases: a lease granted before the outage would (rightly) admit the next requests
    # without asking Redis, and these tests are about the requests that do ask it.
    store = {"redis_url": server.url, "prefix": "cg:", "on_failure": on_failure, "lease_requests": 0}
    return tenancy_config(upstream_port, store, tenants=[tenant])


def send(url: str, key: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=chat(max_tokens=10), headers=bearer(key), timeout=30)


async def counted(server: RedisServer, tenant_id: str, expected: int) -> int:
    """Requests the Redis counters hold for the tenant this month, once `expected` arrive (or the wait ends)."""
    store = await open_store(server.url, prefix="cg:", state_dir="/nonexistent")
    try:
        deadline = time.monotonic() + 30
        while True:
            requests = (await store.reports.usage(tenant_id, month_of(time.time())))["totals"]["requests"]
            if requests >= expected or time.monotonic() > deadline:
                return requests
            await asyncio.sleep(0.1)
    finally:
        await store.close()


async def test_fail_open_keeps_serving_and_replays_the_journal(upstream_port: int, tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    try:
        path = write_config(tmp_path, failover_config(upstream_port, server, "fail_open"))
        with running_gateway(path, env={"GATEWAY_ADMIN_KEY": ADMIN_KEY}) as gateway:
            dynamic_key = create_tenant(gateway.url, "dynamic", {"gco2e_per_month": 100})
            for key in (STATIC_KEY, STATIC_KEY, dynamic_key):
                assert send(gateway.url, key).status_code == 200
            server.stop()
            for key in (STATIC_KEY, STATIC_KEY, STATIC_KEY, dynamic_key):
                answer = send(gateway.url, key)  # static keys, and keys this worker has seen, keep working
                assert answer.status_code == 200, answer.text
                assert "unreachable" in answer.headers["x-carbon-store-degraded"]
            unknown = send(gateway.url, "cg-a-key-nobody-has-seen")
            assert unknown.status_code == 503 and unknown.json()["error"]["code"] == "store_unavailable"
            server.start()
            after = send(gateway.url, STATIC_KEY)  # the first call that reaches Redis starts the replay
            assert after.status_code == 200 and "x-carbon-store-degraded" not in after.headers
            assert await counted(server, "steady", 6) == 6
            assert await counted(server, "dynamic", 2) == 2
    finally:
        if server.process is not None:
            server.stop()


async def test_fail_closed_answers_503_until_redis_is_back(upstream_port: int, tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    server.start()
    try:
        path = write_config(tmp_path, failover_config(upstream_port, server, "fail_closed"))
        with running_gateway(path) as gateway:
            assert send(gateway.url, STATIC_KEY).status_code == 200
            server.stop()
            refused = send(gateway.url, STATIC_KEY)
            assert refused.status_code == 503, refused.text
            error = refused.json()["error"]
            assert error["code"] == "store_unavailable" and "fail_closed" in error["message"]
            server.start()
            assert send(gateway.url, STATIC_KEY).status_code == 200
            assert await counted(server, "steady", 2) == 2
    finally:
        if server.process is not None:
            server.stop()
