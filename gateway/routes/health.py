"""GET /healthz (alive) and GET /readyz (config loaded, store reachable)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.routes.current import gateway_of


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    gw = gateway_of(request)
    store_ok = await gw.store.ping()
    gw.telemetry.store_up(store_ok, gw.store.backend.name)
    body = {"status": "ready" if store_ok else "unavailable", "models": len(gw.registry.models), "store": store_ok}
    return JSONResponse(body, status_code=200 if store_ok else 503)
