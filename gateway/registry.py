"""Everything the hot path needs about one configured model, computed once at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from gateway.carbon_headers import label_headers
from gateway.config import ConfigError, GatewayConfig, ModelEntry
from gateway.errors import GatewayError
from gateway.providers import Route, RouteKind
from gateway.upstream.base import Upstream
from gateway.upstream.demo import DemoUpstream
from gateway.upstream.litellm import LiteLLMUpstream
from gateway.upstream.passthrough import PassthroughClient, PassthroughUpstream
from meters.carbon import CarbonEngine, CatalogueError, ModelFactors
from meters.store import Amounts


@dataclass(eq=False)
class ModelRuntime:
    entry: ModelEntry
    route: Route
    factors: ModelFactors
    label_headers: dict[str, str]  # method, confidence, boundary, source: known before the response
    upstream: Upstream
    # Reservation amounts by (prompt, completion) tokens: a pure function of the model (gateway.tenancy.sizing).
    reservation_cache: dict[tuple[int, int], Amounts] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.entry.model_name

    @property
    def metered_latency(self) -> bool:
        """Whether the measured latency feeds the figure (the demo answers in microseconds: it uses the
        catalogue's modelled latency instead)."""
        return self.route.kind is not RouteKind.DEMO

    @cached_property
    def unavailable_reason(self) -> str | None:
        if self.route.kind is RouteKind.DEMO or api_key(self.entry, self.route):
            return None
        if self.entry.api_key_env:
            return f"model {self.name!r} needs an upstream key: set {self.entry.api_key_env}"
        if self.route.api_base and self.route.api_base.startswith(("http://127.", "http://localhost")):
            return None  # local servers (vLLM, llama.cpp) often run without a key
        return f"model {self.name!r} needs an upstream key: set {self.route.api_key_env} or litellm_params.api_key"

    def set_factors(self, factors: ModelFactors) -> None:
        """New factors (calibration from an audited month): labels follow, cached reservation sizes go."""
        self.factors = factors
        self.label_headers = label_headers(factors)
        self.reservation_cache.clear()

    @cached_property
    def datacentre(self) -> str | None:
        """The data centre the model's figure assumes (energy method, or the `carbon:` block), if any."""
        facts = self.factors.describe()
        nested = facts.get("factors")
        described = facts.get("datacentre") or (nested.get("datacentre") if isinstance(nested, Mapping) else None)
        configured = (self.entry.carbon or {}).get("datacentre")
        value = described or configured
        return str(value) if value else None

    @property
    def currency(self) -> str:
        return self.route.currency

    def spend(self, prompt_tokens: int, completion_tokens: int) -> float:
        price_in = self.route.input_cost_per_token or 0.0
        price_out = self.route.output_cost_per_token or 0.0
        return prompt_tokens * price_in + completion_tokens * price_out

    @property
    def priced(self) -> bool:
        return self.route.input_cost_per_token is not None or self.route.output_cost_per_token is not None


def api_key(entry: ModelEntry, route: Route) -> str | None:
    """Read once per worker, not per request: the environment does not change under a running server."""
    if entry.api_key:
        return entry.api_key
    return os.environ.get(route.api_key_env) if route.api_key_env else None


def _upstream(entry: ModelEntry, route: Route, client: PassthroughClient) -> Upstream:
    key = api_key(entry, route)
    if route.kind is RouteKind.DEMO:
        return DemoUpstream(route.upstream_model)
    if route.kind is RouteKind.LITELLM:
        return LiteLLMUpstream(
            route.litellm_model,
            api_key=key,
            api_base=route.api_base,
            timeout_s=entry.timeout_s,
            max_retries=entry.max_retries,
            extra_params=entry.extra_params,
        )
    assert route.api_base is not None, "a passthrough route always has a base URL"
    return PassthroughUpstream(
        client,
        route.api_base,
        api_key=key,
        connect_timeout_s=entry.connect_timeout_s,
        read_timeout_s=entry.timeout_s,
        stream_idle_s=entry.stream_idle_s,
        max_retries=entry.max_retries,
    )


class ModelRegistry:
    """The configured models by name, and their fallbacks."""

    def __init__(self, models: Mapping[str, ModelRuntime], fallbacks: Mapping[str, tuple[str, ...]]) -> None:
        self.models = dict(models)
        self._fallbacks = fallbacks

    @classmethod
    def build(
        cls, config: GatewayConfig, routes: Mapping[str, Route], engine: CarbonEngine, client: PassthroughClient
    ) -> ModelRegistry:
        models: dict[str, ModelRuntime] = {}
        for i, entry in enumerate(config.models):
            route = routes[entry.model_name]
            try:
                factors = engine.factors_for(
                    entry.model_name, upstream_model=route.upstream_model, provider=route.provider, override=entry.carbon
                )
            except CatalogueError as exc:
                raise ConfigError(config.path, f"model_list[{i}] ({entry.model_name}).carbon", str(exc)) from None
            models[entry.model_name] = ModelRuntime(
                entry, route, factors, label_headers(factors), _upstream(entry, route, client)
            )
        return cls(models, config.fallbacks)

    def __contains__(self, name: object) -> bool:
        return name in self.models

    def get(self, name: str) -> ModelRuntime | None:
        return self.models.get(name)

    def model(self, name: str) -> ModelRuntime:
        """The model a request names, or 404 in OpenAI's shape."""
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
        return [self.models[n] for n in self._fallbacks.get(name, ()) if n in self.models]

    def attempts(self, runtime: ModelRuntime) -> int:
        """Upstream calls a request may make on this model and its fallbacks, retries included."""
        return (runtime.entry.max_retries + 1) * (1 + len(self._fallbacks.get(runtime.name, ())))
