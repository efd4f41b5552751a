"""A metered JSON answer: sent, then accounted (metrics, access log, the usage record), off the client's clock.

Starlette's `Response` with a `BackgroundTask` does the same with more machinery per request (the task's callable
check, two more coroutines, every header encoded again); with the head and body leaving in one write
(`commands/coalescing.py`) the client has the whole answer before `account` runs. The audio route, whose content
type is the upstream's, keeps Starlette's.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

_JSON_TYPE = (b"content-type", b"application/json")


class AccountedAnswer(Response):
    """Status 200, `body` (JSON) with `headers` (already encoded), then content-length and content-type as
    Starlette orders them; `account()` runs once the body is sent."""

    def __init__(self, body: bytes, headers: list[tuple[bytes, bytes]], account: Callable[[], None]) -> None:
        self.status_code = 200
        self.body = body
        self.background = None
        self.raw_headers = [*headers, (b"content-length", b"%d" % len(body)), _JSON_TYPE]
        self._account = account

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})
        self._account()
