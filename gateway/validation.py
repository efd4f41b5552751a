"""Request-body checks: a clear 400 naming the `param`, before anything goes upstream."""

from __future__ import annotations

from typing import Any

from gateway.endpoints import Endpoint
from gateway.errors import bad_request


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
    for key in ("max_tokens", "max_completion_tokens"):
        value = payload.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise bad_request(f"'{key}' must be a positive integer.", param=key, code="invalid_type")


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


def _validate_text_or_list(payload: dict[str, Any], key: str) -> None:
    value = payload.get(key)
    if value is None:
        raise bad_request(
            f"Missing required parameter: '{key}'.", param=key, code="missing_required_parameter"
        )
    if isinstance(value, str):
        return
    if isinstance(value, list) and value:
        return
    raise bad_request(f"'{key}' must be a string or a non-empty array.", param=key, code="invalid_type")
