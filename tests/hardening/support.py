"""Shared helpers for the hardening suites (issue 10): the in-process app with one limited tenant, on either
store, every request reserved on its own (no leases), so a leaked reservation shows."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from gateway.gateway import Gateway
from tests.support.inprocess import ScriptedUpstream, edge
from tests.support.tenancy import drop_prefix, redis_url

TENANT, KEY, KEY_ENV = "hard", "sk-hardening-tenant", "CGTEST_HARDENING_KEY"
AUTH = {"authorization": f"Bearer {KEY}"}
BACKENDS = ["embedded", "redis"]


def store_block(backend: str, tmp_path: Path) -> dict[str, Any]:
    block: dict[str, Any] = {"lease_requests": 0}
    if backend == "redis":
        return {**block, "redis_url": redis_url(), "prefix": f"cgtest-hard:{uuid.uuid4().hex[:12]}:"}
    return {**block, "state_dir": str(tmp_path / "state")}


@contextlib.asynccontextmanager
async def tenant_edge(
    tmp_path: Path, backend: str, upstream: ScriptedUpstream | None = None, **limits: int
) -> AsyncIterator[tuple[httpx.AsyncClient, Gateway]]:
    """The app with tenant `hard` (key `KEY`, from the environment variable `KEY_ENV` the caller sets)."""
    store = store_block(backend, tmp_path)
    tenants = [{"id": TENANT, "keys": [f"os.environ/{KEY_ENV}"], "limits": limits or {"tokens_per_day": 10**8}}]
    try:
        async with edge(tmp_path, upstream, store=store, tenants=tenants) as (client, gw):
            yield client, gw
    finally:
        drop_prefix(store)


async def settled(gw: Gateway) -> dict[str, Any]:
    """The tenant's month totals once the usage writer has counted what is queued."""
    await asyncio.wait_for(gw.accounting.writer.flush(), 30)
    usage = await gw.store.reports.usage(TENANT, time.strftime("%Y-%m", time.gmtime()))
    return dict(usage["totals"])


async def outstanding(gw: Gateway) -> int:
    return await gw.store.meter.outstanding_reservations(TENANT)
