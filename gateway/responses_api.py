"""OpenAI's Responses API shapes: where the text and the usage are, and the SSE relay that meters a stream.

A response carries `usage: {input_tokens, output_tokens, total_tokens}` and its text in `output[].content[]`
(`type: output_text`). A stream is named events (`event: response.output_text.delta` ...) ending with
`response.completed`, whose `response.usage` is the usage: the relay adds `usage.carbon` there, so every client
that reads the final response object finds its figure.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from gateway.accounting import Usage, ignored_usage, sound_count
from gateway.text import input_text, output_text
from gateway.tokens import count_text
from meters.usage import USAGE_COUNTED_BY_GATEWAY, USAGE_FROM_UPSTREAM

COMPLETED = "response.completed"


def usage_of(payload: dict[str, Any], response: Any, text: Callable[[], str]) -> Usage:
    """The upstream's usage when sound, else the gateway's own count of the input and of `text()`."""
    usage = response.get("usage") if isinstance(response, dict) else None
    if isinstance(usage, dict):
        prompt, completion = usage.get("input_tokens"), usage.get("output_tokens")
        if sound_count(prompt) and sound_count(completion):
            return Usage(prompt, completion, USAGE_FROM_UPSTREAM)
        ignored_usage(prompt, completion)
    return Usage(count_text(input_text(payload.get("input"))), count_text(text()), USAGE_COUNTED_BY_GATEWAY)


class ResponsesRelay:
    """Relays a Responses stream event by event; `carbon_of(usage)` is called once, on `response.completed`
    (or at the end, if the stream never completed), and its figure goes into that event's `response.usage`."""

    def __init__(
        self, payload: dict[str, Any], carbon_of: Callable[[Usage], dict[str, Any]], *, in_body: bool
    ) -> None:
        self._payload = payload
        self._carbon_of = carbon_of
        self._in_body = in_body
        self._deltas: list[str] = []
        self.usage: Usage | None = None
        self.completed = False
        self.first_byte_at: float | None = None

    def answered_with_json(self, body: bytes) -> None:
        """The upstream answered the stream request with a JSON body: meter what it says it generated."""
        try:
            response = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        self.usage = usage_of(self._payload, response, lambda: output_text(response))
        self._carbon_of(self.usage)

    def finish(self) -> Usage:
        if self.usage is None:
            self.usage = usage_of(self._payload, None, lambda: "".join(self._deltas))
            self._carbon_of(self.usage)
        return self.usage

    async def relay(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        buffer = b""
        async for chunk in chunks:
            if self.first_byte_at is None:
                self.first_byte_at = time.perf_counter()
            buffer = (buffer + chunk).replace(b"\r\n", b"\n")
            *events, buffer = buffer.split(b"\n\n")
            out = b"".join(self._event(event) for event in events if event)
            if out:
                yield out
        if buffer.strip():
            yield self._event(buffer.strip(b"\n"))

    def _event(self, event: bytes) -> bytes:
        data_at = event.find(b"data:")
        if data_at < 0:
            return event + b"\n\n"
        if b"output_text.delta" in event or COMPLETED.encode() in event:
            try:
                obj = orjson.loads(event[data_at + 5 :])
            except orjson.JSONDecodeError:
                return event + b"\n\n"
            if isinstance(obj, dict) and obj.get("type") == "response.output_text.delta":
                delta = obj.get("delta")
                if isinstance(delta, str):
                    self._deltas.append(delta)
            elif (
                isinstance(obj, dict)
                and obj.get("type") == COMPLETED
                and isinstance(obj.get("response"), dict)
            ):
                response = obj["response"]
                self.completed = True
                self.usage = usage_of(self._payload, response, lambda: "".join(self._deltas))
                carbon = self._carbon_of(self.usage)
                if self._in_body:
                    holder = response.get("usage")
                    if not isinstance(holder, dict):
                        holder = response["usage"] = {
                            "input_tokens": self.usage.prompt_tokens,
                            "output_tokens": self.usage.completion_tokens,
                            "total_tokens": self.usage.prompt_tokens + self.usage.completion_tokens,
                        }
                    holder["carbon"] = carbon
                    return event[:data_at] + b"data: " + orjson.dumps(obj) + b"\n\n"
        return event + b"\n\n"
