"""The acceptance race (issue 4): 200 concurrent requests from one tenant close to its carbon
budget, spread over two gateway processes sharing one Redis, and over two workers sharing the
embedded store. Some requests fail upstream, time out, or are dropped by their client mid-stream.

Afterwards: the budget is overspent by at most one request's worth, every request that was
served is counted once, and no reservation is left.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from meters.tenants import hash_key
from tests.support.gateway import running_gateway, write_config
from tests.support.tenancy import (
    bearer,
    chat,
    cleaned,
    open_gateway_store,
    store_block,
    tenancy_config,
    wait_until_settled,
)

KEY = "sk-race-tenant"
TENANT = "racer"
REQUESTS = 200
# A served request here is 2 prompt + 10 completion tokens at 1.5 g/1k: 0.018 g. The budget
# holds about 40 of them, and the tenant has already spent a third of it.
BUDGET_G = 0.72
ALREADY_SPENT_REQUESTS = 13
KINDS = ("ok", "stream", "disconnect", "upstream_error", "timeout", "upstream_cut")


def race_config(upstream_port: int, store: dict[str, Any]) -> dict[str, Any]:
    tenant = {"id": TENANT, "keys": [f"sha256:{hash_key(KEY)}"], "limits": {"gco2e_per_month": BUDGET_G}}
    return tenancy_config(upstream_port, store, tenants=[tenant])


def body(kind: str) -> dict[str, Any]:
    request = chat(max_tokens=10)
    if kind == "stream":
        request["stream"] = True
    elif kind == "disconnect":
        request.update(stream=True, fake_behaviour={"stream_chunk_delay_s": 0.05})
    elif kind == "upstream_error":
        request.update(model="no-retry", fake_behaviour={"fail_status": 500})
    elif kind == "timeout":
        request.update(model="slow", fake_behaviour={"stall_s": 2.0})
    elif kind == "upstream_cut":
        request.update(stream=True, fake_behaviour={"close_mid_stream": True})
    return request


async def one(client: httpx.AsyncClient, url: str, kind: str) -> int:
    async with client.stream(
        "POST", f"{url}/chat/completions", json=body(kind), headers=bearer(KEY)
    ) as response:
        if kind == "disconnect" and response.status_code == 200:
            async for _ in response.aiter_raw():
                break  # leave after the first bytes: the client goes away mid-stream
        else:
            await response.aread()
        return response.status_code


async def race(urls: list[str], store_config: dict[str, Any], requests: int = REQUESTS) -> None:
    limits = httpx.Limits(max_connections=requests, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        for i in range(ALREADY_SPENT_REQUESTS):
            assert await one(client, urls[i % len(urls)], "ok") == 200
        kinds = [KINDS[i % len(KINDS)] for i in range(requests)]
        statuses = await asyncio.gather(*(one(client, urls[i % len(urls)], k) for i, k in enumerate(kinds)))
    outcome = Counter(zip(kinds, statuses, strict=True))
    served = sum(n for (_, status), n in outcome.items() if status == 200)
    assert outcome[("upstream_error", 502)] + outcome[("upstream_error", 429)] == kinds.count(
        "upstream_error"
    )
    assert outcome[("timeout", 504)] + outcome[("timeout", 429)] == kinds.count("timeout")
    assert sum(n for (_, status), n in outcome.items() if status == 429) > 0, (
        outcome
    )  # the budget was reached
    assert served > 0, outcome

    store = await open_gateway_store(store_config)
    try:
        usage = await wait_until_settled(store, TENANT, ALREADY_SPENT_REQUESTS + served)
        assert await store.meter.outstanding_reservations(TENANT) == 0
        assert (
            usage["totals"]["requests"] == ALREADY_SPENT_REQUESTS + served
        )  # each served request counted once
        now = time.time()
        largest = max(
            [entry["carbon"]["gco2e"] async for entry in store.reports.ledger(TENANT, now - 3600, now + 60)]
        )
        assert usage["totals"]["gco2e"] <= BUDGET_G + largest, (usage["totals"], outcome)
    finally:
        await store.close()


async def test_two_gateways_sharing_redis(upstream_port: int, tmp_path: Path) -> None:
    with cleaned(store_block("redis", tmp_path)) as store:
        path = write_config(tmp_path, race_config(upstream_port, store))
        with running_gateway(path) as first, running_gateway(path) as second:
            await race([first.base_url, second.base_url], store)


async def test_two_workers_sharing_the_embedded_store(upstream_port: int, tmp_path: Path) -> None:
    store = store_block("embedded", tmp_path)
    path = write_config(tmp_path, race_config(upstream_port, store))
    with running_gateway(path, workers=2) as gateway:
        await race([gateway.base_url], store)
