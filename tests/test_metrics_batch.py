"""Observations summed per turn of the event loop (gateway/observability/batch.py) export what one-by-one
observations export: the same series, the same counts and buckets, sums equal but for float rounding."""

from __future__ import annotations

import asyncio
import math

import pytest
from prometheus_client import CollectorRegistry, Histogram

from gateway.observability.batch import observe_all
from gateway.observability.metrics import OVERHEAD_BUCKETS, REQUEST_BUCKETS
from meters.carbon.estimate import Estimate
from tests.test_metrics import make_metrics, make_record


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def _same(batched: dict, direct: dict) -> None:
    assert batched.keys() == direct.keys()
    for key, value in direct.items():
        assert math.isclose(batched[key], value, rel_tol=1e-12, abs_tol=1e-15), key


def _records() -> list:
    """Requests across label combinations, with and without energy, water, spend, a stream's TTFT, latencies on
    and between bucket bounds."""
    no_water = Estimate(**{**make_record().estimate._asdict(), "water_ml": None, "energy_wh": None})
    records = []
    for i, latency in enumerate([*REQUEST_BUCKETS, 0.0, 0.0031, 0.7, 500.0]):
        records.append(
            make_record(
                request_id=f"r{i}",
                latency_s=latency,
                overhead_s=OVERHEAD_BUCKETS[i % len(OVERHEAD_BUCKETS)] * (1 if i % 3 else 1.5),
                model="demo" if i % 2 else "llama-3.1-8b-instruct",
                estimate=no_water if i % 4 == 0 else make_record().estimate,
                spend=0.0 if i % 5 == 0 else 0.001 * i,
                stream=i % 3 == 0,
                ttft_s=latency / 2 if i % 3 == 0 else None,
                prompt_tokens=i,
                completion_tokens=0 if i % 7 == 0 else 3,
            )
        )
    return records


async def test_one_turns_requests_export_what_one_by_one_observations_do() -> None:
    direct, direct_registry = make_metrics()
    for record in _records():
        direct.observe_request(record)  # no loop runs here: applied at once, one by one
        direct.flush()
    batched, registry = make_metrics()
    for record in _records():
        batched.observe_request(record)
    # Nothing applied before the turn ends (the series exist, bound, at 0); all of it after.
    assert registry.get_sample_value("carbon_gateway_requests_total", {
        "tenant": "acme", "model": "demo", "provider": "demo", "status": "200"}) == 0  # fmt: skip
    await asyncio.sleep(0)
    _same(_samples(registry), _samples(direct_registry))


def test_no_loop_running_applies_at_once() -> None:
    metrics, registry = make_metrics()
    metrics.observe_request(make_record())
    assert registry.get_sample_value("carbon_gateway_tokens_total", {
        "tenant": "acme", "model": "demo", "type": "input"}) == 12  # fmt: skip


async def test_render_flushes_first() -> None:
    metrics, _ = make_metrics()
    metrics.observe_request(make_record(prompt_tokens=77))
    body, _ = metrics.render()
    assert b'carbon_gateway_tokens_total{model="demo",tenant="acme",type="input"} 77.0' in body


@pytest.mark.parametrize("amounts", [
    [0.0, 0.005, 0.0050001, 0.01, 1.0, 119.9, 120.0, 120.1, 1e9],
    [float("nan"), 0.2, float("inf"), -1.0],
    [],
])  # fmt: skip
def test_observe_all_places_amounts_as_observe_does(amounts: list[float]) -> None:
    one, many = CollectorRegistry(), CollectorRegistry()
    by_one = Histogram("h", "h", registry=one, buckets=REQUEST_BUCKETS)
    for amount in amounts:
        by_one.observe(amount)
    observe_all(Histogram("h", "h", registry=many, buckets=REQUEST_BUCKETS), amounts)
    a, b = _samples(one), _samples(many)
    sums = [key for key in a if key[0] == "h_sum"]
    for key in sums:
        x, y = a.pop(key), b.pop(key)
        assert (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-12)
    assert a == b
