"""The running gateway a route handler works with (set on the app by its lifespan)."""

from __future__ import annotations

from starlette.requests import Request

from gateway.gateway import Gateway


def gateway_of(request: Request) -> Gateway:
    gw = request.app.state.gateway
    assert isinstance(gw, Gateway), "the app's lifespan opens the gateway before any request"
    return gw
