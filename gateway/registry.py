"""Everything the hot path needs about one configured model, computed once at start."""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from gateway.providers import DEMO, Route
from gateway.settings import GatewayConfig, ModelEntry
from meters.carbon import CarbonEngine, ModelFactors


def ascii_header(value: str) -> str:
    """Header values must be ASCII: fold accents (é → e), replace the rest."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    return " ".join(folded.split())


@dataclass(frozen=True)
class ModelRuntime:
    entry: ModelEntry
    route: Route
    factors: ModelFactors
    label_headers: dict[str, str]  # method, confidence, boundary, source: known before the response

    @property
    def name(self) -> str:
        return self.entry.model_name

    @cached_property
    def api_key(self) -> str | None:
        # Read once per worker, not per request: the environment does not change under a running server.
        if self.entry.api_key:
            return self.entry.api_key
        return os.environ.get(self.route.api_key_env) if self.route.api_key_env else None

    @cached_property
    def unavailable_reason(self) -> str | None:
        if self.route.kind == DEMO or self.api_key:
            return None
        if self.entry.api_key_env:
            return f"model {self.name!r} needs an upstream key: set {self.entry.api_key_env}"
        if self.route.api_base and self.route.api_base.startswith(("http://127.", "http://localhost")):
            return None  # local servers (vLLM, llama.cpp) often run without a key
        return f"model {self.name!r} needs an upstream key: set {self.route.api_key_env} or litellm_params.api_key"

    def spend(self, prompt_tokens: int, completion_tokens: int) -> float:
        price_in = self.route.input_cost_per_token or 0.0
        price_out = self.route.output_cost_per_token or 0.0
        return prompt_tokens * price_in + completion_tokens * price_out

    @cached_property
    def reservation_cache(self) -> dict[tuple[int, int], Any]:
        """Reservation amounts by (prompt, completion) tokens: a pure function of the model (gateway.tenancy.sizing)."""
        return {}

    @property
    def priced(self) -> bool:
        return self.route.input_cost_per_token is not None or self.route.output_cost_per_token is not None


def build_registry(
    config: GatewayConfig, routes: dict[str, Route], engine: CarbonEngine
) -> dict[str, ModelRuntime]:
    registry: dict[str, ModelRuntime] = {}
    for entry in config.models:
        route = routes[entry.model_name]
        factors = engine.factors_for(
            entry.model_name,
            upstream_model=route.upstream_model,
            provider=route.provider,
            override=entry.carbon,
        )
        registry[entry.model_name] = ModelRuntime(entry, route, factors, label_headers(factors))
    return registry


def label_headers(factors: Any) -> dict[str, str]:
    return {
        "x-carbon-method": factors.method,
        "x-carbon-confidence": factors.confidence,
        "x-carbon-boundary": factors.boundary,
        "x-carbon-source": ascii_header(factors.source),
    }
