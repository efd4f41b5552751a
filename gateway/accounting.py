"""Accounting: from a finished request to its usage record, counted once, observed once.

The usage comes from the upstream's `usage` object, or, where it gave none (or nonsense), from the
gateway's own count (labelled `usage_source: gateway_count`). Finished requests go to telemetry and to
the usage writer; failed ones release what they held.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

from gateway import tokens
from gateway.admission import Admission
from gateway.auth import Principal
from gateway.dead_letters import DeadLetters
from gateway.endpoints import Endpoint
from gateway.errors import GatewayError
from gateway.observability.telemetry import Telemetry
from gateway.registry import ModelRuntime
from gateway.writer import UsageWriter
from meters.carbon import Estimate
from meters.store import Meter, Reservation, StoreUnavailable
from meters.usage import USAGE_COUNTED_BY_GATEWAY, USAGE_FROM_UPSTREAM, UsageRecord

log = logging.getLogger("carbon_gateway.metering")


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    source: str  # USAGE_FROM_UPSTREAM or USAGE_COUNTED_BY_GATEWAY

    def as_openai(self) -> dict[str, int]:
        total = self.prompt_tokens + self.completion_tokens
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": total,
        }


MAX_UPSTREAM_TOKENS = 10**9  # beyond this an upstream's count is nonsense (no context window is that long)


def sound_count(value: Any) -> TypeGuard[int]:
    """An upstream token count the gateway believes: an integer from 0 to MAX_UPSTREAM_TOKENS."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_UPSTREAM_TOKENS


def upstream_tokens(usage: Any) -> tuple[int, int] | None:
    """(prompt, completion) from an OpenAI `usage` object, or None when it is absent or malformed: counts that
    are negative, not integers or absurd are logged and treated as missing (the gateway then counts itself)."""
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens", 0)
    if completion is None:
        completion = 0
    if not sound_count(prompt) or not sound_count(completion):
        ignored_usage(prompt, completion)
        return None
    return prompt, completion


def ignored_usage(prompt: Any, completion: Any) -> None:
    log.warning(
        "upstream usage ignored, the gateway counts instead (usage_source: gateway_count): "
        "prompt=%.40r completion=%.40r (token counts must be integers from 0 to %d)",
        prompt,
        completion,
        MAX_UPSTREAM_TOKENS,
    )


def resolve_usage(
    endpoint: Endpoint, payload: dict[str, Any], usage: Any, completion_text: Callable[[], str]
) -> Usage:
    """The upstream's usage when it gave a sound one, else the gateway's own count of the prompt and of
    `completion_text()` (called only then: collecting the text costs)."""
    counted = upstream_tokens(usage)
    if counted is not None:
        return Usage(counted[0], counted[1], USAGE_FROM_UPSTREAM)
    completion = tokens.count_text(completion_text()) if endpoint.generates else 0
    return Usage(tokens.count_prompt(endpoint, payload), completion, USAGE_COUNTED_BY_GATEWAY)


def estimate(runtime: ModelRuntime, usage: Usage, upstream_s: float) -> Estimate:
    return runtime.factors.estimate(
        usage.prompt_tokens, usage.completion_tokens, upstream_s if runtime.metered_latency else None
    )


