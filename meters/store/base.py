"""The storage interface both backends implement, and the values it exchanges."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from meters.limits import ERROR_CODE_OF, LimitName, Limits, Policy, Scope
from meters.store.portions import Units
from meters.tenants import ApiKey, Tenant, hash_key, new_key
from meters.usage import UsageRecord


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


def reservation_id_of(reservation: Reservation | str | None) -> str | None:
    return reservation.reservation_id if isinstance(reservation, Reservation) else reservation


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
    blocked: list[Exceeded] = field(default_factory=list)
    warnings: list[Exceeded] = field(default_factory=list)
    snapshot: RateSnapshot = field(default_factory=RateSnapshot)
    degraded: bool = False  # the store was unreachable and fail_open let the request through

    @property
    def reservation_id(self) -> str | None:
        return self.reservation.reservation_id if self.reservation else None

    @property
    def downgrade_model(self) -> str | None:
        """The model to retry with (`downgraded=True`) when every blocking limit says downgrade."""
        models = {e.policy.model for e in self.blocked}
        if self.blocked and all(e.policy.action == "downgrade" for e in self.blocked) and len(models) == 1:
            return models.pop()
        return None

    @property
    def rejection(self) -> Exceeded | None:
        """What to put in the 429: the blocked limit that clears last (its code and Retry-After)."""
        if not self.blocked or self.downgrade_model:
            return None
        return max(self.blocked, key=lambda e: e.retry_after_s)

    @property
    def error_code(self) -> str | None:
        rejection = self.rejection
        return ERROR_CODE_OF[rejection.limit] if rejection else None


class Store(abc.ABC):
    """Tenants, keys, limits and usage. Every method is safe across processes and replicas."""

    @abc.abstractmethod
    async def ping(self) -> bool: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    # tenants & keys
    @abc.abstractmethod
    async def put_tenant(self, tenant: Tenant) -> None: ...

    @abc.abstractmethod
    async def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    @abc.abstractmethod
    async def list_tenants(self) -> list[Tenant]: ...

    @abc.abstractmethod
    async def put_key(self, key: ApiKey) -> None:
        """Store a key record as is (static keys from config come as hashes)."""

    async def issue_key(
        self, tenant_id: str, limits: Limits | None = None, *, name: str | None = None
    ) -> tuple[ApiKey, str]:
        """A new key for an existing tenant: (record, plaintext shown once)."""
        if await self.get_tenant(tenant_id) is None:
            raise KeyError(f"no tenant {tenant_id!r}")
        plaintext = new_key()
        key = ApiKey.from_hash(tenant_id, hash_key(plaintext), limits=limits, name=name)
        await self.put_key(key)
        return key, plaintext

    @abc.abstractmethod
    async def list_keys(self, tenant_id: str) -> list[ApiKey]: ...

    @abc.abstractmethod
    async def revoke_key(self, key_id: str) -> bool: ...

    @abc.abstractmethod
    async def resolve_key(self, plaintext_or_hash: str) -> tuple[Tenant, ApiKey] | None: ...

    # metering
    @abc.abstractmethod
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
        """Check every limit of every scope atomically and reserve `amounts` if none blocks.

        `downgraded=True` (the request was already routed to its downgrade model) turns
        `downgrade` policies into warnings, so the lower-carbon model is served.
        `lease=n` (n >= 2) asks for a lease of up to n requests' worth instead (see
        `meters.store.portions`): granted, it is a reservation with `requests` > 1; refused
        (not ok, nothing blocked) when any limit lacks room for `LEASE_SHARE` such leases.
        """

    @abc.abstractmethod
    async def return_lease(self, lease_id: str, requests: int, units: Units, minute: str) -> None:
        """Give back what a lease never handed out: `requests` uncounted from its `minute` window
        and `units` no longer held. A lease left holding nothing is dropped (here, or by the
        settle or release of its last request's portion)."""

    @abc.abstractmethod
    async def settle(self, reservation: Reservation | str | None, record: UsageRecord) -> bool:
        """Drop the reservation and count the actual usage; False if `request_id` was already counted.

        A portion id (a request admitted from a lease) takes its share off the lease instead."""

    @abc.abstractmethod
    async def release(self, reservation: Reservation | str | None) -> None: ...

    @abc.abstractmethod
    async def record(self, record: UsageRecord) -> bool:
        """Count usage that had no reservation; False if `request_id` was already counted."""

    async def count_many(self, items: list[tuple[str | None, UsageRecord]]) -> list[bool]:
        """Settle (reservation id) or record (None) a batch; backends may do it in one transaction."""
        return list(
            await asyncio.gather(
                *(self.settle(rid, record) if rid else self.record(record) for rid, record in items)
            )
        )

    @abc.abstractmethod
    async def usage(self, tenant_id: str, period: str) -> dict: ...

    @abc.abstractmethod
    def ledger(self, tenant_id: str | None, start_ts: float, end_ts: float) -> AsyncIterator[dict]: ...

    @abc.abstractmethod
    async def outstanding_reservations(self, tenant_id: str) -> int: ...

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
