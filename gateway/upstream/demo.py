"""The offline `demo` model: answered in-process, so a new user sees real carbon figures
without a key or a network. It behaves like an OpenAI-compatible upstream (JSON, SSE with a
usage chunk when asked, embeddings) and reports token usage the way upstreams do: its own
count, here one token per 4 characters (rounded up), OpenAI's rule of thumb.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from gateway.endpoints import Endpoint
from gateway.errors import error_body
from gateway.multipart import Form, Part
from gateway.text import input_text, prompt_pieces
from gateway.upstream.base import UpstreamResponse, from_bytes

_REPLY = (
    "Hello from carbon-gateway's offline demo model. This answer was generated locally, "
    "so no upstream was called, yet the response carries a labelled carbon estimate computed "
    "from its token usage."
)
_EMBEDDING_DIM = 16
ENCODINGS = ("float", "base64")


def approx_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _reply_words(max_tokens: Any) -> list[str]:
    words = _REPLY.split(" ")
    if isinstance(max_tokens, int) and max_tokens > 0:
        # Keep the reply within max_tokens (one word ~ one or two tokens here).
        words = words[: max(1, max_tokens // 2)]
    return words


DEMO_TRANSCRIPT = (
    "The offline demo model does not recognise speech: this placeholder stands for the transcript."
)


class DemoUpstream:
    """The offline `demo` model, answered in-process."""

    def __init__(self, upstream_model: str) -> None:
        self._model = upstream_model

    async def send(self, endpoint: Endpoint, payload: dict[str, Any], *, stream: bool) -> UpstreamResponse:
        return respond(endpoint, payload, self._model)

    async def send_form(self, endpoint: Endpoint, parts: Sequence[Part]) -> UpstreamResponse:
        """A transcription with a placeholder text, as a plain upstream answers it (no duration: the gateway
        meters the file itself)."""
        form = Form(tuple(parts))
        if form.field("response_format") in ("text", "srt", "vtt"):
            return from_bytes(200, DEMO_TRANSCRIPT.encode(), "text/plain; charset=utf-8")
        return from_bytes(200, orjson.dumps({"text": DEMO_TRANSCRIPT}))


def respond(endpoint: Endpoint, body: dict[str, Any], upstream_model: str) -> UpstreamResponse:
    if endpoint is Endpoint.EMBEDDINGS:
        encoding = body.get("encoding_format", "float")
        if encoding not in ENCODINGS:
            message = f"'encoding_format' must be one of {list(ENCODINGS)}, got {encoding!r}."
            return from_bytes(
                400, error_body(message, "invalid_request_error", "encoding_format", "invalid_value")
            )
        return from_bytes(
            200, orjson.dumps(_embeddings(body, upstream_model, base64_encoded=encoding == "base64"))
        )
    if endpoint is Endpoint.RESPONSES:
        return _response(body, upstream_model)
    texts, ids = prompt_pieces(endpoint, body)
    prompt_text = "\n".join(texts)
    words = _reply_words(body.get("max_completion_tokens") or body.get("max_tokens"))
    text = " ".join(words)
    usage = {"prompt_tokens": approx_tokens(prompt_text) + ids, "completion_tokens": approx_tokens(text)}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    ident = f"demo-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    if body.get("stream"):
        return _stream(endpoint, body, upstream_model, words, usage, ident, created)
    if endpoint is Endpoint.COMPLETIONS:
        choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
        obj = "text_completion"
    else:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        obj = "chat.completion"
    payload = {
        "id": ident,
        "object": obj,
        "created": created,
        "model": upstream_model,
        "choices": [choice],
        "usage": usage,
    }
    return from_bytes(200, orjson.dumps(payload))


def _stream(
    endpoint: Endpoint,
    body: dict[str, Any],
    model: str,
    words: list[str],
    usage: dict[str, int],
    ident: str,
    created: int,
) -> UpstreamResponse:
    chat = endpoint is not Endpoint.COMPLETIONS
    obj = "chat.completion.chunk" if chat else "text_completion"
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        payload = {
            "id": ident,
            "object": obj,
            "created": created,
            "model": model,
            "choices": choices,
            **extra,
        }
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    async def chunks() -> AsyncIterator[bytes]:
        if chat:
            yield event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            choice = {"index": 0, "delta": {"content": piece}} if chat else {"index": 0, "text": piece}
            yield event([{**choice, "finish_reason": None}])
        last = {"index": 0, "delta": {}} if chat else {"index": 0, "text": ""}
        yield event([{**last, "finish_reason": "stop"}])
        if include_usage:
            yield event([], usage=usage)
        yield b"data: [DONE]\n\n"

    return UpstreamResponse(200, {"content-type": "text/event-stream"}, chunks=chunks)


def encode_base64(vector: list[float]) -> str:
    """OpenAI's `encoding_format: "base64"`: the vector as float32 little-endian bytes, base64-encoded (what the
    openai SDKs decode, e.g. Node's `Float32Array` over the decoded bytes)."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def _embeddings(body: dict[str, Any], model: str, *, base64_encoded: bool) -> dict[str, Any]:
    inputs = body.get("input")
    items = (
        [inputs]
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int))
        else inputs
    )
    data = []
    tokens = 0
    for index, item in enumerate(items or []):
        text = item if isinstance(item, str) else " ".join(str(t) for t in item)
        tokens += len(item) if isinstance(item, list) else approx_tokens(text)
        digest = hashlib.sha256(text.encode()).digest()
        vector = [(b - 128) / 128 for b in digest[:_EMBEDDING_DIM]]
        embedding: list[float] | str = encode_base64(vector) if base64_encoded else vector
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _response(body: dict[str, Any], model: str) -> UpstreamResponse:
    """The Responses API's shape: one message of `output_text`; streamed as named events ending with
    `response.completed`, which carries the usage."""
    words = _reply_words(body.get("max_output_tokens"))
    text = " ".join(words)
    prompt = approx_tokens(input_text(body.get("input")))
    usage = {
        "input_tokens": prompt,
        "output_tokens": approx_tokens(text),
        "total_tokens": prompt + approx_tokens(text),
    }
    ident = uuid.uuid4().hex[:24]
    message = {
        "type": "message",
        "id": f"msg_demo{ident}",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }
    response: dict[str, Any] = {
        "id": f"resp_demo{ident}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": [message],
        "usage": usage,
    }
    if not body.get("stream"):
        return from_bytes(200, orjson.dumps(response))

    def event(kind: str, **fields: Any) -> bytes:
        return f"event: {kind}\n".encode() + b"data: " + orjson.dumps({"type": kind, **fields}) + b"\n\n"

    async def chunks() -> AsyncIterator[bytes]:
        empty_part = {"type": "output_text", "text": "", "annotations": []}
        yield event(
            "response.created", response={**response, "status": "in_progress", "output": [], "usage": None}
        )
        yield event(
            "response.output_item.added",
            output_index=0,
            item={**message, "status": "in_progress", "content": []},
        )
        yield event(
            "response.content_part.added",
            item_id=message["id"],
            output_index=0,
            content_index=0,
            part=empty_part,
        )
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            yield event(
                "response.output_text.delta",
                item_id=message["id"],
                output_index=0,
                content_index=0,
                delta=piece,
            )
        where = {"item_id": message["id"], "output_index": 0, "content_index": 0}
        yield event("response.output_text.done", **where, text=text)
        yield event("response.content_part.done", **where, part={**empty_part, "text": text})
        yield event("response.output_item.done", output_index=0, item=message)
        yield event("response.completed", response=response)

    return UpstreamResponse(200, {"content-type": "text/event-stream"}, chunks=chunks)
