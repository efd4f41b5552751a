"""The report benchmark's from-store mode: the synthetic year written into a real store's aggregates (as the
count step would have left them), then the report read from the store, built and rendered.

    PYTHONPATH=. python -m tests.bench.bench_reports --from-store sqlite|redis [--tenants 1000] [--models 50]

Redis: REDIS_URL (default redis://127.0.0.1:6379/0), under a fresh prefix deleted afterwards. SQLite: a
temporary state directory. Filling is not timed.
"""

from __future__ import annotations

import asyncio
import gc
import os
import tempfile
import time
import uuid
from collections.abc import Sequence

import redis.asyncio as aioredis

from meters.audited import AuditedImport, ParsedImport
from meters.reports import DailyRow, TagRow, UsageRow
from meters.reports.model import Report
from meters.reports.rows import CarbonLabel, Counters
from meters.store import Store, open_store
from meters.store.aggregates import label_id, label_json, pack
from meters.store.redis.keys import labels_key, ltenants_key, tenant_key
from meters.store.reporting import store_report
from meters.store.sqlite.reports_schema import (
    INSERT_LABEL,
    UPSERT_MONTH,
    UPSERT_TAG_MONTH,
    UPSERT_TENANT_DAY,
    UPSERT_YEAR,
)
from meters.store.windows import to_nano


def _fields(label: CarbonLabel) -> tuple[str | None, ...]:
    return (label.method, label.boundary, label.confidence, label.basis, label.source, label.catalogue_version,
            label.water_boundary, label.datacentre)  # fmt: skip


def _values(c: Counters) -> list[int]:
    return [c.requests, c.prompt_tokens, c.completion_tokens, to_nano(c.gco2e), to_nano(c.gco2e_min),
            to_nano(c.gco2e_max), to_nano(c.energy_wh), c.energy_known, to_nano(c.water_ml), c.water_known,
            to_nano(c.spend)]  # fmt: skip


async def fill(
    store: Store,
    prefix: str,
    usage: Sequence[UsageRow],
    tags: Sequence[TagRow],
    daily: Sequence[DailyRow],
    imports: Sequence[AuditedImport],
    tenants: int,
) -> None:
    labels: dict[int, tuple[str, str]] = {}

    def lid(label: CarbonLabel) -> str:
        found = labels.get(id(label))
        if found is None:
            fields = _fields(label)
            found = labels[id(label)] = (label_id(fields), label_json(fields))
        return found[0]

    month_rows = [
        (r.tenant_id, r.date, r.model, r.provider, r.currency, lid(r.label), _values(r.counters))
        for r in usage
    ]
    tag_rows = [(r.tenant_id, r.date, r.tag, r.model, lid(r.label), _values(r.counters)) for r in tags]
    names = [f"tenant-{t:04d}" for t in range(tenants)]
    day_rows = [(name, row.day, to_nano(row.gco2e / tenants)) for row in daily for name in names]
    if store.backend.name == "embedded":
        conn = store.backend.conn  # type: ignore[attr-defined]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT_LABEL, list(labels.values()))
        conn.executemany(UPSERT_MONTH, [(*row[:6], *row[6]) for row in month_rows])
        conn.executemany(
            UPSERT_YEAR,
            [(row[0], row[1][:4], *row[2:6], row[1], row[1], *row[6]) for row in month_rows],
        )
        conn.executemany(UPSERT_TAG_MONTH, [(*row[:5], *row[5]) for row in tag_rows])
        conn.executemany(UPSERT_TENANT_DAY, day_rows)
        conn.execute("COMMIT")
    else:
        client = store.backend.client  # type: ignore[attr-defined]
        pipe = _Chunked(client)
        for key, text in labels.values():
            pipe.hset(labels_key(prefix), key, text)
        pipe.sadd(ltenants_key(prefix), *names)
        for tenant, month, model, provider, currency, label, values in month_rows:
            pipe.hset(
                tenant_key(prefix, "ra", tenant, f"|{month}"),
                f"{model}\t{provider}\t{currency}\t{label}",
                pack(values),
            )
        years: dict[tuple[str, str, str], list[int]] = {}
        for tenant, month, model, provider, currency, label, values in month_rows:
            number = int(month[:4] + month[5:])
            line = years.setdefault(
                (tenant, month[:4], f"{model}\t{provider}\t{currency}\t{label}"), [0] * 11 + [number, number]
            )
            for i, value in enumerate(values):
                line[i] += value
            line[11], line[12] = min(line[11], number), max(line[12], number)
        for (tenant, year, field), line in years.items():
            pipe.hset(tenant_key(prefix, "ry", tenant, f"|{year}"), field, pack(line))
        for tenant, month, tag, model, label, values in tag_rows:
            pipe.hset(tenant_key(prefix, "rt", tenant, f"|{month}"), f"{tag}\t{model}\t{label}", pack(values))
        for tenant, day, grams in day_rows:
            pipe.hset(tenant_key(prefix, "rd", tenant, f"|{day[:7]}"), day, grams)
        await pipe.flush()
    for item in sorted(imports, key=lambda i: (i.month, i.version)):
        await store.audited.add(ParsedImport(item.month, item.source, item.figures, item.basis))


