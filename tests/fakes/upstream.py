"""A fake OpenAI-compatible upstream: a real HTTP server on loopback, for tests and benchmarks.

In process (pytest)::

    async with FakeUpstream() as up:
        client = openai.AsyncOpenAI(base_url=up.base_url, api_key="k")   # "http://127.0.0.1:PORT/v1"
        up.behave(fail_status=503, fail_times=2)     # the next two requests fail, then all succeed
        ...
        up.requests[-1].headers["authorization"], up.requests[-1].body["model"]
        up.reset()                                   # forget requests, back to normal behaviour

Sync clients (the sync ``openai`` SDK) would block the loop the fake runs on: use
``tests.fakes.ThreadedFakeUpstream`` (a ``with`` block, same API, own thread and loop) instead.

As a process (benchmarks, gateway tests that steer a separate process)::

    python -m tests.fakes.upstream --port 0      # prints "ready <port>" once listening

Endpoints: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (JSON, or SSE with ``"stream": true``),
``POST /v1/embeddings`` (one vector per input), ``GET /v1/models``, ``POST /v1/audio/transcriptions``
(multipart) and ``POST /v1/responses`` (JSON; see ``tests.fakes.audio``). Replies echo the ``model`` received.
A transcription is recorded with its form as ``body`` (the file as ``{"filename", "content_type", "size"}``).
Usage is deterministic, see ``tests.fakes.replies.fake_usage``: prompt = words of the request's text,
completion = words of the reply (``reply_text``, default ``DEFAULT_REPLY``, 10 words).

Steering, three ways, all taking the ``Behaviour`` fields (``fail_status``, ``fail_times``, ``stall_s``,
``omit_usage``, ``error_body``, ``stream_chunk_delay_s``, ``reply_text``, ``close_mid_stream``):

1. ``up.behave(...)``: persistent until the next ``behave``/``reset``; unspecified fields are normal.
2. Per request, a header ``x-fake-behaviour: {json}`` or, for a gateway that does not forward unknown
   headers, a body field ``"fake_behaviour": {...}`` (the gateway forwards the body with only ``model``
   rewritten; the fake ignores the field otherwise). An override replaces the persistent behaviour for that
   request. ``fail_times`` in an override is counted per distinct override (add ``"key"`` to separate tests),
   so a retrying gateway sees "fail twice, then succeed" across its retries.
3. Over HTTP for a fake in another process: ``POST /_fake/behave`` (JSON behaviour), ``POST /_fake/reset``,
   ``GET /_fake/requests`` (recorded requests as JSON). ``/_fake/*`` requests are not recorded.

Failures answer ``fail_status`` with ``error_body`` or an OpenAI-shaped ``{"error": {...}}``. Invalid JSON
or a missing ``model``/``messages``/``prompt``/``input`` get a 400 naming the ``param``, as OpenAI does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import ssl
import sys
import time
from dataclasses import dataclass
from typing import Any

import orjson

from tests.fakes import audio, replies
from tests.fakes.behaviour import NORMAL, Behaviour, FailureCounter
from tests.fakes.server import LAST_CHUNK, HttpServer, Plan, Request, chunk, full_response, response_head

BEHAVIOUR_HEADER = "x-fake-behaviour"
BEHAVIOUR_BODY_FIELD = "fake_behaviour"
DEFAULT_MODELS = ("bench-model", "fake-model")
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    """Lower-cased header names."""
    body: Any
    """Parsed JSON body, or None when there was none or it was not JSON."""
    raw_body: bytes


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class FakeUpstream:
    """The fake upstream; ``start``/``stop`` or ``async with``. See the module docstring."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        models: tuple[str, ...] = DEFAULT_MODELS,
        record_limit: int | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.scheme = "https" if tls else "http"
        self.models = models
        self.requests: list[RecordedRequest] = []
        self.record_limit = record_limit
        self._behaviour = NORMAL
        self._failures = FailureCounter()
        self._ids = itertools.count(1)
        self._server = HttpServer(self.handle, host, port, tls)

    # lifecycle
    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    async def __aenter__(self) -> FakeUpstream:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/v1"

    # steering
    def behave(
        self,
        *,
        fail_status: int | None = None,
        fail_times: int | None = None,
        stall_s: float = 0.0,
        omit_usage: bool = False,
        error_body: dict[str, Any] | None = None,
        stream_chunk_delay_s: float = 0.0,
        reply_text: str = replies.DEFAULT_REPLY,
        close_mid_stream: bool = False,
    ) -> None:
        """Set the behaviour of every following request (fields not given are normal)."""
        behaviour = Behaviour(
            fail_status=fail_status,
            fail_times=fail_times,
            stall_s=float(stall_s),
            omit_usage=omit_usage,
            error_body=error_body,
            stream_chunk_delay_s=float(stream_chunk_delay_s),
            reply_text=reply_text,
            close_mid_stream=close_mid_stream,
        )
        behaviour.validate()
        self._set_behaviour(behaviour)

    def reset(self) -> None:
        """Forget recorded requests and failure counts; behave normally."""
        self.requests.clear()
        self._set_behaviour(NORMAL)

    def _set_behaviour(self, behaviour: Behaviour) -> None:
        self._behaviour = behaviour
        self._failures.clear()

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    # serving
    def handle(self, request: Request) -> Plan:
        if request.path.startswith("/_fake/"):
            return self._control(request)
        if request.path == "/v1/audio/transcriptions" and request.method == "POST":
            return self._transcription(request)
        body: Any = None
        invalid_json = None
        if request.body:
            try:
                body = orjson.loads(request.body)
            except orjson.JSONDecodeError as error:
                invalid_json = _BadRequest(f"request body is not valid JSON: {error}")
        self._record(request, body)  # every request, so a test sees even what the fake rejected
        if invalid_json is not None:
            return [self._bad_request(request, invalid_json)]
        try:
            behaviour, source = self._behaviour_for(request, body)
        except _BadRequest as error:
            return [self._bad_request(request, error)]
        stall: Plan = [behaviour.stall_s] if behaviour.stall_s > 0 else []
        if self._failures.should_fail(source, behaviour):
            status = behaviour.fail_status or 500
            return [*stall, self._error(status, request, behaviour.error_body or replies.error_body(status))]
        try:
            return stall + self._route(request, body, behaviour)
        except _BadRequest as error:
            return [*stall, self._bad_request(request, error)]

    def _record(self, request: Request, body: Any) -> None:
        self.requests.append(
            RecordedRequest(request.method, request.path, request.headers, body, request.body)
        )
        if self.record_limit is not None and len(self.requests) > 2 * self.record_limit:
            # Trim in batches so a long benchmark stays O(1) amortised per request.
            del self.requests[: -self.record_limit]

    def _behaviour_for(self, request: Request, body: Any) -> tuple[Behaviour, object]:
        raw: Any = None
        if BEHAVIOUR_HEADER in request.headers:
            try:
                raw = orjson.loads(request.headers[BEHAVIOUR_HEADER])
            except orjson.JSONDecodeError:
                raise _BadRequest(f"{BEHAVIOUR_HEADER} is not valid JSON") from None
        elif isinstance(body, dict) and BEHAVIOUR_BODY_FIELD in body:
            raw = body[BEHAVIOUR_BODY_FIELD]
        if raw is None:
            return self._behaviour, self
        try:
            behaviour = Behaviour.from_mapping(raw)
        except (TypeError, ValueError) as error:
            raise _BadRequest(f"invalid fake behaviour: {error}", BEHAVIOUR_BODY_FIELD) from None
        return behaviour, orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)

    def _route(self, request: Request, body: Any, behaviour: Behaviour) -> Plan:
        method, path = request.method, request.path
        if path == "/v1/models":
            if method != "GET":
                return [self._error(405, request, replies.error_body(405, "use GET"))]
            return [
                full_response(200, _JSON, orjson.dumps(replies.models_list(self.models)), request.keep_alive)
            ]
        if path not in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"):
            return [self._error(404, request, replies.error_body(404, f"unknown path {path}"))]
        if method != "POST":
            return [self._error(405, request, replies.error_body(405, "use POST"))]
        if not isinstance(body, dict):
            raise _BadRequest("request body must be a JSON object")
        if not isinstance(body.get("model"), str):
            raise _BadRequest("you must provide a model parameter", "model")
        if path == "/v1/responses":
            reply = audio.response(body, behaviour.reply_text, f"fake-{next(self._ids)}", int(time.time()))
            return self._json_plan(request, reply, behaviour)
        if path == "/v1/embeddings":
            if "input" not in body:
                raise _BadRequest("missing required parameter: input", "input")
            reply = replies.embeddings(body, behaviour.omit_usage)
            return self._json_plan(request, reply, behaviour)
        chat = path == "/v1/chat/completions"
        if chat and not isinstance(body.get("messages"), list):
            raise _BadRequest("missing required parameter: messages", "messages")
        if not chat and "prompt" not in body:
            raise _BadRequest("missing required parameter: prompt", "prompt")
        ident = f"{'chatcmpl' if chat else 'cmpl'}-fake-{next(self._ids)}"
        created = int(time.time())
        if body.get("stream") is True:
            return self._stream_plan(request, body, behaviour, ident, created, chat)
        build = replies.chat_completion if chat else replies.text_completion
        reply = build(body, behaviour.reply_text, ident, created, behaviour.omit_usage)
        return self._json_plan(request, reply, behaviour)

    def _transcription(self, request: Request) -> Plan:
        form = audio.parse_multipart(request.body, request.headers.get("content-type", ""))
        shown = {
            name: {"filename": v["filename"], "content_type": v["content_type"], "size": len(v["data"])}
            if isinstance(v, dict)
            else v
            for name, v in form.items()
        }
        self._record(request, shown)
        stall: Plan = [self._behaviour.stall_s] if self._behaviour.stall_s > 0 else []
        if self._failures.should_fail(self, self._behaviour):
            status = self._behaviour.fail_status or 500
            return [*stall, self._error(status, request, self._behaviour.error_body or replies.error_body(status))]
        status, content_type, payload = audio.transcription(form)
        return [*stall, full_response(status, content_type, payload, request.keep_alive)]

    def _json_plan(self, request: Request, reply: dict[str, Any], behaviour: Behaviour) -> Plan:
        payload = orjson.dumps(reply)
        if behaviour.close_mid_stream:
            head = response_head(200, _JSON, request.keep_alive, len(payload))
            return [head + payload[: len(payload) // 2], None]
        return [full_response(200, _JSON, payload, request.keep_alive)]

    def _stream_plan(
        self,
        request: Request,
        body: dict[str, Any],
        behaviour: Behaviour,
        ident: str,
        created: int,
        chat: bool,
    ) -> Plan:
        delay: Plan = [behaviour.stream_chunk_delay_s] if behaviour.stream_chunk_delay_s > 0 else []
        events = replies.stream_events(body, behaviour.reply_text, ident, created, behaviour.omit_usage, chat)
        frames = [b"data: " + orjson.dumps(event) + b"\n\n" for event in events]
        frames.append(b"data: [DONE]\n\n")
        if behaviour.close_mid_stream:
            # Role chunk and first content chunk (chat), or first text chunk: then the connection drops.
            frames = frames[: 2 if chat else 1]
        plan: Plan = [response_head(200, "text/event-stream", request.keep_alive, None)]
        if not delay:
            plan.append(b"".join(chunk(frame) for frame in frames))
        else:
            for frame in frames:
                plan += [*delay, chunk(frame)]
        plan.append(None if behaviour.close_mid_stream else LAST_CHUNK)
        return plan

    def _bad_request(self, request: Request, error: _BadRequest) -> bytes:
        return self._error(400, request, replies.error_body(400, str(error), error.param))

    def _error(self, status: int, request: Request, body: dict[str, Any]) -> bytes:
        return full_response(status, _JSON, orjson.dumps(body), request.keep_alive)

    def _control(self, request: Request) -> Plan:
        """``/_fake/behave``, ``/_fake/reset``, ``/_fake/requests``: steering a fake in another process."""
        if request.path == "/_fake/reset" and request.method == "POST":
            self.reset()
            return [full_response(200, _JSON, b'{"ok":true}', request.keep_alive)]
        if request.path == "/_fake/behave" and request.method == "POST":
            try:
                behaviour = Behaviour.from_mapping(orjson.loads(request.body or b"{}"))
            except (TypeError, ValueError) as error:  # orjson.JSONDecodeError is a ValueError
                return [self._error(400, request, replies.error_body(400, f"invalid behaviour: {error}"))]
            self._set_behaviour(behaviour)
            return [full_response(200, _JSON, b'{"ok":true}', request.keep_alive)]
        if request.path == "/_fake/requests" and request.method == "GET":
            recorded = [
                {"method": r.method, "path": r.path, "headers": r.headers, "body": r.body}
                for r in self.requests
            ]
            return [full_response(200, _JSON, orjson.dumps(recorded), request.keep_alive)]
        return [self._error(404, request, replies.error_body(404, f"unknown control path {request.path}"))]


def behaviour_header(**fields: Any) -> dict[str, str]:
    """Headers that steer one request, e.g. ``extra_headers=behaviour_header(fail_status=429)``."""
    Behaviour.from_mapping(fields)
    return {BEHAVIOUR_HEADER: orjson.dumps(fields).decode()}


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server-side TLS context (tests/fakes/tls holds a self-signed pair for localhost)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def _serve(host: str, port: int, record_limit: int, tls: ssl.SSLContext | None = None) -> None:
    upstream = FakeUpstream(host, port, record_limit=record_limit, tls=tls)
    await upstream.start()
    sys.stdout.write(f"ready {upstream.port}\n")
    sys.stdout.flush()
    try:
        await asyncio.Event().wait()
    finally:
        await upstream.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.upstream", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=0, help="0 = pick a free port (printed as 'ready <port>')"
    )
    parser.add_argument("--record-limit", type=int, default=1000, help="keep at most ~2x this many requests")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM) and --tls-key")
    parser.add_argument("--tls-key")
    args = parser.parse_args(argv)
    tls = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    try:
        import uvloop  # part of uvicorn[standard]; the plain loop works too, just slower

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(_serve(args.host, args.port, args.record_limit, tls))


if __name__ == "__main__":
    main()
