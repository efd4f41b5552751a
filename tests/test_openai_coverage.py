"""OpenAI API coverage in-process (issue 13, items 2, 3, 5): GET /v1/models/{id}, base64 embeddings from the demo
model, the retry headers clients obey, and DELETE of a tenant the config owns."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest

from gateway.errors import GatewayError
from tests.support.inprocess import SCRIPTED, edge

QUIET = {"observability": {"log_requests": False, "metrics_enabled": False}}


async def test_models_by_id(tmp_path: Path) -> None:
    async with edge(tmp_path, **QUIET) as (client, _):
        listed = (await client.get("/v1/models")).json()["data"]
        demo = await client.get("/v1/models/demo")
        unknown = await client.get("/v1/models/openai/gpt-4o")  # ids may hold a slash
    assert demo.status_code == 200 and demo.json() == next(m for m in listed if m["id"] == "demo")
    assert {m["id"] for m in listed} == {"demo", SCRIPTED}
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {
        "message": "The model 'openai/gpt-4o' does not exist or is not served by this gateway.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


async def test_demo_embeddings_in_base64_are_float32_little_endian(tmp_path: Path) -> None:
    body = {"model": "demo", "input": ["a", "b"]}
    async with edge(tmp_path, **QUIET) as (client, _):
        floats = (await client.post("/v1/embeddings", json=body)).json()
        encoded = (await client.post("/v1/embeddings", json={**body, "encoding_format": "base64"})).json()
        bad = await client.post("/v1/embeddings", json={**body, "encoding_format": "int8"})
    for as_float, as_text in zip(floats["data"], encoded["data"], strict=True):
        raw = base64.b64decode(as_text["embedding"])
        assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == as_float["embedding"]
    assert encoded["usage"] == floats["usage"]
    # As an upstream's 400 (routing.error_of passes on its message and code; not yet its `param`).
    assert bad.status_code == 400 and "'encoding_format'" in bad.json()["error"]["message"]


@pytest.mark.parametrize(
    ("headers", "retryable", "expected"),
    [
        ({}, None, None),
        ({"retry-after": "42"}, None, None),  # a minute's limit: the client's own backoff is right
        ({"retry-after": "61"}, None, "false"),
        ({"retry-after": "746368"}, None, "false"),  # a monthly budget
        ({"retry-after": "746368"}, True, "true"),  # said explicitly, it wins
        ({}, False, "false"),
    ],
)
def test_x_should_retry(headers: dict[str, str], retryable: bool | None, expected: str | None) -> None:
    response = GatewayError(429, "over", headers=headers, retryable=retryable).response()
    assert response.headers.get("x-should-retry") == expected


async def test_a_static_tenant_cannot_be_deleted_through_the_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_ADMIN_KEY", "admin")
    monkeypatch.setenv("STATIC_TENANT_KEY", "sk-static")
    tenants = [{"id": "ci", "keys": ["os.environ/STATIC_TENANT_KEY"]}]
    async with edge(tmp_path, tenants=tenants, **QUIET) as (client, _):
        refused = await client.delete("/admin/tenants/ci", headers={"authorization": "Bearer admin"})
        still = await client.get("/v1/models", headers={"authorization": "Bearer sk-static"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "tenant_static"
    assert still.status_code == 200
