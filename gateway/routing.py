"""The model router: the model a request names, its fallbacks, and the send through each model's `Upstream`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.deadlines import guarded
from gateway.endpoints import Endpoint
from gateway.errors import GatewayError, UpstreamError
from gateway.observability.telemetry import Telemetry
from gateway.redact import Redactor
from gateway.registry import ModelRegistry, ModelRuntime, api_key
from gateway.upstream.base import UpstreamResponse


@dataclass(slots=True)
class Sent:
    runtime: ModelRuntime  # the model that answered (a fallback, maybe)
    response: UpstreamResponse
    sent_at: float  # perf_counter when the answering attempt started


class Router:
    def __init__(self, registry: ModelRegistry, telemetry: Telemetry, *, stream_max_duration_s: float = 900.0) -> None:
        self.registry = registry
        self._telemetry = telemetry
        self.redact = Redactor(
            api_key(runtime.entry, runtime.route) for runtime in registry.models.values()
        )
        self._stream_max_duration_s = stream_max_duration_s

    def model(self, name: str) -> ModelRuntime:
        return self.registry.model(name)

    async def send(self, asked: ModelRuntime, endpoint: Endpoint, payload: dict[str, Any], *, stream: bool) -> Sent:
        """Try the model, then its configured fallbacks, on transport failures and 429/5xx."""
        candidates = [asked, *self.registry.fallbacks_for(asked.name)]
        for index, runtime in enumerate(candidates):
            is_last = index == len(candidates) - 1
            sent_at = time.perf_counter()
            payload["model"] = runtime.route.upstream_model
            try:
                response = await runtime.upstream.send(endpoint, payload, stream=stream)
            except UpstreamError as exc:
                self._observe(runtime, exc.code or str(exc.status))
                if is_last:
                    raise
                continue
            retryable = response.status == 429 or response.status >= 500
            if retryable and not is_last:
                self._observe(runtime, str(response.status))
                response.close()
                continue
            if stream and response.status < 400:
                response = self._deadlined(runtime, response)
            return Sent(runtime, response, sent_at)
        raise AssertionError("unreachable: the last candidate returns or raises")

    def _deadlined(self, runtime: ModelRuntime, response: UpstreamResponse) -> UpstreamResponse:
        """The stream's events under the model's idle timeout and the gateway's maximum duration."""
        idle_s, max_s = runtime.entry.stream_idle_s, self._stream_max_duration_s

        def chunks() -> AsyncIterator[bytes]:
            return guarded(response.iter_chunks(), idle_s=idle_s, max_s=max_s)

        return UpstreamResponse(response.status, response.headers, chunks=chunks, close=response.close)

    async def error_of(self, sent: Sent) -> GatewayError:
        """An upstream's error answer as the client's error: 4xx passed through, 5xx as 502."""
        status = sent.response.status
        body = await sent.response.read()
        self._observe(sent.runtime, str(status))
        message = f"upstream returned HTTP {status}"
        code: Any = None
        param: Any = None
        try:
            error = orjson.loads(body).get("error")
            if isinstance(error, dict):
                message = str(error.get("message") or message)
                code = error.get("code")
                param = error.get("param")
            elif isinstance(error, str):
                message = error
        except (orjson.JSONDecodeError, AttributeError):
            pass
        message = self.redact(message)
        if code is not None:
            code = self.redact(_as_text(code))
        if status < 500:
            kind = "invalid_request_error" if status != 429 else "rate_limit_error"
            # The field the upstream named stays named (a client fixes its request by it).
            named = None if param is None else self.redact(_as_text(param))
            return GatewayError(status, message, code=code, param=named, type=kind)
        return GatewayError(502, f"upstream error: {message}", code="upstream_error")

    def _observe(self, runtime: ModelRuntime, code: str) -> None:
        self._telemetry.upstream_error(model=runtime.name, provider=runtime.route.provider, code=code)


def _as_text(code: Any) -> str:
    """An upstream's error `code` or `param` as the string OpenAI's shape has (some upstreams send numbers or
    objects)."""
    if isinstance(code, str):
        return code
    try:
        return orjson.dumps(code).decode()[:200]
    except TypeError:  # nested beyond orjson's limit
        return type(code).__name__
