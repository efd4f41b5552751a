"""The spine end to end: the official SDKs against a real gateway process and a real fake upstream."""

from __future__ import annotations

import time

import httpx
import openai
import orjson
import pytest

from tests.fakes import DEFAULT_REPLY, fake_usage
from tests.support.configs import TEST_COEFFICIENT, UPSTREAM_KEY
from tests.support.gateway import GatewayProcess

MESSAGES = [{"role": "user", "content": "how much carbon does this little question cost"}]
CARBON_KEYS = {"gco2e", "gco2e_min", "gco2e_max", "energy_wh", "method", "confidence", "boundary", "source"}


def expected_gco2e(body: dict) -> float:
    prompt, completion = fake_usage(body)
    return (prompt + completion) / 1000 * TEST_COEFFICIENT


def test_chat_non_stream_sync_sdk_carries_headers_and_usage_carbon(gateway: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused")
    raw = client.chat.completions.with_raw_response.create(model="fake", messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].message.content == DEFAULT_REPLY
    expected = expected_gco2e({"messages": MESSAGES})
    assert float(raw.headers["x-carbon-gco2e"]) == pytest.approx(expected, rel=1e-5)
    assert raw.headers["x-carbon-method"] == "coefficient"
    assert raw.headers["x-carbon-confidence"] == "estimated"
    assert raw.headers["x-carbon-source"] == "test coefficient"
    assert float(raw.headers["x-carbon-gco2e-min"]) < expected < float(raw.headers["x-carbon-gco2e-max"])
    assert raw.headers["x-carbon-boundary"]
    carbon = completion.usage.model_extra["carbon"]
    assert set(carbon) >= CARBON_KEYS
    assert carbon["gco2e"] == pytest.approx(expected, rel=1e-12)
    assert carbon["usage_source"] == "upstream"
    # at least 4 significant digits in the header
    digits = raw.headers["x-carbon-gco2e"].replace("0.", "").lstrip("0").split("e")[0].replace(".", "")
    assert len(digits) >= 4


def test_published_measured_coefficient_reproduces_seed_002(gateway: GatewayProcess) -> None:
    response = httpx.post(
        f"{gateway.base_url}/chat/completions", json={"model": "mistral-large-2", "messages": MESSAGES}
    )
    assert response.status_code == 200
    prompt, completion = fake_usage({"messages": MESSAGES})
    carbon = response.json()["usage"]["carbon"]
    assert carbon["method"] == "coefficient"
    assert carbon["confidence"] == "measured"
    assert carbon["gco2e"] == pytest.approx((prompt + completion) / 1000 * 2.85, rel=1e-12)


def test_only_model_is_rewritten_and_upstream_key_is_sent(
    gateway: GatewayProcess, upstream_port: int
) -> None:
    body = {"model": "fake", "messages": MESSAGES, "temperature": 0.25, "user": "u-1", "seed": 7}
    response = httpx.post(
        f"{gateway.base_url}/chat/completions", json=body, headers={"authorization": "Bearer client"}
    )
    assert response.status_code == 200
    recorded = httpx.get(f"http://127.0.0.1:{upstream_port}/_fake/requests").json()[-1]
    assert recorded["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert recorded["body"] == {**body, "model": "fake-model"}
    assert response.json()["model"] == "fake-model"


async def test_async_stream_without_usage_gets_plain_chunks_and_a_carbon_comment(
    gateway: GatewayProcess,
) -> None:
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="unused")
    stream = await client.chat.completions.create(model="fake", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == DEFAULT_REPLY
    assert all(c.usage is None for c in chunks)
    async with (
        httpx.AsyncClient() as http,
        http.stream(
            "POST",
            f"{gateway.base_url}/chat/completions",
            json={"model": "fake", "messages": MESSAGES, "stream": True},
        ) as response,
    ):
        assert response.headers["x-carbon-method"] == "coefficient"
        assert response.headers["content-type"].startswith("text/event-stream")
        text = (await response.aread()).decode()
    events = [e for e in text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert events[-2].startswith(": x-carbon ")
    carbon = orjson.loads(events[-2][len(": x-carbon ") :])
    assert carbon["gco2e"] == pytest.approx(expected_gco2e({"messages": MESSAGES}), rel=1e-12)
    assert not any('"usage"' in e for e in events)


async def test_async_stream_with_usage_gets_usage_carbon_in_the_usage_chunk(gateway: GatewayProcess) -> None:
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="unused")
    stream = await client.chat.completions.create(
        model="fake", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1]
    carbon = usage_chunks[0].usage.model_extra["carbon"]
    assert carbon["gco2e"] == pytest.approx(expected_gco2e({"messages": MESSAGES}), rel=1e-12)


def test_sync_stream(gateway: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused")
    text = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(model="fake", messages=MESSAGES, stream=True)
        if chunk.choices
    )
    assert text == DEFAULT_REPLY


async def test_embeddings_and_completions(gateway: GatewayProcess) -> None:
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key="unused")
    raw = await client.embeddings.with_raw_response.create(model="fake", input=["one two three", "four"])
    result = raw.parse()
    assert len(result.data) == 2
    assert float(raw.headers["x-carbon-gco2e"]) == pytest.approx(4 / 1000 * TEST_COEFFICIENT, rel=1e-5)
    raw = await client.completions.with_raw_response.create(model="fake", prompt="say something nice")
    assert raw.parse().choices[0].text == DEFAULT_REPLY
    assert float(raw.headers["x-carbon-gco2e"]) == pytest.approx((3 + 10) / 1000 * TEST_COEFFICIENT, rel=1e-5)


def test_missing_usage_is_counted_by_the_gateway_and_labelled(gateway: GatewayProcess) -> None:
    import litellm

    body = {"model": "fake", "messages": MESSAGES, "fake_behaviour": {"omit_usage": True}}
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=body)
    assert response.status_code == 200
    usage = response.json()["usage"]
    assert usage["carbon"]["usage_source"] == "gateway_count"
    assert response.headers["x-carbon-usage-source"] == "gateway_count"
    assert usage["prompt_tokens"] == litellm.token_counter(model="gpt-4", messages=MESSAGES)
    assert usage["completion_tokens"] == litellm.token_counter(model="gpt-4", text=DEFAULT_REPLY)
    assert usage["carbon"]["gco2e"] > 0


