"""The running gateway: models, transports, store and observers, and the request lifecycle
hooks the proxy calls (authenticate → admit → send → finish → settle, or abandon)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request

from gateway import auth
from gateway.errors import GatewayError
from gateway.metering import UsageWriter, make_record
from gateway.observability.logs import flush_access_log
from gateway.providers import DEMO, LITELLM
from gateway.registry import ModelRuntime
from gateway.settings import GatewayConfig
from gateway.upstream import demo, litellm_backend
from gateway.upstream.base import UpstreamResponse
from gateway.upstream.passthrough import PassthroughClient
from meters.carbon import CarbonEngine, Estimate
from meters.store.portions import is_lease_portion
from meters.usage import UsageRecord

log = logging.getLogger("carbon_gateway")

_PATHS = {"chat.completions": "/chat/completions", "completions": "/completions", "embeddings": "/embeddings"}


@dataclass
class Admission:
    """A request let in: who, which model, and what it holds (a reservation, response headers)."""

    principal: auth.Principal
    runtime: ModelRuntime
    request_id: str
    reservation_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    stream: bool = False


class GatewayState:
    def __init__(
        self,
        config: GatewayConfig,
        models: dict[str, ModelRuntime],
        engine: CarbonEngine,
        *,
        store: Any = None,
        guard: Any = None,
        metrics: Any = None,
        access_log: Any = None,
        tracer: Any = None,
        observability: Any = None,
        master_key: str | None = None,
    ) -> None:
        self.config = config
        self.models = models
        self.engine = engine
        self.store = store
        self.guard = guard  # tenants, keys and limits (gateway.limits); None = anonymous, unlimited
        self.metrics = metrics
        self.access_log = access_log
        self.tracer = tracer
        self.observability = observability
        self.master_key = master_key
        self.client = PassthroughClient()
        self.writer = UsageWriter(self._write_many)
        self._pending: set[asyncio.Task[Any]] = set()
        self._log_flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.start()
        self.writer.start()
        if self.access_log is not None:
            self._log_flusher = asyncio.create_task(_flush_logs_every(LOG_FLUSH_S), name="access-log-flush")
        if any(m.route.kind == LITELLM for m in self.models.values()):
            await litellm_backend.warm_up()

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self.writer.close()
        if self._log_flusher is not None:
            self._log_flusher.cancel()
            flush_access_log()
        await self.client.close()
        if self.store is not None:
            await self.store.close()
        if self.tracer is not None:
            self.tracer.shutdown()

    # -- lifecycle -----------------------------------------------------------------------------
    async def authenticate(self, request: Request) -> auth.Principal:
        if self.guard is not None:
            return await self.guard.authenticate(request)
        if self.master_key is None:
            return auth.ANONYMOUS
        key = auth.presented_key(request)
        if key is None or not auth.same_secret(key, self.master_key):
            raise auth.unauthorized()
        return auth.Principal("master")

    def model(self, name: str) -> ModelRuntime:
        runtime = self.models.get(name)
        if runtime is None:
            raise GatewayError(
                404,
                f"The model '{name}' does not exist or is not served by this gateway.",
                param="model",
                code="model_not_found",
            )
        return runtime

    def fallbacks_for(self, name: str) -> list[ModelRuntime]:
        return [self.models[n] for n in self.config.fallbacks.get(name, ()) if n in self.models]

    async def admit(
        self,
        request: Request,
        principal: auth.Principal,
        runtime: ModelRuntime,
        payload: dict[str, Any],
        request_id: str,
    ) -> Admission:
        reason = runtime.unavailable_reason
        if reason is not None:
            raise GatewayError(503, reason, code="model_unavailable")
        admission = Admission(principal, runtime, request_id, stream=payload.get("stream") is True)
        admission.tags = parse_tags(request.headers.get("x-carbon-tags"))
        if self.guard is not None:
            await self.guard.admit(admission, payload)
        return admission

    async def send(
        self, runtime: ModelRuntime, endpoint: str, payload: dict[str, Any], stream: bool
    ) -> UpstreamResponse:
        route = runtime.route
        payload["model"] = route.upstream_model
        if route.kind == DEMO:
            return demo.respond(endpoint, payload, route.upstream_model)
        entry = runtime.entry
        if route.kind == LITELLM:
            return await litellm_backend.send(
                endpoint,
                payload,
                litellm_model=route.litellm_model,
                api_key=runtime.api_key,
                api_base=route.api_base,
                timeout_s=entry.timeout_s,
                max_retries=entry.max_retries,
                extra_params=entry.extra_params,
            )
        return await self.client.send(
            f"{route.api_base}{_PATHS[endpoint]}",
            orjson.dumps(payload),
            api_key=runtime.api_key,
            connect_timeout_s=entry.connect_timeout_s,
            read_timeout_s=entry.timeout_s,
            max_retries=entry.max_retries,
        )

    def finish(
        self,
        admission: Admission,
        runtime: ModelRuntime,
        endpoint: str,
        prompt: int,
        completion: int,
        estimate: Estimate,
        source: str,
        *,
        stream: bool,
        latency_s: float,
        ttft_s: float | None,
        overhead_s: float | None,
        status: int = 200,
    ) -> UsageRecord:
        principal = admission.principal
        record = make_record(
            request_id=admission.request_id,
            runtime=runtime,
            tenant_id=principal.tenant_id,
            key_id=principal.key_id,
            prompt_tokens=prompt,
            completion_tokens=completion,
            estimate=estimate,
            usage_source=source,
            tags=admission.tags,
            status=status,
            stream=stream,
            endpoint=endpoint,
            latency_s=latency_s,
            ttft_s=ttft_s,
            overhead_s=overhead_s,
        )
        if self.metrics is not None:
            self.metrics.observe_request(record)
        if self.tracer is not None:
            end_ns = time.time_ns()
            self.tracer.record(record, start_ns=end_ns - int(latency_s * 1e9), end_ns=end_ns)
        if self.access_log is not None:
            self.access_log(
                record,
                request_id=record.request_id,
                tenant=record.tenant_id,
                model=record.model,
                status=status,
                latency_s=latency_s,
                overhead_s=overhead_s,
            )
        return record

    def settle_soon(self, admission: Admission, record: UsageRecord) -> None:
        # A request reserved on its own (not from a lease) means its tenant is near a limit, where
        # its held worst case should become its real usage at once.
        reservation_id = admission.reservation_id
        urgent = reservation_id is not None and not is_lease_portion(reservation_id)
        self.writer.submit(reservation_id, record, urgent=urgent)

    async def abandon(self, admission: Admission, status: int, started: float) -> None:
        """The request failed before any usage: release what it held."""
        if admission.reservation_id is not None and self.guard is not None:
            await self.guard.release(admission.reservation_id)
        latency = time.perf_counter() - started
        runtime = admission.runtime
        if self.metrics is not None:
            self.metrics.observe_failure(
                tenant=admission.principal.tenant_id,
                model=runtime.name,
                provider=runtime.route.provider,
                status=status,
                stream=admission.stream,
                latency_s=latency,
            )
        if self.access_log is not None:
            self.access_log(
                None,
                request_id=admission.request_id,
                tenant=admission.principal.tenant_id,
                model=runtime.name,
                status=status,
                latency_s=latency,
                overhead_s=None,
            )

    def abandon_soon(self, admission: Admission, status: int, started: float) -> None:
        """`abandon` in a task of its own: a cancelled request cannot await it."""
        task = asyncio.create_task(self.abandon(admission, status, started))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # -- observers -----------------------------------------------------------------------------
    def observe_rejected(
        self,
        exc: GatewayError,
        started: float,
        request_id: str,
        principal: auth.Principal | None,
        runtime: ModelRuntime | None,
    ) -> None:
        """A request refused before it was forwarded (bad input, auth, unknown model, limits)."""
        tenant = principal.tenant_id if principal is not None else "unknown"
        model = runtime.name if runtime is not None else "unknown"
        latency = time.perf_counter() - started
        if self.metrics is not None:
            if exc.status == 401:
                self.metrics.observe_rejection(tenant=tenant, reason="unauthorized")
            self.metrics.observe_failure(
                tenant=tenant,
                model=model,
                provider=runtime.route.provider if runtime is not None else "none",
                status=exc.status,
                stream=False,
                latency_s=latency,
            )
        if self.access_log is not None:
            self.access_log(
                None,
                request_id=request_id,
                tenant=tenant,
                model=model,
                status=exc.status,
                latency_s=latency,
                overhead_s=None,
                error=exc.code,
            )

    def observe_upstream_error(self, runtime: ModelRuntime, code: str) -> None:
        if self.metrics is not None:
            self.metrics.observe_upstream_error(
                model=runtime.name, provider=runtime.route.provider, code=code
            )

    async def _write_many(self, items: list[tuple[str | None, UsageRecord]]) -> None:
        if self.store is not None:
            await self.store.count_many(items)


LOG_FLUSH_S = 0.2  # access lines reach stdout within this; one write per interval, not per request


async def _flush_logs_every(interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        flush_access_log()


def parse_tags(header: str | None) -> dict[str, str]:
    """`x-carbon-tags: k=v,k2=v2` → {"k": "v", "k2": "v2"}; at most 8 tags, 64 characters each."""
    if not header:
        return {}
    tags: dict[str, str] = {}
    for part in header.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip()[:64], value.strip()[:64]
        if sep and key and value and len(tags) < 8:
            tags[key] = value
    return tags
