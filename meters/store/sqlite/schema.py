"""The embedded store's SQLite schema and connection settings.

WAL mode lets readers run beside the one writer; every metering change is one short
`BEGIN IMMEDIATE` transaction, which takes the write lock up front so concurrent
processes serialise instead of failing with SQLITE_BUSY on lock upgrade.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from meters.store.sqlite.reports_schema import REPORT_SCHEMA, rebuild_from_ledger
from meters.store.sqlite.rows import HOLD

BUSY_TIMEOUT_MS = 30_000
# PRAGMA user_version; 0 = before the `held` table, 1 = before the monthly report aggregates,
# 2 = before the daily usage rows' known counts (enk/wak)
SCHEMA_VERSION = 3
# On the event loop: a locked database (the usage writer's transaction) is not waited for; the operation
# retries on the store thread at once, so the loop is held for a transaction's own work only.
INLINE_BUSY_TIMEOUT_MS = 0

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS tenants (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE, tenant_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant_id);
-- Limit counters: one row per scope x window x quantity; expires_at only bounds the table.
CREATE TABLE IF NOT EXISTS counters (
    scope TEXT NOT NULL, window TEXT NOT NULL, quantity TEXT NOT NULL,
    value INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, window, quantity)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS counters_expiry ON counters (expires_at);
-- A live reservation: its scopes (newline-separated) and what it holds in each of them.
CREATE TABLE IF NOT EXISTS reservations (
    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, scopes TEXT NOT NULL, expires_at REAL NOT NULL,
    tokens INTEGER NOT NULL DEFAULT 0, spend INTEGER NOT NULL DEFAULT 0, gco2e INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS reservations_tenant ON reservations (tenant_id, expires_at);
-- What the live reservations of each scope hold together: added at reserve, taken off when a
-- reservation is settled, released or purged as expired (so checks never sum reservations).
CREATE TABLE IF NOT EXISTS held (
    scope TEXT PRIMARY KEY, tokens INTEGER NOT NULL, spend INTEGER NOT NULL, gco2e INTEGER NOT NULL
) WITHOUT ROWID;
-- Requests counted (for idempotency): `request_id` holds "<tenant>|<request id>" (records.counted_key).
CREATE TABLE IF NOT EXISTS settled (request_id TEXT PRIMARY KEY, expires_at REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS settled_expiry ON settled (expires_at);
CREATE TABLE IF NOT EXISTS usage_model_day (
    tenant_id TEXT NOT NULL, day TEXT NOT NULL, model TEXT NOT NULL,
    req INTEGER NOT NULL DEFAULT 0, pt INTEGER NOT NULL DEFAULT 0, ct INTEGER NOT NULL DEFAULT 0,
    g INTEGER NOT NULL DEFAULT 0, gmin INTEGER NOT NULL DEFAULT 0, gmax INTEGER NOT NULL DEFAULT 0,
    en INTEGER NOT NULL DEFAULT 0, wa INTEGER NOT NULL DEFAULT 0, sp INTEGER NOT NULL DEFAULT 0,
    enk INTEGER NOT NULL DEFAULT 0, wak INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, model)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage_tag_day (
    tenant_id TEXT NOT NULL, day TEXT NOT NULL, tag TEXT NOT NULL,
    req INTEGER NOT NULL DEFAULT 0, pt INTEGER NOT NULL DEFAULT 0, ct INTEGER NOT NULL DEFAULT 0,
    g INTEGER NOT NULL DEFAULT 0, gmin INTEGER NOT NULL DEFAULT 0, gmax INTEGER NOT NULL DEFAULT 0,
    en INTEGER NOT NULL DEFAULT 0, wa INTEGER NOT NULL DEFAULT 0, sp INTEGER NOT NULL DEFAULT 0,
    enk INTEGER NOT NULL DEFAULT 0, wak INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, tag)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, ts REAL NOT NULL,
    request_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_tenant_ts ON ledger (tenant_id, ts);
CREATE INDEX IF NOT EXISTS ledger_ts ON ledger (ts);
CREATE INDEX IF NOT EXISTS ledger_request ON ledger (request_id, tenant_id);
"""
    + REPORT_SCHEMA
)


def connect(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    _enter_wal(conn, busy_timeout_ms)
    # NORMAL in WAL: durable across process crashes; a power cut may lose the last commits.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(SCHEMA)
    if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        _migrate(conn)
    return conn


def _enter_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """Switch to WAL. SQLite does not run the busy handler for this pragma while another process is
    opening or checkpointing the same file ("database is locked" at once), so retry it until the
    busy timeout has passed, like any other statement would wait."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring an older file to SCHEMA_VERSION, once, under the write lock (workers connect at once)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version < 1:
            _held_from_reserved(conn)
        if version < 2:
            rebuild_from_ledger(conn)
        if version < 3:
            _known_counts(conn)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _known_counts(conn: sqlite3.Connection) -> None:
    """Version 2's daily usage rows had no `enk`/`wak` (requests whose energy/water was known) and stored an
    unknown figure as 0: add the columns and count a row's energy (water) as known for all its requests
    when its sum is above 0, else as unknown for all of them (records.known_counts, the same rule)."""
    for table in ("usage_model_day", "usage_tag_day"):
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if "enk" in columns:  # created by this version: nothing older to count
            continue
        for known, total in (("enk", "en"), ("wak", "wa")):
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {known} INTEGER NOT NULL DEFAULT 0")
            conn.execute(f"UPDATE {table} SET {known} = req WHERE {total} > 0")


def _held_from_reserved(conn: sqlite3.Connection) -> None:
    """Version 0 kept one `reserved` row per reservation x scope: fold its rows into the
    reservations' amounts and the `held` table, then drop it (so nothing counts twice)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(reservations)")}
    for column in ("tokens", "spend", "gco2e"):
        if column not in columns:
            conn.execute(f"ALTER TABLE reservations ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'reserved'").fetchone():
        return
    conn.execute(
        "UPDATE reservations SET (tokens, spend, gco2e) = "
        "(SELECT tokens, spend, gco2e FROM reserved WHERE reservation_id = reservations.id LIMIT 1) "
        "WHERE id IN (SELECT reservation_id FROM reserved)"
    )
    rows = conn.execute(
        "SELECT scope, SUM(tokens), SUM(spend), SUM(gco2e) FROM reserved "
        "WHERE reservation_id IN (SELECT id FROM reservations) GROUP BY scope"
    ).fetchall()
    conn.executemany(HOLD, rows)
    conn.execute("DROP TABLE reserved")
