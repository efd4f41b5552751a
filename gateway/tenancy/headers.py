"""Response headers a tenant sees: OpenAI's x-ratelimit-* and the carbon budget (names are a contract)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from meters.store import Exceeded, RateSnapshot

LIMIT_REQUESTS = "x-ratelimit-limit-requests"
REMAINING_REQUESTS = "x-ratelimit-remaining-requests"
RESET_REQUESTS = "x-ratelimit-reset-requests"
LIMIT_TOKENS = "x-ratelimit-limit-tokens"
REMAINING_TOKENS = "x-ratelimit-remaining-tokens"
RESET_TOKENS = "x-ratelimit-reset-tokens"
BUDGET_REMAINING_GCO2E = "x-carbon-budget-remaining-gco2e"
TENANT_MONTH_GCO2E = "x-carbon-tenant-month-gco2e"
DOWNGRADED_FROM = "x-carbon-downgraded-from"
LIMIT_WARNING = "x-carbon-limit-warning"
STORE_DEGRADED = "x-carbon-store-degraded"


def grams(value: float) -> str:
    return f"{value:.6g}"


def duration(seconds: float) -> str:
    """OpenAI's reset format: `42s`, `1m0s`."""
    return _whole_seconds(max(0, math.ceil(seconds)))


@functools.lru_cache(maxsize=4096)
def _whole_seconds(whole: int) -> str:
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def rate_headers(snapshot: RateSnapshot) -> dict[str, str]:
    """Headers for the limits that are set (a limit that is not set has no header)."""
    headers: dict[str, str] = {}
    requests_limit, tokens_limit = snapshot.requests_limit, snapshot.tokens_limit
    reset = None  # the requests' reset string, reused for the tokens' when they reset together (one minute)
    if requests_limit is not None:
        reset_s = snapshot.requests_reset_s or 0.0
        reset = duration(reset_s)
        headers[LIMIT_REQUESTS] = str(requests_limit)
        headers[REMAINING_REQUESTS] = str(snapshot.requests_remaining)
        headers[RESET_REQUESTS] = reset
    if tokens_limit is not None:
        tokens_reset_s = snapshot.tokens_reset_s or 0.0
        headers[LIMIT_TOKENS] = str(tokens_limit)
        headers[REMAINING_TOKENS] = str(snapshot.tokens_remaining)
        headers[RESET_TOKENS] = (
            reset if reset is not None and tokens_reset_s == reset_s else duration(tokens_reset_s)
        )
    if snapshot.gco2e_budget_remaining is not None:
        headers[BUDGET_REMAINING_GCO2E] = grams(snapshot.gco2e_budget_remaining)
    headers[TENANT_MONTH_GCO2E] = _month_grams(snapshot.tenant_month_gco2e)
    return headers


@functools.lru_cache(maxsize=256)
def _month_grams(value: float) -> str:
    """The tenant's month so far: the same figure for every request a lease admits (its grant's)."""
    return grams(value)


def warning_header(warnings: Sequence[Exceeded]) -> str:
    """`gco2e_per_month exceeded (t:acme: 12.5 of 10)`; several joined by `; `."""
    return "; ".join(
        f"{w.limit.value} exceeded ({w.scope}: {w.current:.6g} of {w.limit_value:.6g})" for w in warnings
    )
