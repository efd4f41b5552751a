"""The values the store exchanges with its callers (no behaviour: see interfaces.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from meters.limits import LimitName, Policy


class StoreUnavailable(RuntimeError):
    """The store cannot be reached and `on_failure` is `fail_closed` (the gateway answers 503)."""


@dataclass(frozen=True, slots=True)
class Amounts:
    """What one request is expected to use at most: reserved before forwarding."""

    tokens: int = 0
    spend: float = 0.0
    gco2e: float = 0.0


@dataclass(slots=True)  # a value: not frozen only because frozen construction costs 4x per request
class Reservation:
    reservation_id: str
    tenant_id: str
    scope_ids: tuple[str, ...]
    amounts: Amounts
    expires_at: float
    model: str = ""  # what was reserved for, so the caller can settle/report without keeping it
    key_id: str | None = None
    requests: int = 1  # a lease (see portions) holds room for several requests
    leased: bool = False  # a portion of a lease: its tenant is far from every limit


@dataclass(frozen=True, slots=True)
class Exceeded:
    limit: LimitName
    scope: str
    policy: Policy
    retry_after_s: int  # seconds until the limit's window ends
    limit_value: float
    current: float  # used + outstanding reservations, before this request


@dataclass(slots=True)  # a value: not frozen only because frozen construction costs 4x per request
class RateSnapshot:
    """What the response headers say. None where no limit is set."""

    requests_limit: int | None = None
    requests_remaining: int | None = None
    requests_reset_s: float | None = None
    tokens_limit: int | None = None
    tokens_remaining: int | None = None
    tokens_reset_s: float | None = None
    gco2e_budget_remaining: float | None = None
    tenant_month_gco2e: float = 0.0


@dataclass(slots=True)  # a value: not frozen only because frozen construction costs 4x per request
class ReserveOutcome:
    ok: bool
    reservation: Reservation | None
    blocked: Sequence[Exceeded] = ()
    warnings: Sequence[Exceeded] = ()
    snapshot: RateSnapshot = field(default_factory=RateSnapshot)
    degraded: bool = False  # the store was unreachable and fail_open let the request through

    @property
    def reservation_id(self) -> str | None:
        return self.reservation.reservation_id if self.reservation else None
