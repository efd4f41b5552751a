"""A streamed answer: relayed event by event (sse.py), metered when it ends, however it ends.

A stream that breaks — the upstream closes it before `data: [DONE]`, resets it, times out, sends an event
that is not a JSON object, or answers with a plain JSON body — ends with an error event in OpenAI's shape
(`data: {"error": {...}}`, which the openai SDKs raise as an APIError), is counted with the gateway's own
count of what was generated (unless the upstream's usage already came), settles its reservation, and is logged
with its real cause (502/504, not 499). 499 is kept for a client that went away.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response

from gateway.accounting import Accounting, Usage, estimate, resolve_usage
from gateway.admission import Admission
from gateway.carbon_headers import carbon_payload
from gateway.config import CarbonSettings
from gateway.deadlines import error_event
from gateway.errors import GatewayError, UpstreamBadResponse
from gateway.relay_response import RelayResponse
from gateway.routing import Router, Sent
from gateway.sse import StreamState, relay
from gateway.text import completion_text
from gateway.unary import FALLBACK_FROM
from meters.carbon import Estimate
from meters.usage import USAGE_COUNTED_BY_GATEWAY

CLIENT_LEFT = 499  # the client went away

log = logging.getLogger("carbon_gateway.metering")


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
    meter.state.redact = router.redact
    if "json" in sent.response.headers.get("content-type", ""):
        meter.plain_json = await sent.response.read()
    headers = dict(sent.runtime.label_headers)
    headers.update(admission.headers)
    headers["cache-control"] = "no-cache"
    headers["x-accel-buffering"] = "no"
    if sent.runtime is not admission.runtime:
        headers[FALLBACK_FROM] = admission.runtime.name
    body = _body(accounting, meter, started, client_wants_usage=client_wants_usage, carbon_in_body=settings.body)
    return RelayResponse(body, media_type="text/event-stream", headers=headers)


class _StreamMeter:
    """The stream's usage and figure, computed once: when the usage chunk arrives, or at the end."""

    def __init__(self, admission: Admission, payload: dict[str, Any], sent: Sent) -> None:
        self.admission = admission
        self.payload = payload
        self.sent = sent
        self.state = StreamState()
        self.usage: Usage | None = None
        self.figure: Estimate | None = None
        self.plain_json: bytes | None = None  # the upstream answered the stream request with a JSON body

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
    status = CLIENT_LEFT  # until the stream ends one way or another
    failure: GatewayError | None = None
    try:
        if meter.plain_json is not None:
            _read_plain_json(state, meter.plain_json)
            raise UpstreamBadResponse("a JSON body, not an event stream, to a stream request")
        async for piece in relay(
            sent.response.iter_chunks(),
            state,
            client_wants_usage=client_wants_usage,
            carbon_in_body=carbon_in_body,
            finalize=meter.finalize,
        ):
            yield piece
        if not state.done:
            raise UpstreamBadResponse("a stream that ended before data: [DONE]")
        status = 200
    except GatewayError as exc:
        failure = exc  # the upstream broke mid-stream: the headers are gone, the stream ends with an error event
    except Exception:  # a bug: the stream still ends cleanly and is still counted
        log.exception("stream relay failed")
        failure = GatewayError(500, "The gateway hit an internal error; it has been logged.", code="internal_error")
    finally:
        sent.response.close()
        if failure is not None:
            status = failure.status
        _settle(accounting, meter, started, status, failure)
    if failure is not None:
        yield error_event(failure)


def _read_plain_json(state: StreamState, body: bytes) -> None:
    """What a JSON answer to a stream request generated, to meter it."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return
    if isinstance(data, dict):
        if isinstance(data.get("usage"), dict):
            state.usage = data["usage"]
        state.texts.append(completion_text(data))


def _settle(
    accounting: Accounting, meter: _StreamMeter, started: float, status: int, failure: GatewayError | None
) -> None:
    """Count what the stream served, however it ended; if even that fails, release what it held."""
    state, sent, admission = meter.state, meter.sent, meter.admission
    if failure is not None:
        log.warning(
            "stream %s ended early (status %d): %s", admission.request_id, status, failure.message
        )
    def measure() -> tuple[Usage, Estimate, float | None]:
        meter.finalize(state)
        assert meter.usage is not None and meter.figure is not None
        return meter.usage, meter.figure, state.first_byte_at

    accounting.finish_stream(admission, sent.runtime, measure, status=status, started=started, sent_at=sent.sent_at)
