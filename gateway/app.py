"""The Starlette application: routes, error handlers and start-up."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway import carbon_api
from gateway.admin import admin_routes
from gateway.errors import GatewayError, error_body
from gateway.observability.endpoint import MetricsServer, metrics_routes
from gateway.observability.health import StoreHealthProbe
from gateway.observability.logs import configure_logging, log_request
from gateway.observability.metrics import Metrics
from gateway.observability.settings import ObservabilitySettings
from gateway.observability.tracing import configure_tracing
from gateway.providers import resolve_models, routes_from_json
from gateway.proxy import proxy
from gateway.registry import build_registry
from gateway.settings import ConfigError, GatewayConfig, load_config
from gateway.state import GatewayState
from gateway.tenancy import build_guard
from gateway.usage_api import own_usage
from gateway.validation import CHAT, COMPLETIONS, EMBEDDINGS
from meters.carbon import CarbonEngine, CatalogueError
from meters.store import open_store

log = logging.getLogger("carbon_gateway")
RESOLVED_ROUTES_ENV = "CARBON_GATEWAY_RESOLVED"  # set by `carbon-gateway serve` for its workers


def build_state(config: GatewayConfig) -> GatewayState:
    """Everything that can fail on bad config fails here, before the server listens."""
    try:
        observability = ObservabilitySettings.from_config(config.observability, config.path)
        tracer = configure_tracing(observability, config.path)
    except ValueError as exc:
        raise ConfigError(config.path, "observability", str(exc)) from None
    configure_logging(observability)
    resolved = os.environ.get(RESOLVED_ROUTES_ENV)
    if resolved and Path(resolved).is_file():
        routes = routes_from_json(Path(resolved).read_text())
    else:
        routes = resolve_models(config)
    try:
        engine = CarbonEngine.load(settings=config.carbon)
    except CatalogueError as exc:
        raise CatalogueError(f"{config.path}: carbon: {exc}") from None
    models = build_registry(config, routes, engine)
    metrics = Metrics(observability, known_models=list(models)) if observability.metrics_enabled else None
    return GatewayState(
        config,
        models,
        engine,
        metrics=metrics,
        access_log=log_request if observability.log_requests else None,
        tracer=tracer,
        observability=observability,
        master_key=os.environ.get("GATEWAY_MASTER_KEY") or None,
    )


async def chat_completions(request: Request) -> Response:
    return await proxy(request, CHAT)


async def completions(request: Request) -> Response:
    return await proxy(request, COMPLETIONS)


async def embeddings(request: Request) -> Response:
    return await proxy(request, EMBEDDINGS)


async def list_models(request: Request) -> Response:
    state: GatewayState = request.app.state.gateway
    await state.authenticate(request)
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
        for name, runtime in state.models.items()
    ]
    return JSONResponse({"object": "list", "data": data})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state: GatewayState = request.app.state.gateway
    store_ok = state.store is not None and await state.store.ping()
    if state.metrics is not None:
        state.metrics.set_store_up(store_ok, "redis" if state.config.store.redis_url else "embedded")
    body = {"status": "ready" if store_ok else "unavailable", "models": len(state.models), "store": store_ok}
    return JSONResponse(body, status_code=200 if store_ok else 503)


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {
        404: f"No route {request.url.path}.",
        405: f"Method {request.method} not allowed on {request.url.path}.",
    }
    body = error_body(message.get(exc.status_code, str(exc.detail)), "invalid_request_error", None, None)
    return Response(body, status_code=exc.status_code, media_type="application/json", headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s", request.url.path)
    body = error_body(
        "The gateway hit an internal error; it has been logged.", "api_error", None, "internal_error"
    )
    return Response(body, status_code=500, media_type="application/json")


def create_app(config: GatewayConfig | str | Path | None = None) -> Starlette:
    if not isinstance(config, GatewayConfig):
        config = load_config(config)
    state = build_state(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store_settings = state.config.store
        state.store = await open_store(
            store_settings.redis_url,
            state_dir=store_settings.state_dir,
            prefix=store_settings.prefix,
            on_failure=store_settings.on_failure,
            ledger_retention_days=store_settings.ledger_retention_days,
            lease_requests=store_settings.lease_requests,
            lease_s=store_settings.lease_s,
        )
        state.guard = await build_guard(state, state.store)
        await state.start()
        metrics_server = probe = None
        if state.metrics is not None:
            backend = "redis" if store_settings.redis_url else "embedded"
            probe = StoreHealthProbe(state.metrics, state.store.ping, backend)
            probe.start()
            if state.observability.metrics_port is not None:
                metrics_server = MetricsServer(state.metrics, state.observability)
                await metrics_server.start()
        try:
            yield
        finally:
            if metrics_server is not None:
                await metrics_server.stop()
            if probe is not None:
                await probe.stop()
            await state.close()

    routes = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/carbon/estimate", carbon_api.estimate, methods=["POST"]),
        Route("/v1/carbon/track", carbon_api.track, methods=["POST"]),
        Route("/v1/carbon/models", carbon_api.models, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/v1/carbon/usage", own_usage, methods=["GET"]),
        *admin_routes(),
    ]
    if state.metrics is not None and state.observability.metrics_port is None:
        routes += metrics_routes(state.metrics, state.observability)
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={GatewayError: _gateway_error, HTTPException: _http_error, Exception: _unexpected},
    )
    app.state.gateway = state
    return app


def app_from_env() -> Starlette:
    """Factory for uvicorn workers (`gateway.app:app_from_env`)."""
    return create_app(os.environ.get("CARBON_GATEWAY_CONFIG") or None)
