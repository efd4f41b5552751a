"""The SSE relay: forward upstream events as they come, take the usage chunk out or carbon in.

The gateway always asks upstream for `stream_options.include_usage`. If the client did not,
the usage chunk is consumed here (the client gets exactly the shape it asked for) and the
carbon figure goes out as one SSE comment, `: x-carbon {json}`, just before `data: [DONE]`
(SDKs ignore comments). If it did, `usage.carbon` is added to that chunk.

Every `data:` event is read: one that is not a JSON object, or whose `choices` are not objects, is upstream
nonsense (`UpstreamBadResponse`); the stream's owner ends the stream with an error event and still meters it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from gateway.errors import UpstreamBadResponse
from gateway.text import completion_text

DONE_PREFIXES = (b"data: [DONE]", b"data:[DONE]")


class StreamState:
    """What the relay learnt about one stream, read by the proxy when it ends."""

    __slots__ = ("carbon", "done", "first_byte_at", "redact", "texts", "usage")

    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        self.redact = redact  # an upstream's error event is relayed without the gateway's secrets
        self.usage: dict[str, Any] | None = None
        self.first_byte_at: float | None = None
        self.done = False
        self.carbon: dict[str, Any] | None = None
        self.texts: list[str] = []  # the generated text, to count tokens if no usage ever comes

    def completion_text(self) -> str:
        """The text the stream generated (read only when the upstream sent no usage)."""
        return "".join(self.texts)


async def relay(
    chunks: AsyncIterator[bytes],
    state: StreamState,
    *,
    client_wants_usage: bool,
    carbon_in_body: bool,
    finalize: Callable[[StreamState], dict[str, Any]],
) -> AsyncIterator[bytes]:
    """Yield client-bound bytes. `finalize` computes the carbon payload from `state.usage`."""
    buffer = b""
    async for chunk in chunks:
        if state.first_byte_at is None:
            state.first_byte_at = time.perf_counter()
        buffer = buffer + chunk if buffer else chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        if b"\n\n" not in buffer:
            continue
        *events, buffer = buffer.split(b"\n\n")
        out = [
            piece
            for event in events
            if (piece := _process(event, state, client_wants_usage, carbon_in_body, finalize))
        ]
        if out:
            yield b"".join(out)
    if buffer.strip():
        piece = _process(buffer.strip(b"\n"), state, client_wants_usage, carbon_in_body, finalize)
        if piece:
            yield piece


def _process(
    event: bytes,
    state: StreamState,
    client_wants_usage: bool,
    carbon_in_body: bool,
    finalize: Callable[[StreamState], dict[str, Any]],
) -> bytes | None:
    if not event:
        return None
    if event.startswith(DONE_PREFIXES):
        state.done = True
        if client_wants_usage and state.carbon is not None:
            return event + b"\n\n"
        carbon = finalize(state)
        if client_wants_usage:
            # The upstream ignored include_usage: send the usage chunk it owed, with our own count.
            usage = {**(state.usage or {}), "carbon": carbon} if carbon_in_body else state.usage
            return (
                b"data: "
                + orjson.dumps({"object": "chat.completion.chunk", "choices": [], "usage": usage})
                + b"\n\n"
                + event
                + b"\n\n"
            )
        return b": x-carbon " + orjson.dumps(carbon) + b"\n\n" + event + b"\n\n"
    if not event.startswith(b"data:"):
        return event + b"\n\n"  # comments, `event:` or `id:` lines: relayed as they are
    obj = _event_object(event)
    if "error" in obj and state.redact is not None:
        text = event.decode("utf-8", "replace")
        return state.redact(text).encode() + b"\n\n"
    if "usage" in obj:
        usage = obj.get("usage")
        if usage is None and not client_wants_usage:
            # OpenAI adds `"usage": null` to every chunk once include_usage is on; the client did not ask.
            del obj["usage"]
            _keep_text(state, obj)
            return b"data: " + orjson.dumps(obj) + b"\n\n"
        if isinstance(usage, dict):
            state.usage = usage
            if client_wants_usage:
                carbon = finalize(state)
                if carbon_in_body:
                    usage["carbon"] = carbon
                return b"data: " + orjson.dumps(obj) + b"\n\n"
            if not obj.get("choices"):
                return None  # the usage-only chunk the client did not ask for
            del obj["usage"]
            return b"data: " + orjson.dumps(obj) + b"\n\n"
    _keep_text(state, obj)
    return event + b"\n\n"


def _event_object(event: bytes) -> dict[str, Any]:
    """A `data:` event's JSON object, its `choices` checked; UpstreamBadResponse for anything else."""
    try:
        obj = orjson.loads(event[5:])
    except orjson.JSONDecodeError:
        raise UpstreamBadResponse("a stream event that is not JSON") from None
    if not isinstance(obj, dict):
        raise UpstreamBadResponse("a stream event that is not a JSON object")
    choices = obj.get("choices")
    if choices is not None and not (
        isinstance(choices, list) and all(sound_choice(choice) for choice in choices)
    ):
        raise UpstreamBadResponse("a stream event whose 'choices' are not an array of objects")
    return obj


def sound_choice(choice: Any) -> bool:
    """A choice is an object whose `message` or `delta`, when there, is an object too."""
    return isinstance(choice, dict) and all(
        isinstance(choice.get(field), dict | None) for field in ("message", "delta")
    )


def _keep_text(state: StreamState, obj: dict[str, Any]) -> None:
    if state.usage is None:
        text = completion_text(obj)
        if text:
            state.texts.append(text)
