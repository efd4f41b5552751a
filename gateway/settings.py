"""The gateway's YAML config: LiteLLM's `model_list` shape plus carbon-gateway's own blocks.

Validated once at start; every error names the file, the key and the problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meters.limits import LimitName
from meters.paths import data_dir
from meters.tenants import Tenant, key_hash_from_config

ENV_PREFIX = "os.environ/"
DEFAULT_CONFIG_ENV = "CARBON_GATEWAY_CONFIG"
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
# How long a worker trusts a key lookup: a revocation or a tenant's new limits reach the other
# workers and replicas within this (the worker that revokes forgets at once). 0 = ask every time.
DEFAULT_KEY_CACHE_TTL_S = 1.0
DEFAULT_RESERVE_COMPLETION_TOKENS = 1024  # reserved when a request sets no max_tokens


class ConfigError(ValueError):
    def __init__(self, path: str | Path, key: str, problem: str) -> None:
        super().__init__(f"{path}: {key}: {problem}")
        self.path = str(path)
        self.key = key
        self.problem = problem


def default_config_path() -> Path:
    env = os.environ.get(DEFAULT_CONFIG_ENV)
    return Path(env) if env else data_dir() / "gateway.yaml"


def resolve_secret(value: Any) -> tuple[str | None, str | None]:
    """`os.environ/VAR` → (value or None, VAR); a literal → (literal, None)."""
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        var = value[len(ENV_PREFIX) :]
        return os.environ.get(var) or None, var
    return (str(value) if value is not None else None), None


@dataclass(frozen=True)
class ModelEntry:
    model_name: str
    model: str  # litellm_params.model, e.g. "scaleway/llama-3.1-8b-instruct"
    api_base: str | None = None
    api_key: str | None = None  # resolved value
    api_key_env: str | None = None  # the VAR of `os.environ/VAR`, for messages
    timeout_s: float = 120.0  # read timeout
    connect_timeout_s: float = 5.0
    max_retries: int = 2
    carbon: dict[str, Any] | None = None
    model_info: dict[str, Any] = field(default_factory=dict)
    extra_params: dict[str, Any] = field(
        default_factory=dict
    )  # other litellm_params, for non-OpenAI providers


@dataclass(frozen=True)
class StoreSettings:
    redis_url: str | None = None
    state_dir: str | None = None
    prefix: str = "cg:"
    on_failure: str = "fail_open"
    ledger_retention_days: int = 400
    lease_requests: int = 256  # see meters.store.portions; 0 = reserve every request in the store
    lease_s: float = 0.5


@dataclass(frozen=True)
class GatewayConfig:
    path: str
    models: list[ModelEntry]
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    reserve_completion_tokens: int = DEFAULT_RESERVE_COMPLETION_TOKENS
    key_cache_ttl_s: float = DEFAULT_KEY_CACHE_TTL_S
    carbon: dict[str, Any] = field(default_factory=dict)  # the `carbon:` block, for meters.carbon
    carbon_body: bool = True
    store: StoreSettings = field(default_factory=StoreSettings)
    tenants: list[dict[str, Any]] = field(default_factory=list)
    observability: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def model(self, name: str) -> ModelEntry | None:
        for entry in self.models:
            if entry.model_name == name:
                return entry
        return None


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
    if not isinstance(raw, dict):
        raise ConfigError(path, "(top level)", "must be a mapping")
    return parse_config(raw, path)


def parse_config(raw: dict[str, Any], path: str | Path) -> GatewayConfig:
    known = {
        "model_list",
        "router_settings",
        "gateway",
        "carbon",
        "store",
        "tenants",
        "observability",
        "litellm_settings",
        "general_settings",
    }
    for key in raw:
        if key not in known:
            raise ConfigError(path, key, f"unknown top-level key (expected one of {sorted(known)})")
    models = _parse_models(raw.get("model_list"), path)
    names = {m.model_name for m in models}
    router = _mapping(raw.get("router_settings"), path, "router_settings")
    fallbacks = _parse_fallbacks(router.get("fallbacks"), names, path)
    gateway = _mapping(raw.get("gateway"), path, "gateway")
    max_body = gateway.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)
    if not isinstance(max_body, int) or isinstance(max_body, bool) or max_body <= 0:
        raise ConfigError(path, "gateway.max_body_bytes", "must be a positive integer")
    carbon = dict(_mapping(raw.get("carbon"), path, "carbon"))
    carbon_body = carbon.pop("body", True)
    if not isinstance(carbon_body, bool):
        raise ConfigError(path, "carbon.body", "must be true or false")
    reserve_tokens = gateway.get("reserve_completion_tokens", DEFAULT_RESERVE_COMPLETION_TOKENS)
    if not isinstance(reserve_tokens, int) or isinstance(reserve_tokens, bool) or reserve_tokens < 0:
        raise ConfigError(path, "gateway.reserve_completion_tokens", "must be an integer >= 0")
    key_ttl = gateway.get("key_cache_ttl_s", DEFAULT_KEY_CACHE_TTL_S)
    if isinstance(key_ttl, bool) or not isinstance(key_ttl, int | float) or not 0 <= key_ttl <= 300:
        raise ConfigError(path, "gateway.key_cache_ttl_s", "must be a number of seconds from 0 to 300")
    tenants = raw.get("tenants") or []
    if not isinstance(tenants, list):
        raise ConfigError(path, "tenants", "must be a list")
    _validate_tenants(tenants, names, path)
    return GatewayConfig(
        path=str(path),
        models=models,
        fallbacks=fallbacks,
        max_body_bytes=max_body,
        reserve_completion_tokens=reserve_tokens,
        key_cache_ttl_s=float(key_ttl),
        carbon=carbon,
        carbon_body=carbon_body,
        store=_parse_store(_mapping(raw.get("store"), path, "store"), path),
        tenants=tenants,
        observability=dict(_mapping(raw.get("observability"), path, "observability")),
        raw=raw,
    )


def _mapping(value: Any, path: str | Path, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(path, key, "must be a mapping")
    return value


def _number(value: Any, path: str | Path, key: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(path, key, "must be a positive number of seconds")
    return float(value)


_ENTRY_KEYS = {"model_name", "litellm_params", "carbon", "model_info"}
_TRANSPORT_KEYS = {
    "model",
    "api_base",
    "api_key",
    "timeout",
    "connect_timeout",
    "stream_timeout",
    "max_retries",
}


def _parse_models(value: Any, path: str | Path) -> list[ModelEntry]:
    if not isinstance(value, list) or not value:
        raise ConfigError(path, "model_list", "must be a non-empty list of models")
    entries: list[ModelEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        where = f"model_list[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(path, where, "must be a mapping with model_name and litellm_params")
        for key in item:
            if key not in _ENTRY_KEYS:
                raise ConfigError(
                    path, f"{where}.{key}", f"unknown key (expected one of {sorted(_ENTRY_KEYS)})"
                )
        name = item.get("model_name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(path, f"{where}.model_name", "must be a non-empty string")
        where = f"model_list[{i}] ({name})"
        if name in seen:
            raise ConfigError(path, f"{where}.model_name", "is configured twice")
        seen.add(name)
        params = item.get("litellm_params")
        if not isinstance(params, dict):
            raise ConfigError(path, f"{where}.litellm_params", "must be a mapping with at least `model`")
        model = params.get("model")
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(path, f"{where}.litellm_params.model", "must be a non-empty string")
        api_base = params.get("api_base")
        if api_base is not None:
            api_base, _ = resolve_secret(api_base)
            if not api_base or not api_base.startswith(("http://", "https://")):
                raise ConfigError(path, f"{where}.litellm_params.api_base", "must be an http(s) URL")
        api_key, api_key_env = resolve_secret(params.get("api_key"))
        retries = params.get("max_retries", 2)
        if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
            raise ConfigError(path, f"{where}.litellm_params.max_retries", "must be an integer from 0 to 10")
        carbon = item.get("carbon")
        if carbon is not None and not isinstance(carbon, dict):
            raise ConfigError(path, f"{where}.carbon", "must be a mapping")
        info = _mapping(item.get("model_info"), path, f"{where}.model_info")
        for price_key in ("input_cost_per_token", "output_cost_per_token"):
            price = info.get(price_key)
            if price is not None and (
                isinstance(price, bool) or not isinstance(price, int | float) or price < 0
            ):
                raise ConfigError(path, f"{where}.model_info.{price_key}", "must be a number >= 0")
        entries.append(
            ModelEntry(
                model_name=name,
                model=model,
                api_base=api_base.rstrip("/") if api_base else None,
                api_key=api_key,
                api_key_env=api_key_env,
                timeout_s=_number(params.get("timeout"), path, f"{where}.litellm_params.timeout", 120.0),
                connect_timeout_s=_number(
                    params.get("connect_timeout"), path, f"{where}.litellm_params.connect_timeout", 5.0
                ),
                max_retries=retries,
                carbon=carbon,
                model_info=info,
                extra_params={k: v for k, v in params.items() if k not in _TRANSPORT_KEYS},
            )
        )
    return entries


def _parse_fallbacks(value: Any, names: set[str], path: str | Path) -> dict[str, list[str]]:
    """LiteLLM's shape: `fallbacks: [{"model-a": ["model-b", "model-c"]}]`."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise ConfigError(path, "router_settings.fallbacks", "must be a list of {model: [fallback, ...]}")
    result: dict[str, list[str]] = {}
    for i, item in enumerate(value):
        where = f"router_settings.fallbacks[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(path, where, "must be a mapping {model: [fallback, ...]}")
        for source, targets in item.items():
            if source not in names:
                raise ConfigError(path, f"{where}.{source}", "is not a configured model_name")
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                raise ConfigError(path, f"{where}.{source}", "must be a list of model names")
            for target in targets:
                if target not in names:
                    raise ConfigError(
                        path, f"{where}.{source}", f"fallback {target!r} is not a configured model_name"
                    )
            result[source] = list(targets)
    return result


