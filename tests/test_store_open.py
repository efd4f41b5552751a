"""open_store: backend choice, state directory, option validation."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from meters.limits import Limits, Scope
from meters.store import Amounts, StoreUnavailable, open_store
from meters.store.redis import RedisConnection
from meters.store.sqlite import SqliteDatabase, open_sqlite
from tests.support.stores import REDIS_URL, make_record


async def test_embedded_store_lives_in_the_state_dir_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CARBON_GATEWAY_STATE_DIR", str(tmp_path / "state"))
    store = await open_store(None)
    assert isinstance(store.backend, SqliteDatabase) and store.backend.name == "embedded"
    path = store.backend.path
    assert path == tmp_path / "state" / "carbon-gateway.sqlite3" and path.exists()
    assert await store.ping()
    await store.close()


async def test_redis_url_selects_redis_with_any_db_index(tmp_path):
    store = await open_store(REDIS_URL.rsplit("/", 1)[0] + "/3", state_dir=tmp_path, prefix="cgtest-open:")
    assert isinstance(store.backend, RedisConnection) and await store.ping()
    assert store.backend.journal.path == tmp_path / "redis-journal.jsonl"
    await store.close()


async def test_unknown_failure_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="on_failure must be one of"):
        await open_store(None, state_dir=tmp_path, on_failure="fail_sideways")


async def test_embedded_store_locked_past_busy_timeout_is_unavailable(tmp_path):
    store = open_sqlite(tmp_path / "db.sqlite3", busy_timeout_ms=50)
    other = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    with pytest.raises(StoreUnavailable, match="locked"):
        await store.meter.record(make_record("acme"))
    other.execute("ROLLBACK")
    assert await store.meter.record(make_record("acme"))
    other.close()
    await store.close()


async def test_a_reservation_on_a_locked_embedded_store_waits_off_the_loop(tmp_path):
    """The loop thread's connection never waits for SQLite's lock (another process's, or the usage writer's): a
    reservation (here a lease, the dearest) made while the lock is held moves to the store thread at once and
    waits there; the loop goes on running, and the reservation is granted once the lock is released."""
    store = open_sqlite(tmp_path / "db.sqlite3")
    assert store.backend.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 0  # the loop thread's connection
    other = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    reserving = asyncio.create_task(
        store.meter.reserve(
            "acme",
            key_id=None,
            model="small",
            amounts=Amounts(tokens=10),
            scopes=[Scope("t:acme", Limits.from_config({"tokens_per_day": 1000}, "test"))],
            lease=8,
        )
    )
    await asyncio.sleep(0.1)
    assert not reserving.done()  # the loop ran on (the sleep returned) while the reservation waited for the lock
    other.execute("ROLLBACK")
    outcome = await reserving
    assert outcome.ok and outcome.reservation is not None and outcome.reservation.requests == 8
    other.close()
    await store.close()
