"""A meter front that admits requests from leases (see `portions`) instead of one reservation each.

`LeasingMeter` wraps a backend's meter. `reserve` asks the backend for a lease of up to
`lease_requests` requests' worth for a (tenant, key, model) and then admits that worker's next requests from it in memory; a lease lasts `lease_s` at most
(and never past its minute), after which what it did not hand out is given back. Near a
limit the backend refuses leases, and every request is reserved on its own, exactly as
without this front. Downgraded requests are always reserved on their own.

Lease sizes adapt: a lease used up within its life doubles the next one (up to the maximum);
one that ends more than half unused halves it. A lease whose requests have all come back, with
nothing left to give back, is dropped by the store with its last portion (no extra call).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from meters.limits import Scope
from meters.store.interfaces import CountItem, Meter
from meters.store.lease_state import ADMIT, ALONE, Ask, Lease, Spare, fit, snapshot_of
from meters.store.portions import Units, portion_id
from meters.store.values import Amounts, RateSnapshot, Reservation, ReserveOutcome, StoreUnavailable
from meters.store.windows import to_nano, windows_at

log = logging.getLogger(__name__)

LEASE_TTL_S = 900.0  # a lease row outlives any request admitted from it (streams included)
PREFETCH_SIZE = 64  # from this lease size on (a busy key), the next one is asked for ahead
_FIRST_SIZE = 8
_ZERO = Units(0, 0, 0)
_UNITS_CACHE_MAX = 4096


class LeasingMeter(Meter):
    def __init__(
        self,
        inner: Meter,
        *,
        lease_requests: int = 256,
        lease_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if lease_requests < 2:
            raise ValueError("lease_requests must be at least 2 (use the backend alone to turn leases off)")
        self.inner = inner
        self._max_size = lease_requests
        self._lease_s = lease_s
        self._clock = clock
        self._leases: dict[tuple[str, str | None, str], Lease] = {}
        self._sizes: dict[tuple[str, str | None, str], int] = {}
        self._acquiring: dict[tuple[str, str | None, str], asyncio.Future[None]] = {}
        self._refused_until: dict[tuple[str, str | None, str], float] = {}
        self._spares: dict[tuple[str, str | None, str], Spare] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # A request's Units by its Amounts: callers hand in the same Amounts for the same request size (the
        # gateway caches them per model and size), so the conversion is done once per size.
        self._units: dict[int, tuple[Amounts, Units]] = {}

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
        if not (downgraded or lease):
            # The common case, first: a live lease with room for this request.
            outcome = self.reserve_now(tenant_id, key_id, model, amounts, scopes, ttl_s)
            if outcome is not None:
                return outcome
        key = (tenant_id, key_id, model)
        unit = self._unit(amounts)
        one = Ask(tenant_id, key_id, model, amounts, scopes, ttl_s)
        if downgraded or lease or unit == _ZERO:  # a request of nothing: a lease would hold nothing
            return await self._alone(one, ttl_s, downgraded=downgraded, lease=lease)
        while True:
            now = self._clock()
            current = self._leases.get(key)
            if current is not None:
                verdict = fit(current, unit, scopes, ttl_s, now)
                if verdict is ADMIT:
                    return self._admit(current, unit, now, *one)
                if verdict is ALONE:
                    return await self._alone(one, ttl_s)
                self._retire(current)
            waiting = self._acquiring.get(key)
            if waiting is not None:
                await asyncio.shield(waiting)
                continue
            if self._install_spare(key, now):
                continue
            if self._refused_until.get(key, 0.0) > now:
                return await self._alone(one, ttl_s)
            outcome = await self._acquire(key, one, unit)
            if outcome is not None:
                return outcome

    def reserve_now(
        self,
        tenant_id: str,
        key_id: str | None,
        model: str,
        amounts: Amounts,
        scopes: list[Scope],
        ttl_s: float,
    ) -> ReserveOutcome | None:
        current = self._leases.get((tenant_id, key_id, model))
        if current is None:
            return None
        unit = self._unit(amounts)
        now = self._clock()
        if fit(current, unit, scopes, ttl_s, now) is not ADMIT:
            return None
        return self._admit(current, unit, now, tenant_id, key_id, model, amounts, scopes, ttl_s)

    def _unit(self, amounts: Amounts) -> Units:
        """`amounts` in the store's integer units, converted once per `Amounts` object."""
        units = self._units.get(id(amounts))
        if units is not None and units[0] is amounts:
            return units[1]
        unit = Units(int(amounts.tokens), to_nano(amounts.spend), to_nano(amounts.gco2e))
        if len(self._units) >= _UNITS_CACHE_MAX:
            self._units.clear()
        self._units[id(amounts)] = (amounts, unit)  # holding it keeps the id unique
        return unit

    async def _alone(
        self, one: Ask, ttl_s: float, *, downgraded: bool = False, lease: int = 0
    ) -> ReserveOutcome:
        return await self.inner.reserve(
            one.tenant_id,
            key_id=one.key_id,
            model=one.model,
            amounts=one.amounts,
            scopes=one.scopes,
            ttl_s=ttl_s,
            downgraded=downgraded,
            lease=lease,
        )

    def _row_ttl(self, one: Ask) -> float:
        """A lease row's TTL: it outlives every request the lease may admit, each with its own TTL from its
        admission, up to `lease_s` after the grant (a stream's TTL is ~960 s: a row of exactly that admitted none)."""
        return max(one.ttl_s + self._lease_s + 1.0, LEASE_TTL_S)

    async def _acquire(
        self, key: tuple[str, str | None, str], one: Ask, unit: Units
    ) -> ReserveOutcome | None:
        """Ask for a lease; None when one was installed (admit from it), else the outcome to return."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acquiring[key] = done
        size = self._sizes.get(key, _FIRST_SIZE)
        try:
            granted = await self._alone(one, self._row_ttl(one), lease=size)
        finally:
            del self._acquiring[key]
            done.set_result(None)
        reservation = granted.reservation
        if granted.ok and not granted.degraded and reservation is not None and reservation.requests >= 2:
            self._install(key, reservation, one.scopes, unit, granted.snapshot)
            return None
        if granted.degraded:
            return granted
        # Refused: the tenant is near a limit. Reserve requests one by one for a lease's life.
        self._refused_until[key] = self._clock() + self._lease_s
        return await self._alone(one, one.ttl_s)

    def _install(
        self,
        key: tuple[str, str | None, str],
        reservation: Reservation,
        scopes: list[Scope],
        unit: Units,
        snapshot: RateSnapshot,
    ) -> None:
        now = self._clock()
        windows = windows_at(now)
        size = reservation.requests
        lease = Lease(
            key=key,
            row_id=reservation.reservation_id,
            scopes=scopes,
            scope_ids=reservation.scope_ids,
            unit=unit,
            size=size,
            requests_left=size,
            units_left=unit.times(size),
            snapshot=snapshot,
            minute=windows.minute,
            minute_end=windows.minute_end,
            ends_at=min(now + self._lease_s, windows.minute_end),
            row_expires_at=reservation.expires_at,
            started_at=now,
        )
        lease.timer = asyncio.get_running_loop().call_later(
            max(0.0, lease.ends_at - now), self._retire, lease
        )
        self._leases[key] = lease

    def _admit(
        self,
        lease: Lease,
        unit: Units,
        now: float,
        tenant_id: str,
        key_id: str | None,
        model: str,
        amounts: Amounts,
        scopes: list[Scope],
        ttl_s: float,
    ) -> ReserveOutcome:
        lease.requests_left -= 1
        lease.units_left = lease.units_left.minus(unit)
        # Positional, in the fields' order (requests=1, leased=True; nothing blocked, no warning): per request.
        reservation = Reservation(
            portion_id(lease.row_id, unit), tenant_id, lease.scope_ids, amounts, lease.row_expires_at, model, key_id, 1, True
        )
        outcome = ReserveOutcome(True, reservation, (), (), snapshot_of(lease, now))
        if not lease.requests_left:
            self._retire(lease)
        elif lease.requests_left == lease.size // 4 and lease.size >= PREFETCH_SIZE:
            self._prefetch(lease.key, Ask(tenant_id, key_id, model, amounts, scopes, ttl_s), unit, now)
        return outcome

    # the next lease, asked for while the current one still admits

    def _prefetch(self, key: tuple[str, str | None, str], one: Ask, unit: Units, now: float) -> None:
        """A busy key's next lease, asked for when a quarter of this one is left: the requests that arrive as it
        runs out are admitted from the spare instead of all waiting for the store's answer. Requests that do run
        out while it is asked for wait for it (it stands in `_acquiring`), as for any lease being acquired."""
        if key in self._spares or key in self._acquiring or self._refused_until.get(key, 0.0) > now:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acquiring[key] = done
        task = asyncio.get_running_loop().create_task(self._fetch_spare(key, one, unit, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch_spare(
        self, key: tuple[str, str | None, str], one: Ask, unit: Units, done: asyncio.Future[None]
    ) -> None:
        size = self._sizes.get(key, _FIRST_SIZE)
        try:
            granted = await self._alone(one, self._row_ttl(one), lease=size)
        except Exception as exc:  # the store failed: the next lease is asked for when it is needed
            log.warning("could not ask for a lease ahead of need: %r", exc)
            return
        finally:
            if self._acquiring.get(key) is done:
                del self._acquiring[key]
            done.set_result(None)
        reservation = granted.reservation
        if not granted.ok:
            self._refused_until[key] = self._clock() + self._lease_s
        elif reservation is not None and not granted.degraded:
            spare = Spare(reservation, granted.snapshot, one.scopes, unit, windows_at(self._clock()).minute)
            if reservation.requests < 2 or key in self._spares:
                self._give_back(spare)
                return
            spare.timer = asyncio.get_running_loop().call_later(self._lease_s, self._expire_spare, key, spare)
            self._spares[key] = spare

    def _install_spare(self, key: tuple[str, str | None, str], now: float) -> bool:
        """Make the key's spare its lease (True), unless there is none; one granted in an earlier minute (its
        requests were counted in that minute) is given back instead."""
        spare = self._spares.pop(key, None)
        if spare is None:
            return False
        if spare.timer is not None:
            spare.timer.cancel()
        if spare.minute != windows_at(now).minute:
            self._give_back(spare)
            return False
        self._install(key, spare.reservation, spare.scopes, spare.unit, spare.snapshot)
        return True

    def _expire_spare(self, key: tuple[str, str | None, str], spare: Spare) -> None:
        if self._spares.get(key) is spare:
            del self._spares[key]
            self._give_back(spare)

    def _give_back(self, spare: Spare) -> None:
        requests = spare.reservation.requests
        self._spawn(
            self.inner.return_lease(
                spare.reservation.reservation_id, requests, spare.unit.times(requests), spare.minute
            )
        )

    def _retire(self, lease: Lease) -> None:
        """No more requests from this lease: give back what it never handed out."""
        if lease.retired:
            return
        lease.retired = True
        if lease.timer is not None:
            lease.timer.cancel()
        if self._leases.get(lease.key) is lease:
            del self._leases[lease.key]
        self._adapt(lease)
        # The store drops a lease once it holds nothing: after this give-back if no request from it
        # is still running, else with the last one's portion. Nothing to give back: nothing to do.
        if lease.requests_left or lease.units_left != _ZERO:
            self._spawn(
                self.inner.return_lease(lease.row_id, lease.requests_left, lease.units_left, lease.minute)
            )

    def _adapt(self, lease: Lease) -> None:
        size = self._sizes.get(lease.key, _FIRST_SIZE)
        if not lease.requests_left and self._clock() - lease.started_at < self._lease_s:
            self._sizes[lease.key] = min(self._max_size, max(size, lease.size) * 2)
        elif lease.requests_left * 2 > lease.size:
            self._sizes[lease.key] = max(_FIRST_SIZE, size // 2)

    def _spawn(self, operation: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(self._quietly(operation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _quietly(operation: Coroutine[Any, Any, None]) -> None:
        try:
            await operation
        except StoreUnavailable as exc:
            log.warning("could not give a lease back (it expires on its own): %s", exc)
        except Exception:
            log.exception("giving a lease back failed (it expires on its own)")

    async def count_many(self, items: list[CountItem]) -> list[bool]:
        return await self.inner.count_many(items)

    async def release(self, reservation: Reservation | str | None) -> None:
        await self.inner.release(reservation)

    async def return_lease(self, lease_id: str, requests: int, units: Units, minute: str) -> None:
        await self.inner.return_lease(lease_id, requests, units, minute)

    async def outstanding_reservations(self, tenant_id: str) -> int:
        return await self.inner.outstanding_reservations(tenant_id)

    async def drain(self) -> None:
        """Give every lease back now and wait for it (on shutdown, and in tests)."""
        for lease in list(self._leases.values()):
            self._retire(lease)
        while self._tasks or self._spares:
            for key in list(self._spares):
                self._expire_spare(key, self._spares[key])
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.inner.drain()
