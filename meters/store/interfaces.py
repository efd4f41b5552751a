"""What callers use of the store, in three parts: the tenant directory, the meter and usage reports.

Each backend (sqlite/, redis/) implements each part in a file of the same name; `Store` composes them.
Every method is safe across processes and replicas.
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import AsyncIterator
from typing import Any

from meters.audited.figures import AuditedImport, ParsedImport
from meters.limits import Limits, Scope
from meters.reports.rows import StoreRows
from meters.store.aggregates import ModelMonth
from meters.store.portions import Units
from meters.store.values import Amounts, Reservation, ReserveOutcome
from meters.tenants import ApiKey, Tenant, hash_key, new_key
from meters.usage import UsageRecord

CountItem = tuple[str | None, UsageRecord]  # (reservation id or None, the request's usage)


class TenantDirectory(abc.ABC):
    """Tenants and their API keys (keys kept as SHA-256 digests)."""

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
    async def delete_tenant(self, tenant_id: str) -> list[str] | None:
        """Remove the tenant and revoke its keys, in one step; its usage (counters, ledger) stays for
        reports. The revoked key ids, or None when there was no such tenant."""

    async def resolve_key(self, plaintext: str) -> tuple[Tenant, ApiKey] | None:
        return await self.resolve_key_hash(hash_key(plaintext))

    @abc.abstractmethod
    async def resolve_key_hash(self, key_hash: str) -> tuple[Tenant, ApiKey] | None: ...


class Meter(abc.ABC):
    """Limits checked and usage counted: reserve before a request, settle (or release) after it."""

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

    def reserve_now(
        self,
        tenant_id: str,
        key_id: str | None,
        model: str,
        amounts: Amounts,
        scopes: list[Scope],
        ttl_s: float,
    ) -> ReserveOutcome | None:
        """`reserve` (not downgraded, not a lease) when it can be done at once, without the store: a request a
        lease this worker holds has room for. None otherwise (always, without leases): then call `reserve`."""
        return None

    @abc.abstractmethod
    async def return_lease(self, lease_id: str, requests: int, units: Units, minute: str) -> None:
        """Give back what a lease never handed out: `requests` uncounted from its `minute` window
        and `units` no longer held. A lease left holding nothing is dropped (here, or by the
        settle or release of its last request's portion)."""

    @abc.abstractmethod
    async def release(self, reservation: Reservation | str | None) -> None:
        """The request used nothing: free what it held."""

    @abc.abstractmethod
    async def count_many(self, items: list[CountItem]) -> list[bool]:
        """Settle (reservation id) or record (None) a batch, each counted once per `request_id`:
        True where counted now, False where that request was already counted. A portion id (a
        request admitted from a lease) takes its share off the lease."""

    async def settle(self, reservation: Reservation | str | None, record: UsageRecord) -> bool:
        """Drop the reservation and count the actual usage; False if `request_id` was already counted."""
        reservation_id = reservation.reservation_id if isinstance(reservation, Reservation) else reservation
        return (await self.count_many([(reservation_id, record)]))[0]

    async def record(self, record: UsageRecord) -> bool:
        """Count usage that had no reservation; False if `request_id` was already counted."""
        return (await self.count_many([(None, record)]))[0]

    @abc.abstractmethod
    async def outstanding_reservations(self, tenant_id: str) -> int: ...

    async def drain(self) -> None:
        """Give back whatever this worker holds in advance (leases); nothing by default."""
        return None


class UsageReports(abc.ABC):
    """Usage read back: per-period aggregates and the per-request ledger."""

    @abc.abstractmethod
    async def usage(self, tenant_id: str, period: str) -> dict[str, Any]: ...

    @abc.abstractmethod
    def ledger(
        self, tenant_id: str | None, start_ts: float, end_ts: float
    ) -> AsyncIterator[dict[str, Any]]: ...

    @abc.abstractmethod
    async def request(self, request_id: str, tenant_id: str | None) -> dict[str, Any] | None:
        """One counted request's ledger entry, within `tenant_id` (None: any tenant's), while the ledger
        keeps it (on Redis: within the idempotency window); None when unknown."""


class ReportAggregates(abc.ABC):
    """The label-keyed monthly aggregates, read back as the sustainability reports' input."""

    @abc.abstractmethod
    async def report_input(
        self,
        months: tuple[str, ...],
        tenant_id: str | None,
        audited: frozenset[ModelMonth],
        *,
        sums: bool = False,
    ) -> StoreRows:
        """Rows of `months` ("YYYY-MM") for one tenant, or the organisation (None), as plain tuples. Rows of
        the `audited` (month, model) pairs stay monthly (each line's months in month order); the rest of
        each line is summed. `sums`: the audited months' imports share one source and basis, so the store
        may hand each line's audited months summed, with their tokens and live g monthly beside them
        (StoreRows.audited_parts). For a tenant, `org_tokens` holds the organisation's tokens of each
        audited pair present."""


class AuditedStore(abc.ABC):
    """Audited supplier months: every import kept; a re-import of a month is a new version (a restatement)."""

    @abc.abstractmethod
    async def add(self, parsed: ParsedImport) -> AuditedImport:
        """Store `parsed` as its month's next version (1, 2, ...), stamped with the store's clock."""

    @abc.abstractmethod
    async def list(self, month: str | None = None) -> list[AuditedImport]:
        """Every import (of `month`, or of every month), newest first."""

    async def for_months(self, months: tuple[str, ...]) -> builtins.list[AuditedImport]:
        wanted = set(months)
        return [item for item in await self.list() if item.month in wanted]


class Backend(abc.ABC):
    """The connection a backend's parts share."""

    name: str

    @abc.abstractmethod
    async def ping(self) -> bool: ...

    @abc.abstractmethod
    async def writable(self) -> bool:
        """Whether usage can be written now (a read-only or deleted state directory, a Redis refusing writes:
        False). A backend that can repair what it finds (the embedded store's deleted file) does so first."""

    @abc.abstractmethod
    async def close(self) -> None: ...
