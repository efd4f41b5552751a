"""Reading a request body: at most the configured size (413), within `gateway.body_timeout_s` (408), a JSON object nested at most `MAX_DEPTH` deep
(400): deeper JSON would overflow the serialiser when forwarded (orjson refuses ~250 levels) or Python's recursion
limit when read, and no OpenAI request nests more than a handful of levels."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from gateway.errors import GatewayError, bad_request
from gateway.watchdog import deadline_in

MAX_DEPTH = 64
DEFAULT_BODY_TIMEOUT_S = 30.0


async def read_body(request: Request, limit: int, timeout_s: float = DEFAULT_BODY_TIMEOUT_S) -> bytes:
    """The whole body, within `limit` bytes (413) and `timeout_s` seconds (408, and the connection is closed:
    a client that sends its body a byte at a time must not hold a connection for ever)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        with deadline_in(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise GatewayError(
            408,
            f"The request body did not arrive within {timeout_s:g} s (gateway.body_timeout_s).",
            code="request_timeout",
            headers={"connection": "close"},
        ) from None
    return b"".join(chunks)


def _too_large(limit: int) -> GatewayError:
    return GatewayError(413, f"Request body is larger than the {limit}-byte limit.", code="request_too_large")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise bad_request("The request body is empty; expected a JSON object.", code="invalid_json")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(payload, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    # Nesting depth is at most the number of `[` and `{` bytes (strings' own only add to it): a body with
    # fewer is not walked (a C-level count instead of a Python walk over every container).
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and too_deep(payload, MAX_DEPTH):
        raise bad_request(
            f"The request body nests arrays and objects more than {MAX_DEPTH} levels deep.", code="nesting_too_deep"
        )
    return payload


def too_deep(value: Any, limit: int) -> bool:
    """Whether `value` nests containers more than `limit` levels deep (iterative: no recursion to overflow)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if isinstance(child, dict | list))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, dict | list))
    return False


async def read_json_object(
    request: Request, limit: int, timeout_s: float = DEFAULT_BODY_TIMEOUT_S
) -> dict[str, Any]:
    return parse_json_object(await read_body(request, limit, timeout_s))
