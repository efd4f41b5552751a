"""Every response the gateway sends carries `x-request-id` (the gateway's id of the request) and, when the
client sent its own `x-request-id`, `x-client-request-id` echoing it: proxied answers, the carbon API,
models, admin, health, 404/405 and the 500 handler alike.

A pure ASGI middleware (no `BaseHTTPMiddleware`: no task or queue per request). It makes the id before the
route runs and keeps it in the ASGI scope, so the proxy counts the request under the same id the client
sees (`ids_of`), and the 500 handler, which Starlette runs outside every middleware, can still name it.
"""

from __future__ import annotations

from operator import itemgetter

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.admission import CLIENT_REQUEST_ID, REQUEST_ID, client_request_id, id_headers, new_request_id

_SCOPE_KEY = "carbon_gateway.ids"
_name = itemgetter(0)  # a raw header's name
_REQUEST_ID_RAW = REQUEST_ID.encode()
_CLIENT_ID_RAW = CLIENT_REQUEST_ID.encode()


def _client_id(scope: Scope) -> str | None:
    """The client's correlation id from the raw headers (lower-case bytes in ASGI)."""
    sent: dict[str, str] | None = None
    for name, value in scope["headers"]:
        if name in (_REQUEST_ID_RAW, _CLIENT_ID_RAW):
            sent = sent or {}
            sent[name.decode("latin-1")] = value.decode("latin-1")
    return None if sent is None else client_request_id(sent)


def ids_of(request: Request) -> tuple[str, str | None]:
    """(the gateway's id, the client's id or None) of this request; made here when no middleware ran."""
    ids: tuple[str, str | None] | None = request.scope.get(_SCOPE_KEY)
    if ids is None:
        ids = (new_request_id(), client_request_id(request.headers))
        request.scope[_SCOPE_KEY] = ids
    return ids


def response_id_headers(request: Request) -> dict[str, str]:
    """The id headers of this request, for a response built outside the middleware (the 500 handler)."""
    return id_headers(*ids_of(request))


class IdSender:
    """`send`, with the id headers added to the response's start (unless the route set them) and a note of
    whether the response has started."""

    __slots__ = ("_ids", "_send", "started")

    def __init__(self, ids: tuple[str, str | None], send: Send) -> None:
        self._ids = ids
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            headers = message.get("headers") or []
            if _REQUEST_ID_RAW not in map(_name, headers):  # unless the route set them itself
                ids = self._ids
                headers = [*headers, (_REQUEST_ID_RAW, ids[0].encode())]
                if ids[1] is not None:
                    headers.append((_CLIENT_ID_RAW, ids[1].encode()))
                message["headers"] = headers
        await self._send(message)


def with_ids(scope: Scope, send: Send) -> IdSender:
    """Make this request's ids (kept in the scope for `ids_of`) and the `send` that puts them on the answer."""
    ids = scope[_SCOPE_KEY] = (new_request_id(), _client_id(scope))
    return IdSender(ids, send)


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, with_ids(scope, send))
