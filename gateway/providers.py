"""Provider resolution: which upstream serves a configured model, and how we talk to it.

LiteLLM is the provider brain (provider, base URL, default key variable, prices). Importing it
costs ~2 s and ~180 MB, so `resolve_models` runs once, in a short-lived child process
(`python -m gateway.resolve`), and workers only read its JSON. A worker imports LiteLLM itself
only when a configured model needs its translation (non-OpenAI providers such as Anthropic).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from gateway.config import ConfigError, GatewayConfig, ModelEntry


class RouteKind(StrEnum):
    PASSTHROUGH = "passthrough"  # OpenAI-compatible: raw bytes, only `model` rewritten
    LITELLM = "litellm"  # translated by litellm.acompletion / aembedding
    DEMO = "demo"  # answered in-process, offline


DEMO_PREFIX = "demo/"
ERROR_PREFIX = "carbon-gateway-config-error\t"
# Providers that speak OpenAI's wire format but need auth or routing LiteLLM does specially.
_NOT_PLAIN_OPENAI = {"azure_ai", "github_copilot", "chatgpt", "ai21", "clarifai"}
_ALWAYS_OPENAI = {"openai", "scaleway", "mistral", "custom_openai", "openai_like", "text-completion-openai"}
# LiteLLM's cost map is in USD, except where a provider bills in another currency and LiteLLM carries its list
# prices as published: its `scaleway/...` entries are Scaleway's EUR prices (e.g. gpt-oss-120b 0.15 / 0.60 per 1M
# tokens, as Scaleway's own price list; compared 2026-11-30 with LiteLLM 1.106.2's map).
_PROVIDER_CURRENCY = {"scaleway": "EUR"}
_DEFAULT_BASES = {
    "openai": "https://api.openai.com/v1",
    "text-completion-openai": "https://api.openai.com/v1",
}


@dataclass(frozen=True)
class Route:
    """How one configured `model_name` is served."""

    model_name: str
    kind: RouteKind
    provider: str
    upstream_model: str
    litellm_model: str  # the full `litellm_params.model`
    api_base: str | None
    api_key_env: str | None  # where the key comes from when config gives none
    input_cost_per_token: float | None
    output_cost_per_token: float | None

    currency: str = "USD"  # of the prices (LiteLLM's map is in USD; model_info may say otherwise)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _provider_key_env(provider: str) -> str:
    return f"{provider.upper().replace('-', '_')}_API_KEY"


def resolve_entry(entry: ModelEntry) -> Route:
    """Resolve one model entry. Imports LiteLLM: call from `resolve_models`' child process or tests."""
    if entry.model.startswith(DEMO_PREFIX):
        return Route(
            entry.model_name,
            RouteKind.DEMO,
            "demo",
            entry.model[len(DEMO_PREFIX) :],
            entry.model,
            None,
            None,
            entry.input_cost_per_token,
            entry.output_cost_per_token,
            entry.currency or "USD",
        )
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    try:
        upstream, provider, _dynamic_key, api_base = litellm.get_llm_provider(
            entry.model, api_base=entry.api_base
        )
    except Exception as exc:  # LiteLLM raises its own BadRequestError types
        detail = " ".join(str(exc).split())[:300]
        raise ValueError(f"LiteLLM cannot resolve a provider for {entry.model!r}: {detail}") from None
    api_base = entry.api_base or api_base or _DEFAULT_BASES.get(provider)
    openai_like = provider in _ALWAYS_OPENAI or provider in set(litellm.openai_compatible_providers)
    plain = openai_like and provider not in _NOT_PLAIN_OPENAI and api_base
    kind = RouteKind.PASSTHROUGH if plain else RouteKind.LITELLM
    info = _model_cost(litellm, provider, upstream, entry.model)
    return Route(
        model_name=entry.model_name,
        kind=kind,
        provider=provider,
        upstream_model=upstream,
        litellm_model=entry.model,
        api_base=api_base.rstrip("/") if api_base else None,
        api_key_env=entry.api_key_env or _provider_key_env(provider),
        input_cost_per_token=_price(entry, entry.input_cost_per_token, "input_cost_per_token", info),
        output_cost_per_token=_price(entry, entry.output_cost_per_token, "output_cost_per_token", info),
        currency=entry.currency or _PROVIDER_CURRENCY.get(provider, "USD"),
    )


def _model_cost(litellm: Any, provider: str, upstream: str, full: str) -> dict[str, Any] | None:
    """LiteLLM's price entry: under the configured name, `provider/model`, the bare model, or (as LiteLLM keys
    Scaleway's catalogue: `scaleway/openai/gpt-oss-120b`) `provider/<organisation>/model` when exactly one matches."""
    costs: dict[str, dict[str, Any]] = litellm.model_cost
    for key in (full, f"{provider}/{upstream}", upstream):
        info = costs.get(key)
        if info:
            return info
    prefix, suffix = f"{provider}/", f"/{upstream}"
    found = [key for key in costs if key.startswith(prefix) and key.endswith(suffix) and key.count("/") == 2]
    return costs[found[0]] if len(found) == 1 else None


def _price(
    entry: ModelEntry, configured: float | None, key: str, info: dict[str, Any] | None
) -> float | None:
    """`model_info` prices replace LiteLLM's as a pair (never one price from each, in two currencies)."""
    if entry.input_cost_per_token is not None or entry.output_cost_per_token is not None:
        return configured
    if info and info.get(key) is not None:
        return float(info[key])
    return None


def resolve_models(config: GatewayConfig) -> dict[str, Route]:
    """Resolve every model in a child process so this process never imports LiteLLM."""
    if all(entry.model.startswith(DEMO_PREFIX) for entry in config.models):
        return {entry.model_name: resolve_entry(entry) for entry in config.models}
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.resolve", config.path],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        for line in reversed(proc.stderr.splitlines()):
            if line.startswith(ERROR_PREFIX):
                key, _, problem = line[len(ERROR_PREFIX) :].partition("\t")
                raise ConfigError(config.path, key, problem)
        tail = " ".join(proc.stderr.split()[-40:])
        raise ConfigError(
            config.path, "model_list", f"provider resolution failed ({proc.returncode}): {tail}"
        )
    return routes_from_json(proc.stdout)


def routes_from_json(text: str) -> dict[str, Route]:
    return {item["model_name"]: Route(**{**item, "kind": RouteKind(item["kind"])}) for item in json.loads(text)}


def routes_to_json(routes: dict[str, Route]) -> str:
    return json.dumps([route.to_json() for route in routes.values()], indent=1)
