"""The embedded store's report tables (schema version 2) and the migration that fills them from the ledger.

Monthly aggregates keyed by carbon label, and the same per calendar year (`usage_year`, with each line's first
and last month: a yearly report reads ~50k year lines and subtracts the audited model-months it reads monthly,
instead of summing 600k monthly rows) (see meters/store/aggregates.py), kept
`monthly_retention_months` (default 25, at least 13) independently of the ledger's retention, plus the
audited imports (every version of every month).
"""

from __future__ import annotations

import sqlite3

import orjson

from meters.store.aggregates import MONTH_FIELDS, month_counters
from meters.store.records import record_from_dict
from meters.store.windows import windows_at

_COUNTERS = ",\n    ".join(f"{f} INTEGER NOT NULL DEFAULT 0" for f in MONTH_FIELDS)
REPORT_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS report_labels (id TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage_month (
    tenant_id TEXT NOT NULL, month TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,
    currency TEXT NOT NULL, label_id TEXT NOT NULL,
    {_COUNTERS},
    PRIMARY KEY (tenant_id, month, model, provider, currency, label_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS usage_month_model ON usage_month (month, model);
CREATE TABLE IF NOT EXISTS usage_year (
    tenant_id TEXT NOT NULL, year TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,
    currency TEXT NOT NULL, label_id TEXT NOT NULL, first_month TEXT NOT NULL, last_month TEXT NOT NULL,
    {_COUNTERS},
    PRIMARY KEY (tenant_id, year, model, provider, currency, label_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage_tag_month (
    tenant_id TEXT NOT NULL, month TEXT NOT NULL, tag TEXT NOT NULL, model TEXT NOT NULL, label_id TEXT NOT NULL,
    {_COUNTERS},
    PRIMARY KEY (tenant_id, month, tag, model, label_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage_tenant_day (
    tenant_id TEXT NOT NULL, day TEXT NOT NULL, g INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audited_imports (
    month TEXT NOT NULL, version INTEGER NOT NULL, imported_at TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (month, version)) WITHOUT ROWID;
"""
MONTH_COLUMNS = ", ".join(MONTH_FIELDS)
_MARKS = ", ".join("?" for _ in MONTH_FIELDS)
_ADD = ", ".join(f"{f} = {f} + excluded.{f}" for f in MONTH_FIELDS)
UPSERT_MONTH = (
    f"INSERT INTO usage_month (tenant_id, month, model, provider, currency, label_id, {MONTH_COLUMNS}) "
    f"VALUES (?, ?, ?, ?, ?, ?, {_MARKS}) "
    f"ON CONFLICT (tenant_id, month, model, provider, currency, label_id) DO UPDATE SET {_ADD}"
)
UPSERT_YEAR = (
    f"INSERT INTO usage_year (tenant_id, year, model, provider, currency, label_id, first_month, last_month, "
    f"{MONTH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, {_MARKS}) "
    "ON CONFLICT (tenant_id, year, model, provider, currency, label_id) DO UPDATE SET "
    "first_month = MIN(first_month, excluded.first_month), last_month = MAX(last_month, excluded.last_month), "
    f"{_ADD}"
)
UPSERT_TAG_MONTH = (
    f"INSERT INTO usage_tag_month (tenant_id, month, tag, model, label_id, {MONTH_COLUMNS}) "
    f"VALUES (?, ?, ?, ?, ?, {_MARKS}) "
    f"ON CONFLICT (tenant_id, month, tag, model, label_id) DO UPDATE SET {_ADD}"
)
UPSERT_TENANT_DAY = (
    "INSERT INTO usage_tenant_day (tenant_id, day, g) VALUES (?, ?, ?) "
    "ON CONFLICT (tenant_id, day) DO UPDATE SET g = g + excluded.g"
)
INSERT_LABEL = "INSERT OR IGNORE INTO report_labels (id, data) VALUES (?, ?)"


def rebuild_from_ledger(conn: sqlite3.Connection) -> None:
    """Version 1 had no monthly aggregates: rebuild them from the ledger (what it still holds; usage older
    than the ledger's retention is not in it, and stays in the daily tables only)."""
    from meters.store.sqlite.rows import PendingRows  # rows.py imports this module's statements

    for table in ("usage_month", "usage_year", "usage_tag_month", "usage_tenant_day"):
        conn.execute(f"DELETE FROM {table}")
    after = 0
    while True:
        page = conn.execute(
            "SELECT seq, data FROM ledger WHERE seq > ? ORDER BY seq LIMIT 5000", (after,)
        ).fetchall()
        if not page:
            return
        rows = PendingRows()
        for seq, data in page:
            after = seq
            record = record_from_dict(orjson.loads(data))
            rows.report(record, windows_at(record.timestamp), month_counters(record))
        rows.write_reports(conn)


__all__ = [
    "INSERT_LABEL",
    "REPORT_SCHEMA",
    "UPSERT_MONTH",
    "UPSERT_TAG_MONTH",
    "UPSERT_TENANT_DAY",
    "UPSERT_YEAR",
]
