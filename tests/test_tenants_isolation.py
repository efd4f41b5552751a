"""Who may call: keys, isolation between tenants, revocation, the master key, static tenants."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from meters.periods import month_of
from meters.tenants import hash_key
from tests.support.gateway import GatewayProcess, running_gateway, write_config
from tests.support.tenancy import (
    ADMIN_KEY,
    BACKENDS,
    MASTER_KEY,
    admin,
    bearer,
    chat,
    cleaned,
    create_tenant,
    store_block,
    tenancy_config,
)

PERIOD = month_of(time.time())


@pytest.fixture(scope="module", params=BACKENDS)
def gateway(request: pytest.FixtureRequest, upstream_port: int, tmp_path_factory) -> Iterator[GatewayProcess]:
    directory = tmp_path_factory.mktemp(f"isolation-{request.param}")
    with cleaned(store_block(request.param, directory)) as store:
        path = write_config(directory, tenancy_config(upstream_port, store))
        env = {"GATEWAY_ADMIN_KEY": ADMIN_KEY, "GATEWAY_MASTER_KEY": MASTER_KEY}
        with running_gateway(path, env=env) as process:
            yield process


def own_usage(gateway: GatewayProcess, key: str, requests: int) -> dict:
    deadline = time.monotonic() + 30
    while True:
        answer = httpx.get(f"{gateway.base_url}/carbon/usage", params={"period": PERIOD}, headers=bearer(key))
        assert answer.status_code == 200, answer.text
        report = answer.json()
        if report["totals"]["requests"] >= requests or time.monotonic() > deadline:
            return report
        time.sleep(0.05)


def test_anonymous_is_refused_once_keys_exist(gateway: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key="not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(**chat())
    assert raised.value.status_code == 401
    assert raised.value.body["code"] == "invalid_api_key"
    missing = httpx.post(f"{gateway.base_url}/chat/completions", json=chat())
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"
    assert httpx.get(f"{gateway.base_url}/models").status_code == 401
    assert httpx.get(f"{gateway.base_url}/carbon/usage").status_code == 401
    # The admin key is for /admin only.
    assert (
        httpx.post(f"{gateway.base_url}/chat/completions", json=chat(), headers=bearer(ADMIN_KEY)).status_code
        == 401
    )


def test_tenants_see_only_their_own_usage(gateway: GatewayProcess) -> None:
    key_a = create_tenant(gateway.url, "iso-a")
    key_b = create_tenant(gateway.url, "iso-b")
    client_a = openai.OpenAI(base_url=gateway.base_url, api_key=key_a, max_retries=0)
    for _ in range(2):
        client_a.chat.completions.create(**chat())
    client_b = openai.OpenAI(base_url=gateway.base_url, api_key=key_b, max_retries=0)
    client_b.chat.completions.create(**chat(content="one two three four five"))
    usage_a = own_usage(gateway, key_a, 2)
    usage_b = own_usage(gateway, key_b, 1)
    assert usage_a["tenant_id"] == "iso-a" and usage_a["totals"]["requests"] == 2
    assert usage_b["tenant_id"] == "iso-b" and usage_b["totals"]["requests"] == 1
    assert usage_b["totals"]["prompt_tokens"] == 5
    # No parameter lets A read B: the tenant comes from the key alone.
    sneaky = httpx.get(
        f"{gateway.base_url}/carbon/usage",
        params={"period": PERIOD, "tenant_id": "iso-b"},
        headers=bearer(key_a),
    )
    assert sneaky.json()["tenant_id"] == "iso-a"


def test_api_key_header_and_bad_period(gateway: GatewayProcess) -> None:
    key = create_tenant(gateway.url, "iso-header")
    served = httpx.post(
        f"{gateway.base_url}/chat/completions", json=chat(), headers={"api-key": key}, timeout=30
    )
    assert served.status_code == 200, served.text
    bad = httpx.get(
        f"{gateway.base_url}/carbon/usage", params={"period": "last-month"}, headers={"api-key": key}
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "period"


def test_revoked_key_gets_401(gateway: GatewayProcess) -> None:
    key = create_tenant(gateway.url, "iso-revoked")
    client = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0)
    client.chat.completions.create(**chat())
    with admin(gateway.url) as admin_client:
        key_id = admin_client.get("/admin/tenants/iso-revoked").json()["keys"][0]["key_id"]
        assert admin_client.delete(f"/admin/keys/{key_id}").status_code == 200
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(**chat())


def test_master_key_stays_valid_and_unlimited(gateway: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(**chat())
    assert raw.http_response.status_code == 200
    assert "x-ratelimit-limit-requests" not in raw.headers  # no tenant, no limits
    assert [m.id for m in client.models.list()]


def test_static_tenants_from_config_with_two_workers(upstream_port: int, tmp_path) -> None:
    hashed_key, env_key = "sk-static-hashed", "sk-static-from-env"
    static = [
        {
            "id": "static-co",
            "name": "Static Co",
            "keys": [f"sha256:{hash_key(hashed_key)}", "os.environ/STATIC_CO_KEY"],
            "limits": {"requests_per_minute": 1000},
        }
    ]
    with cleaned(store_block("redis", tmp_path)) as store:
        path = write_config(tmp_path, tenancy_config(upstream_port, store, tenants=static))
        env = {"STATIC_CO_KEY": env_key}
        with running_gateway(path, env=env, workers=2) as process:
            for key in (hashed_key, env_key):
                served = httpx.post(f"{process.base_url}/chat/completions", json=chat(), headers=bearer(key))
                assert served.status_code == 200, served.text
                assert served.headers["x-ratelimit-limit-requests"] == "1000"
            assert httpx.post(f"{process.base_url}/chat/completions", json=chat()).status_code == 401
            log = process.log()
        assert hashed_key not in log and env_key not in log and hash_key(env_key) not in log
        # Restarted with one key removed from the config: that key stops working, the other keeps its id.
        static[0]["keys"] = [f"sha256:{hash_key(hashed_key)}"]
        path = write_config(tmp_path, tenancy_config(upstream_port, store, tenants=static))
        with running_gateway(path, env={"GATEWAY_ADMIN_KEY": ADMIN_KEY}) as process:
            assert (
                httpx.post(
                    f"{process.base_url}/chat/completions", json=chat(), headers=bearer(env_key)
                ).status_code
                == 401
            )
            assert (
                httpx.post(
                    f"{process.base_url}/chat/completions", json=chat(), headers=bearer(hashed_key)
                ).status_code
                == 200
            )
            with admin(process.url) as client:
                keys = client.get("/admin/tenants/static-co").json()["keys"]
            assert [k["key_id"] for k in keys] == [f"key_{hash_key(hashed_key)[:12]}"]


def test_tenants_made_earlier_keep_keys_required_after_a_restart(upstream_port: int, tmp_path) -> None:
    path = write_config(tmp_path, tenancy_config(upstream_port, store_block("embedded", tmp_path)))
    with running_gateway(path) as process:  # nothing configured: the anonymous demo default
        assert httpx.post(f"{process.base_url}/chat/completions", json=chat()).status_code == 200
    with running_gateway(path, env={"GATEWAY_ADMIN_KEY": ADMIN_KEY}) as process:
        key = create_tenant(process.url, "earlier")
    with running_gateway(path) as process:  # no admin key now, but a tenant exists in the store
        assert httpx.post(f"{process.base_url}/chat/completions", json=chat()).status_code == 401
        assert (
            httpx.post(f"{process.base_url}/chat/completions", json=chat(), headers=bearer(key)).status_code
            == 200
        )


def test_invalid_static_tenants_fail_at_start_naming_the_key(upstream_port: int, tmp_path) -> None:
    from gateway.config import ConfigError, parse_config

    base = tenancy_config(upstream_port, store_block("embedded", tmp_path))
    cases = {
        "tenants[0].keys[0]": [{"id": "x", "keys": ["plaintext-key"]}],
        "tenants[0].limits.gco2e_per_month": [{"id": "x", "limits": {"gco2e_per_month": -1}}],
        "tenants[0].limits.on_exceed.gco2e_per_month": [
            {"id": "x", "limits": {"on_exceed": {"gco2e_per_month": {"downgrade": "nope"}}}}
        ],
        "tenants[0].models.nope": [{"id": "x", "models": {"nope": {"requests_per_minute": 1}}}],
        "tenants[1].id": [{"id": "x"}, {"id": "x"}],
        "tenants[0].keys[0] ": [{"id": "x", "keys": ["os.environ/CG_TEST_UNSET_VARIABLE"]}],
    }
    for key, tenants in cases.items():
        with pytest.raises(ConfigError) as raised:
            parse_config({**base, "tenants": tenants}, "gw.yaml")
        assert raised.value.key == key.strip() and raised.value.file == "gw.yaml"
