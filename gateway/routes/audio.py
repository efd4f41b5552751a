"""POST /v1/audio/transcriptions: a multipart upload passed through to an OpenAI-compatible upstream (Scaleway's
whisper-large-v3 and voxtral-small-24b-2507, OpenAI's whisper-1, a local server), metered by audio duration.

The figure (meters/carbon/audio.py) is the model's own factors applied to the audio's input-token equivalents,
from the duration the upstream reports (verbose_json `duration`, or `usage.seconds`), else the file's (a WAV
header exactly, other formats estimated from their size and bitrate, labelled), plus the transcript's tokens.
An upstream that reports token usage (`usage: {type: "tokens", input_tokens, output_tokens}`) is taken at its
word. The answer carries the `x-carbon-*` headers, `x-carbon-audio-seconds` and `x-carbon-audio-duration-source`;
a JSON answer also carries `usage.carbon` (a `usage: {type: "duration", seconds}` object is added where the
upstream gave none). `stream: true` is refused (400): the gateway meters whole answers here.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from gateway import tokens
from gateway.accounting import Usage
from gateway.admission import Admission, parse_tags
from gateway.auth import Principal
from gateway.body import read_body
from gateway.carbon_headers import ascii_header, carbon_headers, carbon_payload, fmt
from gateway.endpoints import Endpoint
from gateway.errors import GatewayError, UpstreamBadResponse, bad_request
from gateway.gateway import Gateway
from gateway.multipart import Form, Part, parse_form
from gateway.registry import ModelRuntime
from gateway.request_ids import ids_of
from gateway.routes.current import gateway_of
from gateway.routing import Sent
from gateway.upstream.base import FormUpstream
from meters.carbon.audio import (
    UPSTREAM,
    AudioDuration,
    audio_estimate,
    audio_rule,
    file_duration,
    known_duration,
    token_equivalents,
)
from meters.usage import USAGE_COUNTED_BY_GATEWAY, USAGE_FROM_UPSTREAM

ENDPOINT = Endpoint.AUDIO_TRANSCRIPTIONS
AUDIO_SECONDS = "x-carbon-audio-seconds"
AUDIO_DURATION_SOURCE = "x-carbon-audio-duration-source"


def _checked(form: Form) -> tuple[str, Part]:
    model = form.field("model")
    if not model:
        raise bad_request(
            "Missing required parameter: 'model'.", param="model", code="missing_required_parameter"
        )
    upload = form.file("file")
    if upload is None or not upload.data:
        raise bad_request(
            "Missing required parameter: 'file' (the audio).", param="file", code="missing_required_parameter"
        )
    if (form.field("stream") or "").strip().lower() == "true":
        raise bad_request(
            "Streamed transcriptions are not supported by this gateway: send stream=false.",
            param="stream",
            code="unsupported_parameter",
        )
    return model, upload


def _sizing_payload(model: str, runtime: ModelRuntime, duration: AudioDuration, form: Form) -> dict[str, Any]:
    """What the reservation is sized on: the audio's token equivalents as token ids, the text prompt as text."""
    equivalents = token_equivalents(duration.high, audio_rule(runtime.factors.model))
    return {"model": model, "input": [[0] * equivalents, form.field("prompt") or ""]}


async def transcriptions(request: Request) -> Response:
    started = time.perf_counter()
    gw = gateway_of(request)
    request_id, client_id = ids_of(request)
    principal: Principal | None = None
    runtime: ModelRuntime | None = None
    try:
        gw.accounting.check_backlog()
        principal = await gw.access.authenticate(request)
        form = parse_form(
            await read_body(request, gw.config.gateway.max_body_bytes, gw.config.gateway.body_timeout_s),
            request.headers.get("content-type"),
        )
        model, upload = _checked(form)
        runtime = gw.router.model(model)
        if runtime.unavailable_reason is not None:
            raise GatewayError(503, runtime.unavailable_reason, code="model_unavailable", retryable=False)
        duration = file_duration(upload.data, upload.filename, upload.content_type)
        admission = Admission(
            principal,
            runtime,
            ENDPOINT,
            request_id,
            client_id,
            tags=parse_tags(request.headers.get("x-carbon-tags")),
        )
        await gw.access.admit(admission, _sizing_payload(model, runtime, duration, form))
    except GatewayError as exc:
        gw.accounting.refused(exc, started, request_id, client_id, principal, runtime)
        return exc.response()
    try:
        return await _answer(gw, admission, form, duration, started)
    except GatewayError as exc:
        await gw.accounting.abandon(admission, exc.status, started)
        exc.headers.update(admission.headers)
        return exc.response()
    except BaseException:
        gw.accounting.abandon_soon(admission, 499, started)
        raise


