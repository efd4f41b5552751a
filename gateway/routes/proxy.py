"""The proxied JSON endpoints: POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses.

One flow for all: authenticate, read and check the body, pick the model, admit (limits, reservation),
then answer as a stream or not; a failure releases what the request held.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway import streaming, unary
from gateway.accounting import Accounting
from gateway.admission import Admission, parse_tags
from gateway.auth import Principal
from gateway.body import read_json_object
from gateway.config import CarbonSettings
from gateway.endpoints import Endpoint
from gateway.errors import GatewayError
from gateway.registry import ModelRuntime
from gateway.request_ids import ids_of
from gateway.routes import responses
from gateway.routes.current import gateway_of
from gateway.routing import Router
from gateway.validation import validate

Answer = Callable[[Router, Accounting, Admission, dict[str, Any], float, CarbonSettings], Awaitable[Response]]
# (non-stream, stream) per endpoint: chat completions' shapes by default.
ANSWERS: dict[Endpoint, tuple[Answer, Answer]] = {Endpoint.RESPONSES: (responses.unary, responses.stream)}
DEFAULT_ANSWERS: tuple[Answer, Answer] = (unary.respond, streaming.respond)


async def proxy(request: Request, endpoint: Endpoint) -> Response:
    started = time.perf_counter()
    gw = gateway_of(request)
    request_id, client_id = ids_of(request)  # the middleware puts them on every response
    principal: Principal | None = None
    runtime: ModelRuntime | None = None
    try:
        gw.accounting.check_backlog()
        principal = await gw.access.authenticate(request)
        payload = await read_json_object(request, gw.config.gateway.max_body_bytes, gw.config.gateway.body_timeout_s)
        validate(endpoint, payload)
        runtime = gw.router.model(payload["model"])
        reason = runtime.unavailable_reason
        if reason is not None:
            # Not retryable: a key that is not set stays unset (the openai SDKs would retry a 503 twice).
            raise GatewayError(503, reason, code="model_unavailable", retryable=False)
        stream = endpoint.generates and payload.get("stream") is True
        admission = Admission(
            principal,
            runtime,
            endpoint,
            request_id,
            client_id,
            stream=stream,
            tags=parse_tags(request.headers.get("x-carbon-tags")),
        )
        await gw.access.admit(admission, payload)
    except GatewayError as exc:
        gw.accounting.refused(exc, started, request_id, client_id, principal, runtime)
        return exc.response()
    answer = ANSWERS.get(endpoint, DEFAULT_ANSWERS)[1 if stream else 0]
    try:
        return await answer(gw.router, gw.accounting, admission, payload, started, gw.config.carbon)
    except GatewayError as exc:
        await gw.accounting.abandon(admission, exc.status, started)
        exc.headers.update(admission.headers)
        return exc.response()
    except BaseException:
        # Cancelled (the client left) or a bug: free what the request held, then let it propagate.
        gw.accounting.abandon_soon(admission, 499, started)
        raise


async def chat_completions(request: Request) -> Response:
    return await proxy(request, Endpoint.CHAT)


async def completions(request: Request) -> Response:
    return await proxy(request, Endpoint.COMPLETIONS)


async def embeddings(request: Request) -> Response:
    return await proxy(request, Endpoint.EMBEDDINGS)


async def responses_api(request: Request) -> Response:
    return await proxy(request, Endpoint.RESPONSES)
