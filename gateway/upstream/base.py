"""What every transport is: an `Upstream` that sends a request and answers with an `UpstreamResponse`.

One class per transport (passthrough.py, litellm.py, demo.py), as in httpx; failures raise the
`gateway.errors.UpstreamError` tree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from gateway.endpoints import Endpoint
from gateway.multipart import Part


class UpstreamResponse:
    """Status, headers and a body that can be read whole or streamed once."""

    __slots__ = ("_chunks", "_close", "_read", "headers", "status")

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        *,
        read: Callable[[], Awaitable[bytes]] | None = None,
        chunks: Callable[[], AsyncIterator[bytes]] | None = None,
        close: Callable[[], None] | None = None,
    ) -> None:
        self.status = status
        self.headers = headers
        self._read = read
        self._chunks = chunks
        self._close = close

    async def read(self) -> bytes:
        if self._read is not None:
            return await self._read()
        return b"".join([chunk async for chunk in self.iter_chunks()])

    def iter_chunks(self) -> AsyncIterator[bytes]:
        if self._chunks is None:
            raise RuntimeError("this upstream response is not a stream")
        return self._chunks()

    def close(self) -> None:
        if self._close is not None:
            self._close()


def from_bytes(status: int, body: bytes, content_type: str = "application/json") -> UpstreamResponse:
    async def read() -> bytes:
        return body

    return UpstreamResponse(status, {"content-type": content_type}, read=read)


class Upstream(Protocol):
    """One configured model's way to its provider."""

    async def send(self, endpoint: Endpoint, payload: dict[str, Any], *, stream: bool) -> UpstreamResponse:
        """Forward `payload` (its `model` already rewritten); raise `UpstreamError` when no answer came."""
        ...


@runtime_checkable
class FormUpstream(Protocol):
    """An upstream that also takes multipart requests (audio uploads): passthrough and demo."""

    async def send_form(self, endpoint: Endpoint, parts: Sequence[Part]) -> UpstreamResponse:
        """Forward `parts` (their `model` already rewritten); raise `UpstreamError` when no answer came."""
        ...
