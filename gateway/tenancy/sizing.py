"""How much to reserve for a request before it is forwarded.

Tokens: the prompt estimated cheaply (about 4 characters per token, plus OpenAI's chat framing),
plus the completion the request allows (`max_completion_tokens` / `max_tokens`) or the configured
default. Carbon and spend are the model's figures for those tokens. The settlement replaces the
estimate with the real usage, so a rough prompt estimate only moves when a budget is reached,
not what is counted.
"""

from __future__ import annotations

from typing import Any

from gateway.registry import ModelRuntime
from meters.store import Amounts

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 3  # OpenAI's chat framing: role and separators per message
REPLY_PRIMING_TOKENS = 3


def _text_chars(value: Any) -> int:
    """Characters of the text a prompt, message content or embeddings input carries."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        total = 0
        for item in value:
            if isinstance(item, dict):
                total += _text_chars(item.get("text"))
            elif isinstance(item, str):
                total += len(item)
            elif isinstance(item, int):
                total += CHARS_PER_TOKEN  # a pre-tokenised input: one token per integer
            elif isinstance(item, list):
                total += _text_chars(item)
        return total
    return 0


def prompt_tokens(payload: dict[str, Any]) -> int:
    messages = payload.get("messages")
    if isinstance(messages, list):
        chars = sum(_text_chars(m.get("content")) for m in messages if isinstance(m, dict))
        framing = TOKENS_PER_MESSAGE * len(messages) + REPLY_PRIMING_TOKENS
        return -(-chars // CHARS_PER_TOKEN) + framing
    text = payload.get("prompt", payload.get("input"))
    return -(-_text_chars(text) // CHARS_PER_TOKEN)


def completion_tokens(payload: dict[str, Any], default: int) -> int:
    if "input" in payload and "messages" not in payload and "prompt" not in payload:
        return 0  # embeddings produce no completion
    for field in ("max_completion_tokens", "max_tokens"):
        value = payload.get(field)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return default


CACHE_LIMIT = 4096  # (prompt, completion) pairs remembered per model; then it starts afresh


def reservation_amounts(runtime: ModelRuntime, payload: dict[str, Any], default_completion: int) -> Amounts:
    prompt = prompt_tokens(payload)
    completion = completion_tokens(payload, default_completion)
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
