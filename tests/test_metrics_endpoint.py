"""/metrics over real HTTP on loopback: on the API port, behind a token, and on its own port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import aiohttp
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.config import ObservabilitySettings
from gateway.observability.endpoint import MetricsServer, metrics_routes
from gateway.observability.metrics import Metrics
from tests.support.ports import free_port


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def api_app(metrics: Metrics, settings: ObservabilitySettings) -> Starlette:
    async def hello(_: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/healthz", hello), *metrics_routes(metrics, settings)])


async def test_metrics_on_api_port_with_bearer_token() -> None:
    settings = ObservabilitySettings(metrics_path="/internal/metrics", metrics_bearer_token="t0ken")
    metrics = Metrics(settings, ["demo"], registry=CollectorRegistry())
    metrics.observe_rejection(tenant="acme", reason="budget_exceeded")
    async with serve(api_app(metrics, settings)) as base, aiohttp.ClientSession() as http:
        async with http.get(f"{base}/internal/metrics") as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert "carbon_gateway" not in await response.text()
        async with http.get(
            f"{base}/internal/metrics", headers={"Authorization": "Bearer wrong"}
        ) as response:
            assert response.status == 401
        async with http.get(
            f"{base}/internal/metrics", headers={"Authorization": "Bearer t0ken"}
        ) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            body = await response.text()
        assert 'carbon_gateway_rejections_total{reason="budget_exceeded",tenant="acme"} 1.0' in body
        async with http.get(f"{base}/metrics") as response:
            assert response.status == 404


async def test_disabled_or_separate_port_mounts_nothing_on_the_api() -> None:
    metrics = Metrics(ObservabilitySettings(), ["demo"], registry=CollectorRegistry())
    assert metrics_routes(metrics, ObservabilitySettings(metrics_enabled=False)) == []
    assert metrics_routes(metrics, ObservabilitySettings(metrics_port=9464)) == []
    assert len(metrics_routes(metrics, ObservabilitySettings())) == 1


async def test_separate_port_shared_by_several_servers() -> None:
    port = free_port()
    settings = ObservabilitySettings(metrics_port=port)
    metrics = Metrics(settings, ["demo"], registry=CollectorRegistry())
    metrics.set_store_up(True, backend="embedded")
    # Two servers on one port, as two uvicorn workers would bind it (SO_REUSEPORT).
    first, second = MetricsServer(metrics, settings), MetricsServer(metrics, settings)
    await first.start()
    await second.start()
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(4):
                async with http.get(f"http://127.0.0.1:{port}/metrics", headers={"x-request-id": "scrape-7"}) as response:
                    assert response.status == 200
                    assert 'carbon_gateway_store_up{backend="embedded"} 1.0' in await response.text()
                    # Like every answer of the gateway: its id, and the client's echoed.
                    assert response.headers["x-request-id"].startswith("req_")
                    assert response.headers["x-client-request-id"] == "scrape-7"
                async with http.get(f"http://127.0.0.1:{port}/v1/models") as response:
                    assert response.status == 404
                    assert response.headers["x-request-id"].startswith("req_")
    finally:
        await first.stop()
        await second.stop()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # both really closed
