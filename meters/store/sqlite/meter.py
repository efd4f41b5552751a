"""The embedded store's meter: limits checked and usage counted in SQLite transactions."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from meters.limits import Quantity, Scope
from meters.store.aggregates import DEFAULT_MONTHLY_RETENTION_MONTHS, check_retention
from meters.store.checks import decide, lease_size, plan_checks, request_units, scaled_units
from meters.store.interfaces import CountItem, Meter
from meters.store.portions import LEASE_SHARE, Units, split_portion
from meters.store.retention import AGGREGATE_RETENTION_DAYS, LEDGER_RETENTION_DAYS
from meters.store.sqlite.counting import count_batch, prepare, take_portion
from meters.store.sqlite.database import SqliteDatabase
from meters.store.sqlite.rows import HOLD, UPSERT_COUNTER, unhold
from meters.store.values import Amounts, Reservation, ReserveOutcome
from meters.store.windows import Windows, first_kept_month, windows_at

_CLEANUP_EVERY_S = 60.0
_TRIM_BATCH = 5000  # ledger rows deleted per transaction
_HELD = (Quantity.TOKENS, Quantity.SPEND, Quantity.GCO2E)  # what a reservation holds until settled
_DELETE_RESERVATION = "DELETE FROM reservations WHERE id = ? RETURNING scopes, tokens, spend, gco2e"
_DELETE_EXPIRED = (
    "DELETE FROM reservations WHERE tenant_id = ? AND expires_at <= ? RETURNING scopes, tokens, spend, gco2e"
)


class SqliteMeter(Meter):
    def __init__(
        self,
        db: SqliteDatabase,
        *,
        clock: Callable[[], float] = time.time,
        ledger_retention_days: int = LEDGER_RETENTION_DAYS,
        idempotency_ttl_s: float = 7 * 86400,
        monthly_retention_months: int = DEFAULT_MONTHLY_RETENTION_MONTHS,
    ) -> None:
        self._db = db
        self._monthly_retention = check_retention(monthly_retention_months)
        self._clock = clock
        self._retention_s = ledger_retention_days * 86400
        self._idempotency_ttl_s = idempotency_ttl_s
        self._next_cleanup = 0.0

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
        return await self._db.run_inline(
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
        with self._db.write() as conn:
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
        conn: Any, tenant_id: str, scope_ids: list[str], windows: Windows
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

    async def count_many(self, items: list[CountItem]) -> list[bool]:
        # One transaction for a batch: the per-commit fsync and executor hop dominate a single record.
        return await self._db.run(self._count_many_sync, items)

    def _count_many_sync(self, items: list[CountItem]) -> list[bool]:
        # Checked and prepared in the writer's thread before the transaction; the counters are the ones counted.
        prepared = prepare(record for _, record in items)
        now = self._clock()
        with self._db.write() as conn:
            counted, rows = count_batch(conn, items, prepared, now, self._idempotency_ttl_s)
            rows.write(conn)
        self._maybe_cleanup(now)
        return counted

    def _maybe_cleanup(self, now: float) -> None:
        """Bound the tables (in the writer's executor thread, never on the event loop): old limit counters,
        idempotency marks, the ledger past `ledger_retention_days` and daily aggregates past 400 days."""
        if now < self._next_cleanup:
            return
        self._next_cleanup = now + _CLEANUP_EVERY_S
        cutoff_day = windows_at(now - AGGREGATE_RETENTION_DAYS * 86400).day[1:]
        with self._db.write() as conn:
            # Expired reservations of every tenant; then scopes nothing is held in any more.
            expired = conn.execute(
                "DELETE FROM reservations WHERE expires_at <= ? RETURNING scopes, tokens, spend, gco2e",
                (now,),
            ).fetchall()
            unhold(conn, expired)
            conn.execute("DELETE FROM held WHERE tokens = 0 AND spend = 0 AND gco2e = 0")
            conn.execute("DELETE FROM counters WHERE expires_at < ?", (now,))
            conn.execute("DELETE FROM settled WHERE expires_at < ?", (now,))
            conn.execute("DELETE FROM usage_model_day WHERE day < ?", (cutoff_day,))
            conn.execute("DELETE FROM usage_tag_day WHERE day < ?", (cutoff_day,))
            # Monthly report aggregates: their own retention (>= 13 months), whatever the ledger's.
            first_month = first_kept_month(now, self._monthly_retention)
            conn.execute("DELETE FROM usage_month WHERE month < ?", (first_month,))
            conn.execute("DELETE FROM usage_tag_month WHERE month < ?", (first_month,))
            conn.execute("DELETE FROM usage_year WHERE last_month < ?", (first_month,))
            conn.execute("DELETE FROM usage_tenant_day WHERE day < ?", (first_month,))
        self.trim_ledger(now - self._retention_s)

    def trim_ledger(self, before_ts: float) -> int:
        """Delete ledger entries older than `before_ts` in batches, one short transaction each (other
        writers go in between), so a first trim of a long ledger never holds the database for long."""
        deleted = 0
        while True:
            with self._db.write() as conn:
                batch = conn.execute(
                    "DELETE FROM ledger WHERE rowid IN (SELECT rowid FROM ledger WHERE ts < ? LIMIT ?)",
                    (before_ts, _TRIM_BATCH),
                ).rowcount
            deleted += batch
            if batch < _TRIM_BATCH:
                return deleted

    async def release(self, reservation: Reservation | str | None) -> None:
        reservation_id = reservation.reservation_id if isinstance(reservation, Reservation) else reservation
        if not reservation_id:
            return

        row_id, portion = split_portion(reservation_id)

        def release() -> None:
            with self._db.write() as conn:
                if portion is None:
                    self._drop_reservation(conn, reservation_id)
                else:
                    self._take(conn, row_id, portion)

        await self._db.run(release)  # nothing waits for it but a failed request's error answer

    async def return_lease(self, lease_id: str, requests: int, units: Units, minute: str) -> None:
        def give_back() -> None:
            with self._db.write() as conn:
                scopes = self._take(conn, lease_id, units)
                if scopes and requests:
                    conn.executemany(
                        "UPDATE counters SET value = value - ? WHERE scope = ? AND window = ? AND quantity = ?",
                        [(requests, scope, minute, Quantity.REQUESTS) for scope in scopes],
                    )

        await self._db.run(give_back)  # in the background: off the loop

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
            with self._db.write() as conn:
                self._purge_expired(conn, tenant_id, now)
                row = conn.execute(
                    "SELECT COUNT(*) FROM reservations WHERE tenant_id = ?", (tenant_id,)
                ).fetchone()
                return int(row[0])

        return await self._db.run(count)
