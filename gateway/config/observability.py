"""The `observability:` block: metrics, access log and tracing settings."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, fields

from gateway.config.reader import Block

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
TRACING_PACKAGES = "opentelemetry-sdk opentelemetry-exporter-otlp-proto-http"


@dataclass(frozen=True)
class ObservabilitySettings:
    metrics_enabled: bool = True
    metrics_path: str = "/metrics"
    metrics_port: int | None = None  # serve /metrics on its own port instead of the API port
    metrics_bearer_token: str | None = None
    tenant_label: bool = True  # False: every series gets tenant="all" (bounded cardinality)
    max_models: int = 50
    log_requests: bool = True
    log_level: str = "info"
    tracing_enabled: bool = False
    otlp_endpoint: str | None = None  # unset: the OTLP exporter reads OTEL_EXPORTER_OTLP_ENDPOINT


KNOWN = frozenset(f.name for f in fields(ObservabilitySettings))


def parse_observability(top: Block) -> ObservabilitySettings:
    block = top.block("observability", KNOWN)
    default = ObservabilitySettings()
    path = block.get("metrics_path", default.metrics_path)
    if not (isinstance(path, str) and path.startswith("/") and " " not in path and len(path) > 1):
        raise block.fail("metrics_path", f"must be an absolute URL path such as /metrics, got {path!r}")
    port = block.get("metrics_port")
    if port is not None:
        port = block.integer("metrics_port", 0, low=1, high=65535)
    token = None
    if block.has("metrics_bearer_token"):
        secret = block.secret("metrics_bearer_token")
        if secret.value is None:
            raise block.fail("metrics_bearer_token", f"environment variable {secret.var} is not set or empty")
        token = secret.value
    level = block.get("log_level", default.log_level)
    if not isinstance(level, str) or level.lower() not in LOG_LEVELS:
        raise block.fail("log_level", f"must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    tracing = block.boolean("tracing_enabled", default.tracing_enabled)
    if tracing and not _tracing_installed():
        raise block.fail("tracing_enabled", f"OpenTelemetry is not installed (pip install {TRACING_PACKAGES})")
    return ObservabilitySettings(
        metrics_enabled=block.boolean("metrics_enabled", default.metrics_enabled),
        metrics_path=path,
        metrics_port=port,
        metrics_bearer_token=token,
        tenant_label=block.boolean("tenant_label", default.tenant_label),
        max_models=block.integer("max_models", default.max_models, low=1),
        log_requests=block.boolean("log_requests", default.log_requests),
        log_level=level.lower(),
        tracing_enabled=tracing,
        otlp_endpoint=block.url("otlp_endpoint"),
    )


def _tracing_installed() -> bool:
    try:
        return all(
            importlib.util.find_spec(name) is not None
            for name in ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http.trace_exporter")
        )
    except ModuleNotFoundError:
        return False
