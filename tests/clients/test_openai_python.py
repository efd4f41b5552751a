"""openai Python (2.54, pinned in the test extra) against a real gateway: where the figure is (README, "Where
each client finds its figure"), non-stream and stream, with and without include_usage, with stream_usage: always."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.clients.conftest import NEEDS_KEY, UNSET_KEY_ENV, ledger_entry
from tests.support.gateway import GatewayProcess

MESSAGES = [{"role": "user", "content": "Hello from Python"}]


def client(gateway: GatewayProcess, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key="unused-in-demo-mode", **kwargs)  # type: ignore[arg-type]


def test_non_stream_headers_and_usage_carbon(demo_gateway: GatewayProcess) -> None:
    raw = client(demo_gateway).chat.completions.with_raw_response.create(model="demo", messages=MESSAGES)
    carbon = raw.parse().usage.model_extra["carbon"]
    assert float(raw.headers["x-carbon-gco2e"]) == pytest.approx(carbon["gco2e"], rel=1e-5)
    assert ledger_entry(demo_gateway, raw.headers["x-request-id"])["carbon"] == carbon


def test_stream_without_include_usage_the_id_then_the_carbon_api(demo_gateway: GatewayProcess) -> None:
    stream = client(demo_gateway).chat.completions.create(model="demo", messages=MESSAGES, stream=True)
    chunks = list(stream)
    assert all(chunk.usage is None for chunk in chunks)  # no number in the stream the SDK shows
    entry = ledger_entry(demo_gateway, stream.response.headers["x-request-id"])
    assert entry["stream"] is True and entry["usage"]["completion_tokens"] > 0


def test_stream_with_include_usage_the_last_chunk(demo_gateway: GatewayProcess) -> None:
    stream = client(demo_gateway).chat.completions.create(
        model="demo", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    carbon = list(stream)[-1].usage.model_extra["carbon"]
    assert carbon == ledger_entry(demo_gateway, stream.response.headers["x-request-id"])["carbon"]


def test_stream_usage_always_the_last_chunk_unasked(always_gateway: GatewayProcess) -> None:
    stream = client(always_gateway).chat.completions.create(model="demo", messages=MESSAGES, stream=True)
    carbon = list(stream)[-1].usage.model_extra["carbon"]
    assert carbon == ledger_entry(always_gateway, stream.response.headers["x-request-id"])["carbon"]


def counting_client(gateway: GatewayProcess, api_key: str) -> tuple[openai.OpenAI, list[httpx.Request]]:
    sent: list[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [sent.append]})
    return openai.OpenAI(base_url=gateway.base_url, api_key=api_key, http_client=http), sent


def test_a_model_whose_key_is_not_set_is_not_retried(demo_gateway: GatewayProcess) -> None:
    sdk, sent = counting_client(demo_gateway, "unused")  # default max_retries=2
    with pytest.raises(openai.InternalServerError) as raised:
        sdk.chat.completions.create(model=NEEDS_KEY, messages=MESSAGES)
    assert len(sent) == 1
    error = raised.value
    assert error.status_code == 503 and error.body["code"] == "model_unavailable"
    assert UNSET_KEY_ENV in error.message and error.response.headers["x-should-retry"] == "false"


def test_a_monthly_budget_429_is_not_retried(keyed_gateway: GatewayProcess, over_budget_key: str) -> None:
    sdk, sent = counting_client(keyed_gateway, over_budget_key)
    with pytest.raises(openai.RateLimitError) as raised:
        sdk.chat.completions.create(model="demo", messages=MESSAGES)
    assert len(sent) == 1
    headers = raised.value.response.headers
    assert raised.value.body["code"] == "carbon_budget_exceeded"
    assert int(headers["retry-after"]) > 120 and headers["x-should-retry"] == "false"
