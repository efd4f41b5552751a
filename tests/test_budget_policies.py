"""Limits and their policies over HTTP, on both backends: reject (each 429 code), downgrade, warn;
per-key and per-model narrowing; the rate and carbon headers; release on upstream failure."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.configs import TEST_COEFFICIENT
from tests.support.gateway import GatewayProcess, running_gateway, write_config
from tests.support.tenancy import (
    ADMIN_KEY,
    BACKENDS,
    SMALL_COEFFICIENT,
    admin,
    bearer,
    chat,
    cleaned,
    create_tenant,
    open_gateway_store,
    store_block,
    tenancy_config,
    wait_until_settled,
)

RATE_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "x-carbon-budget-remaining-gco2e",
    "x-carbon-tenant-month-gco2e",
)
# "Hello there" → reserved: ceil(11 / 4) + 3 + 3 framing = 9 prompt tokens, plus max_tokens.
SMALL_REQUEST = chat(max_tokens=10)


@pytest.fixture(scope="module", params=BACKENDS)
def setup(
    request: pytest.FixtureRequest, upstream_port: int, tmp_path_factory
) -> Iterator[tuple[GatewayProcess, dict]]:
    directory = tmp_path_factory.mktemp(f"budget-{request.param}")
    with cleaned(store_block(request.param, directory)) as store:
        path = write_config(directory, tenancy_config(upstream_port, store))
        with running_gateway(path, env={"GATEWAY_ADMIN_KEY": ADMIN_KEY}) as process:
            yield process, store


@pytest.fixture
def gateway(setup: tuple[GatewayProcess, dict]) -> GatewayProcess:
    return setup[0]


def post(gateway: GatewayProcess, key: str, body: dict[str, Any] = SMALL_REQUEST) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/chat/completions", json=body, headers=bearer(key), timeout=30)


def clear_of_minute_end(margin_s: float = 3.0) -> None:
    """Per-minute limits reset with the minute: start a two-request check well inside one."""
    left = 60 - time.time() % 60
    if left < margin_s:
        time.sleep(left + 0.05)


def assert_rejected(response: httpx.Response, code: str) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["type"] == "rate_limit_error"
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    ("limits", "model", "code"),
    [
        ({"requests_per_minute": 1}, "fake", "rate_limit_exceeded"),
        ({"tokens_per_minute": 30}, "fake", "token_quota_exceeded"),
        ({"tokens_per_day": 30}, "fake", "token_quota_exceeded"),
        ({"tokens_per_month": 30}, "fake", "token_quota_exceeded"),
        ({"spend_per_month": 0.03}, "priced", "budget_exceeded"),
        ({"gco2e_per_month": 0.04}, "fake", "carbon_budget_exceeded"),
    ],
)
def test_reject_answers_429_with_the_limit_code(gateway: GatewayProcess, limits, model, code) -> None:
    key = create_tenant(gateway.url, "rej-" + next(iter(limits)).replace("_", "-"), limits)
    clear_of_minute_end()
    assert post(gateway, key, chat(model, max_tokens=10)).status_code == 200
    assert_rejected(post(gateway, key, chat(model, max_tokens=10)), code)


def test_openai_sdk_sees_rate_limit_error(gateway: GatewayProcess) -> None:
    key = create_tenant(gateway.url, "rej-sdk", {"gco2e_per_month": 0.0001})
    client = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(**SMALL_REQUEST)
    assert raised.value.body["code"] == "carbon_budget_exceeded"
    assert raised.value.response.headers["x-carbon-budget-remaining-gco2e"] == "0.0001"


def test_downgrade_serves_the_lower_carbon_model(gateway: GatewayProcess) -> None:
    limits = {"gco2e_per_month": 0.04, "on_exceed": {"gco2e_per_month": {"downgrade": "small"}}}
    key = create_tenant(gateway.url, "down", limits)
    first = post(gateway, key)
    assert first.status_code == 200 and "x-carbon-downgraded-from" not in first.headers
    second = post(gateway, key)
    assert second.status_code == 200, second.text
    assert second.headers["x-carbon-downgraded-from"] == "fake"
    usage = second.json()["usage"]
    expected = (usage["prompt_tokens"] + usage["completion_tokens"]) / 1000 * SMALL_COEFFICIENT
    assert float(second.headers["x-carbon-gco2e"]) == pytest.approx(expected, rel=1e-5)


def test_downgrade_still_rejects_what_the_lower_model_cannot_pass(gateway: GatewayProcess) -> None:
    limits = {
        "gco2e_per_month": 0.04,
        "requests_per_minute": 1,
        "on_exceed": {"gco2e_per_month": {"downgrade": "small"}},
    }
    key = create_tenant(gateway.url, "down-rpm", limits)
    clear_of_minute_end()
    assert post(gateway, key).status_code == 200
    assert_rejected(post(gateway, key), "rate_limit_exceeded")


def test_warn_serves_with_a_warning_header(gateway: GatewayProcess) -> None:
    key = create_tenant(
        gateway.url, "warned", {"gco2e_per_month": 0.0001, "on_exceed": {"gco2e_per_month": "warn"}}
    )
    served = post(gateway, key)
    assert served.status_code == 200, served.text
    assert served.headers["x-carbon-limit-warning"].startswith("gco2e_per_month exceeded (t:warned:")
    assert served.headers["x-carbon-budget-remaining-gco2e"] == "0"


def test_limits_narrowed_per_key_and_per_model(gateway: GatewayProcess) -> None:
    key_a = create_tenant(gateway.url, "narrow", models={"priced": {"requests_per_minute": 1}})
    with admin(gateway.url) as client:
        key_b = client.post("/admin/tenants/narrow/keys", json={"limits": {"requests_per_minute": 1}}).json()[
            "key"
        ]
    clear_of_minute_end(6.0)
    assert post(gateway, key_b).status_code == 200
    assert_rejected(post(gateway, key_b), "rate_limit_exceeded")  # key B's own limit
    assert post(gateway, key_a).status_code == 200  # the tenant and key A are not limited
    assert post(gateway, key_a, chat("priced", max_tokens=10)).status_code == 200
    assert_rejected(post(gateway, key_a, chat("priced", max_tokens=10)), "rate_limit_exceeded")
    assert post(gateway, key_a).status_code == 200  # other models of the tenant still pass


ALL_LIMITS = {
    "requests_per_minute": 100,
    "tokens_per_minute": 10_000,
    "tokens_per_day": 100_000,
    "tokens_per_month": 1_000_000,
    "spend_per_month": 10,
    "gco2e_per_month": 50,
}


def test_every_tenant_response_has_the_headers(gateway: GatewayProcess) -> None:
    key = create_tenant(gateway.url, "headers", ALL_LIMITS)
    first, second = post(gateway, key), post(gateway, key)
    for response in (first, second):
        assert response.status_code == 200
        for name in RATE_HEADERS:
            assert name in response.headers, name
        assert re.fullmatch(r"\d+s|1m0s", response.headers["x-ratelimit-reset-requests"])
    assert first.headers["x-ratelimit-limit-requests"] == "100"
    assert first.headers["x-ratelimit-limit-tokens"] == "10000"
    assert int(first.headers["x-ratelimit-remaining-requests"]) == 99
    assert int(second.headers["x-ratelimit-remaining-requests"]) == 98
    reserved = 9 + 10
    assert int(first.headers["x-ratelimit-remaining-tokens"]) == 10_000 - reserved
    assert float(first.headers["x-carbon-budget-remaining-gco2e"]) == pytest.approx(
        50 - reserved / 1000 * 1.5
    )
    with httpx.stream(
        "POST",
        f"{gateway.base_url}/chat/completions",
        json={**SMALL_REQUEST, "stream": True},
        headers=bearer(key),
    ) as streamed:
        assert streamed.status_code == 200
        assert all(name in streamed.headers for name in RATE_HEADERS)
        assert b"[DONE]" in streamed.read()
    rejected = httpx.post(
        f"{gateway.base_url}/chat/completions", json=chat(max_tokens=12_000), headers=bearer(key), timeout=30
    )
    assert_rejected(rejected, "token_quota_exceeded")
    assert all(name in rejected.headers for name in RATE_HEADERS)  # errors carry them too


async def test_failed_requests_release_their_reservation(setup: tuple[GatewayProcess, dict]) -> None:
    gateway, store_config = setup
    key = create_tenant(gateway.url, "released", {"gco2e_per_month": 1})
    failing = chat("no-retry", max_tokens=10, fake_behaviour={"fail_status": 500})
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(f"{gateway.base_url}/chat/completions", json=failing, headers=bearer(key))
        assert answer.status_code == 502
        assert answer.headers["x-carbon-budget-remaining-gco2e"]  # error responses carry the headers
        stalled = chat("slow", max_tokens=10, fake_behaviour={"stall_s": 2.0})
        assert (
            await client.post(f"{gateway.base_url}/chat/completions", json=stalled, headers=bearer(key))
        ).status_code == 504
    store = await open_gateway_store(store_config)
    try:
        usage = await wait_until_settled(store, "released")
        assert usage["totals"]["requests"] == 0 and usage["totals"]["gco2e"] == 0
    finally:
        await store.close()
    after = post(gateway, key)
    assert float(after.headers["x-carbon-budget-remaining-gco2e"]) == pytest.approx(1 - 19 / 1000 * 1.5)


def test_a_tenant_near_its_budget_is_not_refused_for_its_last_request_still_being_counted(
    gateway: GatewayProcess,
) -> None:
    # Reserved: 9 + 10 = 19 tokens' worth; used: at most 2 + 10. A budget of 32 tokens' worth admits a
    # second request only once the first is counted (13 left while its 19 are held, >= 20 once counted).
    budget = 32 / 1000 * TEST_COEFFICIENT
    key = create_tenant(gateway.url, "near", {"gco2e_per_month": budget})
    with httpx.Client(base_url=gateway.base_url, headers=bearer(key), timeout=30) as client:
        assert client.post("/chat/completions", json=SMALL_REQUEST).status_code == 200
        time.sleep(0.01)  # far less than the usage writer's linger: near a limit it does not linger
        second = client.post("/chat/completions", json=SMALL_REQUEST)
        assert second.status_code == 200, second.text
        time.sleep(0.01)
        assert_rejected(client.post("/chat/completions", json=SMALL_REQUEST), "carbon_budget_exceeded")
