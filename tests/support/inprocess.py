"""The gateway's Starlette app in-process (httpx.ASGITransport), with scripted upstreams: for the
parsers and edge cases that need no real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from gateway.app import create_app
from gateway.config import GatewayConfig, parse_config
from gateway.endpoints import Endpoint
from gateway.gateway import Gateway
from gateway.providers import Route, RouteKind
from gateway.upstream.base import UpstreamResponse, from_bytes
from tests.support.ports import free_port

SCRIPTED = "scripted"


class ScriptedUpstream:
    """Answers every request with the same status and body, or streams the given chunks as they are."""

    def __init__(self, *, body: bytes = b"", chunks: Sequence[bytes] = (), status: int = 200) -> None:
        self.body = body
        self.chunks = list(chunks)
        self.status = status
        self.payloads: list[dict[str, Any]] = []

    async def send(self, endpoint: Endpoint, payload: dict[str, Any], *, stream: bool) -> UpstreamResponse:
        self.payloads.append(dict(payload))
        if not stream:
            return from_bytes(self.status, self.body)

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in self.chunks:
                yield chunk

        return UpstreamResponse(self.status, {"content-type": "text/event-stream"}, chunks=chunks)


def scripted_route(name: str = SCRIPTED) -> Route:
    return Route(name, RouteKind.PASSTHROUGH, "openai", "scripted-model", "openai/scripted-model",
                 "http://127.0.0.1:9/v1", None, None, None)  # fmt: skip


def edge_config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    model = {
        "model_name": SCRIPTED,
        "litellm_params": {
            "model": "openai/scripted-model",
            "api_base": "http://127.0.0.1:9/v1",
            "api_key": "k",
        },
        "carbon": {"gco2e_per_1k_tokens": 1.0, "confidence": "estimated", "source": "test"},
    }
    return {
        "model_list": [
            model,
            {"model_name": "demo", "litellm_params": {"model": "demo/carbon-gateway-demo"}},
        ],
        "store": {"state_dir": str(tmp_path / "state")},
        "observability": {"log_requests": False},
        **extra,
    }


def parse_edge_config(data: dict[str, Any], tmp_path: Path) -> GatewayConfig:
    saved = os.environ.pop("REDIS_URL", None)
    try:
        return parse_config(data, tmp_path / "gateway.yaml")
    finally:
        if saved is not None:
            os.environ["REDIS_URL"] = saved


@contextlib.asynccontextmanager
async def edge(
    tmp_path: Path, upstream: ScriptedUpstream | None = None, **extra: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Gateway]]:
    """The app for `edge_config`, its lifespan running, the `scripted` model answered by `upstream`. Its store is
    the embedded one in `tmp_path` even where the test run has a REDIS_URL (which the config would otherwise take:
    every in-process test would share one Redis under the default prefix)."""
    config = parse_edge_config(edge_config(tmp_path, **extra), tmp_path)
    app = create_app(config, routes={SCRIPTED: scripted_route(), "demo": demo_route()})
    async with app.router.lifespan_context(app):
        gw: Gateway = app.state.gateway
        if upstream is not None:
            gw.registry.models[SCRIPTED].upstream = upstream
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client, gw


def demo_route() -> Route:
    return Route("demo", RouteKind.DEMO, "demo", "carbon-gateway-demo", "demo/carbon-gateway-demo",
                 None, None, None, None)  # fmt: skip


@contextlib.asynccontextmanager
async def served_over_tcp(tmp_path: Path) -> AsyncIterator[tuple[int, Gateway]]:
    """The edge app under a real uvicorn server on a loopback port: (port, its opened gateway), for tests
    that need a real connection (keep-alive, raw HTTP)."""
    config = parse_edge_config(edge_config(tmp_path, observability={"log_requests": False}), tmp_path)
    app = create_app(config, routes={SCRIPTED: scripted_route(), "demo": demo_route()})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done()
        await asyncio.sleep(0.02)
    try:
        yield port, app.state.gateway
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)

