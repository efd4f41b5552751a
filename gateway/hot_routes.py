"""The proxied POST routes served straight from the ASGI call, past Starlette's middleware stack and router.

Every proxied request went through six layers before its handler (the app, the server-error middleware, the
request-id middleware, the exception middleware, the router, the route's exception wrapper), each a coroutine
and most a `send` wrapper too: ~10% of the gateway's CPU per request under load (py-spy, issue 15). Those
routes do what the layers did, once: the request ids (`request_ids`), a `GatewayError` answered as itself, any
other error logged and answered with a 500 in OpenAI's shape, a failure after the answer started logged and the
connection kept. Every other path, method or `root_path` takes the full stack, unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.errors import GatewayError, error_body
from gateway.request_ids import with_ids
from gateway.routes import proxy

log = logging.getLogger("carbon_gateway")

Handler = Callable[[Request], Awaitable[Response]]

HOT_ROUTES: dict[str, Handler] = {
    "/v1/chat/completions": proxy.chat_completions,
    "/v1/completions": proxy.completions,
    "/v1/embeddings": proxy.embeddings,
    "/v1/responses": proxy.responses_api,
}


def hot_handler(scope: Scope) -> Handler | None:
    """The handler of a proxied POST, or None for everything the full stack serves."""
    if scope["method"] != "POST" or scope.get("root_path"):
        return None
    return HOT_ROUTES.get(scope["path"])


async def serve_hot(app: object, handler: Handler, scope: Scope, receive: Receive, send: Send) -> None:
    scope["app"] = app  # what Starlette's own __call__ sets: `request.app` reads it
    sender = with_ids(scope, send)
    request = Request(scope, receive, sender)
    try:
        try:
            response = await handler(request)
        except GatewayError as exc:
            response = exc.response()
        await response(scope, receive, sender)
    except Exception:
        log.exception("unhandled error on %s", scope["path"])
        if not sender.started:  # else the answer is cut short; the connection stays up (see GatewayApp)
            body = error_body(
                "The gateway hit an internal error; it has been logged.", "api_error", None, "internal_error"
            )
            await Response(body, status_code=500, media_type="application/json")(scope, receive, sender)
