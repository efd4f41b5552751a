"""How long a stream may take: an idle timeout between two events and a maximum duration.

A non-stream call's deadline is the transport's (`PassthroughClient`: the model's `timeout` in total). A
stream has none there: its answer may rightly last minutes. Instead the relay reads the upstream through
`guarded`, which ends the stream when no whole SSE event came for the model's `stream_timeout` (an upstream
that drips a byte at a time never completes one) or when the stream has lasted `gateway.stream_max_duration_s`.
Either raises an `UpstreamError` (504), which the relay turns into an error event for the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson

from gateway.errors import GatewayError, UpstreamError

_EVENT_ENDS = (b"\n\n", b"\r\n\r\n", b"\r\r")


class StreamIdle(UpstreamError):
    def __init__(self, idle_s: float) -> None:
        super().__init__(
            504, f"upstream sent no event for {idle_s:g} s (the model's stream_timeout)", code="upstream_timeout"
        )


class StreamTooLong(UpstreamError):
    def __init__(self, max_s: float) -> None:
        super().__init__(
            504,
            f"the stream lasted gateway.stream_max_duration_s ({max_s:g} s) and was ended",
            code="stream_max_duration",
        )


async def guarded(chunks: AsyncIterator[bytes], *, idle_s: float, max_s: float) -> AsyncIterator[bytes]:
    """`chunks`, as they come, until no whole event arrived for `idle_s` or `max_s` has passed in all."""
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + max_s
    idle_until = loop.time() + idle_s
    tail = b""
    iterator = aiter(chunks)
    try:
        while True:
            now = loop.time()
            if now >= ends_at:
                raise StreamTooLong(max_s)
            try:
                async with asyncio.timeout_at(min(idle_until, ends_at)):
                    chunk = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if loop.time() >= ends_at:
                    raise StreamTooLong(max_s) from None
                raise StreamIdle(idle_s) from None
            if _completes_event(tail, chunk):
                idle_until = loop.time() + idle_s
            tail = (tail + chunk)[-3:]
            yield chunk
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


def _completes_event(tail: bytes, chunk: bytes) -> bool:
    """Whether `chunk` ends an SSE event (an end that may begin in `tail`, the previous chunks' last bytes)."""
    seen = tail + chunk
    return any(seen.find(end, max(0, len(tail) - len(end) + 1)) != -1 for end in _EVENT_ENDS)


def error_event(exc: GatewayError) -> bytes:
    """The SSE event a client gets when its stream is ended by the gateway: OpenAI's error shape, which the
    openai SDKs raise as an `APIError`."""
    return b"data: " + exc.body() + b"\n\n"


def responses_error_event(exc: GatewayError) -> bytes:
    """The same for a Responses API stream: its `error` event."""
    body = {"type": "error", "code": exc.code, "message": exc.message, "param": exc.param}
    return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"
