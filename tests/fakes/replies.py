"""OpenAI-shaped bodies for the fake upstream, and the usage arithmetic tests assert against.

Pure functions, no I/O. Token counts are deliberately simple so a test can compute them by hand:

* ``prompt_tokens`` = whitespace-separated words of every text the request carries: each chat message's
  ``content`` (a string, or the ``text`` of its ``{"type": "text"}`` parts), a completion's ``prompt``
  (string or list of strings), an embedding's ``input`` (string or list of strings). Token-id lists
  (``[1, 2, 3]`` or ``[[1, 2], [3]]``) count one token per id.
* ``completion_tokens`` = words of the reply text, truncated to ``max_completion_tokens`` /
  ``max_tokens`` when the request sets a smaller limit (then ``finish_reason`` is ``"length"``).
  Embeddings have no completion tokens.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from typing import Any

DEFAULT_REPLY = "This is a deterministic reply from the carbon-gateway fake upstream."
DEFAULT_EMBEDDING_DIMENSIONS = 8


def _words(text: str) -> int:
    return len(text.split())


def _count_prompt(value: Any) -> int:
    """Words of a string, ids of a token list, recursively for lists of either."""
    if isinstance(value, str):
        return _words(value)
    if isinstance(value, list):
        return sum(1 if isinstance(item, int) else _count_prompt(item) for item in value)
    return 0


def _message_words(message: Any) -> int:
    if not isinstance(message, dict):
        return 0
    content = message.get("content")
    if isinstance(content, str):
        return _words(content)
    if isinstance(content, list):
        return sum(
            _words(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        )
    return 0


def prompt_tokens(body: dict[str, Any]) -> int:
    """The fake's prompt token count for a request body (see the module docstring)."""
    messages = body.get("messages")
    if isinstance(messages, list):
        return sum(_message_words(message) for message in messages)
    if "prompt" in body:
        return _count_prompt(body["prompt"])
    return _count_prompt(body.get("input"))


def reply_words(body: dict[str, Any], reply_text: str = DEFAULT_REPLY) -> tuple[list[str], str]:
    """The words the fake answers with, and the finish_reason (``length`` when truncated)."""
    words = reply_text.split()
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 <= limit < len(words):
        return words[:limit], "length"
    return words, "stop"


def fake_usage(body: dict[str, Any], reply_text: str = DEFAULT_REPLY) -> tuple[int, int]:
    """(prompt_tokens, completion_tokens) the fake reports for ``body``; embeddings have 0 completion."""
    if "messages" not in body and "prompt" not in body:
        return prompt_tokens(body), 0
    return prompt_tokens(body), len(reply_words(body, reply_text)[0])


def usage_dict(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def error_body(status: int, message: str | None = None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape, with a type that matches the status the way OpenAI's API does."""
    if status == 429:
        kind = "rate_limit_error"
    elif status in (401, 403):
        kind = "authentication_error"
    elif status == 404:
        kind = "not_found_error"
    elif status >= 500:
        kind = "server_error"
    else:
        kind = "invalid_request_error"
    return {
        "error": {
            "message": message or f"fake upstream failure (HTTP {status})",
            "type": kind,
            "param": param,
            "code": None,
        }
    }


def chat_completion(
    body: dict[str, Any], reply_text: str, ident: str, created: int, omit_usage: bool
) -> dict:
    words, finish = reply_words(body, reply_text)
    reply: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": body["model"],
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": " ".join(words), "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
    }
    if not omit_usage:
        reply["usage"] = usage_dict(prompt_tokens(body), len(words))
    return reply


def text_completion(
    body: dict[str, Any], reply_text: str, ident: str, created: int, omit_usage: bool
) -> dict:
    words, finish = reply_words(body, reply_text)
    reply: dict[str, Any] = {
        "id": ident,
        "object": "text_completion",
        "created": created,
        "model": body["model"],
        "choices": [{"index": 0, "text": " ".join(words), "logprobs": None, "finish_reason": finish}],
    }
    if not omit_usage:
        reply["usage"] = usage_dict(prompt_tokens(body), len(words))
    return reply


def wants_stream_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def stream_events(
    body: dict[str, Any], reply_text: str, ident: str, created: int, omit_usage: bool, chat: bool
) -> Iterator[dict[str, Any]]:
    """The SSE payloads OpenAI streams, in order (``[DONE]`` is added by the caller).

    Chat: a role chunk, one content chunk per word, a chunk with ``finish_reason``; completions: one
    text chunk per word, the last one carrying ``finish_reason``. Then, only if the request set
    ``stream_options.include_usage``, a usage chunk with ``choices: []``; every earlier chunk then carries
    ``"usage": null`` as OpenAI's do.
    """
    words, finish = reply_words(body, reply_text)
    include_usage = wants_stream_usage(body)
    base: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": created,
        "model": body["model"],
    }
    if chat:
        base["system_fingerprint"] = "fp_fake"

    def chunk(choice: dict[str, Any]) -> dict[str, Any]:
        event = {**base, "choices": [{"index": 0, "logprobs": None, **choice}]}
        if include_usage:
            event["usage"] = None
        return event

    if chat:
        yield chunk({"delta": {"role": "assistant", "content": ""}, "finish_reason": None})
        for position, word in enumerate(words):
            text = word if position == 0 else " " + word
            yield chunk({"delta": {"content": text}, "finish_reason": None})
        yield chunk({"delta": {}, "finish_reason": finish})
    else:
        for position, word in enumerate(words):
            last = position == len(words) - 1
            text = word if position == 0 else " " + word
            yield chunk({"text": text, "finish_reason": finish if last else None})
        if not words:
            yield chunk({"text": "", "finish_reason": finish})
    if include_usage and not omit_usage:
        yield {**base, "choices": [], "usage": usage_dict(prompt_tokens(body), len(words))}


def _embedding_inputs(value: Any) -> list[Any]:
    """One entry per vector: a string, a token list, or a list of either is a batch."""
    if isinstance(value, list) and value and not isinstance(value[0], int):
        return value
    return [value]


def _vector(item: Any, dimensions: int) -> list[float]:
    """A deterministic unit-ish vector derived from the input, so equal inputs embed equally."""
    seed = zlib.crc32(repr(item).encode()) or 1
    values = []
    for _ in range(dimensions):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        values.append(round(seed / 0x7FFFFFFF * 2 - 1, 6))
    return values


def embeddings(body: dict[str, Any], omit_usage: bool) -> dict[str, Any]:
    dimensions = body.get("dimensions")
    if not isinstance(dimensions, int) or dimensions <= 0:
        dimensions = DEFAULT_EMBEDDING_DIMENSIONS
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(_embedding_inputs(body["input"])):
        vector: Any = _vector(item, dimensions)
        if as_base64:
            vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    reply: dict[str, Any] = {"object": "list", "data": data, "model": body["model"]}
    if not omit_usage:
        tokens = prompt_tokens(body)
        reply["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return reply


def models_list(models: tuple[str, ...]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "fake-upstream"} for name in models
        ],
    }
