"""LangChain's `ChatOpenAI` (langchain-openai, pinned in the test extra) against a real gateway: the figure is in
`response_metadata["token_usage"]["carbon"]` (and the headers with `include_response_headers=True`); a stream's
`usage_metadata` keeps tokens only, so a stream's figure is fetched by the `x-request-id` of its first chunk's
headers."""

from __future__ import annotations

import pytest
from langchain_openai import ChatOpenAI

from tests.clients.conftest import ledger_entry
from tests.support.gateway import GatewayProcess


def chat(gateway: GatewayProcess, **extra: object) -> ChatOpenAI:
    return ChatOpenAI(
        model="demo",
        base_url=gateway.base_url,
        api_key="unused-in-demo-mode",  # type: ignore[arg-type]
        include_response_headers=True,
        **extra,  # type: ignore[arg-type]
    )


def test_invoke_token_usage_carbon_and_headers(demo_gateway: GatewayProcess) -> None:
    message = chat(demo_gateway).invoke("Hello from LangChain")
    carbon = message.response_metadata["token_usage"]["carbon"]
    headers = message.response_metadata["headers"]
    assert float(headers["x-carbon-gco2e"]) == pytest.approx(carbon["gco2e"], rel=1e-5)
    assert ledger_entry(demo_gateway, headers["x-request-id"])["carbon"] == carbon


@pytest.mark.parametrize("stream_usage", [False, True])
def test_stream_the_id_then_the_carbon_api(demo_gateway: GatewayProcess, stream_usage: bool) -> None:
    chunks = list(chat(demo_gateway, stream_usage=stream_usage).stream("Hello from LangChain"))
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert bool(usage) is stream_usage
    assert all("carbon" not in u for u in usage)  # UsageMetadata has tokens only
    request_id = chunks[0].response_metadata["headers"]["x-request-id"]
    assert ledger_entry(demo_gateway, request_id)["stream"] is True


def test_stream_usage_always_still_by_id(always_gateway: GatewayProcess) -> None:
    chunks = list(chat(always_gateway).stream("Hello from LangChain"))
    assert all("carbon" not in (c.usage_metadata or {}) for c in chunks)
    ledger_entry(always_gateway, chunks[0].response_metadata["headers"]["x-request-id"])
