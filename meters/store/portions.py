"""Leases: one reservation that holds room for several requests, handed out locally.

A worker that reserves one request at a time pays a store round trip (Redis) or a write
transaction (SQLite) before every request. A lease reserves `n` requests' worth at once,
atomically, exactly like a reservation (its amounts are held in every scope, its `n`
requests counted in the minute); the worker then admits requests against it without the
store. Each admitted request carries a *portion id* naming the lease row and what the request
took from it; settling or releasing a portion takes that much off the row (and off what the
scopes hold), so the usage is counted exactly once and the hold shrinks with it. When the
lease ends, what was never handed out is given back (`Store.return_lease`).

Exactness: the store grants a lease only under the same atomic check as any reservation, so
counted + held never passes a limit; a request admitted from a lease fits inside what the lease
holds. Overspend stays bounded by one request's actual usage over its reservation, as without
leases. A lease is only granted while every limit has room for `LEASE_SHARE` times the lease,
so near a limit every request is checked on its own again.
"""

from __future__ import annotations

from typing import NamedTuple

LEASE_SHARE = 4  # a lease takes at most 1/LEASE_SHARE of any limit's remaining room
_SEP = "/"


class Units(NamedTuple):
    """Integer amounts as the store keeps them: tokens, spend and gCO2e in nano-units."""

    tokens: int
    spend: int
    gco2e: int

    def fits_in(self, other: Units) -> bool:
        return self.tokens <= other.tokens and self.spend <= other.spend and self.gco2e <= other.gco2e

    def minus(self, other: Units) -> Units:
        return Units(self.tokens - other.tokens, self.spend - other.spend, self.gco2e - other.gco2e)

    def times(self, count: int) -> Units:
        return Units(self.tokens * count, self.spend * count, self.gco2e * count)


def portion_id(row_id: str, units: Units) -> str:
    return f"{row_id}{_SEP}{units.tokens}{_SEP}{units.spend}{_SEP}{units.gco2e}"


def split_portion(reservation_id: str) -> tuple[str, Units | None]:
    """(row id, what the request took) for a portion id; (id, None) for a plain reservation."""
    if _SEP not in reservation_id:
        return reservation_id, None
    row_id, tokens, spend, gco2e = reservation_id.split(_SEP)
    return row_id, Units(int(tokens), int(spend), int(gco2e))
