"""Telemetry: what happened to each request, fanned out to metrics, traces and the access log.

Built once at start with the sinks the config turns on; nobody else checks whether a sink exists.
"""

from __future__ import annotations

import asyncio
import time

from gateway.config import ObservabilitySettings
from gateway.observability.logs import configure_logging, flush_access_log, log_request
from gateway.observability.metrics import Metrics
from gateway.observability.tracing import RequestTracer, configure_tracing
from meters.usage import UsageRecord

LOG_FLUSH_S = 0.2  # access lines reach stdout within this; one write per interval, not per request
BUDGET_ROLL_S = 30.0  # a budget gauge shows the new month's whole budget within this of the UTC month's start


class Telemetry:
    def __init__(
        self,
        settings: ObservabilitySettings,
        *,
        metrics: Metrics | None,
        tracer: RequestTracer | None,
        log_requests: bool,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self._tracer = tracer
        self._log = log_requests
        self._flusher: asyncio.Task[None] | None = None
        self._roller: asyncio.Task[None] | None = None

    @classmethod
    def build(cls, settings: ObservabilitySettings, where: str, known_models: list[str]) -> Telemetry:
        configure_logging(settings)
        metrics = Metrics(settings, known_models=known_models) if settings.metrics_enabled else None
        return cls(
            settings, metrics=metrics, tracer=configure_tracing(settings, where), log_requests=settings.log_requests
        )

    def start(self) -> None:
        if self._log:
            self._flusher = asyncio.create_task(_flush_every(LOG_FLUSH_S), name="access-log-flush")
        if self.metrics is not None:
            self._roller = asyncio.create_task(_roll_every(self.metrics, BUDGET_ROLL_S), name="budget-month-roll")

    def close(self) -> None:
        if self._roller is not None:
            self._roller.cancel()
        if self._flusher is not None:
            self._flusher.cancel()
            flush_access_log()
        if self._tracer is not None:
            self._tracer.shutdown()

    def finished(self, record: UsageRecord) -> None:
        """A request that produced usage (a response, or a stream that ended however it ended)."""
        if self.metrics is not None:
            self.metrics.observe_request(record)
        if self._tracer is not None:
            end_ns = time.time_ns()
            self._tracer.record(record, start_ns=end_ns - int((record.latency_s or 0.0) * 1e9), end_ns=end_ns)
        if self._log:
            log_request(
                record,
                request_id=record.request_id,
                client_request_id=record.client_request_id,
                tenant=record.tenant_id,
                model=record.model,
                status=record.status,
                latency_s=record.latency_s or 0.0,
                overhead_s=record.overhead_s,
            )

    def failed(
        self,
        *,
        request_id: str,
        client_request_id: str | None,
        tenant: str,
        model: str,
        provider: str,
        status: int,
        stream: bool,
        latency_s: float,
        error: str | None = None,
    ) -> None:
        """A request that produced no usage: refused, or failed before any answer."""
        if self.metrics is not None:
            if status == 401:
                self.metrics.observe_rejection(tenant=tenant, reason="unauthorized")
            self.metrics.observe_failure(
                tenant=tenant, model=model, provider=provider, status=status, stream=stream, latency_s=latency_s
            )
        if self._log:
            log_request(
                None,
                request_id=request_id,
                client_request_id=client_request_id,
                tenant=tenant,
                model=model,
                status=status,
                latency_s=latency_s,
                overhead_s=None,
                error=error,
            )

    def tracked(self, record: UsageRecord) -> None:
        """Usage booked through /v1/carbon/track (no request went upstream)."""
        if self.metrics is not None:
            self.metrics.observe_request(record)

    def upstream_error(self, *, model: str, provider: str, code: str) -> None:
        if self.metrics is not None:
            self.metrics.observe_upstream_error(model=model, provider=provider, code=code)

    def rejected(self, *, tenant: str, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.observe_rejection(tenant=tenant, reason=reason)

    def budget(self, *, tenant: str, kind: str, limit: float, remaining: float) -> None:
        if self.metrics is not None:
            self.metrics.set_budget_limit(tenant=tenant, kind=kind, value=limit)
            self.metrics.set_budget_remaining(tenant=tenant, kind=kind, value=remaining)

    def store_up(self, up: bool, backend: str) -> None:
        if self.metrics is not None:
            self.metrics.set_store_up(up, backend)


async def _roll_every(metrics: Metrics, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        metrics.roll_budgets()


async def _flush_every(interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        flush_access_log()
