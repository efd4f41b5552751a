"""A non-streamed answer: forwarded, its usage read (or counted), its carbon figure attached."""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.accounted_answer import AccountedAnswer
from gateway.accounting import Accounting, estimate, resolve_usage
from gateway.admission import Admission
from gateway.carbon_headers import carbon_payload, encode_headers, raw_carbon_headers
from gateway.config import CarbonSettings
from gateway.errors import UpstreamBadResponse
from gateway.routing import Router
from gateway.sse import sound_choice
from gateway.text import completion_text
from meters.usage import USAGE_COUNTED_BY_GATEWAY

FALLBACK_FROM = "x-carbon-fallback-from"


async def respond(
    router: Router,
    accounting: Accounting,
    admission: Admission,
    payload: dict[str, Any],
    started: float,
    settings: CarbonSettings,
) -> AccountedAnswer:
    sent = await router.send(admission.runtime, admission.endpoint, payload, stream=False)
    if sent.response.status >= 400:
        raise await router.error_of(sent)
    body = await sent.response.read()
    upstream_s = time.perf_counter() - sent.sent_at
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamBadResponse("a response that is not JSON") from None
    check_shape(data)
    runtime = sent.runtime
    usage = resolve_usage(admission.endpoint, payload, data.get("usage"), lambda: completion_text(data))
    if usage.source == USAGE_COUNTED_BY_GATEWAY:
        data["usage"] = usage.as_openai()
    figure = estimate(runtime, usage, upstream_s)
    headers = raw_carbon_headers(runtime.label_headers, figure, usage.source)
    headers += encode_headers(admission.headers)
    if runtime is not admission.runtime:
        headers.append((FALLBACK_FROM.encode(), admission.runtime.name.encode("latin-1")))
    if settings.body and isinstance(data.get("usage"), dict):
        data["usage"]["carbon"] = carbon_payload(figure, usage.source)
        body = orjson.dumps(data)
    elif usage.source == USAGE_COUNTED_BY_GATEWAY:
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

    return AccountedAnswer(body, headers, account)


def check_shape(data: Any) -> None:
    """An answer is a JSON object; its `choices`, when there, objects whose `message` is an object: anything else
    is upstream nonsense (502), not something to relay or count."""
    if not isinstance(data, dict):
        raise UpstreamBadResponse("a response that is not a JSON object")
    choices = data.get("choices")
    if choices is not None and not (isinstance(choices, list) and all(sound_choice(c) for c in choices)):
        raise UpstreamBadResponse("a response whose 'choices' are not an array of objects with object messages")
