"""The optional top-level `observability:` config block, validated into one frozen value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

_ENV_PREFIX = "os.environ/"
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


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
    otlp_endpoint: str | None = None

    @classmethod
    def from_config(cls, block: Mapping[str, Any] | None, where: str) -> ObservabilitySettings:
        """Parse the block; every error is a ValueError naming `where`, the key and the problem."""
        if block is None:
            return cls()
        if not isinstance(block, Mapping):
            raise ValueError(f"{where}: observability must be a mapping, got {type(block).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in block if k not in known)
        if unknown:
            expected = ", ".join(sorted(known))
            raise ValueError(f"{where}: observability.{unknown[0]}: unknown key (expected one of {expected})")
        values: dict[str, Any] = {}
        for key, raw in block.items():
            values[key] = _PARSERS[key](raw, f"{where}: observability.{key}")
        # otlp_endpoint may stay unset: the OTLP exporter then reads OTEL_EXPORTER_OTLP_ENDPOINT.
        return cls(**values)


def _bool(raw: Any, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    raise ValueError(f"{where}: must be true or false, got {raw!r}")


def _path(raw: Any, where: str) -> str:
    if isinstance(raw, str) and raw.startswith("/") and " " not in raw and len(raw) > 1:
        return raw
    raise ValueError(f"{where}: must be an absolute URL path such as /metrics, got {raw!r}")


def _port(raw: Any, where: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= 65535:
        return raw
    raise ValueError(f"{where}: must be a TCP port between 1 and 65535 (or null), got {raw!r}")


def _secret(raw: Any, where: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw:
        raise ValueError(f"{where}: must be a non-empty string or os.environ/VAR, got {type(raw).__name__}")
    if raw.startswith(_ENV_PREFIX):
        var = raw[len(_ENV_PREFIX) :]
        value = os.environ.get(var)
        if not value:
            raise ValueError(f"{where}: environment variable {var} is not set or empty")
        return value
    return raw


def _positive_int(raw: Any, where: str) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1:
        return raw
    raise ValueError(f"{where}: must be a positive integer, got {raw!r}")


def _log_level(raw: Any, where: str) -> str:
    if isinstance(raw, str) and raw.lower() in _LOG_LEVELS:
        return raw.lower()
    raise ValueError(f"{where}: must be one of {', '.join(_LOG_LEVELS)}, got {raw!r}")


def _endpoint(raw: Any, where: str) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str) and raw.startswith(("http://", "https://")):
        return raw
    raise ValueError(f"{where}: must be an http(s) URL, got {raw!r}")


_PARSERS = {
    "metrics_enabled": _bool,
    "metrics_path": _path,
    "metrics_port": _port,
    "metrics_bearer_token": _secret,
    "tenant_label": _bool,
    "max_models": _positive_int,
    "log_requests": _bool,
    "log_level": _log_level,
    "tracing_enabled": _bool,
    "otlp_endpoint": _endpoint,
}
