"""The limit decision both backends share.

A backend reads, atomically, the `current` value of every check (used in the window plus
outstanding reservations) and reserves only when no blocking check would go over its
limit with this request added. The Redis Lua script applies the same rule as `exceeds`;
`decide` then turns the numbers into the outcome either backend returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from meters.limits import QUANTITY_OF, WINDOW_OF, LimitName, Policy, PolicyAction, Quantity, Scope, Window
from meters.store.values import Amounts, Exceeded, RateSnapshot
from meters.store.windows import Windows, from_nano, to_nano

_NANO_QUANTITIES = {Quantity.SPEND, Quantity.GCO2E}


@dataclass(frozen=True, slots=True)
class Check:
    scope_id: str
    limit: LimitName
    policy: Policy
    quantity: Quantity
    window: Window
    window_id: str
    limit_units: int
    blocks: bool


def to_units(quantity: Quantity, value: float) -> int:
    return to_nano(value) if quantity in _NANO_QUANTITIES else int(value)


def from_units(quantity: Quantity, units: int) -> float:
    return from_nano(units) if quantity in _NANO_QUANTITIES else units


def request_units(amounts: Amounts) -> dict[Quantity, int]:
    return {
        Quantity.REQUESTS: 1,
        Quantity.TOKENS: int(amounts.tokens),
        Quantity.SPEND: to_nano(amounts.spend),
        Quantity.GCO2E: to_nano(amounts.gco2e),
    }


def plan_checks(scopes: Sequence[Scope], windows: Windows, downgraded: bool) -> list[Check]:
    checks = []
    for scope in scopes:
        for limit, value in scope.limits.values.items():
            policy = scope.limits.policy(limit)
            blocks = policy.blocks and not (downgraded and policy.action is PolicyAction.DOWNGRADE)
            window = WINDOW_OF[limit]
            quantity = QUANTITY_OF[limit]
            checks.append(
                Check(
                    scope.scope_id,
                    limit,
                    policy,
                    quantity,
                    window,
                    windows.window_id(window),
                    to_units(quantity, value),
                    blocks,
                )
            )
    return checks


def exceeds(check: Check, current: int, units: dict[Quantity, int]) -> bool:
    return current + units[check.quantity] > check.limit_units


def lease_size(
    checks: Sequence[Check], currents: Sequence[int], units: dict[Quantity, int], wanted: int, share: int
) -> int:
    """How many requests' worth a lease may hold: at most `wanted`, and at most 1/`share` of the
    room any limit (warnings included) has left. Below 2 no lease is worth granting."""
    size = wanted
    for check, current in zip(checks, currents, strict=True):
        per_request = units[check.quantity] * share
        if per_request > 0:
            size = min(size, (check.limit_units - current) // per_request)
    return size


def scaled_units(units: dict[Quantity, int], count: int) -> dict[Quantity, int]:
    return {quantity: value * count for quantity, value in units.items()}


def decide(
    checks: Sequence[Check],
    currents: Sequence[int],
    units: dict[Quantity, int],
    windows: Windows,
    now: float,
    tenant_month_gco2e_units: int,
) -> tuple[list[Exceeded], list[Exceeded], RateSnapshot]:
    """(blocked, warnings, snapshot) from each check's current value."""
    blocked: list[Exceeded] = []
    warnings: list[Exceeded] = []
    for check, current in zip(checks, currents, strict=True):
        if not exceeds(check, current, units):
            continue
        exceeded = Exceeded(
            limit=check.limit,
            scope=check.scope_id,
            policy=check.policy,
            retry_after_s=max(1, math.ceil(windows.end(check.window) - now)),
            limit_value=from_units(check.quantity, check.limit_units),
            current=from_units(check.quantity, current),
        )
        (blocked if check.blocks else warnings).append(exceeded)
    reserved = not blocked
    return (
        blocked,
        warnings,
        _snapshot(checks, currents, units, reserved, windows, now, tenant_month_gco2e_units),
    )


def _snapshot(
    checks: Sequence[Check],
    currents: Sequence[int],
    units: dict[Quantity, int],
    reserved: bool,
    windows: Windows,
    now: float,
    tenant_month_gco2e_units: int,
) -> RateSnapshot:
    tightest: dict[LimitName, tuple[int, int]] = {}  # limit -> (limit_units, remaining_units)
    for check, current in zip(checks, currents, strict=True):
        used = current + (units[check.quantity] if reserved else 0)
        remaining = max(0, check.limit_units - used)
        best = tightest.get(check.limit)
        if best is None or remaining < best[1]:
            tightest[check.limit] = (check.limit_units, remaining)
    requests = tightest.get(LimitName.REQUESTS_PER_MINUTE)
    tokens = tightest.get(LimitName.TOKENS_PER_MINUTE)
    gco2e = tightest.get(LimitName.GCO2E_PER_MONTH)
    minute_reset = max(0.0, windows.minute_end - now)
    return RateSnapshot(
        requests_limit=requests[0] if requests else None,
        requests_remaining=requests[1] if requests else None,
        requests_reset_s=minute_reset if requests else None,
        tokens_limit=tokens[0] if tokens else None,
        tokens_remaining=tokens[1] if tokens else None,
        tokens_reset_s=minute_reset if tokens else None,
        gco2e_budget_remaining=from_nano(gco2e[1]) if gco2e else None,
        tenant_month_gco2e=from_nano(tenant_month_gco2e_units),
    )
