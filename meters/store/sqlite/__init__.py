"""The embedded backend: one SQLite file per host (see database.py), its directory, meter and reports."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from meters.store.aggregates import DEFAULT_MONTHLY_RETENTION_MONTHS
from meters.store.retention import LEDGER_RETENTION_DAYS
from meters.store.sqlite.aggregates import SqliteAggregates, SqliteAudited
from meters.store.sqlite.database import SqliteDatabase
from meters.store.sqlite.directory import SqliteDirectory
from meters.store.sqlite.meter import SqliteMeter
from meters.store.sqlite.reports import SqliteReports
from meters.store.sqlite.schema import BUSY_TIMEOUT_MS
from meters.store.store import Store

__all__ = ["SqliteDatabase", "SqliteDirectory", "SqliteMeter", "SqliteReports", "open_sqlite"]


def open_sqlite(
    path: Path,
    *,
    clock: Callable[[], float] = time.time,
    ledger_retention_days: int = LEDGER_RETENTION_DAYS,
    idempotency_ttl_s: float = 7 * 86400,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    monthly_retention_months: int = DEFAULT_MONTHLY_RETENTION_MONTHS,
) -> Store:
    db = SqliteDatabase(path, busy_timeout_ms=busy_timeout_ms)
    meter = SqliteMeter(
        db,
        clock=clock,
        ledger_retention_days=ledger_retention_days,
        idempotency_ttl_s=idempotency_ttl_s,
        monthly_retention_months=monthly_retention_months,
    )
    return Store(
        db,
        SqliteDirectory(db),
        meter,
        SqliteReports(db),
        SqliteAggregates(db),
        SqliteAudited(db, clock),
        monthly_retention_months=monthly_retention_months,
        clock=clock,
    )
