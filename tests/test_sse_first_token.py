"""The SSE relay hands the first generated token to the server on its own, before the events behind it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.sse import StreamState, relay


def event(delta: dict[str, Any] | None = None, **extra: Any) -> bytes:
    chunk: dict[str, Any] = {"object": "chat.completion.chunk", "choices": [], **extra}
    if delta is not None:
        chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}]
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
ROLE = event({"role": "assistant", "content": ""})
REST = [event({"content": " there"}), event(usage=USAGE), b"data: [DONE]\n\n"]


async def one_read(*events: bytes) -> AsyncIterator[bytes]:
    yield b"".join(events)  # the upstream's whole answer in one read


async def relayed(chunks: AsyncIterator[bytes]) -> tuple[list[bytes], list[bool]]:
    """The relay's pieces, and for each whether the loop had turned since the previous one."""
    turned = [False]
    pieces: list[bytes] = []
    turns: list[bool] = []

    def tick() -> None:
        turned[0] = True

    async for piece in relay(
        chunks, StreamState(), client_wants_usage=False, carbon_in_body=True, finalize=lambda state: {"g": 1}
    ):
        pieces.append(piece)
        turns.append(turned[0])
        turned[0] = False
        asyncio.get_running_loop().call_soon(tick)  # runs only if the relay lets the loop turn
    return pieces, turns


async def test_the_first_token_leaves_before_the_events_behind_it() -> None:
    first = event({"content": "Hi"})
    pieces, turns = await relayed(one_read(ROLE, first, *REST))
    assert pieces[0] == ROLE + first  # up to the first token: the role preamble does not count
    assert turns == [False, True]  # the loop turned (the server wrote the token) before the rest was read
    assert pieces[1].startswith(REST[0]) and b": x-carbon " in pieces[1] and pieces[1].endswith(b"[DONE]\n\n")


async def test_a_tool_call_is_a_first_token_too() -> None:
    call = event({"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {"name": "f"}}]})
    pieces, turns = await relayed(one_read(ROLE, call, *REST))
    assert pieces[0] == ROLE + call and turns == [False, True]


async def test_after_the_first_token_a_read_is_one_piece() -> None:
    async def reads() -> AsyncIterator[bytes]:
        yield ROLE + event({"content": "Hi"})  # the first token ends its read: nothing to hold it back
        yield b"".join(REST)

    pieces, _ = await relayed(reads())
    assert len(pieces) == 2 and pieces[1].startswith(REST[0])


async def test_a_stream_with_nothing_generated_is_one_piece() -> None:
    pieces, _ = await relayed(one_read(ROLE, event(usage=USAGE), b"data: [DONE]\n\n"))
    assert len(pieces) == 1 and pieces[0].startswith(ROLE) and pieces[0].endswith(b"[DONE]\n\n")
