"""Spend limits keep to one currency (issue 12, item 3): a tenant's `spend_per_month` is in its
`limits.currency`; requests priced in another currency are metered under their own currency but neither
counted toward nor checked against that limit. On both stores, over HTTP against a running gateway."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from meters.errors import FieldError
from meters.limits import Limits
from tests.support.configs import TEST_COEFFICIENT
from tests.support.gateway import GatewayProcess, running_gateway, write_config
from tests.support.tenancy import (
    ADMIN_KEY,
    BACKENDS,
    PRICE_PER_TOKEN,
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

LIMIT = 0.03  # one request of ~19 reserved tokens at PRICE_PER_TOKEN fits, two do not (see test_budget_policies)


def priced(name: str, currency: str) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {"model": f"openai/{name}"},
        "carbon": {"gco2e_per_1k_tokens": TEST_COEFFICIENT, "confidence": "estimated", "source": "test"},
        "model_info": {
            "input_cost_per_token": PRICE_PER_TOKEN,
            "output_cost_per_token": PRICE_PER_TOKEN,
            "currency": currency,
        },
    }


@pytest.fixture(scope="module", params=BACKENDS)
def setup(request: pytest.FixtureRequest, upstream_port: int, tmp_path_factory) -> Iterator[tuple[GatewayProcess, dict]]:
    directory = tmp_path_factory.mktemp(f"currency-{request.param}")
    with cleaned(store_block(request.param, directory)) as store:
        config = tenancy_config(upstream_port, store)
        fake = next(m for m in config["model_list"] if m["model_name"] == "fake")["litellm_params"]
        for name, currency in (("eur", "EUR"), ("usd", "USD")):
            model = priced(name, currency)
            model["litellm_params"] = {**fake}
            config["model_list"].append(model)
        path = write_config(directory, config)
        with running_gateway(path, env={"GATEWAY_ADMIN_KEY": ADMIN_KEY}) as process:
            yield process, store


def post(gateway: GatewayProcess, key: str, model: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/chat/completions", json=chat(model, max_tokens=10), headers=bearer(key), timeout=30
    )


def track(gateway: GatewayProcess, key: str, model: str) -> None:
    """Usage of 100k prompt tokens (100 in the model's currency) tracked by the tenant itself."""
    tracked = httpx.post(
        f"{gateway.base_url}/carbon/track",
        json={"model": model, "prompt_tokens": 100_000, "completion_tokens": 0},
        headers=bearer(key),
        timeout=30,
    )
    assert tracked.status_code == 201, tracked.text


def test_limits_take_an_iso_4217_currency() -> None:
    limits = Limits.from_config({"spend_per_month": 20, "currency": "eur"}, "cfg")
    assert limits.currency == "EUR" and limits.spend_currency("USD") == "EUR"
    assert limits.to_config() == {"spend_per_month": 20.0, "currency": "EUR"}
    assert Limits.from_config({"spend_per_month": 20}, "cfg").spend_currency("USD") == "USD"
    for bad in ("EURO", "€", 978, "", True):
        with pytest.raises(FieldError) as raised:
            Limits.from_config({"currency": bad}, "cfg")
        assert raised.value.key == "cfg.currency"
    with pytest.raises(FieldError) as raised:
        Limits.from_config({"spend_per_month": 5, "currency": "EUR"}, "key.limits", currency=False)
    assert raised.value.key == "key.limits.currency" and "tenant" in raised.value.reason


def test_a_bad_currency_is_a_400_naming_it(gateway: GatewayProcess) -> None:
    with admin(gateway.url) as client:
        bad = client.post("/admin/tenants", json={"id": "cur-bad", "limits": {"spend_per_month": 1, "currency": "euro"}})
        assert bad.status_code == 400, bad.text
        assert bad.json()["error"]["param"] == "tenant.limits.currency"
        narrowed = client.post(
            "/admin/tenants", json={"id": "cur-model", "models": {"eur": {"spend_per_month": 1, "currency": "EUR"}}}
        )
        assert narrowed.status_code == 400 and narrowed.json()["error"]["param"] == "tenant.models.eur.currency"
        assert client.post("/admin/tenants", json={"id": "cur-key", "limits": {"currency": "EUR"}}).status_code == 201
        key = client.post("/admin/tenants/cur-key/keys", json={"limits": {"spend_per_month": 1, "currency": "USD"}})
        assert key.status_code == 400 and key.json()["error"]["param"] == "limits.currency"
        shown = client.get("/admin/tenants/cur-key").json()
        assert shown["limits"] == {"currency": "EUR"}


@pytest.fixture
def gateway(setup: tuple[GatewayProcess, dict]) -> GatewayProcess:
    return setup[0]


async def test_other_currencies_neither_count_nor_are_checked(setup: tuple[GatewayProcess, dict]) -> None:
    gateway, store_config = setup
    key = create_tenant(gateway.url, "cur-eur", {"spend_per_month": LIMIT, "currency": "EUR"})
    # USD requests first: summed with EUR (as before), they would leave no room for an EUR request.
    for _ in range(3):
        assert post(gateway, key, "usd").status_code == 200
    assert post(gateway, key, "eur").status_code == 200
    rejected = post(gateway, key, "eur")
    assert rejected.status_code == 429, rejected.text
    assert rejected.json()["error"]["code"] == "budget_exceeded"
    assert "EUR spent this month" in rejected.json()["error"]["message"]
    # Over its EUR limit, the tenant's USD requests still pass: they are not checked against it.
    assert post(gateway, key, "usd").status_code == 200
    store = await open_gateway_store(store_config)
    try:
        usage = await wait_until_settled(store, "cur-eur", requests=5)
    finally:
        await store.close()
    by_currency = usage["totals"]["spend_by_currency"]
    assert set(by_currency) == {"EUR", "USD"} and by_currency["USD"] > by_currency["EUR"] > 0
    assert usage["totals"]["spend"] is None  # never a sum across currencies


async def test_tracked_usage_in_another_currency_does_not_count(setup: tuple[GatewayProcess, dict]) -> None:
    gateway, _ = setup
    key = create_tenant(gateway.url, "cur-track", {"spend_per_month": LIMIT, "currency": "EUR"})
    track(gateway, key, "usd")
    time.sleep(0.5)
    assert post(gateway, key, "eur").status_code == 200
    track(gateway, key, "eur")
    deadline = time.monotonic() + 10
    while post(gateway, key, "eur").status_code != 429:  # tracked EUR usage counts
        assert time.monotonic() < deadline, "tracked EUR usage never reached the EUR limit"
        time.sleep(0.2)


def test_no_currency_means_the_default_and_a_warning_once(gateway: GatewayProcess) -> None:
    # Two currencies are priced here, so a limit without one is in USD (LiteLLM's).
    key = create_tenant(gateway.url, "cur-default", {"spend_per_month": LIMIT})
    for _ in range(3):
        assert post(gateway, key, "eur").status_code == 200
    assert post(gateway, key, "usd").status_code == 200
    assert post(gateway, key, "usd").status_code == 429
    warnings = [line for line in gateway.log().splitlines() if "tenant 'cur-default': model 'eur'" in line]
    assert len(warnings) == 1, warnings
    assert "priced in EUR, its spend limits are in USD (the gateway's default" in warnings[0]
