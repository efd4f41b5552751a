"""The proxied endpoints: /v1/chat/completions, /v1/completions, /v1/embeddings.

One flow for all three: authenticate, read and check the body, pick the model, forward
(with retries and fallbacks), read the usage, attach the carbon figure, hand the usage
record to the writer. Streams are relayed event by event (gateway.streaming).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway import tokens
from gateway.errors import GatewayError
from gateway.metering import carbon_headers, carbon_payload, new_request_id, usage_tokens
from gateway.providers import DEMO
from gateway.streaming import StreamState, relay
from gateway.upstream.base import UpstreamResponse
from gateway.upstream.passthrough import UpstreamFailure
from gateway.validation import EMBEDDINGS, parse_json_object, validate
from meters.usage import USAGE_COUNTED_BY_GATEWAY, USAGE_FROM_UPSTREAM

if TYPE_CHECKING:
    from gateway.registry import ModelRuntime
    from gateway.state import Admission, GatewayState


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise GatewayError(
            413, f"Request body is larger than the {limit}-byte limit.", code="request_too_large"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise GatewayError(
                413, f"Request body is larger than the {limit}-byte limit.", code="request_too_large"
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def proxy(request: Request, endpoint: str) -> Response:
    started = time.perf_counter()
    state: GatewayState = request.app.state.gateway
    request_id = request.headers.get("x-request-id") or new_request_id()
    principal = runtime = None
    try:
        principal = await state.authenticate(request)
        payload = parse_json_object(await read_body(request, state.config.max_body_bytes))
        validate(endpoint, payload)
        runtime = state.model(payload["model"])
        stream = endpoint != EMBEDDINGS and payload.get("stream") is True
        admission = await state.admit(request, principal, runtime, payload, request_id)
    except GatewayError as exc:
        state.observe_rejected(exc, started, request_id, principal, runtime)
        return exc.response()
    runtime = admission.runtime  # a downgrade policy may have swapped the model
    try:
        if stream:
            return await _stream(state, admission, endpoint, payload, started)
        return await _unary(state, admission, endpoint, payload, started)
    except GatewayError as exc:
        await state.abandon(admission, exc.status, started)
        exc.headers.update(admission.headers)
        return exc.response()
    except BaseException:
        # Cancelled (the client left) or a bug: free what the request held, then let it propagate.
        state.abandon_soon(admission, 499, started)
        raise


async def _send_with_fallbacks(
    state: GatewayState, admission: Admission, endpoint: str, payload: dict[str, Any], stream: bool
) -> tuple[ModelRuntime, UpstreamResponse, float]:
    """Try the model, then its configured fallbacks, on transport failures and 429/5xx."""
    candidates = [admission.runtime, *state.fallbacks_for(admission.runtime.name)]
    last_error: GatewayError | None = None
    for index, runtime in enumerate(candidates):
        is_last = index == len(candidates) - 1
        sent_at = time.perf_counter()
        try:
            upstream = await state.send(runtime, endpoint, payload, stream)
        except UpstreamFailure as exc:
            state.observe_upstream_error(runtime, exc.code or str(exc.status))
            last_error = exc
            if is_last:
                raise
            continue
        if upstream.status >= 429 and not is_last and (upstream.status == 429 or upstream.status >= 500):
            state.observe_upstream_error(runtime, str(upstream.status))
            upstream.close()
            continue
        return runtime, upstream, sent_at
    assert last_error is not None
    raise last_error


async def _upstream_error(
    state: GatewayState, runtime: ModelRuntime, upstream: UpstreamResponse
) -> GatewayError:
    body = await upstream.read()
    state.observe_upstream_error(runtime, str(upstream.status))
    message = f"upstream returned HTTP {upstream.status}"
    code: Any = None
    try:
        error = orjson.loads(body).get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or message)
            code = error.get("code")
        elif isinstance(error, str):
            message = error
    except (orjson.JSONDecodeError, AttributeError):
        pass
    if upstream.status < 500:
        return GatewayError(
            upstream.status,
            message,
            code=code,
            type="invalid_request_error" if upstream.status != 429 else "rate_limit_error",
        )
    return GatewayError(502, f"upstream error: {message}", code="upstream_error")


async def _unary(
    state: GatewayState, admission: Admission, endpoint: str, payload: dict[str, Any], started: float
) -> Response:
    runtime, upstream, sent_at = await _send_with_fallbacks(state, admission, endpoint, payload, stream=False)
    if upstream.status >= 400:
        raise await _upstream_error(state, runtime, upstream)
    body = await upstream.read()
    upstream_done = time.perf_counter()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise GatewayError(
            502, "upstream sent a response that is not JSON", code="upstream_bad_response"
        ) from None
    counted = usage_tokens(data.get("usage")) if isinstance(data, dict) else None
    if counted is None:
        prompt = tokens.count_prompt(endpoint, payload)
        completion = tokens.count_text(_completion_text(data)) if endpoint != EMBEDDINGS else 0
        source = USAGE_COUNTED_BY_GATEWAY
        if isinstance(data, dict):
            data["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
    else:
        prompt, completion = counted
        source = USAGE_FROM_UPSTREAM
    upstream_s = upstream_done - sent_at
    estimate = runtime.factors.estimate(prompt, completion, _measured_latency(runtime, upstream_s))
    headers = carbon_headers(runtime, estimate, source)
    headers.update(admission.headers)
    if runtime is not admission.runtime:
        headers["x-carbon-fallback-from"] = admission.runtime.name
    if state.config.carbon_body and isinstance(data, dict) and isinstance(data.get("usage"), dict):
        data["usage"]["carbon"] = carbon_payload(estimate, source)
        body = orjson.dumps(data)
    elif source == USAGE_COUNTED_BY_GATEWAY:
        body = orjson.dumps(data)
    finished = time.perf_counter()

    async def account() -> None:
        # After the response is sent: metrics, access log and the usage record are off the client's clock.
        record = state.finish(
            admission,
            runtime,
            endpoint,
            prompt,
            completion,
            estimate,
            source,
            stream=False,
            latency_s=finished - started,
            ttft_s=None,
            overhead_s=(finished - started) - upstream_s,
        )
        state.settle_soon(admission, record)

    return Response(body, headers=headers, media_type="application/json", background=BackgroundTask(account))


def _measured_latency(runtime: ModelRuntime, seconds: float) -> float | None:
    # The demo answers in microseconds: its figure uses the catalogue's modelled latency instead.
    return None if runtime.route.kind == DEMO else seconds


def _completion_text(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    parts = []
    for choice in data.get("choices") or ():
        message = choice.get("message") or {}
        parts.append(message.get("content") or choice.get("text") or "")
    return "".join(p for p in parts if isinstance(p, str))


async def _stream(
    state: GatewayState, admission: Admission, endpoint: str, payload: dict[str, Any], started: float
) -> Response:
    options = payload.get("stream_options") or {}
    client_wants_usage = bool(options.get("include_usage"))
    payload["stream_options"] = {**options, "include_usage": True}
    runtime, upstream, sent_at = await _send_with_fallbacks(state, admission, endpoint, payload, stream=True)
    if upstream.status >= 400:
        raise await _upstream_error(state, runtime, upstream)
    stream_state = StreamState()
    meter: dict[str, Any] = {}

    def finalize(st: StreamState) -> dict[str, Any]:
        if st.carbon is not None:
            return st.carbon
        counted = usage_tokens(st.usage)
        if counted is None:
            counted = (tokens.count_prompt(endpoint, payload), tokens.count_text(st.completion_text()))
            source = USAGE_COUNTED_BY_GATEWAY
            st.usage = {
                "prompt_tokens": counted[0],
                "completion_tokens": counted[1],
                "total_tokens": sum(counted),
            }
        else:
            source = USAGE_FROM_UPSTREAM
        estimate = runtime.factors.estimate(
            counted[0], counted[1], _measured_latency(runtime, time.perf_counter() - sent_at)
        )
        meter.update(prompt=counted[0], completion=counted[1], estimate=estimate, source=source)
        st.carbon = carbon_payload(estimate, source)
        return st.carbon

    async def body():  # type: ignore[no-untyped-def]
        status = 200
        try:
            async for piece in relay(
                upstream.iter_chunks(),
                stream_state,
                client_wants_usage=client_wants_usage,
                carbon_in_body=state.config.carbon_body,
                finalize=finalize,
            ):
                yield piece
        except GatewayError as exc:
            status = (
                exc.status
            )  # the upstream broke mid-stream: headers are gone, the client sees the stream end
        finally:
            upstream.close()
            if not stream_state.done and status == 200:
                status = 499  # the client went away, or the upstream closed without [DONE]
            finalize(stream_state)
            now = time.perf_counter()
            first = stream_state.first_byte_at
            record = state.finish(
                admission,
                runtime,
                endpoint,
                meter["prompt"],
                meter["completion"],
                meter["estimate"],
                meter["source"],
                stream=True,
                latency_s=now - started,
                ttft_s=(first - started) if first else None,
                overhead_s=(sent_at - started),
                status=status,
            )
            state.settle_soon(admission, record)

    headers = dict(runtime.label_headers)
    headers.update(admission.headers)
    headers["cache-control"] = "no-cache"
    headers["x-accel-buffering"] = "no"
    if runtime is not admission.runtime:
        headers["x-carbon-fallback-from"] = admission.runtime.name
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)
