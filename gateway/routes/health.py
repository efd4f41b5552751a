"""GET /healthz (alive) and GET /readyz (ready to serve, as the failure policy says).

`/readyz` answers 200 whenever the gateway would serve: `ready` (the store reachable and writable), or
`degraded` (Redis unreachable or refusing writes under `store.on_failure: fail_open`: requests are served and
their usage journalled). It answers 503 `unavailable` when it would not count what it serves: the embedded store
cannot write (state directory read-only, or deleted and not recreatable), or Redis is down under `fail_closed`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.config.store import FAIL_OPEN
from gateway.routes.current import gateway_of


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    gw = gateway_of(request)
    backend = gw.store.backend
    reachable = await gw.store.ping()
    writable = reachable and await backend.writable()
    gw.telemetry.store_up(reachable, backend.name)
    if writable:
        status = "ready"
    elif backend.name == "redis" and gw.config.store.on_failure == FAIL_OPEN:
        status = "degraded"  # served, the usage journalled until Redis is back
    else:
        status = "unavailable"
    body = {
        "status": status,
        "models": len(gw.registry.models),
        "store": reachable,
        "store_writable": writable,
        "store_backend": backend.name,
        "on_failure": gw.config.store.on_failure,
    }
    return JSONResponse(body, status_code=503 if status == "unavailable" else 200)
