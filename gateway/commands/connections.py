"""Slow and too many clients, at the connection level (uvicorn's httptools protocol, guarded).

uvicorn 0.54 has no timeout for a request's headers: a client that opens a connection and sends its headers a
byte at a time (or nothing) holds it, and its file descriptor, for ever; enough of them starve `/healthz`. This
protocol closes a connection whose request headers are not complete `--header-timeout` seconds after it opened
(or after the request's first byte, on a kept-alive connection), with a 408, and refuses connections beyond
`--limit-concurrency` at once with a 503 (uvicorn's own `limit_concurrency` only answers once the headers are in).
The body's deadline is the gateway's (`gateway.body_timeout_s`, gateway.body). `serve` passes the settings to
every worker through the environment.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from gateway.commands.coalescing import CoalescingCycle

HEADER_TIMEOUT_ENV = "CARBON_GATEWAY_HEADER_TIMEOUT_S"
MAX_CONNECTIONS_ENV = "CARBON_GATEWAY_LIMIT_CONCURRENCY"
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_LIMIT_CONCURRENCY = 1000


def _response(status: str, message: str) -> bytes:
    body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}})
    head = f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return head.encode() + b"connection: close\r\n\r\n" + body


REQUEST_TIMEOUT = _response("408 Request Timeout", "The request headers did not arrive in time.")
OVERLOADED = _response("503 Service Unavailable", "Too many connections; retry shortly.")


def _settings() -> tuple[float, int]:
    return (
        float(os.environ.get(HEADER_TIMEOUT_ENV) or DEFAULT_HEADER_TIMEOUT_S),
        int(os.environ.get(MAX_CONNECTIONS_ENV) or DEFAULT_LIMIT_CONCURRENCY),
    )


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline, a cap on open connections, and each response's head
    written with its body (gateway.commands.coalescing)."""

    _settings: tuple[float, int] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if GuardedHttpToolsProtocol._settings is None:
            GuardedHttpToolsProtocol._settings = _settings()
        self._header_timeout_s, self._max_connections = GuardedHttpToolsProtocol._settings
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            transport.write(OVERLOADED)
            transport.close()
            return
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.__class__ is RequestResponseCycle:
            # Made by uvicorn just now, its task not yet started: the same cycle, head written with the body.
            cycle.__class__ = CoalescingCycle

    def _start_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self._header_timeout_s, self._headers_too_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(REQUEST_TIMEOUT)
            self.transport.close()
