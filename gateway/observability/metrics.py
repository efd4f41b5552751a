"""Prometheus metrics for the gateway: tokens, carbon, energy, water, spend, latency, budgets.

Names follow Prometheus conventions (prefix `carbon_gateway_`, base units, `_total` counters).
Label cardinality is bounded: models outside the configured list (or past `max_models`) become
"other", and the tenant label can be collapsed to "all". With several uvicorn workers the
values live in PROMETHEUS_MULTIPROC_DIR and `render()` merges every worker's files.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

from gateway.config import ObservabilitySettings
from gateway.observability.batch import Pending, observe_all
from gateway.observability.multiprocess import MULTIPROC_ENV, prepare_multiprocess_dir
from meters.periods import month_of
from meters.usage import UsageRecord

# prepare_multiprocess_dir is re-exported: the CLI imports it from here.
__all__ = ["Metrics", "multiprocess_dir", "prepare_multiprocess_dir"]

PREFIX = "carbon_gateway_"
OTHER_MODEL = "other"
ALL_TENANTS = "all"

# Whole LLM requests run from milliseconds (demo, cached) to minutes (long generations).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# The gateway's own share should sit well under a millisecond; the upper buckets catch regressions.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

# Every name here is a classic one, so the 0.0.4 text format is exact and every Prometheus
# release (Debian's 2.42 included) negotiates it.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# `_created` series double every counter's series count for no dashboard value.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()) or None


_CACHE_LIMIT = 4096


# tenant, model, provider, status, method, boundary, water boundary, currency, stream
_CacheKey = tuple[str, str, str, int, str, str, str, str, bool]


class _Children:
    """The label-bound series one request touches, for one label combination.

    Optional series are bound on first use: binding exports a 0 sample, and a model that
    never reports water must not show a water series.
    """

    __slots__ = ("_bound", "_key", "_metrics", "emissions", "requests")

    def __init__(self, metrics: Metrics, key: _CacheKey) -> None:
        tenant, model, provider, status, method, boundary, _, _, _ = key
        self._metrics = metrics
        self._key = key
        self._bound: dict[str, Any] = {}
        self.requests = metrics.requests.labels(tenant, model, provider, str(status))
        self.emissions = metrics.emissions.labels(tenant, model, method, boundary)

    def get(self, name: str) -> Any:
        child = self._bound.get(name)
        if child is None:
            child = self._bound[name] = self._bind(name)
        return child

    def _bind(self, name: str) -> Any:
        m = self._metrics
        tenant, model, _, _, _, _, water_boundary, currency, stream = self._key
        stream_label = "true" if stream else "false"
        if name == "input_tokens":
            return m.tokens.labels(tenant, model, "input")
        if name == "output_tokens":
            return m.tokens.labels(tenant, model, "output")
        if name == "energy":
            return m.energy.labels(tenant, model)
        if name == "water":
            return m.water.labels(tenant, model, water_boundary)
        if name == "spend":
            return m.spend.labels(tenant, model, currency)
        if name == "duration":
            return m.request_duration.labels(model, stream_label)
        if name == "ttft":
            return m.ttft.labels(model, stream_label)
        raise KeyError(name)


class Metrics:
    """Every metric the gateway exports, with bounded labels."""

    def __init__(
        self,
        settings: ObservabilitySettings,
        known_models: Iterable[str],
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.multiprocess_dir = multiprocess_dir()
        if self.multiprocess_dir and values.ValueClass is values.MutexValue:
            # prometheus_client picks its value store when first imported: values would stay per-process.
            raise RuntimeError(
                f"{MULTIPROC_ENV} was set after prometheus_client was imported; "
                "set it (prepare_multiprocess_dir) before the workers import the gateway"
            )
        # Deterministic across workers: the first max_models configured names, in config order.
        self._models = frozenset(list(dict.fromkeys(known_models))[: settings.max_models])
        self._tenant_label = settings.tenant_label
        self._cache: dict[_CacheKey, _Children] = {}
        self._pending: dict[_CacheKey, Pending] = {}  # this turn's requests, per label combination
        self._overheads: list[float] = []
        self._flush_soon = False
        if self.multiprocess_dir:
            # Values go to the shared files; render() builds a fresh registry over them.
            self.registry = None
        else:
            self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._build(self.registry)

    def _build(self, registry: CollectorRegistry | None) -> None:
        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(PREFIX + name, doc, labels, registry=registry)

        self.requests = counter(
            "requests", "Requests served, by outcome.", ("tenant", "model", "provider", "status")
        )
        self.tokens = counter("tokens", "Tokens processed (type=input|output).", ("tenant", "model", "type"))
        self.emissions = counter(
            "emissions_grams", "Estimated emissions in grams CO2e, by estimation method and boundary.",
            ("tenant", "model", "method", "boundary"),
        )  # fmt: skip
        self.energy = counter("energy_joules", "Estimated energy in joules.", ("tenant", "model"))
        self.water = counter(
            "water_litres", "Estimated water consumption in litres, by water boundary.",
            ("tenant", "model", "water_boundary"),
        )  # fmt: skip
        self.spend = counter("spend", "Spend in the named currency.", ("tenant", "model", "currency"))
        self.upstream_errors = counter(
            "upstream_errors", "Errors returned by or reaching the upstream.", ("model", "provider", "code")
        )
        self.rejections = counter("rejections", "Requests refused by the gateway.", ("tenant", "reason"))
        self.request_duration = Histogram(
            PREFIX + "request_duration_seconds", "Whole request duration as the client saw it.",
            ("model", "stream"), registry=registry, buckets=REQUEST_BUCKETS,
        )  # fmt: skip
        self.ttft = Histogram(
            PREFIX + "time_to_first_token_seconds", "Time to the first streamed token.",
            ("model", "stream"), registry=registry, buckets=TTFT_BUCKETS,
        )  # fmt: skip
        self.overhead = Histogram(
            PREFIX + "overhead_seconds", "Time the gateway itself added to a request.",
            registry=registry, buckets=OVERHEAD_BUCKETS,
        )  # fmt: skip
        # Gauges written by any worker: the latest write wins across processes.
        self.budget_remaining = Gauge(
            PREFIX + "budget_remaining", "What is left of a tenant's budget this period (kind's unit).",
            ("tenant", "kind"), registry=registry, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.budget_limit = Gauge(
            PREFIX + "budget_limit", "A tenant's budget for the period (kind's unit).",
            ("tenant", "kind"), registry=registry, multiprocess_mode="mostrecent",
        )  # fmt: skip
        self._budget_children: dict[tuple[str, str], tuple[Any, Any]] = {}
        # The UTC month of each budget gauge's last write, and its limit: at the next month the gauge is set
        # back to the limit (`roll_budgets`), else an exhausted budget's alert would fire into the new month
        # until the tenant's next request.
        self._budget_months: dict[tuple[str, str], str] = {}
        self._budget_pending: dict[tuple[str, str], float] = {}  # remaining budgets set this turn, by gauge
        self._budget_pending_month = ""  # the UTC month they were set in
        self._month_second, self._month = -1, ""
        self._budget_limits: dict[tuple[str, str], float] = {}
        # Summed over a host's workers: finished requests whose usage is not in the store yet.
        self.writer_backlog = Gauge(
            PREFIX + "usage_writer_backlog", "Finished requests whose usage waits for the store (queued in memory).",
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        # Labelled so that nothing is exported (and no alert fires) before the first health check.
        self.store_up = Gauge(
            PREFIX + "store_up", "1 when the counter store answers, else 0 (backend=redis|embedded).",
            ("backend",), registry=registry, multiprocess_mode="mostrecent",
        )  # fmt: skip

    # -- label bounding ---------------------------------------------------------------------

    def model_label(self, model: str) -> str:
        return model if model in self._models else OTHER_MODEL

    def tenant_label(self, tenant: str) -> str:
        return tenant if self._tenant_label else ALL_TENANTS

    # -- observations ---------------------------------------------------------------------

    def observe_request(self, record: UsageRecord) -> None:
        """Count one request that produced usage (a response, possibly a failed stream): summed with the other
        requests of this turn of the loop, applied at its end (`batch.py`)."""
        estimate = record.estimate
        key = (
            self.tenant_label(record.tenant_id),
            self.model_label(record.model),
            record.provider,
            record.status,
            str(estimate.method),
            str(estimate.boundary),
            str(estimate.water_boundary),
            record.currency,
            record.stream,
        )
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = Pending(self._children(key))
        pending.add(record)
        if record.overhead_s is not None:
            self._overheads.append(record.overhead_s)
        if not self._flush_soon:
            self._flush_later()

    def _flush_later(self) -> None:
        """Have this turn's observations applied at its end (at once outside a running loop)."""
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no loop running here: at once
            self.flush()
            return
        self._flush_soon = True

    def flush(self) -> None:
        """Apply the observations summed since the last flush."""
        self._flush_soon = False
        pending, self._pending = self._pending, {}
        for series in pending.values():
            series.apply()
        if self._overheads:
            overheads, self._overheads = self._overheads, []
            observe_all(self.overhead, overheads)
        if self._budget_pending:
            budgets, self._budget_pending = self._budget_pending, {}
            month = self._budget_pending_month
            for (tenant, kind), value in budgets.items():
                self._budget_gauges(tenant, kind)[1].set(value)
                self._budget_months[(tenant, kind)] = month

    def _children(self, key: _CacheKey) -> _Children:
        # labels() takes a lock and builds a key per call; one dict hit replaces up to nine.
        children = self._cache.get(key)
        if children is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            children = self._cache[key] = _Children(self, key)
        return children

    def observe_failure(
        self, *, tenant: str, model: str, provider: str, status: int, stream: bool, latency_s: float
    ) -> None:
        """Count a request that produced no usage (error, rejection)."""
        model_label = self.model_label(model)
        self.requests.labels(self.tenant_label(tenant), model_label, provider, str(status)).inc()
        self.request_duration.labels(model_label, "true" if stream else "false").observe(latency_s)

    def observe_upstream_error(self, *, model: str, provider: str, code: str) -> None:
        self.upstream_errors.labels(self.model_label(model), provider, code).inc()

    def observe_rejection(self, *, tenant: str, reason: str) -> None:
        self.rejections.labels(self.tenant_label(tenant), reason).inc()

    def set_budget_remaining(self, *, tenant: str, kind: str, value: float) -> None:
        # With the tenant label off, per-tenant budgets cannot be told apart: export none.
        # Every tenant request sets it: the turn's last value per gauge is written by the turn's flush.
        if self._tenant_label:
            pending = self._budget_pending
            if not pending:  # the first this turn: the turn's values are noted in this month
                self._budget_pending_month = self._month_now()
            pending[(tenant, kind)] = value
            if not self._flush_soon:
                self._flush_later()

    def _month_now(self) -> str:
        """The UTC month now, worked out once a second (budget gauges are set on most turns of the loop)."""
        second = int(self._clock())
        if second != self._month_second:
            self._month_second, self._month = second, month_of(second)
        return self._month

    def set_budget_limit(self, *, tenant: str, kind: str, value: float) -> None:
        # Set on every tenant request; a limit seldom changes: the gauge is written when it does.
        if self._tenant_label and self._budget_limits.get((tenant, kind)) != value:
            self._budget_gauges(tenant, kind)[0].set(value)
            self._budget_limits[(tenant, kind)] = value

    def roll_budgets(self) -> int:
        """Budgets are per UTC calendar month: a gauge last written in an earlier month shows its whole limit
        again (nothing is spent yet in this month). Run periodically by every worker (each resets what it
        wrote, so the most recent write, across workers, is the reset). Returns how many were reset."""
        self.flush()  # a value set in the month that ended is written first, then reset
        month = month_of(self._clock())
        stale = [key for key, written in self._budget_months.items() if written != month]
        for key in stale:
            limit = self._budget_limits.get(key)
            if limit is not None:
                self._budget_gauges(*key)[1].set(limit)
            self._budget_months[key] = month
        return len(stale)

    def _budget_gauges(self, tenant: str, kind: str) -> tuple[Any, Any]:
        """(limit, remaining) children, looked up once: `labels()` costs more than `set()`, per request."""
        gauges = self._budget_children.get((tenant, kind))
        if gauges is None:
            gauges = (self.budget_limit.labels(tenant, kind), self.budget_remaining.labels(tenant, kind))
            self._budget_children[(tenant, kind)] = gauges
        return gauges

    def set_store_up(self, up: bool, backend: str = "redis") -> None:
        self.store_up.labels(backend).set(1.0 if up else 0.0)

    def set_writer_backlog(self, records: int) -> None:
        self.writer_backlog.set(records)

    # -- exposition -----------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The exposition body (all workers merged in multiprocess mode) and its content type."""
        self.flush()
        if self.multiprocess_dir:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE
        assert self.registry is not None
        return generate_latest(self.registry), CONTENT_TYPE
