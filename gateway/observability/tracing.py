"""Optional OpenTelemetry spans, one per request, with GenAI semantic-convention attributes.

Off by default. OpenTelemetry is imported only when tracing is enabled; when the packages are
missing, enabling tracing is a configuration error that says what to install.
"""

from __future__ import annotations

from typing import Any

from gateway.config import ObservabilitySettings
from meters.usage import UsageRecord

REQUIRED_PACKAGES = "opentelemetry-sdk opentelemetry-exporter-otlp-proto-http"
_OPERATION = {"chat.completions": "chat", "completions": "text_completion", "embeddings": "embeddings"}


def span_name(record: UsageRecord) -> str:
    return f"{_OPERATION.get(record.endpoint, record.endpoint)} {record.model}"


def span_attributes(record: UsageRecord) -> dict[str, Any]:
    """GenAI semconv attributes plus the carbon figures (None values left out: OTel rejects them)."""
    estimate = record.estimate
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": _OPERATION.get(record.endpoint, record.endpoint),
        "gen_ai.provider.name": record.provider,
        "gen_ai.request.model": record.model,
        "gen_ai.response.model": record.upstream_model,
        "gen_ai.usage.input_tokens": record.prompt_tokens,
        "gen_ai.usage.output_tokens": record.completion_tokens,
        "http.response.status_code": record.status,
        "carbon_gateway.request_id": record.request_id,
        "carbon_gateway.tenant": record.tenant_id,
        "carbon_gateway.stream": record.stream,
        "carbon_gateway.usage_source": record.usage_source,
        "carbon.gco2e": estimate.gco2e,
        "carbon.gco2e_min": estimate.gco2e_min,
        "carbon.gco2e_max": estimate.gco2e_max,
        "carbon.energy_wh": estimate.energy_wh,
        "carbon.water_ml": estimate.water_ml,
        "carbon.method": estimate.method,
        "carbon.boundary": estimate.boundary,
        "carbon.confidence": estimate.confidence,
        "carbon.source": estimate.source,
    }
    return {key: value for key, value in attributes.items() if value is not None}


class RequestTracer:
    """Turns finished requests into spans exported over OTLP/HTTP."""

    def __init__(self, settings: ObservabilitySettings, where: str, exporter: Any = None) -> None:
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise ValueError(
                f"{where}: observability.tracing_enabled: OpenTelemetry is not installed "
                f"(pip install {REQUIRED_PACKAGES})"
            ) from exc
        if exporter is None:
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            except ImportError as exc:
                raise ValueError(
                    f"{where}: observability.tracing_enabled: the OTLP exporter is not installed "
                    f"(pip install {REQUIRED_PACKAGES})"
                ) from exc
            exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint) if settings.otlp_endpoint else None
            exporter = exporter or OTLPSpanExporter()
        # A provider of our own: the gateway never touches the global one other libraries may set.
        self._provider = TracerProvider(resource=Resource.create({"service.name": "carbon-gateway"}))
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("carbon_gateway")

    def record(self, record: UsageRecord, *, start_ns: int, end_ns: int, error: str | None = None) -> None:
        """One CLIENT span covering the request, written after the fact with its real times."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        span = self._tracer.start_span(
            span_name(record), kind=SpanKind.CLIENT, attributes=span_attributes(record), start_time=start_ns
        )
        if error is not None or record.status >= 500:
            span.set_attribute("error.type", error or str(record.status))
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end_ns)

    def shutdown(self) -> None:
        self._provider.shutdown()


def configure_tracing(settings: ObservabilitySettings, where: str) -> RequestTracer | None:
    """None when tracing is off; a tracer, or a ValueError naming the missing packages."""
    if not settings.tracing_enabled:
        return None
    return RequestTracer(settings, where)
