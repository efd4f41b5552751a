"""A misbehaving upstream for the fuzz suite: an `Upstream` answered in-process, in one of `FAULTS` modes.

In-process (no sockets) so that thousands of examples run in seconds; the transport faults (`reset`, `stall`
past the read timeout) raise the very errors the passthrough transport raises for them
(`gateway.upstream.passthrough.transport_failure`), so the gateway sees what it sees from a real socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.endpoints import Endpoint
from gateway.errors import UpstreamTimeout, UpstreamUnreachable
from gateway.upstream.base import UpstreamResponse, from_bytes

_TEXT = "Hello from a faulty upstream"
_USAGE = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}


def _answer(endpoint: Endpoint, usage: Any = _USAGE) -> dict[str, Any]:
    if endpoint is Endpoint.EMBEDDINGS:
        return {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}], "usage": usage}
    if endpoint is Endpoint.RESPONSES:
        output = [{"type": "message", "content": [{"type": "output_text", "text": _TEXT}]}]
        return {"object": "response", "output": output, "usage": {"input_tokens": 7, "output_tokens": 5}}
    if endpoint is Endpoint.COMPLETIONS:
        return {"object": "text_completion", "choices": [{"index": 0, "text": _TEXT}], "usage": usage}
    return {"object": "chat.completion", "choices": [{"index": 0, "message": {"content": _TEXT}}], "usage": usage}


def _event(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


_DELTA = {"choices": [{"index": 0, "delta": {"content": "Hello"}}]}
_DONE = b"data: [DONE]\n\n"

# mode -> (non-stream body or None, stream chunks or None); None: see `FaultyUpstream.send`.
BODIES: dict[str, bytes] = {
    "truncated_json": b'{"choices": [{"message": {"content": "Hel',
    "not_json": b"<html>502 Bad Gateway</html>",
    "list": b"[1, 2]",
    "string": b'"abc"',
    "choices_numbers": b'{"choices": [1]}',
    "choices_string": b'{"choices": "abc"}',
    "message_string": b'{"choices": [{"message": "str"}]}',
    "usage_negative": orjson.dumps({"choices": [{"message": {"content": _TEXT}}], "usage": {"prompt_tokens": -3}}),
    "usage_huge": orjson.dumps({"choices": [{"message": {"content": _TEXT}}], "usage": {"prompt_tokens": 2**62}}),
    "usage_float": orjson.dumps(
        {"choices": [{"message": {"content": _TEXT}}], "usage": {"prompt_tokens": 1.5, "completion_tokens": "2"}}
    ),
    "usage_list": orjson.dumps({"choices": [{"message": {"content": _TEXT}}], "usage": [1]}),
}
STREAMS: dict[str, list[bytes]] = {
    "sse_list": [_event(_DELTA), b"data: [1, 2]\n\n", _DONE],
    "sse_choices_numbers": [_event(_DELTA), _event({"choices": [1]}), _DONE],
    "sse_not_json": [_event(_DELTA), b"data: {nope\n\n", _DONE],
    "sse_no_done": [_event(_DELTA)],
    "sse_bad_usage": [_event(_DELTA), _event({"choices": [], "usage": {"prompt_tokens": -1}}), _DONE],
    "sse_huge_usage": [_event(_DELTA), _event({"choices": [], "usage": {"prompt_tokens": 2**62}}), _DONE],
    "sse_garbage": [b"hello\n\n", b"\x00\xff\n\n", _DONE],
    "sse_crlf_split": [b"data: {\"choices\": [{\"delta\": {\"con", b"tent\": \"Hi\"}}]}\r\n\r\n", _DONE],
}
ERRORS: dict[str, tuple[int, bytes]] = {
    "error_400": (400, b'{"error": {"message": "bad", "code": 400}}'),
    "error_401_echo_key": (401, b'{"error": {"message": "Incorrect API key provided: sk-fuzz-upstream-key-0001"}}'),
    "error_429": (429, b'{"error": "slow down"}'),
    "error_500_html": (500, b"<html>oops</html>"),
    "error_503_list": (503, b"[1]"),
    "error_weird_code": (418, b'{"error": {"message": ["m"], "code": {"a": [1]}}}'),
}
TRANSPORT = ("reset", "stall", "drip", "plain_json_stream", "normal")
FAULTS = tuple(sorted([*BODIES, *STREAMS, *ERRORS, *TRANSPORT]))
SECRET = "sk-fuzz-upstream-key-0001"


class FaultyUpstream:
    """Answers every request in the mode `fault` (set before each request)."""

    def __init__(self) -> None:
        self.fault = "normal"

    async def send(self, endpoint: Endpoint, payload: dict[str, Any], *, stream: bool) -> UpstreamResponse:
        fault = self.fault
        if fault in ERRORS:
            status, body = ERRORS[fault]
            return from_bytes(status, body)
        if fault == "stall":
            await asyncio.sleep(0.001)
            raise UpstreamTimeout("after 1 attempt(s)")
        if not stream:
            if fault == "reset":
                raise UpstreamUnreachable("after 1 attempt(s): ServerDisconnectedError")
            return from_bytes(200, BODIES.get(fault) or orjson.dumps(_answer(endpoint)))
        if fault == "plain_json_stream":
            return from_bytes(200, orjson.dumps(_answer(endpoint)))
        chunks = STREAMS.get(fault) or [_event(_DELTA), _event({"choices": [], "usage": _USAGE}), _DONE]

        async def relay() -> AsyncIterator[bytes]:
            for i, chunk in enumerate(chunks):
                if fault == "drip":
                    for byte in range(len(chunk)):
                        yield chunk[byte : byte + 1]
                    continue
                if fault == "reset" and i == 1:
                    raise UpstreamUnreachable("mid-stream: ClientPayloadError")
                yield chunk

        return UpstreamResponse(200, {"content-type": "text/event-stream"}, chunks=relay)
