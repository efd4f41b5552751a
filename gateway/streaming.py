"""A streamed answer: relayed event by event (sse.py), metered when it ends, however it ends."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response, StreamingResponse

from gateway.accounting import Accounting, Usage, estimate, resolve_usage
from gateway.admission import Admission
from gateway.carbon_headers import carbon_payload
from gateway.config import CarbonSettings
from gateway.deadlines import error_event
from gateway.errors import GatewayError
from gateway.routing import Router, Sent
from gateway.sse import StreamState, relay
from gateway.unary import FALLBACK_FROM
from meters.carbon import Estimate
from meters.usage import USAGE_COUNTED_BY_GATEWAY

CLIENT_LEFT = 499  # the client went away, or the upstream closed without [DONE]


async def respond(
    router: Router,
    accounting: Accounting,
    admission: Admission,
    payload: dict[str, Any],
    started: float,
    settings: CarbonSettings,
) -> Response:
    options = payload.get("stream_options") or {}
    # The client gets a usage chunk when it asked for one, or when the config says every stream ends with one.
    client_wants_usage = bool(options.get("include_usage")) or settings.stream_usage == "always"
    payload["stream_options"] = {**options, "include_usage": True}
    sent = await router.send(admission.runtime, admission.endpoint, payload, stream=True)
    if sent.response.status >= 400:
        raise await router.error_of(sent)
    meter = _StreamMeter(admission, payload, sent)
    headers = dict(sent.runtime.label_headers)
    headers.update(admission.headers)
    headers["cache-control"] = "no-cache"
    headers["x-accel-buffering"] = "no"
    if sent.runtime is not admission.runtime:
        headers[FALLBACK_FROM] = admission.runtime.name
    body = _body(accounting, meter, started, client_wants_usage=client_wants_usage, carbon_in_body=settings.body)
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


class _StreamMeter:
    """The stream's usage and figure, computed once: when the usage chunk arrives, or at the end."""

    def __init__(self, admission: Admission, payload: dict[str, Any], sent: Sent) -> None:
        self.admission = admission
        self.payload = payload
        self.sent = sent
        self.state = StreamState()
        self.usage: Usage | None = None
        self.figure: Estimate | None = None

    def finalize(self, state: StreamState) -> dict[str, Any]:
        if state.carbon is not None:
            return state.carbon
        usage = resolve_usage(self.admission.endpoint, self.payload, state.usage, state.completion_text)
        if usage.source == USAGE_COUNTED_BY_GATEWAY:
            state.usage = usage.as_openai()
        self.usage = usage
        self.figure = estimate(self.sent.runtime, usage, time.perf_counter() - self.sent.sent_at)
        state.carbon = carbon_payload(self.figure, usage.source)
        return state.carbon


async def _body(
    accounting: Accounting, meter: _StreamMeter, started: float, *, client_wants_usage: bool, carbon_in_body: bool
) -> AsyncIterator[bytes]:
    state, sent = meter.state, meter.sent
    status = 200
    try:
        async for piece in relay(
            sent.response.iter_chunks(),
            state,
            client_wants_usage=client_wants_usage,
            carbon_in_body=carbon_in_body,
            finalize=meter.finalize,
        ):
            yield piece
    except GatewayError as exc:
        # The upstream broke or stalled mid-stream, or the stream ran too long: headers are gone, so the client
        # gets an error event in OpenAI's shape (the openai SDKs raise it), then the stream ends.
        status = exc.status
        yield error_event(exc)
    finally:
        sent.response.close()
        if not state.done and status == 200:
            status = CLIENT_LEFT
        meter.finalize(state)
        assert meter.usage is not None and meter.figure is not None
        first = state.first_byte_at
        accounting.finish(
            meter.admission,
            sent.runtime,
            meter.usage,
            meter.figure,
            status=status,
            latency_s=time.perf_counter() - started,
            ttft_s=(first - started) if first else None,
            overhead_s=sent.sent_at - started,
        )
