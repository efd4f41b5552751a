"""The Redis backend: shared by every replica (see connection.py), its directory, meter and reports."""

from __future__ import annotations

import time
from collections.abc import Callable

from meters.store.aggregates import DEFAULT_MONTHLY_RETENTION_MONTHS
from meters.store.journal import Journal
from meters.store.redis.aggregates import RedisAggregates, RedisAudited
from meters.store.redis.connection import RedisConnection
from meters.store.redis.directory import RedisDirectory
from meters.store.redis.keys import check_prefix
from meters.store.redis.meter import RedisMeter
from meters.store.redis.reports import RedisReports
from meters.store.retention import LEDGER_RETENTION_DAYS
from meters.store.store import Store
from meters.store.values import StoreUnavailable

__all__ = ["RedisConnection", "RedisDirectory", "RedisMeter", "RedisReports", "open_redis"]


async def open_redis(
    url: str,
    *,
    prefix: str,
    on_failure: str,
    journal: Journal,
    ledger_retention_days: int = LEDGER_RETENTION_DAYS,
    idempotency_ttl_s: float = 7 * 86400,
    clock: Callable[[], float] = time.time,
    monthly_retention_months: int = DEFAULT_MONTHLY_RETENTION_MONTHS,
) -> Store:
    conn = RedisConnection.from_url(url, prefix=check_prefix(prefix), on_failure=on_failure, journal=journal)
    if conn.fail_closed and not await conn.ping():
        await conn.close()
        raise StoreUnavailable(f"Redis at {conn.host()} is unreachable")
    meter = RedisMeter(
        conn,
        ledger_retention_days=ledger_retention_days,
        idempotency_ttl_s=idempotency_ttl_s,
        clock=clock,
        monthly_retention_months=monthly_retention_months,
    )
    return Store(
        conn,
        RedisDirectory(conn),
        meter,
        RedisReports(conn),
        RedisAggregates(conn),
        RedisAudited(conn, clock),
        monthly_retention_months=monthly_retention_months,
        clock=clock,
    )
