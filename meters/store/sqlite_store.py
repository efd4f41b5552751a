"""Embedded backend: one SQLite file in WAL mode, shared by every worker process on a host.

Each store owns one connection used by one dedicated thread, so the event loop never
waits on SQLite's lock; each metering call is one short `BEGIN IMMEDIATE` transaction,
which makes check-and-reserve atomic across processes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from meters.limits import Quantity, Scope
from meters.store.base import (
    Amounts,
    Reservation,
    ReserveOutcome,
    Store,
    StoreUnavailable,
    reservation_id_of,
)
from meters.store.checks import decide, lease_size, plan_checks, request_units, scaled_units
from meters.store.portions import LEASE_SHARE, Units, split_portion
from meters.store.sqlite_counting import count_batch, take_portion
from meters.store.sqlite_directory import SqliteDirectory
from meters.store.sqlite_reports import SqliteReports
from meters.store.sqlite_rows import HOLD, UPSERT_COUNTER, unhold
from meters.store.sqlite_schema import BUSY_TIMEOUT_MS, INLINE_BUSY_TIMEOUT_MS, connect
from meters.store.windows import windows_at
from meters.usage import UsageRecord

T = TypeVar("T")
_CLEANUP_EVERY_S = 60.0
_HELD = (Quantity.TOKENS, Quantity.SPEND, Quantity.GCO2E)  # what a reservation holds until settled
_DELETE_RESERVATION = "DELETE FROM reservations WHERE id = ? RETURNING scopes, tokens, spend, gco2e"
_DELETE_EXPIRED = (
    "DELETE FROM reservations WHERE tenant_id = ? AND expires_at <= ? RETURNING scopes, tokens, spend, gco2e"
)


class SqliteStore(SqliteDirectory, SqliteReports, Store):
    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        ledger_retention_days: int = 400,
        idempotency_ttl_s: float = 7 * 86400,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        self.path = path
        self._clock = clock
        self._retention_s = ledger_retention_days * 86400
        self._idempotency_ttl_s = idempotency_ttl_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cg-sqlite")
        self._thread_conn = self._executor.submit(connect, path, busy_timeout_ms).result()
        # The hot-path operations (key lookup, reserve, release) run on the event loop's own
        # thread with a connection of their own: a hop to the store thread costs ~100 µs here,
        # more than the SQL. Their lock wait is capped; past it they retry on the store thread.
        self._inline_thread = threading.get_ident()
        self._inline_conn = connect(path, INLINE_BUSY_TIMEOUT_MS)
        # WAL checkpoints (with their fsync) happen on the store thread's commits, never on the loop.
        self._inline_conn.execute("PRAGMA wal_autocheckpoint = 0")
        self._next_cleanup = 0.0

    @property
    def _conn(self) -> sqlite3.Connection:
        # Each thread uses its own connection, so transactions never interleave.
        return self._inline_conn if threading.get_ident() == self._inline_thread else self._thread_conn

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except sqlite3.OperationalError as exc:
            # e.g. "database is locked" past busy_timeout, or a full/readonly disk.
            raise StoreUnavailable(f"embedded store {self.path}: {exc}") from exc

    async def _run_inline(self, fn: Callable[..., T], *args: Any) -> T:
        """Short operations on the loop thread; a busy database sends them to the store thread."""
        if threading.get_ident() != self._inline_thread:
            return await self._run(fn, *args)
        try:
            return fn(*args)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise StoreUnavailable(f"embedded store {self.path}: {exc}") from exc
        # BEGIN IMMEDIATE failed before any change: waiting for the lock off the loop is safe.
        return await self._run(fn, *args)

    @contextmanager
    def _write(self) -> Iterator[Any]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def ping(self) -> bool:
        return await self._run(lambda: self._conn.execute("SELECT 1").fetchone() == (1,))

    async def close(self) -> None:
        if self._executor is None:
            return
        await self._run(self._thread_conn.close)
        self._inline_conn.close()
        self._executor.shutdown(wait=True)
        self._executor = None  # type: ignore[assignment]

    # metering

    async def reserve(
        self,
        tenant_id: str,
        *,
        key_id: str | None,
        model: str,
        amounts: Amounts,
        scopes: list[Scope],
        ttl_s: float = 120.0,
        downgraded: bool = False,
        lease: int = 0,
    ) -> ReserveOutcome:
        return await self._run_inline(
            self._reserve_sync, tenant_id, key_id, model, amounts, scopes, ttl_s, downgraded, lease
        )

    def _reserve_sync(
        self,
        tenant_id: str,
        key_id: str | None,
        model: str,
        amounts: Amounts,
        scopes: list[Scope],
        ttl_s: float,
        downgraded: bool,
        lease: int = 0,
    ) -> ReserveOutcome:
        now = self._clock()
        windows = windows_at(now)
        checks = plan_checks(scopes, windows, downgraded)
        units = request_units(amounts)
        scope_ids = list(dict.fromkeys(scope.scope_id for scope in scopes))
        with self._write() as conn:
            self._purge_expired(conn, tenant_id, now)
            used, month_g = self._counters_for(conn, tenant_id, scope_ids, windows)
            held = self._held_for(conn, scope_ids)
            currents = [
                used.get((check.scope_id, check.window_id, check.quantity), 0)
                + held.get((check.scope_id, check.quantity), 0)
                for check in checks
            ]
            count = 1
            if lease >= 2:
                count = lease_size(checks, currents, units, lease, LEASE_SHARE)
                if count < 2:
                    return ReserveOutcome(False, None)  # refused, nothing blocked: reserve one
                units = scaled_units(units, count)
            blocked, warnings, snapshot = decide(checks, currents, units, windows, now, month_g)
            if blocked:
                return ReserveOutcome(False, None, blocked, warnings, snapshot)
            reservation = Reservation(
                uuid.uuid4().hex, tenant_id, tuple(scope_ids), amounts, now + ttl_s, model, key_id, count
            )
            conn.execute(
                "INSERT INTO reservations (id, tenant_id, scopes, expires_at, tokens, spend, gco2e) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    reservation.reservation_id,
                    tenant_id,
                    "\n".join(scope_ids),
                    reservation.expires_at,
                    *(units[quantity] for quantity in _HELD),
                ),
            )
            # Requests count when they start: a request that later fails still used the rate.
            conn.executemany(
                UPSERT_COUNTER,
                [(s, windows.minute, Quantity.REQUESTS, count, windows.minute_end) for s in scope_ids],
            )
            conn.executemany(HOLD, [(s, *(units[quantity] for quantity in _HELD)) for s in scope_ids])
        return ReserveOutcome(True, reservation, [], warnings, snapshot)

    @staticmethod
    def _counters_for(
        conn: Any, tenant_id: str, scope_ids: list[str], windows: Any
    ) -> tuple[dict[tuple[str, str, str], int], int]:
        """Every current-window counter of these scopes, and the tenant's month gCO2e: one query."""
        marks = ", ".join("?" for _ in scope_ids)
        month = windows.month[2:]
        days = (f"{month}-01", f"{month}-31")
        counters: dict[tuple[str, str, str], int] = {}
        month_g = 0
        for scope, window, quantity, value in conn.execute(
            f"SELECT scope, window, quantity, value FROM counters "
            f"WHERE scope IN ({marks}) AND window IN (?, ?, ?) UNION ALL "
            "SELECT NULL, NULL, NULL, COALESCE(SUM(g), 0) FROM usage_model_day "
            "WHERE tenant_id = ? AND day >= ? AND day <= ?",
            (*scope_ids, windows.minute, windows.day, windows.month, tenant_id, *days),
        ):
            if scope is None:
                month_g = value
            else:
                counters[(scope, window, quantity)] = value
        return counters, month_g

    @staticmethod
    def _held_for(conn: Any, scope_ids: list[str]) -> dict[tuple[str, str], int]:
        """What live reservations hold per scope (requests are counted at reserve time, not held)."""
        marks = ", ".join("?" for _ in scope_ids)
        held: dict[tuple[str, str], int] = {}
        for scope, *values in conn.execute(
            f"SELECT scope, tokens, spend, gco2e FROM held WHERE scope IN ({marks})", scope_ids
        ):
            for quantity, value in zip(_HELD, values, strict=True):
                held[(scope, quantity)] = value
        return held

    @staticmethod
    def _purge_expired(conn: Any, tenant_id: str, now: float) -> None:
        expired = conn.execute(_DELETE_EXPIRED, (tenant_id, now)).fetchall()
        if expired:
            unhold(conn, expired)

    @staticmethod
    def _drop_reservation(conn: Any, reservation_id: str) -> None:
        """Delete one reservation (if still there) and free what it held."""
        dropped = conn.execute(_DELETE_RESERVATION, (reservation_id,)).fetchall()
        if dropped:
            unhold(conn, dropped)

    async def settle(self, reservation: Reservation | str | None, record: UsageRecord) -> bool:
        return await self._run(self._count_sync, reservation_id_of(reservation), record)

    async def record(self, record: UsageRecord) -> bool:
        return await self._run(self._count_sync, None, record)

    async def count_many(self, items: list[tuple[str | None, UsageRecord]]) -> list[bool]:
        # One transaction for a batch: the per-commit fsync and executor hop dominate a single record.
        return await self._run(self._count_many_sync, items)

    def _count_many_sync(self, items: list[tuple[str | None, UsageRecord]]) -> list[bool]:
        now = self._clock()
        with self._write() as conn:
            counted, rows = count_batch(conn, items, now, self._idempotency_ttl_s)
            rows.write(conn)
        self._maybe_cleanup(now)
        return counted

    def _count_sync(self, reservation_id: str | None, record: UsageRecord) -> bool:
        return self._count_many_sync([(reservation_id, record)])[0]

    def _maybe_cleanup(self, now: float) -> None:
        """Bound the tables: old limit counters, idempotency marks, ledger and daily rows past retention."""
        if now < self._next_cleanup:
            return
        self._next_cleanup = now + _CLEANUP_EVERY_S
        cutoff_day = windows_at(now - self._retention_s).day[1:]
        with self._write() as conn:
            # Expired reservations of every tenant; then scopes nothing is held in any more.
            expired = conn.execute(
                "DELETE FROM reservations WHERE expires_at <= ? RETURNING scopes, tokens, spend, gco2e",
                (now,),
            ).fetchall()
            unhold(conn, expired)
            conn.execute("DELETE FROM held WHERE tokens = 0 AND spend = 0 AND gco2e = 0")
            conn.execute("DELETE FROM counters WHERE expires_at < ?", (now,))
            conn.execute("DELETE FROM settled WHERE expires_at < ?", (now,))
            conn.execute("DELETE FROM ledger WHERE ts < ?", (now - self._retention_s,))
            conn.execute("DELETE FROM usage_model_day WHERE day < ?", (cutoff_day,))
            conn.execute("DELETE FROM usage_tag_day WHERE day < ?", (cutoff_day,))

    async def release(self, reservation: Reservation | str | None) -> None:
        reservation_id = reservation_id_of(reservation)
        if not reservation_id:
            return

        row_id, portion = split_portion(reservation_id)

        def release() -> None:
            with self._write() as conn:
                if portion is None:
                    self._drop_reservation(conn, reservation_id)
                else:
                    self._take(conn, row_id, portion)

        await self._run_inline(release)

    async def return_lease(self, lease_id: str, requests: int, units: Units, minute: str) -> None:
        def give_back() -> None:
            with self._write() as conn:
                scopes = self._take(conn, lease_id, units)
                if scopes and requests:
                    conn.executemany(
                        "UPDATE counters SET value = value - ? WHERE scope = ? AND window = ? AND quantity = ?",
                        [(requests, scope, minute, Quantity.REQUESTS) for scope in scopes],
                    )

        await self._run_inline(give_back)

    @staticmethod
    def _take(conn: Any, row_id: str, units: Units) -> list[str]:
        """Take `units` off a lease and off what its scopes hold; its scopes (none if it is gone)."""
        scopes = take_portion(conn, row_id, units)
        if scopes is None:
            return []
        unhold(conn, [(scopes, *units)])
        return scopes.split("\n")

    async def outstanding_reservations(self, tenant_id: str) -> int:
        def count() -> int:
            now = self._clock()
            with self._write() as conn:
                self._purge_expired(conn, tenant_id, now)
                return conn.execute(
                    "SELECT COUNT(*) FROM reservations WHERE tenant_id = ?", (tenant_id,)
                ).fetchone()[0]

        return await self._run(count)
