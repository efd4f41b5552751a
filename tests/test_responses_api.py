"""POST /v1/responses (issue 13, item 2): passthrough with the same metering as chat, the demo offline, and a
clear 404/501 in OpenAI's shape where the route cannot serve it; the official openai SDK as client."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import httpx
import openai
import pytest

from gateway.providers import RouteKind
from tests.fakes import DEFAULT_REPLY
from tests.support.configs import TEST_COEFFICIENT
from tests.support.gateway import GatewayProcess
from tests.support.inprocess import SCRIPTED, edge

PROMPT = "how green is this answer"  # 5 words: the fake's input_tokens


def test_non_stream_is_metered_like_chat(gateway: GatewayProcess, upstream_port: int) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    raw = client.responses.with_raw_response.create(model="fake", input=PROMPT)
    response = raw.parse()
    assert response.output_text == DEFAULT_REPLY
    grams = (5 + len(DEFAULT_REPLY.split())) / 1000 * TEST_COEFFICIENT
    assert float(raw.headers["x-carbon-gco2e"]) == pytest.approx(grams, rel=1e-5)
    carbon = response.usage.model_extra["carbon"]
    assert carbon["gco2e"] == pytest.approx(grams, rel=1e-12) and carbon["usage_source"] == "upstream"
    sent = httpx.get(f"http://127.0.0.1:{upstream_port}/_fake/requests").json()[-1]
    assert sent["path"] == "/v1/responses" and sent["body"]["model"] == "fake-model"


def test_stream_carries_the_figure_in_response_completed(gateway: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    with client.responses.stream(model="demo", input=PROMPT) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text
    carbon = final.usage.model_extra["carbon"]
    assert carbon["gco2e"] > 0 and carbon["method"] and carbon["usage_source"] == "upstream"


def test_the_demo_answers_offline(gateway: GatewayProcess) -> None:
    response = httpx.post(f"{gateway.base_url}/responses", json={"model": "demo", "input": PROMPT})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "response" and body["usage"]["carbon"]["gco2e"] > 0
    assert response.headers["x-request-id"].startswith("req_")


def test_an_upstream_without_the_responses_api_is_a_clear_404(gateway: GatewayProcess) -> None:
    body = {
        "model": "no-retry",
        "input": PROMPT,
        "fake_behaviour": {"fail_status": 404, "key": "no-responses"},
    }
    response = httpx.post(f"{gateway.base_url}/responses", json=body)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unsupported_endpoint" and "/v1/chat/completions" in error["message"]


async def test_a_model_served_through_litellm_is_a_501(tmp_path: Path) -> None:
    async with edge(tmp_path, observability={"metrics_enabled": False, "log_requests": False}) as (
        client,
        gw,
    ):
        runtime = gw.registry.models[SCRIPTED]
        runtime.route = dataclasses.replace(runtime.route, kind=RouteKind.LITELLM)
        response = await client.post("/v1/responses", json={"model": SCRIPTED, "input": PROMPT})
    assert response.status_code == 501
    assert response.json()["error"]["code"] == "unsupported_endpoint"
