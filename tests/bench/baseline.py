"""A bare Starlette + aiohttp passthrough: the floor a Python gateway is compared against.

No metering, no validation, no logging: forward the body, relay the answer (streamed for SSE). The issue's
reference figure (3,783 RPS, +0.34 ms) came from such a proxy; ``run_bench --baseline`` runs this one in the
same conditions as the gateway, so a noisy machine shifts both alike.

    python -m tests.bench.baseline --upstream http://127.0.0.1:PORT/v1 --port N   # prints "ready <port>"
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.observability import loop_lag

_HOP_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive"}


def build_app(upstream: str) -> Starlette:
    session: aiohttp.ClientSession | None = None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal session
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)
        try:
            async with loop_lag.running():  # the same lag monitor as the gateway's, when asked for
                yield
        finally:
            await session.close()

    async def forward(request: Request) -> Response:
        assert session is not None
        body = await request.body()
        headers = {"content-type": "application/json", "authorization": "Bearer fake"}
        upstream_response = await session.post(upstream + "/chat/completions", data=body, headers=headers)
        relayed = {k: v for k, v in upstream_response.headers.items() if k.lower() not in _HOP_HEADERS}
        if upstream_response.content_type == "text/event-stream":

            async def events() -> AsyncIterator[bytes]:
                async for data in upstream_response.content.iter_any():
                    yield data
                upstream_response.release()

            return StreamingResponse(events(), status_code=upstream_response.status, headers=relayed)
        payload = await upstream_response.read()
        return Response(payload, status_code=upstream_response.status, headers=relayed)

    return Starlette(routes=[Route("/v1/chat/completions", forward, methods=["POST"])], lifespan=lifespan)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="base URL, e.g. http://127.0.0.1:PORT/v1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    config = uvicorn.Config(
        build_app(args.upstream.rstrip("/")),
        host="127.0.0.1",
        port=args.port,
        access_log=False,
        log_level="warning",
        loop="asyncio" if loop_lag.steps_enabled() else "uvloop",  # the step probe times asyncio's own loop
        http="httptools",
    )
    server = uvicorn.Server(config)
    sys.stdout.write(f"ready {args.port}\n")  # uvicorn binds right after; the caller polls the port
    sys.stdout.flush()
    server.run()


if __name__ == "__main__":
    main()
