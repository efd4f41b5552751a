"""Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

Raise `GatewayError` anywhere on the request path; the app turns it into a JSON response with the right
status. Nothing else reaches the client: no stack trace, no 500 for bad input. Upstream failures form a
tree, as in httpx: `UpstreamError` → `UpstreamTimeout` (504), `UpstreamUnreachable` (502),
`UpstreamBadResponse` (502).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import orjson
from starlette.responses import Response

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout_error",
}


# The openai SDKs (Python 2.54 `_base_client._should_retry`, Node 6.49 `client.shouldRetry`) obey this header
# before anything else: "false" stops their automatic retries whatever the status.
SHOULD_RETRY = "x-should-retry"
# Beyond this `retry-after`, a client should not wait and retry on its own: openai Python does not retry past
# 120 s (MAX_RETRY_AFTER_DELAY), but openai Node sleeps for whatever `retry-after` says (days, for a monthly
# budget). Such an answer says `x-should-retry: false`.
MAX_CLIENT_WAIT_S = 60.0


def _long_wait(retry_after: str | None) -> bool:
    if retry_after is None:
        return False
    try:
        seconds = float(retry_after)
    except ValueError:
        return False  # an HTTP date: the gateway never sends one
    return not math.isfinite(seconds) or seconds > MAX_CLIENT_WAIT_S


class GatewayError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,
        headers: Mapping[str, str] | None = None,
        retryable: bool | None = None,
    ) -> None:
        """`retryable`: say `x-should-retry` explicitly (None: the client's own rule by status, unless a
        `retry-after` longer than a client should wait is set)."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type or _TYPE_BY_STATUS.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        self.headers = dict(headers or {})
        if retryable is not None:
            self.headers[SHOULD_RETRY] = "true" if retryable else "false"

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.param, self.code)

    def response(self) -> Response:
        headers = self.headers
        if SHOULD_RETRY not in headers and _long_wait(headers.get("retry-after")):
            headers = {**headers, SHOULD_RETRY: "false"}
        return Response(self.body(), status_code=self.status, headers=headers, media_type="application/json")


class UpstreamError(GatewayError):
    """The upstream failed to answer usefully (after retries); a fallback model may still be tried."""


class UpstreamTimeout(UpstreamError):
    def __init__(self, when: str) -> None:
        super().__init__(504, f"upstream timed out {when}", code="upstream_timeout")


class UpstreamUnreachable(UpstreamError):
    def __init__(self, when: str) -> None:
        super().__init__(502, f"upstream unreachable {when}", code="upstream_unreachable")


class UpstreamBadResponse(UpstreamError):
    def __init__(self, what: str) -> None:
        super().__init__(502, f"upstream sent {what}", code="upstream_bad_response")


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": type, "param": param, "code": code}})


def bad_request(message: str, param: str | None = None, code: str | None = "invalid_request") -> GatewayError:
    return GatewayError(400, message, param=param, code=code)
