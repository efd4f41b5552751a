"""Response header values from a reservation's snapshot (names and formats only: no HTTP here)."""

from __future__ import annotations

from meters.store.base import RateSnapshot


def duration(seconds: float) -> str:
    """OpenAI's reset format: "20ms", "1s", "6m0s"."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def rate_limit_headers(snapshot: RateSnapshot) -> dict[str, str]:
    """x-ratelimit-* for the tightest per-minute limits, and the tenant's carbon budget."""
    headers: dict[str, str] = {}
    if snapshot.requests_limit is not None:
        headers["x-ratelimit-limit-requests"] = str(snapshot.requests_limit)
        headers["x-ratelimit-remaining-requests"] = str(snapshot.requests_remaining)
        headers["x-ratelimit-reset-requests"] = duration(snapshot.requests_reset_s or 0.0)
    if snapshot.tokens_limit is not None:
        headers["x-ratelimit-limit-tokens"] = str(snapshot.tokens_limit)
        headers["x-ratelimit-remaining-tokens"] = str(snapshot.tokens_remaining)
        headers["x-ratelimit-reset-tokens"] = duration(snapshot.tokens_reset_s or 0.0)
    if snapshot.gco2e_budget_remaining is not None:
        headers["x-carbon-budget-remaining-gco2e"] = f"{snapshot.gco2e_budget_remaining:.6f}"
    headers["x-carbon-tenant-month-gco2e"] = f"{snapshot.tenant_month_gco2e:.6f}"
    return headers
