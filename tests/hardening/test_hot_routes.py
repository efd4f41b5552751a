"""Issue 15: the proxied POST routes skip Starlette's layers (gateway/hot_routes.py) and guard their awaits with
coarse watchdog deadlines (gateway/watchdog.py). What the layers did still holds: ids on every answer, a bug is
a logged 500 in OpenAI's shape on a connection that stays up; a deadline is a TimeoutError, a cancellation from
elsewhere stays one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.hot_routes import hot_handler
from gateway.watchdog import RESOLUTION_S, deadline_at, deadline_in
from tests.support.inprocess import served_over_tcp


async def test_a_deadline_raises_timeout_error_soon_after_it_passes() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError), deadline_in(0.1):
        await asyncio.sleep(5)
    assert 0.1 <= loop.time() - started < 0.1 + 4 * RESOLUTION_S
    with deadline_at(loop.time() + 5):  # a block that ends in time is left alone
        await asyncio.sleep(0.01)
    await asyncio.sleep(2 * RESOLUTION_S)  # and nothing fires after it


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def victim() -> None:
        with deadline_in(5):
            await asyncio.sleep(5)

    task = asyncio.create_task(victim())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_nested_deadlines_each_fire_for_their_own_block() -> None:
    outcome = []
    with deadline_in(5):
        try:
            with deadline_in(0.05):
                await asyncio.sleep(1)
        except TimeoutError:
            outcome.append("inner")
        await asyncio.sleep(0.01)  # the outer block is still usable
    assert outcome == ["inner"]
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


def test_only_proxied_posts_take_the_hot_path() -> None:
    assert hot_handler({"method": "POST", "path": "/v1/chat/completions"}) is not None
    assert hot_handler({"method": "POST", "path": "/v1/embeddings", "root_path": ""}) is not None
    assert hot_handler({"method": "GET", "path": "/v1/chat/completions"}) is None  # the 405 stays Starlette's
    assert hot_handler({"method": "POST", "path": "/v1/chat/completions/"}) is None
    assert hot_handler({"method": "POST", "path": "/v1/chat/completions", "root_path": "/gw"}) is None


@contextlib.asynccontextmanager
async def served(tmp_path: Path) -> AsyncIterator[int]:
    async with served_over_tcp(tmp_path) as (port, gateway):

        class Broken:
            anonymous = True

            async def authenticate(self, request: object) -> None:
                raise RuntimeError("a bug")

        object.__setattr__(gateway, "access", Broken())  # every proxied request hits a bug
        yield port


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str, path: str, body: bytes = b""
) -> tuple[int, bytes, bytes]:
    writer.write(
        f"{method} {path} HTTP/1.1\r\nhost: gateway\r\nx-request-id: mine-1\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    return status, head.lower(), await asyncio.wait_for(reader.readexactly(length), 10)


async def test_a_bug_on_the_hot_path_is_a_500_with_ids_and_the_connection_survives(tmp_path: Path) -> None:
    async with served(tmp_path) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            body = b'{"model": "demo", "messages": [{"role": "user", "content": "hi"}]}'
            status, head, answer = await exchange(reader, writer, "POST", "/v1/chat/completions", body)
            assert status == 500 and b'"code":"internal_error"' in answer and b'"type":"api_error"' in answer
            assert b"\r\nx-request-id: req_" in head and b"\r\nx-client-request-id: mine-1" in head
            status, head, answer = await exchange(reader, writer, "GET", "/healthz")  # the same connection
            assert status == 200 and b'"ok"' in answer and b"\r\nx-request-id: req_" in head
        finally:
            writer.close()
