"""Serve /metrics: on the API port (as a route) or on a port of its own, optionally behind a token.

On its own port every worker binds the same address with SO_REUSEPORT; whichever worker the
kernel picks answers, and in multiprocess mode every worker renders the same merged figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import socket
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.config import ObservabilitySettings
from gateway.observability.metrics import Metrics
from gateway.request_ids import RequestIdMiddleware

Endpoint = Callable[[Request], Awaitable[Response]]


def metrics_endpoint(metrics: Metrics, settings: ObservabilitySettings) -> Endpoint:
    """The request handler: checks the bearer token when one is configured, then renders."""
    expected = f"Bearer {settings.metrics_bearer_token}".encode() if settings.metrics_bearer_token else None

    async def endpoint(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                return PlainTextResponse(
                    "metrics need a bearer token\n", status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
        if metrics.multiprocess_dir:
            # Merging every worker's files is blocking disk work: keep it off the event loop.
            body, content_type = await run_in_threadpool(metrics.render)
        else:
            body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return endpoint


def metrics_routes(metrics: Metrics, settings: ObservabilitySettings) -> list[Route]:
    """Routes to mount on the API app: none when metrics are off or served on their own port."""
    if not settings.metrics_enabled or settings.metrics_port is not None:
        return []
    return [Route(settings.metrics_path, metrics_endpoint(metrics, settings), methods=["GET"])]


def metrics_app(metrics: Metrics, settings: ObservabilitySettings) -> Starlette:
    """A tiny app that serves only the metrics path (for the separate port); its answers carry `x-request-id`
    like every other answer of the gateway (404s and 401s included)."""
    return Starlette(
        routes=[Route(settings.metrics_path, metrics_endpoint(metrics, settings), methods=["GET"])],
        middleware=[Middleware(RequestIdMiddleware)],
    )


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the main server in the same process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _reuseport_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(128)
    sock.setblocking(False)
    return sock


class MetricsServer:
    """/metrics on `settings.metrics_port`, run inside the app's lifespan.

    Usage in the lead's lifespan:
        server = MetricsServer(metrics, settings, host)
        await server.start()
        try: yield
        finally: await server.stop()
    """

    def __init__(self, metrics: Metrics, settings: ObservabilitySettings, host: str = "127.0.0.1") -> None:
        if settings.metrics_port is None:
            raise ValueError("MetricsServer needs observability.metrics_port")
        self.host = host
        self.port = settings.metrics_port
        config = uvicorn.Config(
            metrics_app(metrics, settings), lifespan="off", access_log=False, log_level="warning"
        )
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    async def start(self) -> None:
        self._socket = _reuseport_socket(self.host, self.port)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # re-raises the startup failure
                raise RuntimeError("metrics server stopped during startup")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
