"""A response's head and body in one write: uvicorn's request cycle, with the head held until the body comes.

uvicorn 0.54 writes a response's status line and headers, then its body, as two writes: two `send()` calls and
two TCP segments for every unary answer (Nagle is off), the first the dearer (~6% of the gateway's CPU under load
measured by py-spy, the body's write ~1%). Here the head is held back and leaves with the body's first write in
one `writelines` (one `writev`) when the body follows in the same turn of the loop, as a Starlette `Response`'s
does; otherwise (a stream whose first event is still upstream) it is written at the loop's next turn, so a
client never waits longer for a stream's headers than one iteration. Nothing else of uvicorn's cycle changes:
its checks of headers, lengths and keep-alive run as before, on what it would have written.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle


class _Capture:
    """Stands in for the transport while uvicorn writes the head: keeps the bytes."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: bytes | None = None

    def write(self, data: bytes) -> None:
        self.data = data if self.data is None else self.data + data


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
            transport, capture = self.transport, _Capture()
            self.transport = capture  # type: ignore[assignment]
            try:
                await super().send(message)
            finally:
                self.transport = transport
            if capture.data is not None:
                self._head = capture.data
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

    def _write_head(self) -> None:
        """The loop turned without a body: the head goes alone (a stream waiting for its first event)."""
        head, self._head, self._flush = self._head, None, None
        if head is not None and not self.disconnected and not self.transport.is_closing():
            self.transport.write(head)
