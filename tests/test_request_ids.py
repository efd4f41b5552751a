"""Every response carries the gateway's `x-request-id`, and echoes the client's own as `x-client-request-id`
(issue 13, item 1): every route, errors included, in-process through the real app and its middleware."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from tests.support.inprocess import SCRIPTED, demo_route, edge, edge_config, parse_edge_config, scripted_route

# No metrics, so no store-health probe: its cancellation is slow on Python 3.11 (issue 10, item 10).
QUIET = {"observability": {"log_requests": False, "metrics_enabled": False}}
CHAT = {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/healthz", None, 200),
        ("GET", "/readyz", None, 200),
        ("GET", "/v1/models", None, 200),
        ("GET", "/v1/models/demo", None, 200),
        ("GET", "/v1/models/nope", None, 404),
        ("GET", "/v1/carbon/models", None, 200),
        ("POST", "/v1/carbon/estimate", {"model": "demo", "prompt_tokens": 1, "completion_tokens": 1}, 200),
        ("POST", "/v1/carbon/estimate", {"model": "demo"}, 400),
        ("GET", "/v1/carbon/usage", None, 200),
        ("GET", "/v1/carbon/requests/req_unknown", None, 404),
        ("GET", "/admin/tenants", None, 403),
        ("GET", "/no/such/route", None, 404),
        ("DELETE", "/v1/chat/completions", None, 405),
        ("POST", "/v1/chat/completions", CHAT, 200),
        ("POST", "/v1/chat/completions", {"model": "demo"}, 400),
        ("POST", "/v1/chat/completions", {**CHAT, "stream": True}, 200),
    ],
)
async def test_every_route_and_error_carries_the_ids(
    tmp_path: Path, method: str, path: str, body: dict | None, status: int
) -> None:
    async with edge(tmp_path, **QUIET) as (client, _):
        plain = await client.request(method, path, json=body)
        echoed = await client.request(method, path, json=body, headers={"x-request-id": "mine-42"})
    assert plain.status_code == echoed.status_code == status
    assert plain.headers["x-request-id"].startswith("req_")
    assert "x-client-request-id" not in plain.headers
    assert echoed.headers["x-client-request-id"] == "mine-42"
    assert echoed.headers["x-request-id"].startswith("req_")
    assert echoed.headers["x-request-id"] != plain.headers["x-request-id"]
    assert len(plain.headers.get_list("x-request-id")) == 1


async def test_a_500_names_its_request_too(tmp_path: Path) -> None:
    config = parse_edge_config(edge_config(tmp_path, **QUIET), tmp_path)
    app = create_app(config, routes={SCRIPTED: scripted_route(), "demo": demo_route()})
    async with app.router.lifespan_context(app):

        async def broken_ping() -> bool:
            raise RuntimeError("a bug")

        object.__setattr__(app.state.gateway.store, "ping", broken_ping)  # Store is a frozen dataclass
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            response = await client.get("/readyz", headers={"x-client-request-id": "theirs"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.headers["x-request-id"].startswith("req_")
    assert response.headers["x-client-request-id"] == "theirs"


async def test_the_proxy_counts_under_the_id_the_client_sees(tmp_path: Path) -> None:
    async with edge(tmp_path, **QUIET) as (client, gw):
        response = await client.post("/v1/chat/completions", json=CHAT, headers={"x-request-id": "corr-1"})
        await gw.accounting.writer.close()  # flush what the writer holds
        gw.accounting.writer.start()
        entry = await gw.store.reports.request(response.headers["x-request-id"], None)
    assert entry is not None
    assert entry["client_request_id"] == "corr-1"