async def _answer(
    gw: Gateway, admission: Admission, form: Form, duration: AudioDuration, started: float
) -> Response:
    runtime = admission.runtime
    upstream = runtime.upstream
    if not isinstance(upstream, FormUpstream):
        raise GatewayError(
            501,
            f"Model {runtime.name!r} ({runtime.route.provider}) is not served as an OpenAI-compatible upstream here:"
            " audio transcriptions go to OpenAI-compatible models only.",
            param="model",
            code="unsupported_endpoint",
        )
    parts = [
        Part("model", runtime.route.upstream_model.encode()) if p.name == "model" else p for p in form.parts
    ]
    sent_at = time.perf_counter()
    response = await upstream.send_form(ENDPOINT, parts)
    if response.status >= 400:
        raise await gw.router.error_of(Sent(runtime, response, sent_at))
    body = await response.read()
    upstream_s = time.perf_counter() - sent_at
    content_type = response.headers.get("content-type") or "application/json"
    data = _json(body) if "json" in content_type else None
    duration = _reported_duration(data) or duration
    usage, text_prompt, upstream_tokens = _usage(data, body, form, duration, runtime)
    figure = audio_estimate(
        runtime.factors,
        duration,
        prompt_tokens=usage.prompt_tokens if upstream_tokens else text_prompt,
        completion_tokens=usage.completion_tokens,
        latency_s=upstream_s if runtime.metered_latency else None,
        tokens_from_upstream=upstream_tokens,
    )
    headers = carbon_headers(runtime.label_headers, figure, usage.source)
    headers["x-carbon-source"] = ascii_header(figure.source)
    headers[AUDIO_SECONDS] = fmt(duration.seconds)
    headers[AUDIO_DURATION_SOURCE] = duration.source
    headers.update(admission.headers)
    if data is not None and gw.config.carbon.body:
        holder = data.get("usage") if isinstance(data.get("usage"), dict) else None
        if holder is None:
            holder = data["usage"] = {"type": "duration", "seconds": round(duration.seconds, 3)}
        holder["carbon"] = carbon_payload(figure, usage.source)
        body = orjson.dumps(data)
    finished = time.perf_counter()

    async def account() -> None:
        gw.accounting.finish(
            admission,
            runtime,
            usage,
            figure,
            status=200,
            latency_s=finished - started,
            ttft_s=None,
            overhead_s=(finished - started) - upstream_s,
        )

    return Response(body, headers=headers, media_type=content_type, background=BackgroundTask(account))


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamBadResponse("a transcription that is not JSON") from None
    if not isinstance(data, dict):
        raise UpstreamBadResponse("a transcription that is not a JSON object")
    return data


def _reported_duration(data: dict[str, Any] | None) -> AudioDuration | None:
    if data is None:
        return None
    usage = data.get("usage")
    for value, note in (
        (data.get("duration"), "the upstream's verbose_json duration"),
        (
            usage.get("seconds") if isinstance(usage, dict) and usage.get("type") == "duration" else None,
            "the upstream's usage.seconds",
        ),
    ):
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e6:
            return known_duration(float(value), note)
    return None


def _usage(
    data: dict[str, Any] | None, body: bytes, form: Form, duration: AudioDuration, runtime: ModelRuntime
) -> tuple[Usage, int, bool]:
    """(usage, the text prompt's tokens, whether the upstream counted the tokens): the upstream's own tokens
    (`type: tokens`), else the audio's equivalents plus the prompt, and the transcript counted by the gateway."""
    usage = data.get("usage") if data is not None else None
    prompt_text = tokens.count_text(form.field("prompt") or "")
    if isinstance(usage, dict) and usage.get("type") == "tokens":
        prompt, completion = usage.get("input_tokens"), usage.get("output_tokens")
        if (
            isinstance(prompt, int)
            and isinstance(completion, int)
            and 0 <= prompt < 10**9
            and 0 <= completion < 10**9
        ):
            return Usage(prompt, completion, USAGE_FROM_UPSTREAM), prompt_text, True
    text = data.get("text") if data is not None else body.decode("utf-8", errors="replace")
    equivalents = token_equivalents(duration.seconds, audio_rule(runtime.factors.model))
    source = USAGE_FROM_UPSTREAM if duration.source == UPSTREAM else USAGE_COUNTED_BY_GATEWAY
    completion = tokens.count_text(text if isinstance(text, str) else "")
    return Usage(equivalents + prompt_text, completion, source), prompt_text, False
