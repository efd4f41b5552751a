"""A minimal HTTP/1.1 server on a raw asyncio protocol, parsed by httptools (shipped with uvicorn[standard]).

Why not aiohttp.web: the fake upstream shares a core with the load generator in benchmarks and must stay
far faster than the gateway it measures; a protocol that answers in the parser callback, with no task per
request, serves several times more requests per second.

A handler turns a ``Request`` into a plan: a list of steps, each ``bytes`` (write), ``float`` (sleep that
many seconds) or ``None`` (close the connection at once, mid-answer). Plans without sleeps are written
synchronously; plans with sleeps run in a task while the connection stops reading, so answers on a
keep-alive connection stay in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import httptools

Step = bytes | float | None
Plan = list[Step]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    """Lower-cased names; a repeated header keeps its last value."""
    body: bytes
    keep_alive: bool


def response_head(status: int, content_type: str, keep_alive: bool, length: int | None) -> bytes:
    """Status line and headers; ``length=None`` means a chunked body."""
    framing = f"content-length: {length}" if length is not None else "transfer-encoding: chunked"
    connection = "keep-alive" if keep_alive else "close"
    reason = _REASONS.get(status, "Unknown")
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\n{framing}\r\n"
        f"connection: {connection}\r\nserver: fake-upstream\r\n\r\n"
    ).encode()


def full_response(status: int, content_type: str, body: bytes, keep_alive: bool) -> bytes:
    return response_head(status, content_type, keep_alive, len(body)) + body


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked transfer-encoded body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


class _Connection(asyncio.Protocol):
    __slots__ = (
        "_body",
        "_closed",
        "_handler",
        "_headers",
        "_parser",
        "_pending",
        "_registry",
        "_task",
        "_transport",
        "_url",
    )

    def __init__(self, handler: Callable[[Request], Plan], registry: set[_Connection]) -> None:
        self._handler = handler
        self._registry = registry
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._pending: deque[Request] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._registry.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._registry.discard(self)
        if self._task is not None:
            self._task.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._write(full_response(400, "text/plain", b"malformed HTTP request", keep_alive=False))
            self.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        # curl sends "Expect: 100-continue" for bodies over 1 KiB and would otherwise wait a second.
        if self._headers.get("expect", "").lower() == "100-continue":
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        path, _, query = self._url.decode("latin-1").partition("?")
        request = Request(
            method=self._parser.get_method().decode(),
            path=path,
            query=query,
            headers=self._headers,
            body=b"".join(self._body),
            keep_alive=self._parser.should_keep_alive(),
        )
        if self._task is not None:
            self._pending.append(request)
        else:
            self._serve(request)

    # serving
    def _serve(self, request: Request) -> None:
        plan = self._handler(request)
        if any(isinstance(step, float) for step in plan):
            assert self._transport is not None
            self._transport.pause_reading()
            self._task = asyncio.get_running_loop().create_task(self._run_timed(plan, request.keep_alive))
            return
        for step in plan:
            if step is None:
                self.close()
                return
            self._write(step)
        if not request.keep_alive:
            self.close()

    async def _run_timed(self, plan: Plan, keep_alive: bool) -> None:
        for step in plan:
            if self._closed:
                return
            if isinstance(step, float):
                await asyncio.sleep(step)
            elif step is None:
                self.close()
                return
            else:
                self._write(step)
        self._task = None
        if not keep_alive:
            self.close()
            return
        while self._pending and self._task is None and not self._closed:
            self._serve(self._pending.popleft())
        if self._task is None and not self._closed and self._transport is not None:
            self._transport.resume_reading()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._closed:
            self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None and not self._closed:
            self._closed = True
            self._transport.close()


class HttpServer:
    """Listens on ``host:port`` (0 = any free port) and serves every request with ``handler``."""

    def __init__(
        self,
        handler: Callable[[Request], Plan],
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._handler = handler
        self._tls = tls
        self._host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self._handler, self._connections),
            self._host,
            self._requested_port,
            backlog=1024,
            ssl=self._tls,
        )

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        # Python 3.11's wait_closed does not close open keep-alive connections; close them ourselves.
        for connection in list(self._connections):
            connection.close()
        with contextlib.suppress(Exception):
            await self._server.wait_closed()
        self._server = None

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()
