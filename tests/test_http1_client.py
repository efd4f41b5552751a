"""The lean HTTP/1.1 client (gateway/upstream/http1.py) against scripted servers on loopback: what it writes, the
ways an answer can be delimited, connection reuse, failures on the wire, timeouts, back-pressure and TLS."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from gateway.upstream import http1
from gateway.upstream.http1 import ConnectError, Disconnected, Http1Client, ProtocolError, ReadTimeout
from tests.support.ports import free_port

TLS = Path(__file__).parent / "fakes" / "tls"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
JSON = {"content-type": "application/json"}


class Server:
    """Counts connections and keeps the request heads it read."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[bytes] = []
        self.url = ""


async def read_request(reader: asyncio.StreamReader, server: Server) -> bytes | None:
    """One request (head and content-length body), or None when the client closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length)
    server.requests.append(head + body)
    return body


@asynccontextmanager
async def scripted(
    answer: Callable[[Server, int], Awaitable[None] | None] | None = None,
    *,
    respond: Callable[[asyncio.StreamWriter, bytes, Server], Awaitable[bool]],
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[Server]:
    """A server whose `respond(writer, body, server)` answers each request; False closes the connection."""
    server = Server()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        try:
            while True:
                body = await read_request(reader, server)
                if body is None or not await respond(writer, body, server):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    port = free_port()
    listener = await asyncio.start_server(handle, "127.0.0.1", port, ssl=tls)
    scheme = "https" if tls else "http"
    host = "localhost" if tls else "127.0.0.1"
    server.url = f"{scheme}://{host}:{port}/v1/chat/completions?x=1"
    try:
        yield server
    finally:
        listener.close()


@asynccontextmanager
async def pooled(**options: float) -> AsyncIterator[Http1Client]:
    client = Http1Client(**options)
    try:
        yield client
    finally:
        await client.close()


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (
        len(body),
        extra,
        body,
    )


async def echo_ok(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
    writer.write(ok(body))
    await writer.drain()
    return True


async def post(client: Http1Client, url: str, body: bytes = b"{}", **kw: float) -> tuple[int, bytes]:
    response = await client.post(
        url, body, JSON, connect_timeout_s=kw.get("connect", 2), read_timeout_s=kw.get("read", 5)
    )
    return response.status, await response.read()


async def test_request_bytes_and_keep_alive_reuse() -> None:
    async with scripted(respond=echo_ok) as server, pooled() as client:
        for i in range(3):
            assert await post(client, server.url, b'{"n":%d}' % i) == (200, b'{"n":%d}' % i)
        assert server.connections == 1
        assert client.idle_count(server.url) == 1
        head = server.requests[0].split(b"\r\n")
        assert head[0] == b"POST /v1/chat/completions?x=1 HTTP/1.1"
        port = server.url.split(":")[2].split("/")[0]
        assert f"host: 127.0.0.1:{port}".encode() in head
        assert b"content-type: application/json" in head and b"content-length: 7" in head


async def test_concurrent_requests_open_one_connection_each_then_reuse() -> None:
    async def slow_ok(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
        await asyncio.sleep(0.05)
        return await echo_ok(writer, body, server)

    async with scripted(respond=slow_ok) as server, pooled() as client:
        answers = await asyncio.gather(*[post(client, server.url, b"%d" % i) for i in range(8)])
        assert answers == [(200, b"%d" % i) for i in range(8)]
        assert server.connections == 8 and client.idle_count(server.url) == 8
        await asyncio.gather(*[post(client, server.url) for _ in range(8)])
        assert server.connections == 8


async def test_chunked_answer_streamed_in_pieces() -> None:
    pieces = [b"data: one\n\n", b"data: two\n\n", b"data: [DONE]\n\n"]

    async def chunked(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        for piece in pieces:
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.02)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async with scripted(respond=chunked) as server, pooled() as client:
        response = await client.post(
            server.url, b"{}", JSON, connect_timeout_s=2, read_timeout_s=5, stream=True
        )
        assert response.headers.get("Content-Type") == "text/event-stream"
        got = [chunk async for chunk in response.chunks()]
        assert got == pieces  # one piece per event: nothing held back
        assert client.idle_count(server.url) == 1  # a stream read to its end gives its connection back
        assert await post(client, server.url) == (200, b"data: one\n\ndata: two\n\ndata: [DONE]\n\n")
        assert server.connections == 1


async def test_answer_delimited_by_the_end_of_the_connection() -> None:
    async def until_close(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n")
        writer.write(b'{"part": 1,')
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(b' "part2": 2}')
        await writer.drain()
        return False

    async with scripted(respond=until_close) as server, pooled() as client:
        assert await post(client, server.url) == (200, b'{"part": 1, "part2": 2}')
        assert client.idle_count(server.url) == 0
        assert await post(client, server.url) == (200, b'{"part": 1, "part2": 2}')
        assert server.connections == 2


async def test_connection_close_and_http_1_0_answers_are_not_reused() -> None:
    async def closing(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
        writer.write(
            ok(extra=b"connection: close\r\n") if len(server.requests) == 1 else ok().replace(b"1.1", b"1.0")
        )
        await writer.drain()
        return len(server.requests) > 1  # the 1.0 answer's connection stays open on the server's side

    async with scripted(respond=closing) as server, pooled() as client:
        assert (await post(client, server.url))[0] == 200
        assert (await post(client, server.url))[0] == 200
        assert (await post(client, server.url))[0] == 200
        assert server.connections == 3


async def test_idle_connection_the_server_closed_is_not_reused() -> None:
    async def once(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
        writer.write(ok())
        await writer.drain()
        return False  # keep-alive announced, then closed (a server's idle timeout)

    async with scripted(respond=once) as server, pooled() as client:
        assert (await post(client, server.url))[0] == 200
        await asyncio.sleep(0.05)  # the close reaches the client
        assert client.idle_count(server.url) == 0
        assert (await post(client, server.url))[0] == 200
        assert server.connections == 2


async def test_idle_connections_past_keepalive_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    async with scripted(respond=echo_ok) as server, pooled(keepalive_s=0.05) as client:
        await post(client, server.url)
        await asyncio.sleep(0.1)
        await post(client, server.url)
        assert server.connections == 2


async def half_then_close(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
    writer.write(ok(b'{"ok": true, "long": "xxxxxxxxxxxx"}')[:-10])
    await writer.drain()
    return False


async def close_at_once(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
    return False


async def not_http(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
    writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(1)
    return False


@pytest.mark.parametrize(
    ("respond", "error"),
    [(half_then_close, Disconnected), (close_at_once, Disconnected), (not_http, ProtocolError)],
    ids=["closed-mid-answer", "closed-before-answering", "not-http"],
)
async def test_broken_answers_are_transport_errors(respond: Callable, error: type[Exception]) -> None:
    async with scripted(respond=respond) as server, pooled() as client:
        with pytest.raises(error):
            await post(client, server.url)


async def test_read_timeout_counts_silence_while_waiting() -> None:
    async def stall(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
        writer.write(ok()[:40])  # the head begins, then nothing
        await writer.drain()
        await asyncio.sleep(2)
        return False

    async with scripted(respond=stall) as server, pooled() as client:
        started = time.monotonic()
        with pytest.raises(ReadTimeout):
            await post(client, server.url, read=0.3)
        assert 0.25 < time.monotonic() - started < 1.5


async def test_a_slow_trickle_within_the_read_timeout_is_not_a_timeout() -> None:
    async def trickle(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
        answer = ok(b'{"a": "' + b"x" * 8 + b'"}')
        for i in range(0, len(answer), 20):
            writer.write(answer[i : i + 20])
            await writer.drain()
            await asyncio.sleep(0.1)
        return True

    async with scripted(respond=trickle) as server, pooled() as client:
        status, body = await post(client, server.url, read=0.3)  # ~0.6 s in all, never 0.3 s silent
        assert status == 200 and body == b'{"a": "xxxxxxxx"}'


async def test_connect_refused_is_a_connect_error() -> None:
    async with pooled() as client:
        with pytest.raises(ConnectError, match="ConnectionRefusedError"):
            await post(client, f"http://127.0.0.1:{free_port()}/v1/x")


async def test_informational_answers_are_skipped() -> None:
    async def early_hints(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
        writer.write(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n" + ok(b"[1]")
        )
        await writer.drain()
        return True

    async with scripted(respond=early_hints) as server, pooled() as client:
        response = await client.post(server.url, b"{}", JSON, connect_timeout_s=2, read_timeout_s=5)
        assert response.status == 200 and "link" not in response.headers
        assert await response.read() == b"[1]"


async def test_headers_case_insensitive_and_repeated_ones_joined() -> None:
    async def cookies(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
        writer.write(ok(extra=b"X-Thing: a\r\nx-thing: b\r\nRetry-After: 3\r\n"))
        await writer.drain()
        return True

    async with scripted(respond=cookies) as server, pooled() as client:
        response = await client.post(server.url, b"{}", JSON, connect_timeout_s=2, read_timeout_s=5)
        await response.read()
        assert response.headers["X-THING"] == "a, b"
        assert response.headers.get("retry-after") == "3" and "Retry-After" in response.headers
        assert response.headers.get("missing") is None


async def test_a_slow_reader_pauses_the_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "PAUSE_AT", 64 * 1024)
    piece = b"x" * 16 * 1024
    sent = 0

    async def firehose(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
        nonlocal sent
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        for _ in range(400):  # 6.4 MB
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            sent += len(piece)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    async with scripted(respond=firehose) as server, pooled() as client:
        response = await client.post(
            server.url, b"{}", JSON, connect_timeout_s=2, read_timeout_s=5, stream=True
        )
        chunks = response.chunks()
        first = await anext(chunks)
        await asyncio.sleep(0.3)  # the client's reader is slow: the upstream is held back by TCP
        assert sent < 4 * 1024 * 1024, sent  # socket buffers, not the gateway's memory, hold the rest
        received = len(first) + sum([len(chunk) async for chunk in chunks])
        assert received == 400 * len(piece)


async def test_abandoned_stream_closes_its_connection() -> None:
    async def endless(writer: asyncio.StreamWriter, body: bytes, server: Server) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        await asyncio.sleep(2)
        return True

    async with scripted(respond=endless) as server, pooled() as client:
        response = await client.post(
            server.url, b"{}", JSON, connect_timeout_s=2, read_timeout_s=5, stream=True
        )
        chunks = response.chunks()
        assert await anext(chunks) == b"hello"
        await chunks.aclose()
        assert client.idle_count(server.url) == 0
        response.close()


async def test_https_with_the_default_trust_store(monkeypatch: pytest.MonkeyPatch) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / "localhost.pem", TLS / "localhost.key")
    async with scripted(respond=echo_ok, tls=context) as server:
        async with pooled() as untrusted:
            with pytest.raises(ConnectError, match="SSLCertVerificationError"):
                await post(untrusted, server.url)
        monkeypatch.setenv("SSL_CERT_FILE", str(TLS / "localhost.pem"))  # as an operator trusts a private CA
        async with pooled() as client:
            assert await post(client, server.url, b'{"tls":1}') == (200, b'{"tls":1}')
            assert await post(client, server.url) == (200, b"{}")
            assert server.connections == 1


async def test_header_values_that_would_split_the_request_are_refused() -> None:
    async with pooled() as client:
        with pytest.raises(ValueError, match="authorization"):
            await client.post(
                "http://127.0.0.1:9/x",
                b"{}",
                {"authorization": "Bearer a\r\nx: y"},
                connect_timeout_s=1,
                read_timeout_s=1,
            )
