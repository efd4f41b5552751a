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
    """`chunks`, as they come, until no whole event arrived for `idle_s` or `max_s` has passed in all.

    Cheap per chunk (a timeout context per chunk cost ~10 µs, more than relaying it): one timer watches the
    stream and fires at most once per `idle_s`; it cancels the read only while the relay waits on the upstream.
    Time the relay spends handing a chunk to a slow client is not counted as the upstream's idleness."""
    watch = _Watch(idle_s, max_s)
    iterator = aiter(chunks)
    tail = b""
    try:
        while True:
            watch.resume()
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                fired = watch.fired()
                if fired is None:
                    raise  # the client left, or the server is stopping: not a timeout
                raise fired from None
            finally:
                watch.waiting = None
            if b"\n\n" in chunk or b"\r\n\r\n" in chunk or _completes_event(tail, chunk):
                watch.event()
            tail = (tail + chunk)[-3:] if len(chunk) < 3 else chunk[-3:]
            watch.yielded()
            yield chunk
    finally:
        watch.stop()
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


class _Watch:
    """The one timer of a guarded stream, and what it fired for."""

    def __init__(self, idle_s: float, max_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        now = self._loop.time()
        self._idle_s = idle_s
        self._max_s = max_s
        self._ends_at = now + max_s
        self._last_event = now
        self._yielded_at: float | None = None
        self._fired: UpstreamError | None = None
        self.waiting: asyncio.Task[object] | None = None  # the task reading the upstream, while it waits
        self._timer = self._loop.call_at(min(now + idle_s, self._ends_at), self._check)

    def resume(self) -> None:
        """Before each read: the time the chunk took to reach the client does not count as idle."""
        now = self._loop.time()
        if self._yielded_at is not None:
            self._last_event += now - self._yielded_at
            self._yielded_at = None
        if now >= self._ends_at:
            raise StreamTooLong(self._max_s)
        self.waiting = asyncio.current_task()

    def event(self) -> None:
        self._last_event = self._loop.time()

    def yielded(self) -> None:
        self._yielded_at = self._loop.time()

    def fired(self) -> UpstreamError | None:
        """The timeout this watch cancelled the read for, or None when the cancellation came from elsewhere
        (also when both did: the other cancellation wins)."""
        task = asyncio.current_task()
        if self._fired is not None and task is not None and task.uncancel() == 0:
            return self._fired
        return None

    def _check(self) -> None:
        now = self._loop.time()
        due = min(self._last_event + self._idle_s, self._ends_at)
        if now < due or self.waiting is None:
            # Not yet, or the relay is handing a chunk to the client (checked again when it reads next).
            self._timer = self._loop.call_at(max(due, now + 0.05), self._check)
            return
        self._fired = StreamTooLong(self._max_s) if now >= self._ends_at else StreamIdle(self._idle_s)
        self.waiting.cancel()

    def stop(self) -> None:
        self._timer.cancel()


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
