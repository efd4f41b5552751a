"""Embedded store file format: a file from before the `held` table keeps its live reservations."""

from __future__ import annotations

import sqlite3

from meters.limits import Limits, Scope
from meters.store import Amounts
from meters.store.sqlite import open_sqlite
from meters.store.sqlite.schema import SCHEMA_VERSION
from tests.support.stores import T0, make_record

# Version 0 (user_version 0): one `reserved` row per reservation x scope, amounts not on the reservation.
_V0_SCHEMA = """
CREATE TABLE reservations (
    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, scopes TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX reservations_tenant ON reservations (tenant_id, expires_at);
CREATE TABLE reserved (
    scope TEXT NOT NULL, reservation_id TEXT NOT NULL,
    tokens INTEGER NOT NULL, spend INTEGER NOT NULL, gco2e INTEGER NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (scope, reservation_id)) WITHOUT ROWID;
CREATE INDEX reserved_reservation ON reserved (reservation_id);
"""
SCOPES = [
    Scope("t:acme", Limits.from_config({"tokens_per_minute": 1000}, "acme")),
    Scope("m:acme:small", Limits()),
]


def _v0_file(path, reservations):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(_V0_SCHEMA)
    for reservation_id, tokens, expires_at in reservations:
        conn.execute(
            "INSERT INTO reservations VALUES (?, 'acme', ?, ?)",
            (reservation_id, "t:acme\nm:acme:small", expires_at),
        )
        for scope in ("t:acme", "m:acme:small"):
            conn.execute(
                "INSERT INTO reserved VALUES (?, ?, ?, 0, 0, ?)", (scope, reservation_id, tokens, expires_at)
            )
    conn.close()


async def _reserve(store, tokens):
    return await store.meter.reserve(
        "acme", key_id=None, model="small", amounts=Amounts(tokens=tokens), scopes=SCOPES
    )


async def test_live_reservations_of_an_old_file_are_held_once_and_freed(tmp_path):
    path = tmp_path / "state.sqlite3"
    _v0_file(path, [("short", 300, T0 + 10), ("long", 400, T0 + 1000)])
    now = [T0]
    store = open_sqlite(path, clock=lambda: now[0])
    again = open_sqlite(path, clock=lambda: now[0])  # a second worker opening the same file migrates nothing
    assert not (await _reserve(store, 301)).ok  # 300 + 400 still held
    now[0] += 20  # "short" expires: purged before the check
    ok = await _reserve(again, 600)
    assert ok.ok and ok.snapshot.tokens_remaining == 0
    await store.meter.settle("long", make_record("acme", timestamp=now[0], prompt_tokens=0, completion_tokens=0))
    await store.meter.release(ok.reservation)
    assert await store.meter.outstanding_reservations("acme") == 0
    full = await _reserve(store, 1000)
    assert full.ok and full.snapshot.tokens_remaining == 0
    await store.close()
    await again.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'reserved'").fetchall() == []
    conn.close()


async def test_a_version_1_file_gets_its_monthly_aggregates_from_the_ledger(tmp_path):
    """Schema 2 adds the reports' monthly aggregates: an older file has them rebuilt from its ledger, once."""
    from meters.store.reporting import store_report

    path = tmp_path / "v1.sqlite3"
    store = open_sqlite(path)
    assert await store.meter.record(make_record("acme", prompt_tokens=100, completion_tokens=0, tags={"b": "1"}))
    await store.close()
    conn = sqlite3.connect(path)
    for table in ("usage_month", "usage_year", "usage_tag_month", "usage_tenant_day", "report_labels"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    upgraded = open_sqlite(path)
    built = await store_report(upgraded, "2030", catalogue_version="c", gateway_version="g")
    assert [(line.tenant, line.tokens_in) for line in built.lines] == [("acme", 100)]
    assert [(tag.tenant, tag.tag) for tag in built.tags] == [("acme", "b=1")]
    await upgraded.close()
