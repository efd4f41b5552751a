"""Store benchmark: reserve+settle cycles per second and microseconds per operation.

    python tests/bench/bench_store.py [--cycles 3000] [--redis-url redis://127.0.0.1:6379/0]

For each backend (embedded SQLite, Redis) and concurrency (1 and 32 tasks in one process):
cycles/s, p50/p99 of reserve and settle, resolve_key p50, and the event loop's worst stall
(how late a 1 ms ticker woke up), which shows whether the backend blocks the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid

import redis.asyncio as aioredis

from meters.limits import Limits, Scope
from meters.store import Amounts, Store, open_store
from meters.tenants import Tenant
from tests.support.stores import make_record

LIMITS = Limits.from_config(
    {"requests_per_minute": 10**9, "tokens_per_minute": 10**12, "gco2e_per_month": 10**9}, "bench"
)


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6


async def _loop_stall(stop: asyncio.Event, worst: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.001)
        worst[0] = max(worst[0], time.perf_counter() - start - 0.001)


async def bench(store: Store, cycles: int, concurrency: int) -> dict[str, float]:
    tenant = f"bench-{uuid.uuid4().hex[:6]}"
    await store.directory.put_tenant(Tenant(id=tenant, limits=LIMITS))
    _, plaintext = await store.directory.issue_key(tenant)
    scopes = [Scope(f"t:{tenant}", LIMITS), Scope(f"m:{tenant}:m", Limits())]
    reserve_s: list[float] = []
    settle_s: list[float] = []
    resolve_s: list[float] = []
    queue = iter(range(cycles))

    async def worker() -> None:
        for _ in queue:
            t0 = time.perf_counter()
            await store.directory.resolve_key(plaintext)
            t1 = time.perf_counter()
            outcome = await store.meter.reserve(
                tenant,
                key_id=None,
                model="m",
                amounts=Amounts(tokens=500, spend=0.001, gco2e=0.2),
                scopes=scopes,
            )
            t2 = time.perf_counter()
            await store.meter.settle(outcome.reservation, make_record(tenant, timestamp=time.time(), model="m"))
            t3 = time.perf_counter()
            resolve_s.append(t1 - t0)
            reserve_s.append(t2 - t1)
            settle_s.append(t3 - t2)

    stop, worst = asyncio.Event(), [0.0]
    ticker = asyncio.create_task(_loop_stall(stop, worst))
    start, cpu_start = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    stop.set()
    await ticker
    assert await store.meter.outstanding_reservations(tenant) == 0
    return {
        "cycles_per_s": cycles / elapsed,
        "reserve_p50_us": _pct(reserve_s, 0.5),
        "reserve_p99_us": _pct(reserve_s, 0.99),
        "settle_p50_us": _pct(settle_s, 0.5),
        "settle_p99_us": _pct(settle_s, 0.99),
        "resolve_p50_us": _pct(resolve_s, 0.5),
        "mean_cycle_us": statistics.fmean(a + b for a, b in zip(reserve_s, settle_s, strict=True)) * 1e6,
        "loop_stall_max_ms": worst[0] * 1e3,
        # This process's CPU (all threads) per resolve+reserve+settle: what budgets cost a worker.
        "cpu_us_per_cycle": cpu / cycles * 1e6,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=3000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    prefix = f"cgbench:{uuid.uuid4().hex[:8]}:"
    print(
        f"{'backend':8} {'c':>3} {'cycles/s':>9} {'reserve p50/p99 us':>19} {'settle p50/p99 us':>18} "
        f"{'resolve p50':>11} {'loop stall ms':>13} {'cpu us/cycle':>12}"
    )
    with tempfile.TemporaryDirectory() as state_dir:
        for backend, url in (("sqlite", None), ("redis", args.redis_url)):
            for concurrency in (1, 32):
                store = await open_store(url, state_dir=state_dir, prefix=prefix)
                r = await bench(store, args.cycles, concurrency)
                await store.close()
                print(
                    f"{backend:8} {concurrency:>3} {r['cycles_per_s']:>9.0f} "
                    f"{r['reserve_p50_us']:>9.0f}/{r['reserve_p99_us']:<9.0f} "
                    f"{r['settle_p50_us']:>8.0f}/{r['settle_p99_us']:<9.0f} "
                    f"{r['resolve_p50_us']:>11.0f} {r['loop_stall_max_ms']:>13.2f} {r['cpu_us_per_cycle']:>12.0f}"
                )
    client = aioredis.from_url(args.redis_url)
    keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
