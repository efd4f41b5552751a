"""Budget gauges follow the UTC month (issue 10, item 13): an exhausted budget's gauge written on the last day of
a month shows the whole budget again once the next month starts, without waiting for the tenant's next request
(the CarbonBudgetExhausted alert stops firing). A fake clock crosses the boundary."""

from __future__ import annotations

import calendar

from prometheus_client import CollectorRegistry

from gateway.config import ObservabilitySettings
from gateway.observability.metrics import Metrics

JAN_31_LATE = calendar.timegm((2031, 1, 31, 23, 59, 30))
FEB_1_EARLY = calendar.timegm((2031, 2, 1, 0, 0, 5))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _sample(registry: CollectorRegistry, name: str, tenant: str) -> float | None:
    return registry.get_sample_value(f"carbon_gateway_{name}", {"tenant": tenant, "kind": "gco2e"})


def test_an_exhausted_budget_is_whole_again_in_the_next_month() -> None:
    clock = Clock(JAN_31_LATE)
    registry = CollectorRegistry()
    metrics = Metrics(ObservabilitySettings(), ["demo"], registry=registry, clock=clock)
    metrics.set_budget_limit(tenant="acme", kind="gco2e", value=5.0)
    metrics.set_budget_remaining(tenant="acme", kind="gco2e", value=0.0)
    metrics.set_budget_limit(tenant="beta", kind="gco2e", value=2.0)
    metrics.set_budget_remaining(tenant="beta", kind="gco2e", value=0.5)

    assert metrics.roll_budgets() == 0  # still January: nothing to reset
    assert _sample(registry, "budget_remaining", "acme") == 0.0

    clock.now = FEB_1_EARLY
    assert metrics.roll_budgets() == 2
    assert _sample(registry, "budget_remaining", "acme") == 5.0  # ratio 1: the exhausted alert is over
    assert _sample(registry, "budget_remaining", "beta") == 2.0
    assert _sample(registry, "budget_limit", "acme") == 5.0

    metrics.set_budget_remaining(tenant="acme", kind="gco2e", value=4.2)  # February's first request
    assert metrics.roll_budgets() == 0
    assert _sample(registry, "budget_remaining", "acme") == 4.2


async def test_a_turns_budget_writes_land_at_its_end_and_a_roll_writes_them_first() -> None:
    """Under a running loop a remaining budget is written by the turn's flush (its last value per gauge); a month
    roll in the same turn flushes first, so a value set in the month that ended never outlives the reset."""
    import asyncio

    clock = Clock(JAN_31_LATE)
    registry = CollectorRegistry()
    metrics = Metrics(ObservabilitySettings(), ["demo"], registry=registry, clock=clock)
    metrics.set_budget_limit(tenant="acme", kind="gco2e", value=5.0)
    metrics.set_budget_remaining(tenant="acme", kind="gco2e", value=4.0)
    await asyncio.sleep(0)
    assert _sample(registry, "budget_remaining", "acme") == 4.0
    metrics.set_budget_remaining(tenant="acme", kind="gco2e", value=3.0)
    metrics.set_budget_remaining(tenant="acme", kind="gco2e", value=2.5)
    assert _sample(registry, "budget_remaining", "acme") == 4.0  # not yet: this turn has not ended
    await asyncio.sleep(0)
    assert _sample(registry, "budget_remaining", "acme") == 2.5

    metrics.set_budget_remaining(tenant="acme", kind="gco2e", value=0.0)  # January's last request
    clock.now = FEB_1_EARLY
    assert metrics.roll_budgets() == 1  # in the same turn, before its flush
    await asyncio.sleep(0)
    assert _sample(registry, "budget_remaining", "acme") == 5.0  # whole again, not January's 0
