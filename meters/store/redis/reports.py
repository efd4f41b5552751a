"""Usage read back from Redis: per-period reports and the ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import orjson

from meters.periods import period_days
from meters.store.interfaces import UsageReports
from meters.store.records import build_usage_report
from meters.store.redis.connection import RedisConnection
from meters.store.redis.encoding import text, usage_rows
from meters.store.redis.keys import ltenants_key, tenant_key

_LEDGER_PAGE = 500


class RedisReports(UsageReports):
    def __init__(self, conn: RedisConnection) -> None:
        self._conn = conn
        self._redis = conn.client
        self.prefix = conn.prefix

    async def usage(self, tenant_id: str, period: str) -> dict[str, Any]:
        days = period_days(period)

        async def read() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for day in days:
                    pipe.hgetall(tenant_key(self.prefix, "u", tenant_id, f"|{day}"))
                    pipe.hgetall(tenant_key(self.prefix, "ut", tenant_id, f"|{day}"))
                return await pipe.execute()

        raw = await self._conn.call(read)
        model_rows = usage_rows(days, raw[0::2])
        tag_rows = usage_rows(days, raw[1::2])
        return build_usage_report(tenant_id, period, model_rows, tag_rows)

    async def ledger(
        self, tenant_id: str | None, start_ts: float, end_ts: float
    ) -> AsyncIterator[dict[str, Any]]:
        if tenant_id is None:
            members = await self._conn.call(lambda: self._redis.smembers(ltenants_key(self.prefix)))
            tenants = sorted(text(m) for m in members)
        else:
            tenants = [tenant_id]
        for tenant in tenants:
            async for entry in self._tenant_ledger(tenant, start_ts, end_ts):
                yield entry

    async def _tenant_ledger(
        self, tenant_id: str, start_ts: float, end_ts: float
    ) -> AsyncIterator[dict[str, Any]]:
        # Entries are appended when a request is counted, which is never before it started
        # (a journal replay may be much later): start at start_ts, minus a minute of clock skew.
        cursor = f"{max(0, int((start_ts - 60) * 1000))}-0"
        key = tenant_key(self.prefix, "l", tenant_id)
        while True:
            page = await self._page(key, cursor)
            for entry_id, fields in page:
                entry = orjson.loads(fields[b"r"])
                if start_ts <= entry["timestamp"] < end_ts:
                    yield entry
                cursor = "(" + text(entry_id)
            if len(page) < _LEDGER_PAGE:
                return

    async def _page(self, key: str, cursor: str, last: str = "+") -> list[tuple[bytes, dict[bytes, bytes]]]:
        async def read() -> list[tuple[bytes, dict[bytes, bytes]]]:
            page = await self._redis.xrange(key, min=cursor, max=last, count=_LEDGER_PAGE)
            return cast(list[tuple[bytes, dict[bytes, bytes]]], page or [])

        return await self._conn.call(read)

    async def request(self, request_id: str, tenant_id: str | None) -> dict[str, Any] | None:
        if tenant_id is not None:
            tenants = [tenant_id]
        else:  # an admin's look-up: every tenant with a ledger, in one pipelined round trip
            members = await self._conn.call(lambda: self._redis.smembers(ltenants_key(self.prefix)))
            tenants = sorted(text(m) for m in members)

        async def read() -> list[tuple[str, bytes | None]]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for tenant in tenants:
                    pipe.get(tenant_key(self.prefix, "done", tenant, f"|{request_id}"))
                marks = await pipe.execute()
            return list(zip(tenants, marks, strict=True))

        for tenant, mark in await self._conn.call(read):
            if mark is None or mark == b"1":
                continue
            entry_id = text(mark)
            for _, fields in await self._page(tenant_key(self.prefix, "l", tenant), entry_id, entry_id):
                found: dict[str, Any] = orjson.loads(fields[b"r"])
                return found
        return None