class _Chunked:
    """A pipeline sent every 10,000 commands (one huge write times out)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._pipe = client.pipeline(transaction=False)
        self._queued = 0
        self._pending: list[object] = []

    def hset(self, key: str, field: str, value: object) -> None:
        self._pipe.hset(key, field, value)  # type: ignore[arg-type]
        self._queued += 1
        if self._queued >= 10_000:
            self._pending.append(self._pipe)
            self._pipe = self._client.pipeline(transaction=False)
            self._queued = 0

    def sadd(self, key: str, *members: str) -> None:
        self._pipe.sadd(key, *members)

    async def flush(self) -> None:
        for pipe in [*self._pending, self._pipe]:
            await pipe.execute()  # type: ignore[attr-defined]


async def _drop(prefix: str) -> None:
    client = aioredis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    keys = [key async for key in client.scan_iter(match=prefix + "*", count=5000)]
    for start in range(0, len(keys), 1000):
        await client.delete(*keys[start : start + 1000])
    await client.aclose()


def run_from_store(backend: str, year: str, data: list, tenants: int, report_times) -> None:  # type: ignore[type-arg]
    """Fill a store of `backend` with `data` (usage, tags, daily, imports; emptied once written: a report
    process holds no copy of the rows), then time report + render. SQLite's write-ahead log is checkpointed
    after the fill, as a running store's automatic checkpoints keep it (a 600k-row log slows every read)."""
    usage, tags, daily, imports = data
    data.clear()
    prefix = f"bench-reports:{uuid.uuid4().hex[:8]}:"
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0") if backend == "redis" else None
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as directory:
        store = loop.run_until_complete(open_store(url, state_dir=directory, prefix=prefix))
        try:
            start = time.perf_counter()
            loop.run_until_complete(fill(store, prefix, usage, tags, daily, imports, tenants))
            del usage, tags
            if backend != "redis":
                store.backend.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[attr-defined]
            gc.collect()
            print(f"filled the {backend} store in {time.perf_counter() - start:.1f} s")

            def yearly() -> Report:
                return loop.run_until_complete(
                    store_report(store, year, catalogue_version="2026-11-22", gateway_version="0.1.0")
                )

            report_times(f"yearly organisation report from the {backend} store", yearly)
            one = "tenant-0001"

            def tenant() -> Report:
                return loop.run_until_complete(
                    store_report(
                        store, year, tenant=one, catalogue_version="2026-11-22", gateway_version="0.1.0"
                    )
                )

            report_times(f"yearly report of {one} from the {backend} store", tenant)
        finally:
            loop.run_until_complete(store.close())
            if backend == "redis":
                loop.run_until_complete(_drop(prefix))
            loop.close()
