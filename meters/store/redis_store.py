"""Redis backend: shared by every replica; atomic through Lua scripts (see redis_scripts).

When Redis is unreachable, `fail_open` lets requests through (`degraded=True`) and
journals their usage locally for replay; `fail_closed` raises StoreUnavailable.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from meters.limits import Scope, default_scope_ids
from meters.store import redis_scripts
from meters.store.base import (
    Amounts,
    Reservation,
    ReserveOutcome,
    Store,
    StoreUnavailable,
    reservation_id_of,
)
from meters.store.checks import decide, plan_checks, request_units, scaled_units
from meters.store.journal import Journal
from meters.store.portions import LEASE_SHARE, Units
from meters.store.records import (
    COUNTER_FIELDS,
    build_usage_report,
    record_from_dict,
    record_to_dict,
    tag_labels,
    usage_counters,
)
from meters.store.redis_directory import RedisDirectory
from meters.store.redis_encoding import packed_args, usage_rows
from meters.store.windows import day_end_ts, period_days, windows_at
from meters.usage import UsageRecord

log = logging.getLogger(__name__)
T = TypeVar("T")
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
_COUNTER_MARGIN_S = 120
_DEGRADED = "degraded-"
_LEDGER_PAGE = 500
_JOURNAL_CHECK_EVERY_S = 5.0


class RedisStore(RedisDirectory, Store):
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str,
        on_failure: str,
        journal: Journal,
        ledger_retention_days: int,
        idempotency_ttl_s: float,
        clock: Callable[[], float],
    ) -> None:
        self._redis = client
        self.prefix = prefix
        self.on_failure = on_failure
        self.journal = journal
        self._retention_s = ledger_retention_days * 86400
        self._idempotency_ttl_s = int(idempotency_ttl_s)
        self._clock = clock
        # Registered once; redis-py runs them with EVALSHA and loads them again after a restart.
        self._reserve = client.register_script(redis_scripts.RESERVE)
        self._settle = client.register_script(redis_scripts.SETTLE)
        self._release = client.register_script(redis_scripts.RELEASE)
        self._return_lease = client.register_script(redis_scripts.RETURN_LEASE)
        self._outstanding = client.register_script(redis_scripts.OUTSTANDING)
        self._resolve = client.register_script(redis_scripts.RESOLVE_KEY)
        self._replaying: asyncio.Task[int] | None = None
        self._next_journal_check = 0.0  # monotonic; 0 = check on the next successful call

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        prefix: str,
        on_failure: str,
        journal_path: Path,
        journal_max: int,
        ledger_retention_days: int,
        idempotency_ttl_s: float,
        clock: Callable[[], float],
        connect_timeout_s: float = 0.5,
        command_timeout_s: float = 2.0,
        max_connections: int = 64,
    ) -> RedisStore:
        # A blocking pool makes bursts wait for a free connection instead of failing with
        # "Too many connections" (which would look like an outage and trip fail_open).
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=command_timeout_s,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=command_timeout_s,
            # One immediate retry replaces a connection Redis closed (e.g. it restarted);
            # an unreachable Redis then fails fast instead of backing off for seconds.
            retry=Retry(NoBackoff(), 1),
        )
        client = aioredis.Redis(connection_pool=pool)
        store = cls(
            client,
            prefix=prefix,
            on_failure=on_failure,
            journal=Journal(journal_path, journal_max),
            ledger_retention_days=ledger_retention_days,
            idempotency_ttl_s=idempotency_ttl_s,
            clock=clock,
        )
        if on_failure == "fail_closed" and not await store.ping():
            await client.aclose()
            raise StoreUnavailable(f"Redis at {client.get_connection_kwargs().get('host')} is unreachable")
        return store

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis operation; unreachable Redis becomes StoreUnavailable."""
        try:
            result = await operation()
        except _UNREACHABLE as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        if self._replaying is None and time.monotonic() >= self._next_journal_check:
            # Any worker may have journalled while Redis was down: look now and then, not per call.
            self._next_journal_check = time.monotonic() + _JOURNAL_CHECK_EVERY_S
            if self.journal.pending():
                self._replaying = asyncio.create_task(self._replay_in_background())
        return result

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except _UNREACHABLE:
            return False

    async def close(self) -> None:
        if self._replaying is not None:
            await asyncio.gather(self._replaying, return_exceptions=True)
        await self._redis.aclose()

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
        now = self._clock()
        windows = windows_at(now)
        checks = plan_checks(scopes, windows, downgraded)
        units = request_units(amounts)
        scope_ids = list(dict.fromkeys(scope.scope_id for scope in scopes))
        reservation = Reservation(
            uuid.uuid4().hex, tenant_id, tuple(scope_ids), amounts, now + ttl_s, model, key_id
        )
        args: list[Any] = [
            self.prefix,
            tenant_id,
            reservation.reservation_id,
            int(now * 1000),
            int(reservation.expires_at * 1000),
            units["tokens"],
            units["spend"],
            units["gco2e"],
            windows.minute,
            windows.minute_end + _COUNTER_MARGIN_S,
            windows.month[2:],
            len(checks),
        ]
        for check in checks:
            args += [
                check.scope_id,
                check.window_id,
                check.quantity.value,
                check.limit_units,
                int(check.blocks),
            ]
        args += [len(scope_ids), *scope_ids, lease, LEASE_SHARE]
        try:
            result = await self._call(lambda: self._reserve(args=packed_args(args)))
        except StoreUnavailable:
            if self.on_failure == "fail_closed":
                raise
            degraded = replace(reservation, reservation_id=_DEGRADED + reservation.reservation_id)
            return ReserveOutcome(True, degraded, degraded=True)
        reserved, month_g, currents = int(result[0]), int(result[1]), [int(c) for c in result[2:]]
        if lease >= 2:
            if not reserved:
                return ReserveOutcome(False, None)  # refused, nothing blocked: reserve one
            units = scaled_units(units, reserved)
            reservation = replace(reservation, requests=reserved)
        blocked, warnings, snapshot = decide(checks, currents, units, windows, now, month_g)
        if bool(blocked) == bool(reserved):
            raise AssertionError(f"Lua and Python disagree on limits: reserved={reserved}, blocked={blocked}")
        if blocked:
            return ReserveOutcome(False, None, blocked, warnings, snapshot)
        return ReserveOutcome(True, reservation, [], warnings, snapshot)

    async def release(self, reservation: Reservation | str | None) -> None:
        reservation_id = reservation_id_of(reservation)
        if not reservation_id or reservation_id.startswith(_DEGRADED):
            return
        try:
            await self._call(lambda: self._release(args=[self.prefix, reservation_id]))
        except StoreUnavailable:
            if self.on_failure == "fail_closed":
                raise
            # The reservation expires on its own once Redis is back.

    async def return_lease(self, lease_id: str, requests: int, units: Units, minute: str) -> None:
        args = [self.prefix, lease_id, requests, *units, minute]
        try:
            await self._call(lambda: self._return_lease(args=args))
        except StoreUnavailable:
            if self.on_failure == "fail_closed":
                raise
            # The lease expires on its own once Redis is back.

    async def settle(self, reservation: Reservation | str | None, record: UsageRecord) -> bool:
        return await self._count(reservation_id_of(reservation), record)

    async def record(self, record: UsageRecord) -> bool:
        return await self._count(None, record)

    async def _count(self, reservation_id: str | None, record: UsageRecord) -> bool:
        entry = {"reservation_id": reservation_id, "record": record_to_dict(record)}
        try:
            return await self._call(lambda: self._apply(entry))
        except StoreUnavailable:
            if self.on_failure == "fail_closed":
                raise
            self._next_journal_check = 0.0
            return self.journal.append(entry)  # False: the journal was full and the record is lost

    async def count_many(self, items: list[tuple[str | None, UsageRecord]]) -> list[bool]:
        """A batch in one round trip: the SETTLE scripts pipelined (not a transaction; each is atomic)."""
        entries = [{"reservation_id": rid, "record": record_to_dict(record)} for rid, record in items]
        try:
            return await self._call(lambda: self._apply_many(entries))
        except StoreUnavailable:
            if self.on_failure == "fail_closed":
                raise
            self._next_journal_check = 0.0
            # Some may have been counted before Redis went away: replay is idempotent on request_id.
            return [self.journal.append(entry) for entry in entries]

    async def _apply_many(self, entries: list[dict[str, Any]]) -> list[bool]:
        pipe = self._redis.pipeline(transaction=False)
        for entry in entries:
            await self._settle(args=packed_args(self._settle_args(entry)), client=pipe)
        return [bool(result) for result in await pipe.execute()]

    async def _apply(self, entry: dict[str, Any]) -> bool:
        """Count one settled/recorded request (a journal entry) with the SETTLE script."""
        return bool(await self._settle(args=packed_args(self._settle_args(entry))))

    def _settle_args(self, entry: dict[str, Any]) -> list[Any]:
        record = record_from_dict(entry["record"])
        now = self._clock()
        reservation_id = entry.get("reservation_id") or ""
        degraded = reservation_id.startswith(_DEGRADED)
        windows = windows_at(record.timestamp)
        counters = usage_counters(record)
        tags = tag_labels(record)
        day = windows.day[1:]
        args: list[Any] = [
            self.prefix,
            record.tenant_id,
            "" if degraded else reservation_id,
            record.request_id,
            self._idempotency_ttl_s,
            "1" if reservation_id and not degraded else "0",
            "\n".join(default_scope_ids(record.tenant_id, record.key_id, record.model)),
            windows.minute,
            windows.minute_end + _COUNTER_MARGIN_S,
            windows.day,
            windows.day_end + _COUNTER_MARGIN_S,
            windows.month,
            windows.month_end + _COUNTER_MARGIN_S,
            counters["pt"] + counters["ct"],
            counters["sp"],
            counters["g"],
            day,
            day_end_ts(day) + self._retention_s,
            windows.month[2:],
            record.model,
            orjson.dumps(entry["record"]),
            f"{int((now - self._retention_s) * 1000)}-0",
            int(now * 1000),
            len(tags),
            *(counters[field] for field in COUNTER_FIELDS),
            *tags,
        ]
        return args

    @property
    def replay_task(self) -> asyncio.Task[int] | None:
        """The background replay started by the last successful call, if one is running."""
        return self._replaying

    async def replay_journal(self) -> int:
        """Count every journalled record now; returns how many were replayed."""
        return await self.journal.replay(self._replay_entry)

    async def _replay_entry(self, entry: dict[str, Any]) -> None:
        await self._apply(entry)

    async def _replay_in_background(self) -> int:
        try:
            replayed = await self.replay_journal()
            if replayed:
                log.info("replayed %d journalled usage records into Redis", replayed)
            return replayed
        except _UNREACHABLE:
            self._next_journal_check = 0.0
            return 0
        except Exception:
            log.exception("replaying the usage journal failed")
            return 0
        finally:
            self._replaying = None

    async def usage(self, tenant_id: str, period: str) -> dict:
        days = period_days(period)

        async def read() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for day in days:
                    pipe.hgetall(f"{self.prefix}u:{tenant_id}|{day}")
                    pipe.hgetall(f"{self.prefix}ut:{tenant_id}|{day}")
                return await pipe.execute()

        raw = await self._call(read)
        model_rows = usage_rows(days, raw[0::2])
        tag_rows = usage_rows(days, raw[1::2])
        return build_usage_report(tenant_id, period, model_rows, tag_rows)

    async def ledger(self, tenant_id: str | None, start_ts: float, end_ts: float) -> AsyncIterator[dict]:
        if tenant_id is None:
            members = await self._call(lambda: self._redis.smembers(f"{self.prefix}ltenants"))
            tenants = sorted(m.decode() for m in members)
        else:
            tenants = [tenant_id]
        for tenant in tenants:
            async for entry in self._tenant_ledger(tenant, start_ts, end_ts):
                yield entry

    async def _tenant_ledger(self, tenant_id: str, start_ts: float, end_ts: float) -> AsyncIterator[dict]:
        # Entries are appended when a request is counted, which is never before it started
        # (a journal replay may be much later): start at start_ts, minus a minute of clock skew.
        cursor = f"{max(0, int((start_ts - 60) * 1000))}-0"
        key = f"{self.prefix}l:{tenant_id}"
        while True:
            page = await self._call(
                lambda c=cursor: self._redis.xrange(key, min=c, max="+", count=_LEDGER_PAGE)
            )
            for entry_id, fields in page:
                entry = orjson.loads(fields[b"r"])
                if start_ts <= entry["timestamp"] < end_ts:
                    yield entry
                cursor = "(" + entry_id.decode()
            if len(page) < _LEDGER_PAGE:
                return

    async def outstanding_reservations(self, tenant_id: str) -> int:
        now_ms = int(self._clock() * 1000)
        return int(await self._call(lambda: self._outstanding(args=[self.prefix, tenant_id, now_ms])))
