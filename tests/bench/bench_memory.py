"""Store memory per request: Redis bytes (INFO memory, MEMORY USAGE) and SQLite file bytes per counted request.

    PYTHONPATH=$PWD python -m tests.bench.bench_memory [--requests 20000] [--redis-url redis://127.0.0.1:6379/15]

Counts N realistic requests (reserve, then settle; 10 tenants, 3 keys and 4 models each, one tag, tenant/key/
model limits so every limit counter exists) through the store API, and prints what each part costs:
the ledger entry (kept `ledger_retention_days`), the idempotency mark (kept 7 days), and the rest (limit
counters, daily aggregates: per tenant/model/day, not per request). Numbers go into the README's sizing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from meters.limits import Limits, Scope
from meters.store import Amounts, Store, open_store
from tests.support.stores import make_record

TENANTS, KEYS, MODELS = 10, 3, 4


async def _traffic(store: Store, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    limits = Limits.from_config({"requests_per_minute": 10**9, "tokens_per_day": 10**12, "gco2e_per_month": 10**9}, "b")
    batch: list[Any] = []
    for i in range(n):
        tenant, key, model = f"t{rng.randrange(TENANTS)}", f"k{rng.randrange(KEYS)}", f"model-{rng.randrange(MODELS)}"
        scopes = [Scope(f"t:{tenant}", limits), Scope(f"k:{tenant}{key}", limits), Scope(f"m:{tenant}:{model}", limits)]
        outcome = await store.meter.reserve(
            tenant, key_id=f"{tenant}{key}", model=model, amounts=Amounts(tokens=600, gco2e=0.3), scopes=scopes
        )
        record = make_record(
            tenant, timestamp=time.time(), model=model, key_id=f"{tenant}{key}", tags={"team": f"team-{i % 5}"},
            prompt_tokens=rng.randrange(50, 2000), completion_tokens=rng.randrange(10, 800),
            gco2e=rng.uniform(0.01, 2), request_id=uuid.uuid4().hex,
        )  # fmt: skip
        batch.append((outcome.reservation.reservation_id if outcome.reservation else None, record))
        if len(batch) == 64:
            await store.meter.count_many(batch)
            batch = []
    if batch:
        await store.meter.count_many(batch)


async def _key_bytes(client: aioredis.Redis, pattern: str) -> tuple[int, int]:
    count = total = 0
    async for key in client.scan_iter(match=pattern, count=1000):
        count += 1
        total += int(await client.memory_usage(key, samples=0) or 0)
    return count, total


async def redis_memory(url: str, n: int) -> dict[str, float]:
    prefix = f"cgbench-mem:{uuid.uuid4().hex[:8]}:"
    client = aioredis.from_url(url)
    try:
        before = (await client.info("memory"))["used_memory"]
        await client.config_resetstat()
        store = await open_store(url, prefix=prefix, state_dir=tempfile.mkdtemp(), on_failure="fail_closed")
        await _traffic(store, n)
        await store.close()
        after = (await client.info("memory"))["used_memory"]
        stats = await client.info("commandstats")
        busy_us = sum(v["usec"] for k, v in stats.items() if k.startswith("cmdstat_"))
        _, ledger = await _key_bytes(client, prefix + "l:*")
        done_n, done = await _key_bytes(client, prefix + "done:*")
        _, other = await _key_bytes(client, prefix + "[wourk]*")
        return {
            "used_memory_per_request": (after - before) / n,
            "ledger_per_request": ledger / n,
            "done_mark_per_request": done / done_n,
            "counters_and_aggregates_total": other,
            "redis_cpu_us_per_request": busy_us / n,  # reserve + settle scripts and the rest, without leases
        }
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        for key in keys:
            await client.unlink(key)
        await client.aclose()


async def sqlite_memory(n: int) -> dict[str, float]:
    directory = Path(tempfile.mkdtemp())
    store = await open_store(None, state_dir=directory)
    await _traffic(store, 200)  # the schema and first pages
    await store.close()
    path = directory / "carbon-gateway.sqlite3"

    def size() -> int:
        return sum(p.stat().st_size for p in directory.glob("carbon-gateway.sqlite3*"))

    before = size()
    store = await open_store(None, state_dir=directory)
    await _traffic(store, n, seed=8)
    await store.close()
    return {"file_bytes_per_request": (size() - before) / n, "file": float(path.stat().st_size)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))
    args = parser.parse_args()
    print("redis", {k: round(v, 1) for k, v in asyncio.run(redis_memory(args.redis_url, args.requests)).items()})
    print("sqlite", {k: round(v, 1) for k, v in asyncio.run(sqlite_memory(args.requests)).items()})


if __name__ == "__main__":
    main()
