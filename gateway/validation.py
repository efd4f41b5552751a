"""Request-body checks: a clear 400 naming the `param`, before anything goes upstream.

Integers a client sets are bounded (`INT_BOUNDS`): a `max_tokens` of 2^63 - 1 would otherwise size a
reservation that wraps the store's counters. Text the gateway reads (messages' content, a prompt, an input)
must have the shapes OpenAI documents, so counting it never fails on a number where a string belongs.
"""

from __future__ import annotations

from typing import Any

from gateway.endpoints import Endpoint
from gateway.errors import bad_request

MAX_TOKENS = 10_000_000  # the carbon API's bound on token counts too
# field -> (least, most): OpenAI's own limits where it has them (n ≤ 128, top_logprobs ≤ 20), else sane ones.
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "max_tokens": (1, MAX_TOKENS),
    "max_completion_tokens": (1, MAX_TOKENS),
    "max_output_tokens": (1, MAX_TOKENS),
    "n": (1, 128),
    "best_of": (1, 128),
    "dimensions": (1, 65_536),
    "top_logprobs": (0, 20),
}
MAX_TOKEN_ID = 10_000_000  # a pre-tokenised prompt's ids (vocabularies are ~10^5)


def validate(endpoint: Endpoint, payload: dict[str, Any]) -> None:
    model = payload.get("model")
    if model is None:
        raise bad_request(
            "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
        )
    if not isinstance(model, str) or not model:
        raise bad_request("'model' must be a non-empty string.", param="model", code="invalid_type")
    if endpoint is Endpoint.CHAT:
        _validate_messages(payload.get("messages"))
    elif endpoint is Endpoint.COMPLETIONS:
        _validate_text_or_list(payload, "prompt")
    elif endpoint is Endpoint.EMBEDDINGS:
        _validate_text_or_list(payload, "input")
    stream = payload.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("'stream' must be a boolean.", param="stream", code="invalid_type")
    options = payload.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object.", param="stream_options", code="invalid_type")
    for key, (least, most) in INT_BOUNDS.items():
        value = payload.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad_request(f"'{key}' must be an integer.", param=key, code="invalid_type")
        if not least <= value <= most:
            raise bad_request(
                f"'{key}' must be from {least:,} to {most:,}, got {value}.", param=key, code="invalid_value"
            )


def _validate_messages(messages: Any) -> None:
    if messages is None:
        raise bad_request(
            "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty array.", param="messages", code="invalid_type")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise bad_request(
                f"'messages[{i}]' must be an object with a string 'role'.",
                param=f"messages[{i}]",
                code="invalid_type",
            )
        _validate_content(message.get("content"), f"messages[{i}].content")
        name = message.get("name")
        if name is not None and not isinstance(name, str):
            raise bad_request(f"'messages[{i}].name' must be a string.", param=f"messages[{i}].name", code="invalid_type")


def _validate_content(content: Any, param: str) -> None:
    """A message's content: null, a string, or an array of parts (objects; a text part's `text` a string)."""
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise bad_request(f"'{param}' must be a string or an array of content parts.", param=param, code="invalid_type")
    for j, part in enumerate(content):
        if isinstance(part, str):
            continue
        if not isinstance(part, dict):
            raise bad_request(f"'{param}[{j}]' must be an object.", param=f"{param}[{j}]", code="invalid_type")
        if "text" in part and not isinstance(part["text"], str):
            raise bad_request(
                f"'{param}[{j}].text' must be a string.", param=f"{param}[{j}].text", code="invalid_type"
            )


def _validate_text_or_list(payload: dict[str, Any], key: str) -> None:
    """A prompt or an input: a string, an array of strings, an array of token ids, or an array of such arrays."""
    value = payload.get(key)
    if value is None:
        raise bad_request(
            f"Missing required parameter: '{key}'.", param=key, code="missing_required_parameter"
        )
    if isinstance(value, str):
        return
    if not isinstance(value, list) or not value:
        raise bad_request(f"'{key}' must be a string or a non-empty array.", param=key, code="invalid_type")
    if all(_is_token_id(item) for item in value):
        return
    for i, item in enumerate(value):
        if isinstance(item, str):
            continue
        if isinstance(item, list) and item and all(_is_token_id(token) for token in item):
            continue
        raise bad_request(
            f"'{key}[{i}]' must be a string or an array of token ids (integers from 0 to {MAX_TOKEN_ID:,}), "
            f"and the array's items all of one kind.",
            param=f"{key}[{i}]",
            code="invalid_type",
        )


def _is_token_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN_ID
