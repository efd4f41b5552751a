"""How much to reserve for a request before it is forwarded.

Tokens: the prompt estimated cheaply (gateway.tokens.estimate_prompt: about 4 characters per token,
plus OpenAI's chat framing), plus the completion the request allows (`max_completion_tokens` /
`max_tokens`) or the configured default. Carbon and spend are the model's figures for those tokens.
The settlement replaces the estimate with the real usage, so a rough prompt estimate only moves when
a budget is reached, not what is counted.
"""

from __future__ import annotations

from typing import Any

from gateway.endpoints import Endpoint
from gateway.registry import ModelRuntime
from gateway.tokens import estimate_prompt
from meters.store import Amounts

CACHE_LIMIT = 4096  # (prompt, completion) pairs remembered per model; then it starts afresh


def completion_tokens(endpoint: Endpoint, payload: dict[str, Any], default: int) -> int:
    if not endpoint.generates:
        return 0
    for field in ("max_completion_tokens", "max_tokens"):
        value = payload.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return default


def reservation_amounts(
    runtime: ModelRuntime, endpoint: Endpoint, payload: dict[str, Any], default_completion: int
) -> Amounts:
    prompt = estimate_prompt(endpoint, payload)
    completion = completion_tokens(endpoint, payload, default_completion)
    cache = runtime.reservation_cache
    amounts = cache.get((prompt, completion))
    if amounts is None:
        # No latency yet: the estimate uses the model's modelled latency, as the catalogue does.
        estimate = runtime.factors.estimate(prompt, completion, None)
        amounts = Amounts(
            tokens=prompt + completion, spend=runtime.spend(prompt, completion), gco2e=estimate.gco2e
        )
        if len(cache) >= CACHE_LIMIT:
            cache.clear()
        cache[(prompt, completion)] = amounts
    return amounts