def test_missing_usage_in_a_stream_is_counted_too(gateway: GatewayProcess) -> None:
    body = {"model": "fake", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True},
            "fake_behaviour": {"omit_usage": True}}  # fmt: skip
    response = httpx.post(f"{gateway.base_url}/chat/completions", json=body)
    events = [e for e in response.text.split("\n\n") if e]
    usage_event = orjson.loads(events[-2][len("data: ") :])
    assert usage_event["choices"] == []
    assert usage_event["usage"]["carbon"]["usage_source"] == "gateway_count"
    assert usage_event["usage"]["completion_tokens"] > 0


def test_unknown_catalogue_model_gets_a_labelled_fallback_not_zero(gateway: GatewayProcess) -> None:
    response = httpx.post(
        f"{gateway.base_url}/chat/completions", json={"model": "mystery", "messages": MESSAGES}
    )
    assert response.status_code == 200
    assert float(response.headers["x-carbon-gco2e"]) > 0
    assert response.headers["x-carbon-confidence"] == "estimated"
    carbon = response.json()["usage"]["carbon"]
    assert carbon["gco2e_max"] > carbon["gco2e"] > carbon["gco2e_min"] > 0


def test_litellm_sdk_as_client(gateway: GatewayProcess) -> None:
    import litellm

    response = litellm.completion(
        model="openai/fake", messages=MESSAGES, api_base=gateway.base_url, api_key="unused", num_retries=0
    )
    assert response.choices[0].message.content == DEFAULT_REPLY
    assert response.usage.prompt_tokens == fake_usage({"messages": MESSAGES})[0]


def test_demo_model_answers_offline_with_carbon(gateway: GatewayProcess) -> None:
    response = httpx.post(
        f"{gateway.base_url}/chat/completions", json={"model": "demo", "messages": MESSAGES}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["choices"][0]["message"]["content"]
    assert body["usage"]["carbon"]["gco2e"] > 0
    assert float(response.headers["x-carbon-gco2e"]) == pytest.approx(
        body["usage"]["carbon"]["gco2e"], rel=1e-5
    )
    assert float(response.headers["x-carbon-energy-wh"]) > 0


def test_models_health_and_ready(gateway: GatewayProcess) -> None:
    models = httpx.get(f"{gateway.base_url}/models").json()
    names = {m["id"] for m in models["data"]}
    assert {"fake", "demo", "mistral-large-2"} <= names
    assert httpx.get(f"{gateway.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{gateway.url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused")
    assert "fake" in {m.id for m in client.models.list()}


def test_a_client_request_id_is_echoed_but_every_request_counts_under_its_own_gateway_id(
    gateway: GatewayProcess,
) -> None:
    """Counting is never decided by the client's `x-request-id`: it is a correlation id, echoed."""

    def served_requests() -> int:
        return int(httpx.get(f"{gateway.base_url}/carbon/usage").json()["totals"]["requests"])

    before = served_requests()
    body = {"model": "fake", "messages": MESSAGES}
    first = httpx.post(f"{gateway.base_url}/chat/completions", json=body, headers={"x-request-id": "same-id"})
    second = httpx.post(f"{gateway.base_url}/chat/completions", json=body, headers={"x-request-id": "same-id"})
    assert first.status_code == second.status_code == 200
    assert first.headers["x-client-request-id"] == second.headers["x-client-request-id"] == "same-id"
    assert first.headers["x-request-id"].startswith("req_")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    refused = httpx.post(f"{gateway.base_url}/chat/completions", json={"model": "fake"})
    assert refused.status_code == 400 and refused.headers["x-request-id"].startswith("req_")
    deadline = time.monotonic() + 10
    while served_requests() < before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert served_requests() == before + 2
