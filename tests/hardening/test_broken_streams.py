"""Issue 10 item 4 (and item 2's upstream side): a broken stream still ends well-formed, with an error event in
OpenAI's shape, is counted with the gateway's own count, and settles its reservation; upstream usage counts that
are negative, not integers or absurd are not believed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.endpoints import Endpoint
from gateway.errors import UpstreamUnreachable
from gateway.upstream.base import UpstreamResponse
from tests.hardening.support import AUTH, BACKENDS, outstanding, settled, tenant_edge
from tests.support.inprocess import SCRIPTED, ScriptedUpstream

CHAT = {"model": SCRIPTED, "messages": [{"role": "user", "content": "Hello there"}], "stream": True}
HELLO = b'data: {"choices": [{"index": 0, "delta": {"content": "Hello world"}}]}\n\n'
DONE = b"data: [DONE]\n\n"

BROKEN = {
    "list_event": [HELLO, b"data: [1, 2]\n\n", DONE],
    "choices_of_numbers": [HELLO, b'data: {"choices": [1]}\n\n', DONE],
    "delta_a_string": [HELLO, b'data: {"choices": [{"delta": "x"}]}\n\n', DONE],
    "not_json": [HELLO, b"data: {truncated\n\n", DONE],
    "no_done": [HELLO],
}


class ResettingUpstream(ScriptedUpstream):
    """Sends one event, then the connection breaks (what aiohttp reports as a reset)."""

    async def send(self, endpoint: Endpoint, payload: dict[str, Any], *, stream: bool) -> UpstreamResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield HELLO
            raise UpstreamUnreachable("mid-stream: ClientPayloadError")

        return UpstreamResponse(200, {"content-type": "text/event-stream"}, chunks=chunks)


class JsonToStreamUpstream(ScriptedUpstream):
    """Answers a stream request with a plain JSON body."""

    async def send(self, endpoint: Endpoint, payload: dict[str, Any], *, stream: bool) -> UpstreamResponse:
        body = b'{"choices": [{"message": {"content": "Hello world"}}]}'

        async def chunks() -> AsyncIterator[bytes]:
            yield body

        async def read() -> bytes:
            return body

        return UpstreamResponse(200, {"content-type": "application/json"}, chunks=chunks, read=read)


def last_error(text: str) -> dict[str, Any]:
    events = [event for event in text.split("\n\n") if event]
    assert events[-1].startswith("data: {"), events[-1]
    error = orjson.loads(events[-1][6:])["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return dict(error)


async def run_broken(tmp_path: Path, backend: str, upstream: ScriptedUpstream, caplog: Any) -> dict[str, Any]:
    async with tenant_edge(tmp_path, backend, upstream) as (client, gw):
        with caplog.at_level(logging.WARNING, logger="carbon_gateway.metering"):
            response = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        assert response.status_code == 200  # the headers went before the stream broke
        error = last_error(response.text)
        totals = await settled(gw)
        assert await outstanding(gw) == 0  # the reservation is settled, not left to expire
    assert totals["requests"] == 1
    assert totals["prompt_tokens"] > 0  # counted by the gateway
    assert "ended early" in caplog.text
    return error


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(BROKEN))
async def test_a_broken_stream_ends_with_an_error_event_and_is_counted(
    tmp_path: Path, backend: str, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    error = await run_broken(tmp_path, backend, ScriptedUpstream(chunks=BROKEN[case]), caplog)
    assert error["type"] == "upstream_error" and error["code"] == "upstream_bad_response"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_reset_stream_is_counted_with_its_real_cause(
    tmp_path: Path, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    error = await run_broken(tmp_path, backend, ResettingUpstream(), caplog)
    assert error["code"] == "upstream_unreachable"
    assert "(status 502)" in caplog.text


async def test_a_json_answer_to_a_stream_request_is_an_error_event_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    error = await run_broken(tmp_path, "embedded", JsonToStreamUpstream(), caplog)
    assert "not an event stream" in error["message"]


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": -5, "completion_tokens": 3},
        {"prompt_tokens": 4611686018427387904, "completion_tokens": 3},
        {"prompt_tokens": 5.5, "completion_tokens": 3},
        {"prompt_tokens": True, "completion_tokens": 3},
        {"prompt_tokens": 5, "completion_tokens": 10**9 + 1},
    ],
)
async def test_nonsense_upstream_usage_is_not_believed(
    tmp_path: Path, usage: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    answer = orjson.dumps({"choices": [{"message": {"content": "Hello world"}}], "usage": usage})
    async with tenant_edge(tmp_path, "embedded", ScriptedUpstream(body=answer)) as (client, gw):
        with caplog.at_level(logging.WARNING, logger="carbon_gateway.metering"):
            response = await client.post("/v1/chat/completions", json={**CHAT, "stream": False}, headers=AUTH)
        totals = await settled(gw)
    assert response.status_code == 200
    served = response.json()["usage"]
    assert served["carbon"]["usage_source"] == "gateway_count"
    assert 0 < served["prompt_tokens"] < 100 and served["completion_tokens"] == 2
    assert totals["prompt_tokens"] == served["prompt_tokens"]
    assert "upstream usage ignored" in caplog.text


@pytest.mark.parametrize("case", ["no_done", "list_event"])
async def test_a_broken_responses_stream_ends_with_an_error_event_and_is_counted(
    tmp_path: Path, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"model": SCRIPTED, "input": "Hello there", "stream": True}
    async with tenant_edge(tmp_path, "embedded", ScriptedUpstream(chunks=BROKEN[case])) as (client, gw):
        with caplog.at_level(logging.WARNING, logger="carbon_gateway.metering"):
            response = await client.post("/v1/responses", json=body, headers=AUTH)
        totals = await settled(gw)
        assert await outstanding(gw) == 0
    last = [event for event in response.text.split("\n\n") if event][-1]
    assert last.startswith("event: error\ndata: ")
    assert orjson.loads(last.split("\n", 1)[1][6:])["type"] == "error"
    assert totals["requests"] == 1 and "ended early" in caplog.text


async def test_a_json_answer_to_a_responses_stream_is_an_error_event_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"model": SCRIPTED, "input": "Hello there", "stream": True}
    async with tenant_edge(tmp_path, "embedded", JsonToStreamUpstream()) as (client, gw):
        response = await client.post("/v1/responses", json=body, headers=AUTH)
        totals = await settled(gw)
        assert await outstanding(gw) == 0
    assert "not an event stream" in response.text and totals["requests"] == 1
