"""A response's head and body in one write: uvicorn's request cycle, with the head held until the body comes.

uvicorn 0.54 writes a response's status line and headers, then its body, as two writes: two `send()` calls and
two TCP segments for every unary answer (Nagle is off), the first the dearer (~6% of the gateway's CPU under load
measured by py-spy, the body's write ~1%). Here the head is held back and leaves with the body's first write in
one `writelines` (one `writev`) when the body follows in the same turn of the loop, as a Starlette `Response`'s
does; otherwise (a stream whose first event is still upstream) it is written at the loop's next turn, so a
client never waits longer for a stream's headers than one iteration. The head is uvicorn's, byte for byte, with
its checks (`_head_of` follows uvicorn 0.54, pinned; tests compare the two); the body's path is uvicorn's own.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))  # headers uvicorn acts on
_LENGTH_ONLY = frozenset((b"content-length",))
# The bytes uvicorn's two header checks accept, from its own patterns: deleting them from the joined names
# (values) leaves nothing unless one is refused (one C-level pass, ~2.5x faster than the regex search).
_NAME_BYTES = bytes(b for b in range(256) if not HEADER_RE.match(bytes((b,))))
_VALUE_BYTES = bytes(b for b in range(256) if not HEADER_VALUE_RE.match(bytes((b,))))


class _Joined:
    """Stands in for the transport while uvicorn writes the first body message: the held head goes out with
    the first write; anything else (`close`, `is_closing`) is the transport's."""

    __slots__ = ("_head", "_transport")

    def __init__(self, transport: asyncio.Transport, head: bytes) -> None:
        self._transport = transport
        self._head: bytes | None = head

    def write(self, data: bytes) -> None:
        head, self._head = self._head, None
        if head is None:
            self._transport.write(data)
        elif data:
            self._transport.writelines((head, data))
        else:
            self._transport.write(head)

    def flush(self) -> None:
        """The head, if no write took it (uvicorn returned early, e.g. the client had gone)."""
        if self._head is not None and not self._transport.is_closing():
            self._transport.write(self._head)
        self._head = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingCycle(RequestResponseCycle):
    """uvicorn's cycle, writing a response's head with its body (see the module's docstring)."""

    _head: bytes | None = None
    _flush: asyncio.Handle | None = None

    async def send(self, message: Any) -> None:
        if not self.response_started and message["type"] == "http.response.start":
            if self.flow.write_paused and not self.disconnected:
                await self.flow.drain()
            if self.disconnected:
                return
            self._head = self._head_of(message)
            self._flush = asyncio.get_running_loop().call_soon(self._write_head)
            return
        head = self._head
        if head is None or message["type"] != "http.response.body":
            await super().send(message)
            return
        self._head = None
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        transport, joined = self.transport, _Joined(self.transport, head)
        self.transport = joined  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            self.transport = transport
            joined.flush()

    def _head_of(self, message: Any) -> bytes:
        """The status line and headers as uvicorn 0.54's cycle writes them (`RequestResponseCycle.send`, same
        checks, same framing decisions), its two header checks made once over all names and once over all
        values (a tab, allowed in a value, between them) rather than twice per header."""
        self.response_started = True
        self.waiting_for_100_continue = False
        status_code = message["status"]
        headers = self.default_headers + list(message.get("headers", []))
        if self.access_log:
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(self.scope),
                self.scope["method"],
                get_path_with_query_string(self.scope),
                self.scope["http_version"],
                status_code,
            )
        names = [name for name, _ in headers]
        values = [value for _, value in headers]
        if b"".join(names).translate(None, _NAME_BYTES):  # what is left is a byte HEADER_RE refuses
            raise RuntimeError("Invalid HTTP header name.")
        if b"\t".join(values).translate(None, _VALUE_BYTES):
            raise RuntimeError("Invalid HTTP header value.")
        # Lower-cased in one call: a newline cannot be in a name (refused above), so it can join them.
        lowered = b"\n".join(names).lower().split(b"\n") if names else []
        has_connection_close = False
        framing = _FRAMING.intersection(lowered)
        if framing == _LENGTH_ONLY and lowered.count(b"content-length") == 1:  # a Response's usual head
            if self.chunked_encoding is None:
                self.expected_content_length = int(values[lowered.index(b"content-length")].decode())
                self.chunked_encoding = False
        elif framing:  # uvicorn's framing decisions, in the headers' order
            for name, value in zip(lowered, values, strict=True):
                if name == b"content-length" and self.chunked_encoding is None:
                    self.expected_content_length = int(value.decode())
                    self.chunked_encoding = False
                elif name == b"transfer-encoding" and value.lower() == b"chunked":
                    self.expected_content_length = 0
                    self.chunked_encoding = True
                elif name == b"connection" and b"close" in [t.lower().strip() for t in value.split(b",")]:
                    self.keep_alive = False
                    has_connection_close = True
        lines = [b"", b": ", b"", b"\r\n"] * len(lowered)  # name: value CRLF, interleaved by slices
        lines[0::4] = lowered
        lines[2::4] = values
        content = [STATUS_LINE[status_code], *lines]
        if not self.keep_alive and not has_connection_close:
            content.append(b"connection: close\r\n")
        if self.chunked_encoding is None and self.scope["method"] != "HEAD" and status_code not in (204, 304):
            self.chunked_encoding = True  # neither content-length nor transfer-encoding
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        return b"".join(content)

    def _write_head(self) -> None:
        """The loop turned without a body: the head goes alone (a stream waiting for its first event)."""
        head, self._head, self._flush = self._head, None, None
        if head is not None and not self.disconnected and not self.transport.is_closing():
            self.transport.write(head)
