"""GET /v1/carbon/requests/{request_id}: a request's figure by the id on its response, for its own caller only
(issue 13, item 1), in-process through the real app."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.inprocess import edge

QUIET = {"observability": {"log_requests": False, "metrics_enabled": False}}
CHAT = {"model": "demo", "messages": [{"role": "user", "content": "How green is this?"}]}
ADMIN, MASTER = "admin-key-for-tests", "master-key-for-tests"


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_anonymous_mode_reads_its_own_request(tmp_path: Path) -> None:
    async with edge(tmp_path, **QUIET) as (client, _):
        served = await client.post("/v1/chat/completions", json=CHAT, headers={"x-request-id": "abc"})
        request_id = served.headers["x-request-id"]
        found = await client.get(f"/v1/carbon/requests/{request_id}")
    assert found.status_code == 200
    body = found.json()
    usage = served.json()["usage"]
    assert body["object"] == "carbon.request"
    assert (body["request_id"], body["client_request_id"], body["tenant_id"]) == (
        request_id,
        "abc",
        "anonymous",
    )
    assert (body["model"], body["endpoint"], body["status"], body["stream"]) == (
        "demo",
        "chat.completions",
        200,
        False,
    )
    assert body["usage"] == {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    assert body["carbon"] == usage["carbon"]  # the same figure, labels and all


async def test_unknown_ids_are_a_404_in_openai_shape(tmp_path: Path) -> None:
    async with edge(tmp_path, **QUIET) as (client, _):
        response = await client.get("/v1/carbon/requests/req_nothing")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": response.json()["error"]["message"],
            "type": "invalid_request_error",
            "param": "request_id",
            "code": "request_not_found",
        }
    }


async def test_tenants_see_their_own_requests_the_admin_any(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_ADMIN_KEY", ADMIN)
    monkeypatch.setenv("GATEWAY_MASTER_KEY", MASTER)
    async with edge(tmp_path, **QUIET) as (client, _):
        keys = {}
        for tenant in ("acme", "globex"):
            created = await client.post("/admin/tenants", json={"id": tenant}, headers=bearer(ADMIN))
            assert created.status_code == 201
            issued = await client.post(f"/admin/tenants/{tenant}/keys", headers=bearer(ADMIN))
            keys[tenant] = issued.json()["key"]
        acme_id = (
            await client.post("/v1/chat/completions", json=CHAT, headers=bearer(keys["acme"]))
        ).headers["x-request-id"]
        master_id = (await client.post("/v1/chat/completions", json=CHAT, headers=bearer(MASTER))).headers[
            "x-request-id"
        ]

        async def status(request_id: str, headers: dict[str, str]) -> int:
            return (await client.get(f"/v1/carbon/requests/{request_id}", headers=headers)).status_code

        assert await status(acme_id, bearer(keys["acme"])) == 200
        assert await status(acme_id, bearer(keys["globex"])) == 404  # not disclosed to another tenant
        assert await status(acme_id, bearer(MASTER)) == 404  # the master key reads its own tenant's only
        assert await status(master_id, bearer(MASTER)) == 200
        assert await status(master_id, bearer(keys["acme"])) == 404
        assert await status(acme_id, bearer(ADMIN)) == 200  # the admin key reads any tenant's
        assert await status(master_id, bearer(ADMIN)) == 200
        assert await status(acme_id, {}) == 401
        assert await status(acme_id, bearer("sk-wrong")) == 401
        admin_view = (await client.get(f"/v1/carbon/requests/{acme_id}", headers=bearer(ADMIN))).json()
    assert admin_view["tenant_id"] == "acme" and admin_view["key_id"]


async def test_tracked_usage_without_its_own_id_is_found_by_the_calls_id(tmp_path: Path) -> None:
    body = {"model": "demo", "prompt_tokens": 10, "completion_tokens": 20}
    async with edge(tmp_path, **QUIET) as (client, _):
        tracked = await client.post("/v1/carbon/track", json=body)
        found = await client.get(f"/v1/carbon/requests/{tracked.headers['x-request-id']}")
    assert tracked.status_code == 201 and tracked.json()["request_id"] == tracked.headers["x-request-id"]
    assert found.status_code == 200 and found.json()["endpoint"] == "carbon.track"
    assert found.json()["carbon"]["gco2e"] == tracked.json()["carbon"]["gco2e"]
