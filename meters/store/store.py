"""The store: one backend's directory, meter and reports, composed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from meters.store.aggregates import DEFAULT_MONTHLY_RETENTION_MONTHS
from meters.store.interfaces import (
    AuditedStore,
    Backend,
    Meter,
    ReportAggregates,
    TenantDirectory,
    UsageReports,
)


@dataclass(frozen=True, eq=False)
class Store:
    backend: Backend  # the shared connection: `backend.name` is "redis" or "embedded"
    directory: TenantDirectory
    meter: Meter  # a LeasingMeter in front of the backend's meter when leases are on
    reports: UsageReports
    aggregates: ReportAggregates  # label-keyed monthly aggregates, for sustainability reports
    audited: AuditedStore  # audited supplier months, every version kept
    # How long `aggregates` keeps a month, by `clock`: a report names the months of its period past it.
    monthly_retention_months: int = DEFAULT_MONTHLY_RETENTION_MONTHS
    clock: Callable[[], float] = time.time

    async def ping(self) -> bool:
        return await self.backend.ping()

    async def close(self) -> None:
        await self.meter.drain()
        await self.backend.close()
