"""Finished requests' observations, summed per series and applied to Prometheus once per turn of the event loop.

prometheus_client takes a lock per counter increment (~0.3 µs) and walks the buckets in Python per histogram
observation (~1 µs); one request touched seven to nine of them (4.8 µs measured by tests/bench/bench_metrics.py).
Under load several requests finish in one turn of the loop: each now adds to plain sums and lists here, and the
first of a turn schedules one `flush` (`loop.call_soon`) that applies them, one increment per series, a histogram's
observations counted per bucket (`observe_all`). An observation is in the exposition by the next turn (`/metrics`
flushes first); outside a running loop (a script, a sync test) it is applied at once.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Protocol

from meters.usage import UsageRecord


class Series(Protocol):
    """The label-bound children one request's observations go to (`metrics._Children`)."""

    requests: Any
    emissions: Any

    def get(self, name: str) -> Any: ...


class Pending:
    """What a turn's requests of one label combination add: sums, and the latencies to bucket."""

    __slots__ = (
        "durations",
        "grams",
        "input_tokens",
        "joules",
        "litres",
        "output_tokens",
        "requests",
        "series",
        "spend",
        "ttfts",
    )

    def __init__(self, series: Series) -> None:
        self.series = series
        self.requests = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.grams = 0.0
        # None until a request reports one: binding a series exports it (a model without water shows none).
        self.joules: float | None = None
        self.litres: float | None = None
        self.spend: float | None = None
        self.durations: list[float] = []
        self.ttfts: list[float] = []

    def add(self, record: UsageRecord) -> None:
        estimate = record.estimate
        self.requests += 1
        self.input_tokens += record.prompt_tokens
        self.output_tokens += record.completion_tokens
        self.grams += max(estimate.gco2e, 0.0)
        if estimate.energy_wh is not None:
            self.joules = (self.joules or 0.0) + max(estimate.energy_wh, 0.0) * 3600.0
        if estimate.water_ml is not None:
            self.litres = (self.litres or 0.0) + max(estimate.water_ml, 0.0) / 1000.0
        if record.spend:
            self.spend = (self.spend or 0.0) + max(record.spend, 0.0)
        if record.latency_s is not None:
            self.durations.append(record.latency_s)
        if record.ttft_s is not None:
            self.ttfts.append(record.ttft_s)

    def apply(self) -> None:
        series = self.series
        series.requests.inc(self.requests)
        if self.input_tokens:
            series.get("input_tokens").inc(self.input_tokens)
        if self.output_tokens:
            series.get("output_tokens").inc(self.output_tokens)
        series.emissions.inc(self.grams)
        if self.joules is not None:
            series.get("energy").inc(self.joules)
        if self.litres is not None:
            series.get("water").inc(self.litres)
        if self.spend is not None:
            series.get("spend").inc(self.spend)
        if self.durations:
            observe_all(series.get("duration"), self.durations)
        if self.ttfts:
            observe_all(series.get("ttft"), self.ttfts)


def observe_all(histogram: Any, amounts: list[float]) -> None:
    """`histogram.observe(amount)` for each amount, bucket by bucket: each in the first bucket whose upper bound is
    at least it (none for NaN), as prometheus_client 0.26's `Histogram.observe` places it (its `_upper_bounds`,
    `_buckets` and `_sum`, pinned in pyproject.toml; tests compare the exposition with `observe`'s)."""
    histogram._raise_if_not_observable()
    bounds = histogram._upper_bounds
    counts: dict[int, int] = {}
    for amount in amounts:
        i = bisect_left(bounds, amount)
        if i < len(bounds) and amount <= bounds[i]:
            counts[i] = counts.get(i, 0) + 1
    histogram._sum.inc(sum(amounts))
    buckets = histogram._buckets
    for i, count in counts.items():
        buckets[i].inc(count)