def _parse_store(block: dict[str, Any], path: str | Path) -> StoreSettings:
    for key in block:
        if key not in {
            "redis_url",
            "state_dir",
            "prefix",
            "on_failure",
            "ledger_retention_days",
            "lease_requests",
            "lease_s",
        }:
            raise ConfigError(path, f"store.{key}", "unknown key")
    redis_url, _ = resolve_secret(block.get("redis_url"))
    redis_url = redis_url or os.environ.get("REDIS_URL") or None
    on_failure = block.get("on_failure", "fail_open")
    if on_failure not in ("fail_open", "fail_closed"):
        raise ConfigError(path, "store.on_failure", "must be fail_open or fail_closed")
    retention = block.get("ledger_retention_days", 400)
    if not isinstance(retention, int) or isinstance(retention, bool) or retention < 1:
        raise ConfigError(path, "store.ledger_retention_days", "must be a positive integer")
    state_dir = block.get("state_dir") or os.environ.get("CARBON_GATEWAY_STATE_DIR") or None
    prefix = block.get("prefix", "cg:")
    if not isinstance(prefix, str) or not prefix:
        raise ConfigError(path, "store.prefix", "must be a non-empty string")
    lease_requests = block.get("lease_requests", 256)
    valid = isinstance(lease_requests, int) and not isinstance(lease_requests, bool)
    if not valid or lease_requests == 1 or lease_requests < 0:
        raise ConfigError(path, "store.lease_requests", "must be 0 (no leases) or an integer >= 2")
    lease_s = block.get("lease_s", 0.5)
    if not isinstance(lease_s, int | float) or isinstance(lease_s, bool) or not 0 < lease_s <= 60:
        raise ConfigError(path, "store.lease_s", "must be a number of seconds in (0, 60]")
    return StoreSettings(redis_url, state_dir, prefix, on_failure, retention, lease_requests, float(lease_s))


