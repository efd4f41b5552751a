"""The Starlette application: routes, error handlers and the lifespan that opens the gateway."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway import heap, shutdown, threads, tokens
from gateway.config import CONFIG_ENV, GatewayConfig, load_config
from gateway.errors import GatewayError, error_body
from gateway.gateway import Gateway, Prepared, prepare
from gateway.hot_routes import hot_handler, serve_hot
from gateway.observability import loop_lag
from gateway.observability.endpoint import MetricsServer
from gateway.observability.health import StoreHealthProbe
from gateway.providers import Route
from gateway.request_ids import RequestIdMiddleware, response_id_headers
from gateway.routes import route_table

log = logging.getLogger("carbon_gateway")


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
    # Starlette runs this handler outside every middleware: the id headers are set here.
    return Response(body, status_code=500, media_type="application/json", headers=response_id_headers(request))


class GatewayApp(Starlette):
    """Starlette, except that the proxied POST routes skip its layers (`hot_routes`), and that a request whose
    bug was answered with the 500 above does not take its connection down: Starlette re-raises the error after
    sending the 500 (for servers to log), and uvicorn then closes the keep-alive connection silently under the
    client's next request. It has been logged already."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        handler = hot_handler(scope)
        if handler is not None:
            await serve_hot(self, handler, scope, receive, send)
            return
        with contextlib.suppress(Exception):  # logged by _unexpected, answered with a 500
            await super().__call__(scope, receive, send)


def create_app(
    config: GatewayConfig | str | Path | None = None,
    routes: Mapping[str, Route] | None = None,
    *,
    settle_heap: bool = False,
) -> Starlette:
    """The app for `config`; everything that can fail on a bad config fails here, before the server listens.
    `routes` are the models' resolved routes (default: resolved now, or read from the `serve` parent);
    `settle_heap` (the serving process) freezes what start-up built out of the garbage collector's walks and
    shortens the GIL's switch interval (gateway.threads)."""
    if settle_heap:
        # The tokenizer for streams cut short, before the first connection (built at the first stream cut short,
        # ~120 ms of CPU and ~28 MB, it stalled every request in flight), and before the app: what building its
        # tables frees is then reused by the app's own start-up (serve's RSS ~1.7 MB lower than after it).
        tokens.load()
    if not isinstance(config, GatewayConfig):
        config = load_config(config)
    prepared = prepare(config, routes)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gw = await Gateway.open(prepared)
        app.state.gateway = gw
        watchdog: threading.Timer | None = None
        try:
            async with _side_services(prepared, gw), loop_lag.running(lambda: gw.accounting.writer.backlog):
                if settle_heap:
                    log.debug("start-up heap settled: %d objects frozen", heap.settle())
                    threads.shorten_switch_interval()
                try:
                    with heap.releasing() if settle_heap else contextlib.nullcontext():
                        yield
                finally:
                    # The serving process (each worker too) ends even if a shutdown step hangs (gateway.shutdown).
                    watchdog = shutdown.exit_after(shutdown.APP_SHUTDOWN_S) if settle_heap else None
        finally:
            try:
                await gw.close()
            finally:
                if watchdog is not None:
                    watchdog.cancel()

    app = GatewayApp(
        routes=route_table(prepared.telemetry.metrics, config.observability),
        lifespan=lifespan,
        middleware=[Middleware(RequestIdMiddleware)],
        exception_handlers={GatewayError: _gateway_error, HTTPException: _http_error, Exception: _unexpected},
    )
    return app


@contextlib.asynccontextmanager
async def _side_services(prepared: Prepared, gw: Gateway) -> AsyncIterator[None]:
    """The store-health probe and the metrics port of its own, when metrics are on."""
    metrics = prepared.telemetry.metrics
    if metrics is None:
        yield
        return
    probe = StoreHealthProbe(
        metrics, gw.store.ping, gw.store.backend.name, backlog=lambda: gw.accounting.writer.backlog
    )
    probe.start()
    server = MetricsServer(metrics, prepared.config.observability) if prepared.config.observability.metrics_port else None
    if server is not None:
        await server.start()
    try:
        yield
    finally:
        if server is not None:
            await server.stop()
        await probe.stop()


def app_from_env() -> Starlette:
    """Factory for uvicorn workers (`gateway.app:app_from_env`)."""
    return create_app(os.environ.get(CONFIG_ENV) or None, settle_heap=True)