class Accounting:
    def __init__(
        self,
        meter: Meter,
        telemetry: Telemetry,
        dead_letters: DeadLetters | None = None,
        *,
        max_backlog: int = 100_000,
    ) -> None:
        self._meter = meter
        self._telemetry = telemetry
        self._dead_letters = dead_letters
        self.writer = UsageWriter(meter.count_many, on_failed=self._uncountable)
        self._max_backlog = max_backlog
        self._pending: set[asyncio.Task[None]] = set()

    def check_backlog(self) -> None:
        """Refuse new work (503 `usage_backlog`, retryable) while the usage writer holds `max_backlog` finished
        requests: a store slower than the traffic must not fill memory with usage a crash would lose. Requests
        already admitted, streams included, are still counted."""
        backlog = self.writer.backlog
        if backlog >= self._max_backlog:
            raise GatewayError(
                503,
                f"The gateway is {backlog:,} requests' usage behind its store (gateway.max_usage_backlog: "
                f"{self._max_backlog:,}); retry shortly.",
                code="usage_backlog",
                headers={"retry-after": "1"},
                retryable=True,
            )

    def _uncountable(self, reservation_id: str | None, record: UsageRecord, error: BaseException) -> None:
        """A record the store refused: kept for inspection, and what it held given back."""
        if self._dead_letters is not None:
            self._dead_letters.keep(reservation_id, record, error)
        else:
            log.error("usage record %s could not be counted: %r", record.request_id, error)
        if reservation_id:
            task = asyncio.create_task(self._meter.release(reservation_id))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def start(self) -> None:
        self.writer.start()

    async def close(self) -> None:
        await self.writer.close()  # its last batches may hand records to `_uncountable`: their releases next
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def finish(
        self,
        admission: Admission,
        runtime: ModelRuntime,
        usage: Usage,
        figure: Estimate,
        *,
        status: int,
        latency_s: float,
        ttft_s: float | None,
        overhead_s: float | None,
    ) -> UsageRecord:
        """Record a request that produced usage: observed now, counted by the writer shortly."""
        principal = admission.principal
        record = UsageRecord(
            request_id=admission.request_id,
            client_request_id=admission.client_request_id,
            timestamp=time.time(),
            tenant_id=principal.tenant_id,
            model=runtime.name,
            provider=runtime.route.provider,
            upstream_model=runtime.route.upstream_model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            estimate=figure,
            usage_source=usage.source,
            key_id=principal.key_id,
            spend=runtime.spend(usage.prompt_tokens, usage.completion_tokens),
            currency=runtime.currency,
            limit_spend=admission.limit_spend,
            tags=admission.tags,
            status=status,
            stream=admission.stream,
            latency_s=latency_s,
            ttft_s=ttft_s,
            overhead_s=overhead_s,
            endpoint=admission.endpoint.value,
            datacentre=runtime.datacentre,
        )
        self._telemetry.finished(record)
        self.writer.submit(admission.reservation_id, record, urgent=admission.urgent)
        return record

    def finish_stream(
        self,
        admission: Admission,
        runtime: ModelRuntime,
        measure: Callable[[], tuple[Usage, Estimate, float | None]],
        *,
        status: int,
        started: float,
        sent_at: float,
    ) -> None:
        """Count what a stream served, however it ended (`measure` gives its usage, figure and first-byte time);
        if even measuring it fails, release what it held."""
        try:
            usage, figure, first = measure()
            self.finish(
                admission,
                runtime,
                usage,
                figure,
                status=status,
                latency_s=time.perf_counter() - started,
                ttft_s=(first - started) if first else None,
                overhead_s=sent_at - started,
            )
        except Exception:
            log.exception("stream %s could not be metered; its reservation is released", admission.request_id)
            self.abandon_soon(admission, status, started)

    async def abandon(self, admission: Admission, status: int, started: float) -> None:
        """The request failed before any usage: release what it held."""
        if admission.reservation is not None:
            await self.release(admission.reservation)
        runtime = admission.runtime
        self._telemetry.failed(
            request_id=admission.request_id,
            client_request_id=admission.client_request_id,
            tenant=admission.principal.tenant_id,
            model=runtime.name,
            provider=runtime.route.provider,
            status=status,
            stream=admission.stream,
            latency_s=time.perf_counter() - started,
        )

    def abandon_soon(self, admission: Admission, status: int, started: float) -> None:
        """`abandon` in a task of its own: a cancelled request cannot await it."""
        task = asyncio.create_task(self.abandon(admission, status, started))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def release(self, reservation: Reservation) -> None:
        try:
            await self._meter.release(reservation)
        except StoreUnavailable:
            log.warning("could not release reservation %s: it expires on its own", reservation.reservation_id)

    def refused(
        self,
        exc: GatewayError,
        started: float,
        request_id: str,
        client_request_id: str | None,
        principal: Principal | None,
        runtime: ModelRuntime | None,
    ) -> None:
        """A request refused before it was forwarded (bad input, auth, unknown model, limits)."""
        self._telemetry.failed(
            request_id=request_id,
            client_request_id=client_request_id,
            tenant=principal.tenant_id if principal is not None else "unknown",
            model=runtime.name if runtime is not None else "unknown",
            provider=runtime.route.provider if runtime is not None else "none",
            status=exc.status,
            stream=False,
            latency_s=time.perf_counter() - started,
            error=exc.code,
        )
