"""The admin API contract, on both backends: routes, shapes, auth, and errors in OpenAI's shape."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from meters.periods import month_of
from meters.tenants import hash_key
from tests.support.gateway import GatewayProcess, running_gateway, write_config
from tests.support.tenancy import (
    ADMIN_KEY,
    BACKENDS,
    admin,
    bearer,
    chat,
    cleaned,
    store_block,
    tenancy_config,
)


@pytest.fixture(scope="module", params=BACKENDS)
def gateway(request: pytest.FixtureRequest, upstream_port: int, tmp_path_factory) -> Iterator[GatewayProcess]:
    directory = tmp_path_factory.mktemp(f"admin-{request.param}")
    with cleaned(store_block(request.param, directory)) as store:
        path = write_config(directory, tenancy_config(upstream_port, store))
        with running_gateway(path, env={"GATEWAY_ADMIN_KEY": ADMIN_KEY}) as process:
            yield process


def assert_openai_error(
    response: httpx.Response, status: int, code: str | None = None, param: str | None = None
):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


def test_admin_key_is_required(gateway: GatewayProcess) -> None:
    assert_openai_error(httpx.get(f"{gateway.url}/admin/tenants"), 401, "invalid_api_key")
    with admin(gateway.url, key="not-the-admin-key") as client:
        assert_openai_error(client.get("/admin/tenants"), 401, "invalid_api_key")


def test_create_list_get_patch_tenant(gateway: GatewayProcess) -> None:
    limits = {
        "gco2e_per_month": 50,
        "requests_per_minute": 10,
        "on_exceed": {"gco2e_per_month": {"downgrade": "small"}},
    }
    with admin(gateway.url) as client:
        created = client.post("/admin/tenants", json={"id": "acme", "name": "Acme", "limits": limits})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["id"] == "acme" and body["name"] == "Acme" and body["keys"] == []
        assert body["limits"] == limits
        listed = client.get("/admin/tenants").json()
        assert listed["object"] == "list"
        assert "acme" in [t["id"] for t in listed["data"]]
        assert client.get("/admin/tenants/acme").json()["limits"] == limits
        patched = client.patch("/admin/tenants/acme", json={"limits": {"gco2e_per_month": 7.5}})
        assert patched.status_code == 200, patched.text
        # One limit changes; the others, their policies and the fields not sent stay (a merge patch).
        assert patched.json()["limits"] == {**limits, "gco2e_per_month": 7.5}
        assert patched.json()["name"] == "Acme"
        assert client.get("/admin/tenants/acme").json()["limits"] == {**limits, "gco2e_per_month": 7.5}


def test_patch_merges_limits_and_policies_key_by_key_and_null_removes(gateway: GatewayProcess) -> None:
    limits = {"gco2e_per_month": 5, "requests_per_minute": 60, "tokens_per_day": 1000}
    with admin(gateway.url) as client:
        assert (
            client.post("/admin/tenants", json={"id": "merged", "name": "M", "limits": limits}).status_code
            == 201
        )
        # The README walkthrough's PATCH: a policy for the carbon budget; requests_per_minute must survive it.
        walkthrough = {"limits": {"gco2e_per_month": 0.002, "on_exceed": {"gco2e_per_month": "warn"}}}
        body = client.patch("/admin/tenants/merged", json=walkthrough).json()
        assert body["limits"] == {
            **limits,
            "gco2e_per_month": 0.002,
            "on_exceed": {"gco2e_per_month": "warn"},
        }
        body = client.patch(
            "/admin/tenants/merged",
            json={"limits": {"tokens_per_day": None, "on_exceed": {"requests_per_minute": "warn"}}},
        ).json()
        assert body["limits"] == {
            "gco2e_per_month": 0.002,
            "requests_per_minute": 60,
            "on_exceed": {"gco2e_per_month": "warn", "requests_per_minute": "warn"},
        }
        body = client.patch(
            "/admin/tenants/merged", json={"models": {"small": {"tokens_per_day": 10}}}
        ).json()
        assert (
            body["models"] == {"small": {"tokens_per_day": 10}}
            and body["limits"]["requests_per_minute"] == 60
        )
        body = client.patch("/admin/tenants/merged", json={"models": {"small": None}, "name": None}).json()
        assert body["models"] == {} and body["name"] is None
        body = client.patch("/admin/tenants/merged", json={"limits": None}).json()
        assert body["limits"] == {}
        assert_openai_error(
            client.patch("/admin/tenants/merged", json={"limits": {"gco2e_per_year": 1}}),
            400,
            param="tenant.limits.gco2e_per_year",
        )


def test_delete_tenant_revokes_its_keys_and_keeps_its_usage(gateway: GatewayProcess) -> None:
    with admin(gateway.url) as client:
        assert client.post("/admin/tenants", json={"id": "leaving"}).status_code == 201
        keys = [client.post("/admin/tenants/leaving/keys").json() for _ in range(2)]
        served = httpx.post(
            f"{gateway.base_url}/chat/completions", json=chat(), headers=bearer(keys[0]["key"]), timeout=30
        )
        assert served.status_code == 200
        _wait_for_requests(client, "leaving", 1)
        deleted = client.delete("/admin/tenants/leaving")
        assert deleted.status_code == 200, deleted.text
        assert deleted.json() == {
            "id": "leaving",
            "deleted": True,
            "revoked_keys": sorted(k["key_id"] for k in keys),
            "usage_kept": True,
        }
        for key in keys:
            refused = httpx.post(
                f"{gateway.base_url}/chat/completions", json=chat(), headers=bearer(key["key"]), timeout=30
            )
            assert_openai_error(refused, 401, "invalid_api_key")
        assert_openai_error(client.get("/admin/tenants/leaving"), 404, "tenant_not_found")
        assert_openai_error(client.delete("/admin/tenants/leaving"), 404, "tenant_not_found")
        assert "leaving" not in [t["id"] for t in client.get("/admin/tenants").json()["data"]]
        # Its usage stays: the admin can still read it by request id.
        found = client.get(f"/v1/carbon/requests/{served.headers['x-request-id']}")
        assert found.status_code == 200 and found.json()["tenant_id"] == "leaving"


def test_bad_input_is_a_4xx_in_openai_shape(gateway: GatewayProcess) -> None:
    with admin(gateway.url) as client:
        assert_openai_error(client.post("/admin/tenants", content=b"{not json"), 400, "invalid_json")
        assert_openai_error(client.post("/admin/tenants", json={"name": "no id"}), 400, param="tenant.id")
        assert_openai_error(client.post("/admin/tenants", json={"id": "bad id!"}), 400, param="tenant.id")
        error = assert_openai_error(
            client.post("/admin/tenants", json={"id": "t-bad", "limits": {"gco2e_per_year": 1}}),
            400,
            param="tenant.limits.gco2e_per_year",
        )
        assert "unknown limit" in error["message"]
        assert_openai_error(
            client.post("/admin/tenants", json={"id": "t-bad", "limits": {"requests_per_minute": 1.5}}),
            400,
            param="tenant.limits.requests_per_minute",
        )
        assert_openai_error(
            client.post(
                "/admin/tenants",
                json={"id": "t-bad", "limits": {"on_exceed": {"gco2e_per_month": {"downgrade": "nope"}}}},
            ),
            400,
            param="tenant.limits.on_exceed.gco2e_per_month",  # every tenant field is named from `tenant`
        )
        assert_openai_error(
            client.post("/admin/tenants", json={"id": "t-bad", "colour": "red"}), 400, param="colour"
        )
        assert client.post("/admin/tenants", json={"id": "dupe"}).status_code == 201
        assert_openai_error(client.post("/admin/tenants", json={"id": "dupe"}), 409, "tenant_exists")
        assert_openai_error(client.patch("/admin/tenants/ghost", json={"name": "x"}), 404, "tenant_not_found")
        assert_openai_error(client.post("/admin/tenants/ghost/keys", json={}), 404, "tenant_not_found")
        assert_openai_error(client.delete("/admin/keys/key_000000000000"), 404, "key_not_found")
        assert_openai_error(client.get("/admin/tenants/dupe/usage?period=2026-13"), 400, "invalid_period")
        assert_openai_error(client.get("/admin/tenants/ghost/usage"), 404, "tenant_not_found")
        assert client.get("/admin/tenants/t-bad").status_code == 404  # nothing half-created


def test_issued_key_is_shown_once_works_and_revokes(gateway: GatewayProcess) -> None:
    with admin(gateway.url) as client:
        assert client.post("/admin/tenants", json={"id": "keyed"}).status_code == 201
        issued = client.post(
            "/admin/tenants/keyed/keys", json={"name": "ci", "limits": {"requests_per_minute": 5}}
        )
        assert issued.status_code == 201, issued.text
        body = issued.json()
        key, key_id = body["key"], body["key_id"]
        assert key.startswith("cg-") and key_id.startswith("key_")
        assert body["tenant_id"] == "keyed" and body["limits"] == {"requests_per_minute": 5}
        # Shown once: neither the plaintext nor its hash is in any later answer.
        listing = client.get("/admin/tenants").text + client.get("/admin/tenants/keyed").text
        assert key_id in listing
        assert key not in listing and hash_key(key) not in listing
        served = httpx.post(
            f"{gateway.base_url}/chat/completions", json=chat(), headers=bearer(key), timeout=30
        )
        assert served.status_code == 200, served.text
        assert served.headers["x-ratelimit-limit-requests"] == "5"
        revoked = client.delete(f"/admin/keys/{key_id}")
        assert revoked.status_code == 200 and revoked.json() == {"key_id": key_id, "revoked": True}
        refused = httpx.post(
            f"{gateway.base_url}/chat/completions", json=chat(), headers=bearer(key), timeout=30
        )
        assert_openai_error(refused, 401, "invalid_api_key")
        assert_openai_error(client.delete(f"/admin/keys/{key_id}"), 404, "key_not_found")
    assert key not in gateway.log() and hash_key(key) not in gateway.log()


def test_tenant_usage_for_the_admin(gateway: GatewayProcess) -> None:
    with admin(gateway.url) as client:
        assert client.post("/admin/tenants", json={"id": "metered"}).status_code == 201
        key = client.post("/admin/tenants/metered/keys").json()["key"]
        for _ in range(3):
            served = httpx.post(
                f"{gateway.base_url}/chat/completions", json=chat(), headers=bearer(key), timeout=30
            )
            assert served.status_code == 200
        report = _wait_for_requests(client, "metered", 3)
        assert report["tenant_id"] == "metered"
        assert report["by_model"]["fake"]["requests"] == 3
        assert report["totals"]["gco2e"] > 0
        # A tenant key is not an admin key.
        with admin(gateway.url, key=key) as as_tenant:
            assert_openai_error(as_tenant.get("/admin/tenants/metered/usage"), 401)


def _wait_for_requests(client: httpx.Client, tenant_id: str, requests: int) -> dict:
    period = month_of(time.time())
    deadline = time.monotonic() + 30
    while True:
        report = client.get(f"/admin/tenants/{tenant_id}/usage", params={"period": period}).json()
        if report["totals"]["requests"] >= requests or time.monotonic() > deadline:
            return report
        time.sleep(0.05)


def test_admin_api_is_off_without_an_admin_key(upstream_port: int, tmp_path) -> None:
    path = write_config(tmp_path, tenancy_config(upstream_port, store_block("embedded", tmp_path)))
    with running_gateway(path) as process, admin(process.url) as client:
        assert_openai_error(client.get("/admin/tenants"), 403, "admin_disabled")
        assert "GATEWAY_ADMIN_KEY" in client.get("/admin/tenants").json()["error"]["message"]
