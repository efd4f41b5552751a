"""GET /healthz (alive), GET /readyz (config loaded, store reachable) and GET /v1/models."""

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


async def list_models(request: Request) -> Response:
    gw = gateway_of(request)
    await gw.access.authenticate(request)
    data = [
        {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": runtime.route.provider,
            "carbon": {
                "method": runtime.factors.method,
                "boundary": runtime.factors.boundary,
                "confidence": runtime.factors.confidence,
            },
            "available": runtime.unavailable_reason is None,
        }
        for name, runtime in gw.registry.models.items()
    ]
    return JSONResponse({"object": "list", "data": data})
