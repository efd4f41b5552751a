"""Tenants, keys, limit counters, usage aggregates and the ledger: one interface in three parts
(`TenantDirectory`, `Meter`, `UsageReports`), two backends.

`open_store(redis_url)` picks Redis when a URL is given (shared by every replica), else the embedded
SQLite store in the state directory (shared by the workers of one host).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from meters.store.aggregates import DEFAULT_MONTHLY_RETENTION_MONTHS, check_retention
from meters.store.interfaces import (
    AuditedStore,
    Backend,
    CountItem,
    Meter,
    ReportAggregates,
    TenantDirectory,
    UsageReports,
)
from meters.store.retention import LEDGER_RETENTION_DAYS
from meters.store.store import Store
from meters.store.values import (
    Amounts,
    Exceeded,
    RateSnapshot,
    Reservation,
    ReserveOutcome,
    StoreUnavailable,
)

__all__ = [
    "Amounts",
    "AuditedStore",
    "Backend",
    "CountItem",
    "Exceeded",
    "Meter",
    "RateSnapshot",
    "ReportAggregates",
    "Reservation",
    "ReserveOutcome",
    "Store",
    "StoreUnavailable",
    "TenantDirectory",
    "UsageReports",
    "default_state_dir",
    "open_store",
]

STATE_DIR_ENV = "CARBON_GATEWAY_STATE_DIR"
SQLITE_FILENAME = "carbon-gateway.sqlite3"
FAILURE_MODES = ("fail_open", "fail_closed")


def default_state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV) or "./var")


async def open_store(
    redis_url: str | None,
    *,
    state_dir: str | os.PathLike[str] | None = None,
    prefix: str = "cg:",
    on_failure: str = "fail_open",
    journal_path: str | os.PathLike[str] | None = None,
    journal_max: int = 100_000,
    ledger_retention_days: int = LEDGER_RETENTION_DAYS,
    idempotency_ttl_s: float = 7 * 86400,
    clock: Callable[[], float] = time.time,
    lease_requests: int = 0,
    lease_s: float = 0.5,
    monthly_retention_months: int = DEFAULT_MONTHLY_RETENTION_MONTHS,
) -> Store:
    """Open the Redis store at `redis_url`, or the embedded store in `state_dir`.

    Redis: `prefix` namespaces every key; `on_failure` is `fail_open` (serve and journal
    usage to `journal_path`, default `<state_dir>/redis-journal.jsonl`, at most
    `journal_max` records, replayed when Redis is back) or `fail_closed` (raise
    StoreUnavailable). `clock` exists for tests of windows and expiry.
    `monthly_retention_months` (>= 13) bounds the label-keyed monthly aggregates the sustainability reports
    read, independently of `ledger_retention_days` (the per-request ledger).
    `lease_requests` >= 2 puts a `LeasingMeter` in front of the meter: requests are admitted from
    leases of up to that many requests' worth, each lasting at most `lease_s` (see `meters.store.portions`).
    """
    check_retention(monthly_retention_months)
    if on_failure not in FAILURE_MODES:
        raise ValueError(f"store.on_failure must be one of {FAILURE_MODES}, got {on_failure!r}")
    directory = Path(state_dir) if state_dir is not None else default_state_dir()
    store: Store
    if redis_url:
        from meters.store.journal import Journal
        from meters.store.redis import open_redis

        journal = Journal(
            Path(journal_path) if journal_path else directory / "redis-journal.jsonl", journal_max
        )
        store = await open_redis(
            redis_url,
            prefix=prefix,
            on_failure=on_failure,
            journal=journal,
            ledger_retention_days=ledger_retention_days,
            idempotency_ttl_s=idempotency_ttl_s,
            clock=clock,
            monthly_retention_months=monthly_retention_months,
        )
    else:
        from meters.store.sqlite import open_sqlite

        store = open_sqlite(
            directory / SQLITE_FILENAME,
            clock=clock,
            ledger_retention_days=ledger_retention_days,
            idempotency_ttl_s=idempotency_ttl_s,
            monthly_retention_months=monthly_retention_months,
        )
    if lease_requests >= 2:
        from meters.store.leasing import LeasingMeter

        leasing = LeasingMeter(store.meter, lease_requests=lease_requests, lease_s=lease_s, clock=clock)
        store = replace(store, meter=leasing)
    return store
