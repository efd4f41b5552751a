"""Usage read back from the embedded store: per-period reports and the ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from meters.periods import period_days
from meters.store.interfaces import UsageReports
from meters.store.records import COUNTER_FIELDS, build_usage_report
from meters.store.sqlite.database import SqliteDatabase
from meters.store.sqlite.rows import COLUMNS

_LEDGER_PAGE = 500


class SqliteReports(UsageReports):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def usage(self, tenant_id: str, period: str) -> dict[str, Any]:
        days = period_days(period)

        def read() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
            span = (tenant_id, days[0], days[-1])
            models = self._db.conn.execute(
                f"SELECT day, model, {COLUMNS} FROM usage_model_day "
                "WHERE tenant_id = ? AND day BETWEEN ? AND ?",
                span,
            ).fetchall()
            tags = self._db.conn.execute(
                f"SELECT day, tag, {COLUMNS} FROM usage_tag_day WHERE tenant_id = ? AND day BETWEEN ? AND ?",
                span,
            ).fetchall()
            return models, tags

        models, tags = await self._db.run(read)

        def rows(raw: list[tuple[Any, ...]]) -> list[tuple[str, str, dict[str, int]]]:
            return [(r[0], r[1], dict(zip(COUNTER_FIELDS, r[2:], strict=True))) for r in raw]

        return build_usage_report(tenant_id, period, rows(models), rows(tags))

    async def ledger(
        self, tenant_id: str | None, start_ts: float, end_ts: float
    ) -> AsyncIterator[dict[str, Any]]:
        after = 0
        while True:

            def page(after: int = after) -> list[tuple[int, str]]:
                where = "seq > ? AND ts >= ? AND ts < ?" + (" AND tenant_id = ?" if tenant_id else "")
                params: tuple[object, ...] = (after, start_ts, end_ts) + ((tenant_id,) if tenant_id else ())
                return self._db.conn.execute(
                    f"SELECT seq, data FROM ledger WHERE {where} ORDER BY seq LIMIT {_LEDGER_PAGE}", params
                ).fetchall()

            rows = await self._db.run(page)
            for seq, data in rows:
                after = seq
                yield orjson.loads(data)
            if len(rows) < _LEDGER_PAGE:
                return

    async def request(self, request_id: str, tenant_id: str | None) -> dict[str, Any] | None:
        def read() -> tuple[str] | None:
            where = "request_id = ?" + (" AND tenant_id = ?" if tenant_id is not None else "")
            params = (request_id,) if tenant_id is None else (request_id, tenant_id)
            row: tuple[str] | None = self._db.conn.execute(
                f"SELECT data FROM ledger WHERE {where} ORDER BY seq DESC LIMIT 1", params
            ).fetchone()
            return row

        row = await self._db.run(read)
        found: dict[str, Any] | None = orjson.loads(row[0]) if row else None
        return found
