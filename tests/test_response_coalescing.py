"""A response's head leaves with its body in one write (gateway.commands.coalescing), and a stream's head still
leaves at once: uvicorn's own protocol (the gateway's subclass) fed raw request bytes, over a transport that
records each write."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.commands.connections import GuardedHttpToolsProtocol

GET = b"GET / HTTP/1.1\r\nhost: gateway\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    """Every write the server makes, as one bytes each (`writelines` is one write: one writev)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.writes.append(b"".join(list_of_data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _serve(
    app: Any,
    request: bytes,
    until: Any,
    protocol_class: type[HttpToolsProtocol] = GuardedHttpToolsProtocol,
    turns: int = 200,
) -> RecordingTransport:
    config = Config(app=app, lifespan="off", access_log=False, log_config=None)
    state = ServerState()
    state.default_headers = [(b"server", b"carbon-gateway-test")]
    protocol = protocol_class(config=config, server_state=state, app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(turns):  # bounded: a few loop turns are enough
        if until(transport):
            break
        await asyncio.sleep(0.001)
    return transport


def _unary(body: bytes) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.mark.asyncio
async def test_a_unary_answer_is_one_write() -> None:
    transport = await _serve(_unary(b'{"ok": true}'), GET, lambda t: t.writes)
    assert len(transport.writes) == 1
    head, body = transport.writes[0].split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 12" in head
    assert body == b'{"ok": true}'
    assert not transport.closed


@pytest.mark.asyncio
async def test_connection_close_and_head_requests() -> None:
    closing = GET.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n")
    transport = await _serve(_unary(b"{}"), closing, lambda t: t.closed)
    assert len(transport.writes) == 1 and transport.writes[0].endswith(b"\r\n\r\n{}")
    assert b"connection: close" in transport.writes[0]
    assert transport.closed

    head_only = await _serve(_unary(b"{}"), GET.replace(b"GET", b"HEAD"), lambda t: t.writes)
    assert len(head_only.writes) == 1 and head_only.writes[0].endswith(b"\r\n\r\n")


@pytest.mark.asyncio
async def test_a_streams_head_leaves_before_its_first_event() -> None:
    first_event = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await first_event.wait()  # the upstream's first event is not here yet
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    transport = await _serve(app, GET, lambda t: t.writes)
    assert len(transport.writes) == 1, transport.writes  # the head alone, while the stream waits
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and transport.writes[0].endswith(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in transport.writes[0]
    first_event.set()
    for _ in range(200):
        if len(transport.writes) == 3:
            break
        await asyncio.sleep(0.001)
    assert transport.writes[1:] == [b"9\r\ndata: 1\n\n\r\n", b"0\r\n\r\n"]


@pytest.mark.asyncio
async def test_a_bad_header_is_still_refused_and_nothing_is_written() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-bad", b"a\r\nb")]})

    transport = await _serve(app, GET, lambda t: t.closed)
    # uvicorn's own check ran on the head: the response had started, so it closes the connection having
    # written nothing (as without coalescing), and nothing held is written later.
    await asyncio.sleep(0.01)
    assert transport.closed and transport.writes == []


def _answering(status: int, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for i, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": i < len(chunks) - 1})

    return app


HTTP_10 = b"GET / HTTP/1.0\r\nhost: gateway\r\n\r\n"
CASES = [
    ("unary", GET, 200, [(b"Content-Type", b"application/json"), (b"content-length", b"2")], [b"{}"]),
    ("chunked", GET, 200, [(b"content-type", b"text/event-stream")], [b"data: 1\n\n", b"data: 2\n\n", b""]),
    ("head", GET.replace(b"GET", b"HEAD"), 200, [(b"content-length", b"2")], [b""]),
    ("no content", GET, 204, [], [b""]),
    ("not modified", GET, 304, [(b"etag", b'"x"')], [b""]),
    ("app closes", GET, 200, [(b"Connection", b"keep-alive, Close"), (b"content-length", b"1")], [b"x"]),
    ("http/1.0", HTTP_10, 200, [(b"content-length", b"1")], [b"y"]),
    ("explicit chunked", GET, 200, [(b"transfer-encoding", b"Chunked")], [b"abc", b""]),
    ("tab in a value", GET, 404, [(b"x-note", b"a\tb"), (b"content-length", b"0")], [b""]),
    ("two lengths", GET, 200, [(b"content-length", b"1"), (b"Content-Length", b"2")], [b"z"]),
    ("chunked, then a length", GET, 200, [(b"Transfer-Encoding", b"chunked"), (b"content-length", b"3")], [b"abc", b""]),
    (
        "a gateway's answer",
        GET,
        200,
        [*((f"X-Carbon-H{i}".encode(), f"v {i}; (x)".encode()) for i in range(20)), (b"content-length", b"2")],
        [b"{}"],
    ),
    ("bad name", GET, 200, [(b"x bad", b"v")], [b""]),
    ("bad name: a newline", GET, 200, [(b"x-a\nb", b"v"), (b"content-length", b"0")], [b""]),
    ("bad value", GET, 200, [(b"x-bad", b"a\x00b")], [b""]),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
async def test_the_bytes_are_uvicorns(case: Any) -> None:
    """Same request, same app: uvicorn's own protocol and the gateway's write the same bytes, close alike."""
    _, request, status, headers, chunks = case
    answers = []
    for protocol_class in (HttpToolsProtocol, GuardedHttpToolsProtocol):
        transport = await _serve(_answering(status, headers, chunks), request, lambda t: False, protocol_class, 20)
        answers.append((b"".join(transport.writes), transport.closed))
    assert answers[0] == answers[1]
    assert answers[0][0] or case[0].startswith("bad")
