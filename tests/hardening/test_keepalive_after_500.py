"""Issue 10 item 6: after a 500, the next request on the same keep-alive connection is still answered (uvicorn
closed the connection silently once Starlette re-raised the error it had answered)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tests.support.inprocess import served_over_tcp


@contextlib.asynccontextmanager
async def served(tmp_path: Path) -> AsyncIterator[int]:
    async with served_over_tcp(tmp_path) as (port, gateway):

        async def broken_ping() -> bool:
            raise RuntimeError("a bug")

        object.__setattr__(gateway.store, "ping", broken_ping)  # a /readyz that 500s
        yield port


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> tuple[int, bytes]:
    writer.write(f"GET {path} HTTP/1.1\r\nhost: gateway\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    return status, await asyncio.wait_for(reader.readexactly(length), 10)


async def test_the_connection_survives_a_500(tmp_path: Path) -> None:
    async with served(tmp_path) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            status, body = await exchange(reader, writer, "/readyz")
            assert status == 500 and b"internal_error" in body
            status, body = await exchange(reader, writer, "/healthz")  # the same connection
            assert status == 200 and b'"ok"' in body
        finally:
            writer.close()
