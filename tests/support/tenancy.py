"""Shared helpers for the tenancy suites (no tests here): configs on either backend, the admin
client, and a store opened on the gateway's own state to inspect counters and reservations.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis

from meters.store import Store, open_store
from tests.support.configs import TEST_COEFFICIENT, proxy_config

ADMIN_KEY = "admin-test-key"
MASTER_KEY = "master-test-key"
BACKENDS = ["embedded", "redis"]
SMALL_COEFFICIENT = 0.1  # the downgrade target: 15x less carbon per token than `fake`
PRICE_PER_TOKEN = 0.001


def redis_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def store_block(backend: str, directory: Path, **extra: Any) -> dict[str, Any]:
    """The `store:` block: Redis under a fresh prefix, or SQLite in `directory/state`."""
    if backend == "redis":
        return {"redis_url": redis_url(), "prefix": f"cgtest-tenancy:{uuid.uuid4().hex[:12]}:", **extra}
    return {"state_dir": str(directory / "state"), **extra}


def tenancy_config(upstream_port: int, store: dict[str, Any], **extra: Any) -> dict[str, Any]:
    config = proxy_config(upstream_port, store=store, **extra)
    fake = next(m for m in config["model_list"] if m["model_name"] == "fake")["litellm_params"]
    config["model_list"] += [
        {
            "model_name": "small",
            "litellm_params": {**fake, "model": "openai/small-model"},
            "carbon": {"gco2e_per_1k_tokens": SMALL_COEFFICIENT, "confidence": "estimated", "source": "test"},
        },
        {
            "model_name": "priced",
            "litellm_params": fake,
            "carbon": {"gco2e_per_1k_tokens": TEST_COEFFICIENT, "confidence": "estimated", "source": "test"},
            "model_info": {"input_cost_per_token": PRICE_PER_TOKEN, "output_cost_per_token": PRICE_PER_TOKEN},
        },
    ]
    return config


async def open_gateway_store(store: dict[str, Any]) -> Store:
    """The store the gateway uses (same Redis prefix or same SQLite file)."""
    return await open_store(
        store.get("redis_url"),
        state_dir=store.get("state_dir") or "/nonexistent",
        prefix=store.get("prefix", "cg:"),
    )


def drop_prefix(store: dict[str, Any]) -> None:
    if store.get("redis_url"):
        client = redis.Redis.from_url(store["redis_url"])
        keys = list(client.scan_iter(match=f"{store['prefix']}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        client.close()


@contextmanager
def cleaned(store: dict[str, Any]) -> Iterator[dict[str, Any]]:
    try:
        yield store
    finally:
        drop_prefix(store)


def admin(url: str, key: str = ADMIN_KEY) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=30)


def create_tenant(url: str, tenant_id: str, limits: dict[str, Any] | None = None, **fields: Any) -> str:
    """Create a tenant and issue it a key; returns the plaintext key."""
    with admin(url) as client:
        created = client.post("/admin/tenants", json={"id": tenant_id, "limits": limits or {}, **fields})
        assert created.status_code == 201, created.text
        issued = client.post(f"/admin/tenants/{tenant_id}/keys", json={})
        assert issued.status_code == 201, issued.text
        return issued.json()["key"]


def chat(model: str = "fake", content: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def wait_until_settled(store: Store, tenant_id: str, requests: int | None = None) -> dict[str, Any]:
    """Wait for the gateways' usage writers: no reservation left (and `requests` counted); the month's usage."""
    deadline = time.monotonic() + 60
    while True:
        outstanding = await store.meter.outstanding_reservations(tenant_id)
        usage = await store.reports.usage(tenant_id, time.strftime("%Y-%m", time.gmtime()))
        counted = usage["totals"]["requests"]
        if outstanding == 0 and (requests is None or counted >= requests):
            return usage
        if time.monotonic() > deadline:
            raise AssertionError(f"{outstanding} reservations outstanding, {counted} requests counted")
        await asyncio.sleep(0.1)
