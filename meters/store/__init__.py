"""Tenants, keys, limit counters, usage aggregates and the ledger: one interface, two backends.

`open_store(redis_url)` picks Redis when a URL is given (shared by every replica), else
the embedded SQLite store in the state directory (shared by the workers of one host).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from meters.store.base import (
    Amounts,
    Exceeded,
    RateSnapshot,
    Reservation,
    ReserveOutcome,
    Store,
    StoreUnavailable,
)

__all__ = [
    "Amounts",
    "Exceeded",
    "RateSnapshot",
    "Reservation",
    "ReserveOutcome",
    "Store",
    "StoreUnavailable",
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
    ledger_retention_days: int = 400,
    idempotency_ttl_s: float = 7 * 86400,
    clock: Callable[[], float] = time.time,
    lease_requests: int = 0,
    lease_s: float = 0.5,
) -> Store:
    """Open the Redis store at `redis_url`, or the embedded store in `state_dir`.

    Redis: `prefix` namespaces every key; `on_failure` is `fail_open` (serve and journal
    usage to `journal_path`, default `<state_dir>/redis-journal.jsonl`, at most
    `journal_max` records, replayed when Redis is back) or `fail_closed` (raise
    StoreUnavailable). `clock` exists for tests of windows and expiry.
    `lease_requests` >= 2 puts a `LeasingStore` in front: requests are admitted from leases of
    up to that many requests' worth, each lasting at most `lease_s` (see `meters.store.portions`).
    """
    store = await _open_backend(
        redis_url,
        state_dir=state_dir,
        prefix=prefix,
        on_failure=on_failure,
        journal_path=journal_path,
        journal_max=journal_max,
        ledger_retention_days=ledger_retention_days,
        idempotency_ttl_s=idempotency_ttl_s,
        clock=clock,
    )
    if lease_requests >= 2:
        from meters.store.leasing import LeasingStore

        return LeasingStore(store, lease_requests=lease_requests, lease_s=lease_s, clock=clock)
    return store


async def _open_backend(
    redis_url: str | None,
    *,
    state_dir: str | os.PathLike[str] | None,
    prefix: str,
    on_failure: str,
    journal_path: str | os.PathLike[str] | None,
    journal_max: int,
    ledger_retention_days: int,
    idempotency_ttl_s: float,
    clock: Callable[[], float],
) -> Store:
    if on_failure not in FAILURE_MODES:
        raise ValueError(f"store.on_failure must be one of {FAILURE_MODES}, got {on_failure!r}")
    directory = Path(state_dir) if state_dir is not None else default_state_dir()
    if redis_url:
        from meters.store.redis_store import RedisStore

        return await RedisStore.open(
            redis_url,
            prefix=prefix,
            on_failure=on_failure,
            journal_path=Path(journal_path) if journal_path else directory / "redis-journal.jsonl",
            journal_max=journal_max,
            ledger_retention_days=ledger_retention_days,
            idempotency_ttl_s=idempotency_ttl_s,
            clock=clock,
        )
    from meters.store.sqlite_store import SqliteStore

    return SqliteStore(
        directory / SQLITE_FILENAME,
        clock=clock,
        ledger_retention_days=ledger_retention_days,
        idempotency_ttl_s=idempotency_ttl_s,
    )
