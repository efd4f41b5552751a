"""The gateway's YAML config, read once into typed values: LiteLLM's `model_list` shape plus
carbon-gateway's own blocks. `check-config` and `serve` both use `load_config`; every error names the
file, the key and the reason (`ConfigError`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.config.errors import ConfigError
from gateway.config.models import ModelEntry, parse_fallbacks, parse_models
from gateway.config.observability import ObservabilitySettings, parse_observability
from gateway.config.reader import Block
from gateway.config.store import StoreSettings, parse_store
from gateway.config.tenants import StaticTenant, parse_tenants
from meters.audited import AuditedImportError, SkuPattern, parse_sku_patterns
from meters.paths import data_dir

CONFIG_ENV = "CARBON_GATEWAY_CONFIG"
TOP_LEVEL_KEYS = frozenset(
    {"model_list", "router_settings", "gateway", "carbon", "store", "tenants", "observability"}
)
GATEWAY_KEYS = frozenset(
    {"max_body_bytes", "reserve_completion_tokens", "key_cache_ttl_s", "stream_max_duration_s", "body_timeout_s",
     "allow_anonymous", "max_usage_backlog"}
)
# The rest of `carbon:` is the engine's.
GATEWAY_CARBON_KEYS = frozenset({"body", "stream_usage", "calibrate_from_audited", "audited_sku_patterns"})
STREAM_USAGE = ("asked", "always")


@dataclass(frozen=True)
class GatewaySettings:
    """The `gateway:` block."""

    max_body_bytes: int = 10 * 1024 * 1024
    reserve_completion_tokens: int = 1024  # reserved when a request sets no max_tokens
    # How long a worker trusts a key lookup: a revocation or a tenant's new limits reach the other
    # workers and replicas within this (the worker that revokes forgets at once). 0 = ask every time.
    key_cache_ttl_s: float = 1.0
    # A stream ends (with an error event) after this long, whatever the upstream still sends; its reservation
    # is settled then. Each model's `stream_timeout` bounds the wait between two events.
    stream_max_duration_s: float = 900.0
    # A client that has not sent its whole body this long after its headers gets a 408 and is closed.
    body_timeout_s: float = 30.0
    # Serve without keys on an address beyond loopback (`serve --allow-anonymous` says the same).
    allow_anonymous: bool = False
    # New requests get a 503 `usage_backlog` while the usage writer holds this many finished requests' usage in
    # memory (a store that falls behind must not fill the process with usage a crash would lose).
    max_usage_backlog: int = 100_000


@dataclass(frozen=True)
class CarbonSettings:
    """The `carbon:` block: `body` is the gateway's; the rest configures meters.carbon's engine."""

    body: bool = True  # add usage.carbon to response bodies (headers are always sent)
    # `asked`: a stream ends with a usage chunk (carrying usage.carbon) when the client asked for one
    # (stream_options.include_usage), else with an SSE comment; `always`: every stream ends with one.
    stream_usage: str = "asked"
    engine: Mapping[str, Any] = field(default_factory=dict)
    # Scale later live estimates of an audited model by its latest audited/estimated ratio (method
    # `calibrated`, the source naming the audited month); never labelled `measured`.
    calibrate_from_audited: bool = False
    # SKU -> model patterns for audited imports ({pattern, model?}); then "a configured model id in the SKU".
    audited_sku_patterns: tuple[SkuPattern, ...] = ()


@dataclass(frozen=True)
class GatewayConfig:
    path: str
    models: tuple[ModelEntry, ...]
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    carbon: CarbonSettings = field(default_factory=CarbonSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    tenants: tuple[StaticTenant, ...] = ()
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)

    def model(self, name: str) -> ModelEntry | None:
        return next((entry for entry in self.models if entry.model_name == name), None)


def default_config_path() -> Path:
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else data_dir() / "gateway.yaml"


def load_config(path: str | Path | None = None) -> GatewayConfig:
    path = Path(path) if path else default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot read: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(path, "(yaml)", f"not valid YAML: {exc}") from None
    return parse_config(raw, path)


def parse_config(raw: object, path: str | Path) -> GatewayConfig:
    top = Block(path, "", raw, None)
    for key in top.raw:
        if key not in TOP_LEVEL_KEYS:
            expected = ", ".join(sorted(TOP_LEVEL_KEYS))
            raise top.fail(str(key), f"unknown top-level key (expected one of {expected})")
    models = parse_models(top)
    names = {entry.model_name for entry in models}
    return GatewayConfig(
        path=str(path),
        models=models,
        fallbacks=parse_fallbacks(top, names),
        gateway=_parse_gateway(top),
        carbon=_parse_carbon(top),
        store=parse_store(top),
        tenants=parse_tenants(top, names),
        observability=parse_observability(top),
    )


def _parse_gateway(top: Block) -> GatewaySettings:
    block = top.block("gateway", GATEWAY_KEYS)
    default = GatewaySettings()
    max_body = block.get("max_body_bytes", default.max_body_bytes)
    if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body <= 0:
        raise block.fail("max_body_bytes", f"must be a positive integer, got {max_body!r}")
    return GatewaySettings(
        max_body_bytes=max_body,
        reserve_completion_tokens=block.integer(
            "reserve_completion_tokens", default.reserve_completion_tokens, low=0, high=10_000_000
        ),
        key_cache_ttl_s=block.number("key_cache_ttl_s", default.key_cache_ttl_s, low=0, high=300, unit="seconds"),
        stream_max_duration_s=block.number(
            "stream_max_duration_s", default.stream_max_duration_s, low=1, high=86400, unit="seconds"
        ),
        allow_anonymous=block.boolean("allow_anonymous", False),
        body_timeout_s=block.number("body_timeout_s", default.body_timeout_s, low=0.1, high=3600, unit="seconds"),
        max_usage_backlog=block.integer("max_usage_backlog", default.max_usage_backlog, low=1, high=100_000_000),
    )


def _parse_carbon(top: Block) -> CarbonSettings:
    block = top.block("carbon", None)  # the engine refuses unknown keys (meters.carbon.overrides)
    return CarbonSettings(
        body=block.boolean("body", True),
        stream_usage=block.choice("stream_usage", "asked", STREAM_USAGE),
        engine={key: value for key, value in block.raw.items() if key not in GATEWAY_CARBON_KEYS},
        calibrate_from_audited=block.boolean("calibrate_from_audited", False),
        audited_sku_patterns=_sku_patterns(block),
    )


def _sku_patterns(block: Block) -> tuple[SkuPattern, ...]:
    try:
        return parse_sku_patterns(block.get("audited_sku_patterns"), "audited_sku_patterns")
    except AuditedImportError as exc:
        raise block.fail(exc.param or "audited_sku_patterns", exc.reason) from None
