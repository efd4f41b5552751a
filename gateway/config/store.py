"""The `store:` block: Redis (`redis_url` or `REDIS_URL`) or the embedded SQLite store, and its policies."""

from __future__ import annotations

import os
from dataclasses import dataclass

from gateway.config.reader import Block
from meters.store.retention import LEDGER_RETENTION_DAYS

FAIL_OPEN = "fail_open"
FAIL_CLOSED = "fail_closed"
KNOWN = frozenset(
    {
        "redis_url",
        "state_dir",
        "prefix",
        "on_failure",
        "ledger_retention_days",
        "monthly_retention_months",
        "lease_requests",
        "lease_s",
    }
)


@dataclass(frozen=True)
class StoreSettings:
    redis_url: str | None = None
    state_dir: str | None = None
    prefix: str = "cg:"
    on_failure: str = FAIL_OPEN
    ledger_retention_days: int = LEDGER_RETENTION_DAYS  # the per-request ledger (see meters.store.retention)
    monthly_retention_months: int = 25  # the reports' monthly aggregates (>= 13), whatever the ledger's
    lease_requests: int = 256  # see meters.store.portions; 0 = reserve every request in the store
    lease_s: float = 0.5

    @property
    def backend(self) -> str:
        return "redis" if self.redis_url else "embedded"


def parse_store(top: Block) -> StoreSettings:
    block = top.block("store", KNOWN)
    default = StoreSettings()
    redis_url = block.secret("redis_url").value or os.environ.get("REDIS_URL") or None
    on_failure = block.get("on_failure", default.on_failure)
    if on_failure not in (FAIL_OPEN, FAIL_CLOSED):
        raise block.fail("on_failure", f"must be fail_open or fail_closed, got {on_failure!r}")
    lease_requests = block.get("lease_requests", default.lease_requests)
    if isinstance(lease_requests, bool) or not isinstance(lease_requests, int) or lease_requests in (1,) or lease_requests < 0:
        raise block.fail("lease_requests", f"must be 0 (no leases) or an integer >= 2, got {lease_requests!r}")
    prefix = block.text("prefix", default.prefix) or default.prefix
    if "{" in prefix or "}" in prefix:  # before every Redis hash tag: it would become the tag of every key
        raise block.fail("prefix", f"must not contain braces, got {prefix!r}")
    state_dir = block.text("state_dir") or os.environ.get("CARBON_GATEWAY_STATE_DIR") or None
    return StoreSettings(
        redis_url=redis_url,
        state_dir=state_dir,
        prefix=prefix,
        on_failure=on_failure,
        ledger_retention_days=block.integer("ledger_retention_days", default.ledger_retention_days, low=1),
        monthly_retention_months=block.integer(
            "monthly_retention_months", default.monthly_retention_months, low=13
        ),
        lease_requests=lease_requests,
        lease_s=block.number("lease_s", default.lease_s, low=0, high=60, low_open=True, unit="seconds"),
    )
