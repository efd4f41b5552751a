"""A lease as one worker sees it (`leasing.LeasingMeter`): what it was granted and has left, whether a request
fits in it, and the rate-limit figures a request admitted from it shows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import NamedTuple

from meters.limits import Scope
from meters.store.portions import Units
from meters.store.values import Amounts, RateSnapshot, Reservation
from meters.store.windows import from_nano


class Ask(NamedTuple):
    """One request's reservation, as asked."""

    tenant_id: str
    key_id: str | None
    model: str
    amounts: Amounts
    scopes: list[Scope]
    ttl_s: float


@dataclass(slots=True, eq=False)
class Lease:
    key: tuple[str, str | None, str]
    row_id: str
    scopes: list[Scope]
    scope_ids: tuple[str, ...]
    unit: Units  # the request the lease was sized on
    size: int
    requests_left: int
    units_left: Units
    snapshot: RateSnapshot  # at grant, with the whole lease held
    minute: str
    minute_end: float
    ends_at: float
    row_expires_at: float
    started_at: float
    retired: bool = False
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


@dataclass(slots=True, eq=False)
class Spare:
    """A lease granted ahead of need, installed when the key's current lease ends (if still in its minute)."""

    reservation: Reservation
    snapshot: RateSnapshot
    scopes: list[Scope]
    unit: Units
    minute: str
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


def snapshot_of(lease: Lease, now: float) -> RateSnapshot:
    """The grant's figures plus what the lease has not handed out yet (it is still held)."""
    held, left = lease.snapshot, lease.units_left
    reset = max(0.0, lease.minute_end - now)
    requests_limit, requests_remaining = held.requests_limit, held.requests_remaining
    tokens_limit, tokens_remaining = held.tokens_limit, held.tokens_remaining
    budget = held.gco2e_budget_remaining
    return RateSnapshot(  # positional, in the fields' order: once per request admitted from a lease
        requests_limit,
        None if requests_remaining is None else requests_remaining + lease.requests_left,
        None if requests_limit is None else reset,
        tokens_limit,
        None if tokens_remaining is None else tokens_remaining + left.tokens,
        None if tokens_limit is None else reset,
        None if budget is None else budget + from_nano(left.gco2e),
        held.tenant_month_gco2e,
    )


ADMIT, ALONE, RETIRE = "admit", "alone", "retire"


def fit(lease: Lease, unit: Units, scopes: list[Scope], ttl_s: float, now: float) -> str:
    """Admit from this lease; reserve `alone` (bigger than the lease's requests, or outliving it);
    or retire it (over, limits changed, or used up) and get another."""
    if now >= lease.ends_at or lease.scopes != scopes:
        return RETIRE
    if not unit.fits_in(lease.unit) or lease.row_expires_at < now + ttl_s:
        return ALONE
    if lease.requests_left and unit.fits_in(lease.units_left):
        return ADMIT
    return RETIRE
