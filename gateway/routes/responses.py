"""POST /v1/responses: OpenAI's Responses API, passed through to OpenAI-compatible upstreams that offer it, and
metered like chat (`usage.input_tokens` / `output_tokens`, else the gateway's own count).

The figure: `x-carbon-*` headers and `usage.carbon` in the response object (non-stream), or in the
`response.completed` event's `response.usage` (stream; the stream's headers carry the labels). Where the route
cannot serve it: a model served through LiteLLM's translation answers 501 `unsupported_endpoint`; an upstream
that has no /v1/responses answers 404, passed on with that said. The `demo` model answers it offline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response

from gateway.accounted_answer import AccountedAnswer
from gateway.accounting import Accounting, Usage, estimate
from gateway.admission import Admission
from gateway.carbon_headers import carbon_headers, carbon_payload, encode_headers
from gateway.config import CarbonSettings
from gateway.deadlines import responses_error_event
from gateway.errors import GatewayError, UpstreamBadResponse
from gateway.providers import RouteKind
from gateway.relay_response import RelayResponse
from gateway.responses_api import ResponsesRelay, usage_of
from gateway.routing import Router, Sent
from gateway.text import output_text
from gateway.unary import FALLBACK_FROM
from meters.carbon import Estimate

CLIENT_LEFT = 499

log = logging.getLogger("carbon_gateway.metering")


async def _send(router: Router, admission: Admission, payload: dict[str, Any], *, stream: bool) -> Sent:
    runtime = admission.runtime
    if runtime.route.kind is RouteKind.LITELLM:
        raise GatewayError(
            501,
            f"Model {runtime.name!r} ({runtime.route.provider}) is served through LiteLLM's translation, which this"
            " gateway does not offer the Responses API for: use /v1/chat/completions.",
            param="model",
            code="unsupported_endpoint",
        )
    sent = await router.send(runtime, admission.endpoint, payload, stream=stream)
    if sent.response.status == 404:
        error = await router.error_of(sent)
        raise GatewayError(
            404,
            f"The upstream of {sent.runtime.name!r} answered 404 for /v1/responses (it may not offer the Responses"
            f" API; /v1/chat/completions does the same job): {error.message}",
            param="model",
            code="unsupported_endpoint",
        )
    if sent.response.status >= 400:
        raise await router.error_of(sent)
    return sent


def _headers(admission: Admission, sent: Sent) -> dict[str, str]:
    headers = dict(admission.headers)
    if sent.runtime is not admission.runtime:
        headers[FALLBACK_FROM] = admission.runtime.name
    return headers


async def unary(
    router: Router,
    accounting: Accounting,
    admission: Admission,
    payload: dict[str, Any],
    started: float,
    settings: CarbonSettings,
) -> Response:
    sent = await _send(router, admission, payload, stream=False)
    body = await sent.response.read()
    upstream_s = time.perf_counter() - sent.sent_at
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamBadResponse("a response that is not JSON") from None
    if not isinstance(data, dict):
        raise UpstreamBadResponse("a response that is not a JSON object")
    runtime = sent.runtime
    usage = usage_of(payload, data, lambda: output_text(data))
    figure = estimate(runtime, usage, upstream_s)
    headers = carbon_headers(runtime.label_headers, figure, usage.source)
    headers.update(_headers(admission, sent))
    if settings.body:
        holder = data.get("usage")
        if not isinstance(holder, dict):
            holder = data["usage"] = _openai_usage(usage)
        holder["carbon"] = carbon_payload(figure, usage.source)
        body = orjson.dumps(data)
    finished = time.perf_counter()

    def account() -> None:
        accounting.finish(
            admission,
            runtime,
            usage,
            figure,
            status=200,
            latency_s=finished - started,
            ttft_s=None,
            overhead_s=(finished - started) - upstream_s,
        )

    return AccountedAnswer(body, encode_headers(headers), account)


def _openai_usage(usage: Usage) -> dict[str, Any]:
    total = usage.prompt_tokens + usage.completion_tokens
    return {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": total,
    }


async def stream(
    router: Router,
    accounting: Accounting,
    admission: Admission,
    payload: dict[str, Any],
    started: float,
    settings: CarbonSettings,
) -> Response:
    sent = await _send(router, admission, payload, stream=True)
    figures: list[Estimate] = []

    def carbon_of(usage: Usage) -> dict[str, Any]:
        figure = estimate(sent.runtime, usage, time.perf_counter() - sent.sent_at)
        figures.append(figure)
        return carbon_payload(figure, usage.source)

    relay = ResponsesRelay(payload, carbon_of, in_body=settings.body)
    headers = {**sent.runtime.label_headers, **_headers(admission, sent), "cache-control": "no-cache"}
    headers["x-accel-buffering"] = "no"
    return RelayResponse(
        _body(accounting, admission, sent, relay, figures, started),
        media_type="text/event-stream",
        headers=headers,
    )


async def _body(
    accounting: Accounting,
    admission: Admission,
    sent: Sent,
    relay: ResponsesRelay,
    figures: list[Estimate],
    started: float,
) -> AsyncIterator[bytes]:
    """As gateway/streaming.py: a stream that breaks ends with an error event, and is metered however it ends."""
    status = CLIENT_LEFT  # until the stream ends one way or another
    failure: GatewayError | None = None
    try:
        if "json" in sent.response.headers.get("content-type", ""):
            relay.answered_with_json(await sent.response.read())
            raise UpstreamBadResponse("a JSON body, not an event stream, to a stream request")
        async for piece in relay.relay(sent.response.iter_chunks()):
            yield piece
        if not relay.completed:
            raise UpstreamBadResponse("a stream that ended before response.completed")
        status = 200
    except GatewayError as exc:
        failure = exc
    except Exception:
        log.exception("responses stream relay failed")
        failure = GatewayError(500, "The gateway hit an internal error; it has been logged.", code="internal_error")
    finally:
        sent.response.close()
        if failure is not None:
            status = failure.status
            log.warning("stream %s ended early (status %d): %s", admission.request_id, status, failure.message)
        accounting.finish_stream(
            admission,
            sent.runtime,
            lambda: (relay.finish(), figures[-1], relay.first_byte_at),
            status=status,
            started=started,
            sent_at=sent.sent_at,
        )
    if failure is not None:
        # The Responses API's own error event (ResponseErrorEvent), which the openai SDKs raise as an APIError.
        yield responses_error_event(failure)
