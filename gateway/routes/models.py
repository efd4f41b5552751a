"""GET /v1/models and GET /v1/models/{model}: the configured models in OpenAI's shape, with their carbon labels.

An unknown id is a 404 in OpenAI's shape (`code: model_not_found`), as OpenAI answers it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.registry import ModelRuntime
from gateway.routes.current import gateway_of


def model_object(name: str, runtime: ModelRuntime) -> dict[str, Any]:
    return {
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


async def list_models(request: Request) -> Response:
    gw = gateway_of(request)
    await gw.access.authenticate(request)
    data = [model_object(name, runtime) for name, runtime in gw.registry.models.items()]
    return JSONResponse({"object": "list", "data": data})


async def get_model(request: Request) -> Response:
    gw = gateway_of(request)
    await gw.access.authenticate(request)
    name: str = request.path_params["model"]
    return JSONResponse(model_object(name, gw.registry.model(name)))  # 404 model_not_found when unknown