_TENANT_KEYS = {"id", "name", "limits", "models", "keys"}


def _validate_tenants(tenants: list[Any], model_names: set[str], path: str | Path) -> None:
    """Static tenants: the admin API's shape plus `keys` (hashes or `os.environ/VAR`, never plaintext)."""
    seen: set[str] = set()
    for i, item in enumerate(tenants):
        where = f"tenants[{i}]"
        if isinstance(item, dict):
            unknown = set(item) - _TENANT_KEYS
            if unknown:
                raise ConfigError(
                    path, f"{where}.{sorted(unknown)[0]}", f"unknown key (expected {sorted(_TENANT_KEYS)})"
                )
        try:
            tenant = Tenant.from_config(item, where)
            keys = item.get("keys") or []
            if not isinstance(keys, list):
                raise ValueError(f"{where}.keys: must be a list")
            for j, key in enumerate(keys):
                key_hash_from_config(key, f"{where}.keys[{j}]")
        except ValueError as exc:
            key, _, problem = str(exc).partition(": ")
            raise ConfigError(path, key, problem) from None
        if tenant.id in seen:
            raise ConfigError(path, f"{where}.id", f"tenant {tenant.id!r} is configured twice")
        seen.add(tenant.id)
        for model in tenant.model_limits:
            if model not in model_names:
                raise ConfigError(path, f"{where}.models.{model}", "is not a configured model_name")
        for scope, limits in [
            ("limits", tenant.limits),
            *((f"models.{model}", narrowed) for model, narrowed in tenant.model_limits.items()),
        ]:
            for name in LimitName:
                policy = limits.policy(name)
                if policy.model is not None and policy.model not in model_names:
                    raise ConfigError(
                        path,
                        f"{where}.{scope}.on_exceed.{name.value}",
                        f"downgrade model {policy.model!r} is not a configured model_name",
                    )
