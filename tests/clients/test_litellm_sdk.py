"""The litellm SDK (pinned in pyproject) against a real gateway, as an `openai/` model with an `api_base`: the
figure is in `usage.carbon` and in the response headers LiteLLM keeps; a stream's usage is rebuilt by LiteLLM
without `carbon`, so a stream's figure is fetched by its `x-request-id`."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.clients.conftest import ledger_entry
from tests.support.gateway import GatewayProcess

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm

MESSAGES = [{"role": "user", "content": "Hello from LiteLLM"}]
PROVIDER = "llm_provider-"  # LiteLLM's prefix for the upstream's response headers


def call(gateway: GatewayProcess, **extra: Any) -> Any:
    return litellm.completion(
        model="openai/demo",
        api_base=gateway.base_url,
        api_key="unused-in-demo-mode",
        messages=MESSAGES,
        **extra,
    )


def headers_of(result: Any) -> dict[str, str]:
    headers: dict[str, str] = result._hidden_params["additional_headers"]
    return headers


def test_non_stream_usage_carbon_and_headers(demo_gateway: GatewayProcess) -> None:
    response = call(demo_gateway)
    carbon = response.usage.carbon
    headers = headers_of(response)
    assert float(headers[PROVIDER + "x-carbon-gco2e"]) == pytest.approx(carbon["gco2e"], rel=1e-5)
    assert ledger_entry(demo_gateway, headers[PROVIDER + "x-request-id"])["carbon"] == carbon


@pytest.mark.parametrize("include_usage", [False, True])
def test_stream_the_id_then_the_carbon_api(demo_gateway: GatewayProcess, include_usage: bool) -> None:
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = call(demo_gateway, stream=True, **options)
    chunks = list(stream)
    usage = getattr(chunks[-1], "usage", None)
    if include_usage:
        assert usage is not None and usage.completion_tokens > 0
        assert getattr(usage, "carbon", None) is None  # LiteLLM rebuilds the usage and drops `carbon`
    else:
        assert usage is None
    entry = ledger_entry(demo_gateway, headers_of(stream)[PROVIDER + "x-request-id"])
    assert entry["stream"] is True


def test_stream_usage_always_is_dropped_too(always_gateway: GatewayProcess) -> None:
    stream = call(always_gateway, stream=True)
    assert getattr(list(stream)[-1], "usage", None) is None  # an unasked usage chunk is not passed on
    ledger_entry(always_gateway, headers_of(stream)[PROVIDER + "x-request-id"])
