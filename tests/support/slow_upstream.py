"""A misbehaving OpenAI-compatible upstream on loopback, for deadline tests: it answers slowly on purpose.

Modes, by the request's model name (the gateway forwards the configured upstream model):
- `drip`: a JSON answer whose body comes one byte every `DRIP_S` (a read timeout never fires);
- `drip-stream`: an SSE answer whose first event comes one byte every `DRIP_S` (never a whole event);
- `endless-stream`: an SSE answer with a whole event every `DRIP_S`, for as long as the client reads
  (at most `MAX_EVENTS`: every loop is bounded);
- `never-read`: never reads the request (a large upload stalls in the socket buffers), never answers.
Every connection is closed when the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import orjson

DRIP_S = 0.2
MAX_EVENTS = 3000
REPLY = orjson.dumps(
    {
        "id": "chatcmpl-slow",
        "object": "chat.completion",
        "created": 0,
        "model": "slow",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x " * 200}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 200, "total_tokens": 201},
    }
)
EVENT = b"data: " + orjson.dumps(
    {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "slow",
     "choices": [{"index": 0, "delta": {"content": "x "}}]}
) + b"\n\n"  # fmt: skip


class SlowUpstream:
    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def __aenter__(self) -> SlowUpstream:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a never-read upload stalls sooner
        sock.bind(("127.0.0.1", 0))
        self._server = await asyncio.start_server(self._handle, sock=sock, limit=4096)
        self.port = sock.getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
            0,
        )
        if length > 65536:  # `never-read`: the upload is big; leave it unread and hold the connection
            await asyncio.sleep(3600)
        body = orjson.loads(await reader.readexactly(length))
        mode = str(body.get("model"))
        if mode == "never-read":
            await asyncio.sleep(3600)
        if mode == "drip":
            writer.write(_head("application/json", len(REPLY)))
            await _drip(writer, REPLY)
        elif mode == "drip-stream":
            writer.write(_head("text/event-stream", None))
            await _drip(writer, EVENT)
        elif mode == "endless-stream":
            writer.write(_head("text/event-stream", None))
            for _ in range(MAX_EVENTS):
                writer.write(EVENT)
                await writer.drain()
                await asyncio.sleep(DRIP_S)


def _head(content_type: str, length: int | None) -> bytes:
    size = f"content-length: {length}\r\n" if length is not None else ""
    return f"HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\n{size}connection: close\r\n\r\n".encode()


async def _drip(writer: asyncio.StreamWriter, data: bytes) -> None:
    for i in range(len(data)):
        writer.write(data[i : i + 1])
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        await asyncio.sleep(DRIP_S)


@contextlib.contextmanager
def threaded() -> Iterator[SlowUpstream]:
    """The upstream on a loop of its own thread, for a whole test module (and sync tests)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="slow-upstream", daemon=True)
    thread.start()
    upstream = SlowUpstream()
    asyncio.run_coroutine_threadsafe(upstream.__aenter__(), loop).result(timeout=10)
    try:
        yield upstream
    finally:
        asyncio.run_coroutine_threadsafe(upstream.__aexit__(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
