"""The Redis store's meter: limits checked and usage counted atomically by Lua scripts (see scripts.py).

Under `fail_open` an unreachable Redis lets requests through (`degraded=True`) and journals their usage
(see connection.py); under `fail_closed` it raises StoreUnavailable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from redis.exceptions import NoScriptError

from meters.limits import Quantity, Scope
from meters.store.aggregates import (
    DEFAULT_MONTHLY_RETENTION_MONTHS,
    check_retention,
    label_fields,
    label_id,
    label_json,
)
from meters.store.checks import decide, plan_checks, request_units, scaled_units
from meters.store.interfaces import CountItem, Meter
from meters.store.portions import LEASE_SHARE, Units
from meters.store.records import (
    UncountableRecord,
    check_countable,
    record_from_dict,
    record_to_dict,
)
from meters.store.redis import scripts
from meters.store.redis.connection import RedisConnection
from meters.store.redis.encoding import packed_args
from meters.store.redis.keys import anchor, labels_key, ltenants_key, new_reservation_id, reservation_tenant
from meters.store.redis.settle_args import COUNTER_MARGIN_S, DEGRADED, packed_settle
from meters.store.redis.settle_script import SETTLE
from meters.store.values import Amounts, Reservation, ReserveOutcome, StoreUnavailable
from meters.store.windows import windows_at
from meters.usage import UsageRecord

# A batch's Python (entries, script arguments: ~5-10 µs a record) runs on the event loop: it gives the loop a turn
# once it has run this long, so a batch of hundreds never holds it for more than ~1 ms at a time. By time, not by
# count: under load every turn it gives also serves each ready request (a few ms at c=32), and a turn given every
# 24 records capped the writer below the rate requests finished (its backlog grew by ~3,000 records a second).
# 1 ms rather than 2: at 3,000 requests/s (every limit on) the median over 1 s windows of a 5 ms timer's worst
# lateness 4.6-5.7 -> 3.3-4.2 ms; at c=32 the same RPS, the backlog still within two batches (~800 records).
_SLICE_S = 0.001
# Redis runs a script to its end serving nothing else (~15-100 µs a request settled, by the VM): a batch's requests
# go in script calls of at most this many, so a lease asked for meanwhile waits for one call, not the batch.
_SETTLE_CHUNK = 24


class RedisMeter(Meter):
    def __init__(
        self,
        conn: RedisConnection,
        *,
        ledger_retention_days: int,
        idempotency_ttl_s: float,
        clock: Callable[[], float] = time.time,
        monthly_retention_months: int = DEFAULT_MONTHLY_RETENTION_MONTHS,
    ) -> None:
        self._conn = conn
        self._monthly_retention = check_retention(monthly_retention_months)
        self.prefix = conn.prefix
        self._retention_s = ledger_retention_days * 86400
        self._idempotency_ttl_s = int(idempotency_ttl_s)
        self._clock = clock
        # Registered once; redis-py runs them with EVALSHA and loads them again after a restart.
        client = conn.client
        self._redis = client
        self._reserve = client.register_script(scripts.RESERVE)
        self._settle = client.register_script(SETTLE)
        self._release = client.register_script(scripts.RELEASE)
        self._return_lease = client.register_script(scripts.RETURN_LEASE)
        self._outstanding = client.register_script(scripts.OUTSTANDING)
        self._turn_at = time.perf_counter()  # when the loop last had a turn from a batch (`_share_loop`)
        conn.apply_entry = self._apply

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
            new_reservation_id(tenant_id), tenant_id, tuple(scope_ids), amounts, now + ttl_s, model, key_id
        )
        args: list[Any] = [
            self.prefix,
            tenant_id,
            reservation.reservation_id,
            int(now * 1000),
            int(reservation.expires_at * 1000),
            units[Quantity.TOKENS],
            units[Quantity.SPEND],
            units[Quantity.GCO2E],
            windows.minute,
            windows.minute_end + COUNTER_MARGIN_S,
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
            keys = [anchor(self.prefix, tenant_id)]
            result = await self._conn.call(lambda: self._reserve(keys=keys, args=packed_args(args)))
        except StoreUnavailable:
            if self._conn.fail_closed:
                raise
            degraded = replace(reservation, reservation_id=DEGRADED + reservation.reservation_id)
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
        reservation_id = reservation.reservation_id if isinstance(reservation, Reservation) else reservation
        if not reservation_id or reservation_id.startswith(DEGRADED):
            return
        tenant_id = reservation_tenant(reservation_id.partition("/")[0])  # a portion id: <lease>/<units>
        if tenant_id is None:
            return  # not one of this store's ids: it holds nothing here
        keys = [anchor(self.prefix, tenant_id)]
        try:
            await self._conn.call(lambda: self._release(keys=keys, args=[self.prefix, reservation_id]))
        except StoreUnavailable:
            if self._conn.fail_closed:
                raise
            # The reservation expires on its own once Redis is back.

    async def return_lease(self, lease_id: str, requests: int, units: Units, minute: str) -> None:
        tenant_id = reservation_tenant(lease_id)
        if tenant_id is None:
            return
        keys = [anchor(self.prefix, tenant_id)]
        args: list[str | int] = [self.prefix, lease_id, requests, *units, minute]
        try:
            await self._conn.call(lambda: self._return_lease(keys=keys, args=args))
        except StoreUnavailable:
            if self._conn.fail_closed:
                raise
            # The lease expires on its own once Redis is back.

    async def count_many(self, items: list[CountItem]) -> list[bool]:
        """A batch in one round trip: a SETTLE per tenant and `_SETTLE_CHUNK` requests, pipelined (not a
        transaction; each is atomic)."""
        self._turn_at = time.perf_counter()  # this batch's slices start now
        entries = []
        counters: list[dict[str, int]] = []
        for rid, record in items:
            # Checked record by record, within the slices; all of them before Redis sees any.
            counters += check_countable((record,))
            entries.append({"reservation_id": rid, "record": record_to_dict(record)})
            await self._share_loop()
        records = [record for _, record in items]
        try:
            return await self._conn.call(lambda: self._apply_many(entries, records, counters))
        except StoreUnavailable:
            if self._conn.fail_closed:
                raise
            # Some may have been counted before Redis went away: replay is idempotent on request_id.
            return [self._conn.journal_entry(entry) for entry in entries]

    async def _share_loop(self) -> None:
        """A turn for the loop if this batch's Python has run `_SLICE_S` since the last one."""
        if time.perf_counter() - self._turn_at >= _SLICE_S:
            await asyncio.sleep(0)
            self._turn_at = time.perf_counter()

    async def _apply_many(
        self, entries: list[dict[str, Any]], records: list[UsageRecord], counters: list[dict[str, int]]
    ) -> list[bool]:
        """SETTLE per tenant's entries, then the tenants into the (global) set of tenants with a ledger.
        `records`: the entries' records; `counters`: their `usage_counters` (from `check_countable`).

        A pipeline does not load scripts: a node that does not have it yet (new, or restarted) answers
        NOSCRIPT; the script is loaded (on every master) and only those tenants' entries are sent again, so
        each entry's answer stays the first one (counted now, or counted before)."""
        results: list[Any] = await self._settle_pipeline(entries, records, counters)
        missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if missing:
            self._settle.sha = await self._redis.script_load(SETTLE)
            again = await self._settle_pipeline(
                [entries[i] for i in missing], [records[i] for i in missing], [counters[i] for i in missing]
            )
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        for result in results:
            if isinstance(result, Exception):
                raise result
        return [bool(result) for result in results]

    async def _settle_pipeline(
        self, entries: list[dict[str, Any]], records: list[UsageRecord], counters: list[dict[str, int]]
    ) -> list[Any]:
        """Each entry's answer (1, 0, or the error of its tenant's script call), in order."""
        pipe = self._redis.pipeline(transaction=False)
        extra = self._registry(pipe, records)
        by_tenant: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            by_tenant.setdefault(record.tenant_id, []).append(i)
        calls = [
            (tenant_id, indexes[start : start + _SETTLE_CHUNK])
            for tenant_id, indexes in by_tenant.items()
            for start in range(0, len(indexes), _SETTLE_CHUNK)
        ]
        for tenant_id, indexes in calls:
            await self._share_loop()  # the records' loop and the registry may have used up this slice
            packed = packed_settle(
                [entries[i] for i in indexes],
                [records[i] for i in indexes],
                [counters[i] for i in indexes],
                prefix=self.prefix,
                idempotency_ttl_s=self._idempotency_ttl_s,
                retention_s=self._retention_s,
                monthly_retention=self._monthly_retention,
                now=self._clock(),
            )
            # EVALSHA by name: a cluster pipeline blocks its evalsha() method, not the command.
            pipe.execute_command("EVALSHA", self._settle.sha, 1, anchor(self.prefix, tenant_id), packed)
        pipe.sadd(ltenants_key(self.prefix), *sorted(by_tenant))
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        for reply in [*replies[:extra], replies[-1]]:
            if isinstance(reply, Exception):
                raise reply
        results: list[Any] = [None] * len(entries)
        for (_, indexes), reply in zip(calls, replies[extra:-1], strict=True):
            for n, i in enumerate(indexes):
                results[i] = reply if isinstance(reply, Exception) else reply[n]
        return results

    async def _apply(self, entry: dict[str, Any]) -> bool:
        """Count one settled/recorded request (a journal entry); UncountableRecord for an entry that never can be
        (not a record, or numbers no counter holds), checked before Redis sees it, as a batch is."""
        try:
            record = record_from_dict(entry["record"])
            reservation_id = entry.get("reservation_id")
            if reservation_id is not None and not isinstance(reservation_id, str):
                raise TypeError("reservation_id is not a string")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UncountableRecord(f"journal entry is not a usage record: {exc!r}") from None
        return (await self._apply_many([entry], [record], check_countable([record])))[0]

    def _registry(self, pipe: Any, records: list[UsageRecord]) -> int:
        """Queue the label registry's writes of a batch: idempotent, outside the tenants' scripts (its own
        hash tag). Returns how many commands were queued."""
        labels: dict[str, str] = {}
        for record in records:
            fields = label_fields(record)
            lid = label_id(fields)
            if lid not in labels:  # its JSON once per label, not once per record
                labels[lid] = label_json(fields)
        for lid, text in labels.items():
            pipe.hsetnx(labels_key(self.prefix), lid, text)
        return len(labels)

    async def outstanding_reservations(self, tenant_id: str) -> int:
        now_ms = int(self._clock() * 1000)
        keys = [anchor(self.prefix, tenant_id)]
        args: list[str | int] = [self.prefix, tenant_id, now_ms]
        return int(await self._conn.call(lambda: self._outstanding(keys=keys, args=args)))
