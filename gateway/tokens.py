"""The gateway's own token count, for upstreams that return no `usage`, and the cheap estimate that sizes a
reservation before a request is forwarded.

The count is LiteLLM's token counter without importing LiteLLM (~2 s, ~180 MB): tiktoken's `cl100k_base`
loaded from the encoding file LiteLLM ships (no download), and OpenAI's chat framing (3 tokens per message,
its role and content, 3 to prime the reply), which is what `litellm.token_counter` does for models it has no
tokenizer of their own for. The figure is labelled `usage_source: gateway_count`; tests check it against
`litellm.token_counter`. The estimate is about 4 characters a token, plus the same framing.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from gateway.endpoints import Endpoint
from gateway.text import content_texts, prompt_pieces

TOKENS_PER_MESSAGE = 3  # OpenAI's chat framing: role and separators per message
REPLY_PRIMING_TOKENS = 3
CHARS_PER_TOKEN = 4


@cache
def _encoding() -> Any:
    """cl100k_base as tiktoken builds it, less the Python copy of its 100k ranks (~17 MB that only pickling
    reads: the Rust tokenizer keeps its own, ~23 MB). Loading takes ~120 ms of CPU: a serving process does it at
    start (`load`), not at its first stream cut short in the middle of traffic."""
    spec = importlib.util.find_spec("litellm")
    if spec and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))
    import tiktoken
    from tiktoken_ext.openai_public import cl100k_base  # type: ignore[import-untyped]

    spec_of = cl100k_base()
    ranks = spec_of["mergeable_ranks"]
    encoding = tiktoken.Encoding(**spec_of)
    ranks.clear()  # the Encoding's own reference to them: an object of ours, not tiktoken's shared registry's
    return encoding


def load() -> None:
    """Load the tokenizer now (idempotent)."""
    _encoding()


def count_text(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=())) if text else 0


def _messages(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The chat messages that count: the objects of a `messages` list (anything else counts for nothing)."""
    messages = payload.get("messages")
    return (m for m in messages if isinstance(m, dict)) if isinstance(messages, list) else iter(())


def count_prompt(endpoint: Endpoint, payload: dict[str, Any]) -> int:
    """The prompt's tokens as `litellm.token_counter` counts them."""
    if endpoint is not Endpoint.CHAT:
        texts, ids = prompt_pieces(endpoint, payload)
        return ids + sum(count_text(text) for text in texts)
    total = REPLY_PRIMING_TOKENS
    for message in _messages(payload):
        total += TOKENS_PER_MESSAGE
        total += count_text(str(message.get("role", "")))
        total += count_text("".join(content_texts(message.get("content"))))
        if message.get("name"):
            total += 1 + count_text(str(message["name"]))
    return total


def estimate_prompt(endpoint: Endpoint, payload: dict[str, Any]) -> int:
    """The prompt's tokens, roughly and cheaply: ~4 characters a token, plus the chat framing."""
    if endpoint is Endpoint.CHAT:  # every request with a budget on: its messages walked once
        chars = count = 0
        for message in _messages(payload):
            count += 1
            content = message.get("content")
            chars += len(content) if isinstance(content, str) else sum(map(len, content_texts(content)))
        return -(-chars // CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * count + REPLY_PRIMING_TOKENS
    texts, ids = prompt_pieces(endpoint, payload)
    return -(-sum(len(text) for text in texts) // CHARS_PER_TOKEN) + ids
