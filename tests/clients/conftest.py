"""Real gateway processes for the client tests: the demo model (offline) and a model whose key is not set, with
the default `carbon.stream_usage` and with `stream_usage: always`; an admin key, to make a tenant over budget."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.gateway import GatewayProcess, running_gateway, write_config

ADMIN_KEY = "admin-key-for-client-tests"
UNSET_KEY_ENV = "CG_CLIENT_TESTS_UNSET_KEY"
NEEDS_KEY = "needs-key"


def client_config(**carbon: Any) -> dict[str, Any]:
    return {
        "model_list": [
            {"model_name": "demo", "litellm_params": {"model": "demo/carbon-gateway-demo"}},
            {
                "model_name": NEEDS_KEY,
                "litellm_params": {
                    "model": "openai/needs-key",
                    "api_base": "https://upstream.invalid/v1",
                    "api_key": f"os.environ/{UNSET_KEY_ENV}",
                },
            },
        ],
        "carbon": carbon,
        "observability": {"log_requests": False},
    }


@pytest.fixture(scope="session")
def demo_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """Anonymous (no key anywhere): the demo default a new user starts with."""
    path = write_config(tmp_path_factory.mktemp("clients"), client_config())
    with running_gateway(path, env={UNSET_KEY_ENV: None}) as process:
        yield process


@pytest.fixture(scope="session")
def always_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    path = write_config(tmp_path_factory.mktemp("clients-always"), client_config(stream_usage="always"))
    with running_gateway(path, env={UNSET_KEY_ENV: None}) as process:
        yield process


@pytest.fixture(scope="session")
def keyed_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    path = write_config(tmp_path_factory.mktemp("clients-keyed"), client_config())
    with running_gateway(path, env={UNSET_KEY_ENV: None, "GATEWAY_ADMIN_KEY": ADMIN_KEY}) as process:
        yield process


@pytest.fixture(scope="session")
def over_budget_key(keyed_gateway: GatewayProcess) -> str:
    """A tenant key whose monthly carbon budget is already too small for any request: a 429 with a
    `retry-after` until the month ends."""
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    created = httpx.post(
        f"{keyed_gateway.url}/admin/tenants",
        json={"id": "tiny", "limits": {"gco2e_per_month": 1e-9}},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return str(httpx.post(f"{keyed_gateway.url}/admin/tenants/tiny/keys", headers=admin).json()["key"])


def ledger_entry(gateway: GatewayProcess, request_id: str, key: str | None = None) -> dict[str, Any]:
    """GET /v1/carbon/requests/{id}: the figure any client can fetch by the `x-request-id` it was given."""
    headers = {"authorization": f"Bearer {key}"} if key else {}
    deadline = time.monotonic() + 10  # a stream is counted when it ends: a look-up may come a moment early
    while True:
        response = httpx.get(f"{gateway.base_url}/carbon/requests/{request_id}", headers=headers, timeout=10)
        if response.status_code != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert response.status_code == 200, response.text
    entry: dict[str, Any] = response.json()
    assert entry["request_id"] == request_id and entry["carbon"]["gco2e"] > 0
    return entry
