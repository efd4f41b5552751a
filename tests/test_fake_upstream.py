"""The fake upstream is test infrastructure: check it speaks OpenAI's protocol as the official SDK expects."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import openai
import pytest

from tests.fakes import (
    DEFAULT_REPLY,
    FakeUpstream,
    ThreadedFakeUpstream,
    behaviour_header,
    fake_usage,
    spawn_fake_upstream,
)

MESSAGES: Any = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": [{"type": "text", "text": "count these five words"}]},
]


@pytest.fixture
async def up() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as upstream:
        yield upstream


def client_for(up: FakeUpstream, **options: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=up.base_url, api_key="sk-test", max_retries=0, **options)


def test_fake_usage_arithmetic() -> None:
    assert fake_usage({"model": "m", "messages": MESSAGES}) == (3 + 4, 10)
    assert fake_usage({"model": "m", "messages": MESSAGES, "max_tokens": 4}) == (7, 4)
    assert fake_usage({"model": "m", "prompt": ["a b", "c"]}, reply_text="one two") == (3, 2)
    assert fake_usage({"model": "m", "input": [[1, 2, 3], [4]]}) == (4, 0)
    assert fake_usage({"model": "m", "input": "just three words"}) == (3, 0)


async def test_chat_completion_echoes_model_and_records_request(up: FakeUpstream) -> None:
    reply = await client_for(up).chat.completions.create(model="upstream-id", messages=MESSAGES)
    assert reply.model == "upstream-id"
    assert reply.choices[0].message.content == DEFAULT_REPLY
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (7, 10, 17)
    recorded = up.last_request
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.headers["authorization"] == "Bearer sk-test"
    assert recorded.body == {"model": "upstream-id", "messages": MESSAGES}


async def test_stream_with_usage_chunk(up: FakeUpstream) -> None:
    stream = await client_for(up).chat.completions.create(
        model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}, max_tokens=3
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == " ".join(DEFAULT_REPLY.split()[:3])
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (7, 3)
    assert all(c.usage is None for c in chunks[:-1])


async def test_stream_without_include_usage_has_no_usage_chunk(up: FakeUpstream) -> None:
    stream = await client_for(up).chat.completions.create(model="m", messages=MESSAGES, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(c.choices for c in chunks)
    assert len(chunks) == 1 + len(DEFAULT_REPLY.split()) + 1
    assert all(c.usage is None for c in chunks)


async def test_completions_and_embeddings(up: FakeUpstream) -> None:
    client = client_for(up)
    completion = await client.completions.create(model="c", prompt="two words")
    assert completion.choices[0].text == DEFAULT_REPLY
    assert completion.usage is not None and completion.usage.prompt_tokens == 2
    stream = await client.completions.create(
        model="c", prompt="two words", stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == DEFAULT_REPLY
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 12

    embedded = await client.embeddings.create(model="e", input=["one two", "three"])  # SDK asks for base64
    assert [item.index for item in embedded.data] == [0, 1]
    assert len(embedded.data[0].embedding) == 8
    assert embedded.model == "e"
    assert (embedded.usage.prompt_tokens, embedded.usage.total_tokens) == (3, 3)
    as_floats = await client.embeddings.create(
        model="e", input="one two", encoding_format="float", dimensions=4
    )
    same_as_base64 = [round(value, 5) for value in embedded.data[0].embedding[:4]]
    assert len(as_floats.data[0].embedding) == 4
    assert [round(value, 5) for value in as_floats.data[0].embedding] == same_as_base64


async def test_models_list(up: FakeUpstream) -> None:
    models = await client_for(up).models.list()
    assert [model.id for model in models.data] == ["bench-model", "fake-model"]


async def test_fail_n_times_then_succeed(up: FakeUpstream) -> None:
    client = client_for(up)
    up.behave(fail_status=503, fail_times=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as raised:
            await client.chat.completions.create(model="m", messages=MESSAGES)
        assert raised.value.status_code == 503
        assert raised.value.body == {
            "message": "fake upstream failure (HTTP 503)",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    assert (await client.chat.completions.create(model="m", messages=MESSAGES)).model == "m"
    assert len(up.requests) == 3


async def test_custom_error_body_and_retrying_sdk(up: FakeUpstream) -> None:
    up.behave(fail_status=429, fail_times=1, error_body={"error": {"message": "slow down", "type": "x"}})
    with pytest.raises(openai.RateLimitError, match="slow down"):
        await client_for(up).chat.completions.create(model="m", messages=MESSAGES)
    up.behave(fail_status=429, fail_times=1)
    retrying = openai.AsyncOpenAI(base_url=up.base_url, api_key="k", max_retries=2)
    reply = await retrying.chat.completions.create(model="m", messages=MESSAGES)
    assert reply.usage is not None and reply.usage.completion_tokens == 10
    assert len(up.requests) == 3


async def test_per_request_override_by_header_and_body(up: FakeUpstream) -> None:
    client = client_for(up)
    header = behaviour_header(fail_status=500, fail_times=1, key="header-case")
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="m", messages=MESSAGES, extra_headers=header)
    # Same override again: its one failure was used up, so it now succeeds.
    await client.chat.completions.create(model="m", messages=MESSAGES, extra_headers=header)
    reply = await client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        extra_body={"fake_behaviour": {"omit_usage": True, "reply_text": "hi you"}},
    )
    assert reply.usage is None
    assert reply.choices[0].message.content == "hi you"
    with pytest.raises(openai.BadRequestError, match="unknown behaviour keys: nonsense"):
        await client.chat.completions.create(
            model="m", messages=MESSAGES, extra_body={"fake_behaviour": {"nonsense": 1}}
        )


async def test_stall_triggers_client_timeout(up: FakeUpstream) -> None:
    up.behave(stall_s=2.0)
    with pytest.raises(openai.APITimeoutError):
        await client_for(up, timeout=0.2).chat.completions.create(model="m", messages=MESSAGES)
    up.reset()
    with pytest.raises(openai.APITimeoutError):  # JSON integers are accepted as seconds too
        await client_for(up, timeout=0.2).chat.completions.create(
            model="m", messages=MESSAGES, extra_body={"fake_behaviour": {"stall_s": 2}}
        )
    assert (await client_for(up).chat.completions.create(model="m", messages=MESSAGES)).model == "m"


async def test_omit_usage_in_stream(up: FakeUpstream) -> None:
    up.behave(omit_usage=True)
    stream = await client_for(up).chat.completions.create(
        model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


async def test_slow_stream_spaces_its_chunks(up: FakeUpstream) -> None:
    up.behave(stream_chunk_delay_s=0.01, reply_text="a b c")
    events: list[str] = []
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{up.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES, "stream": True}
        ) as response,
    ):
        assert response.headers["content-type"] == "text/event-stream"
        async for line in response.content:
            if line.startswith(b"data: "):
                events.append(line[6:].decode().strip())
    assert events[-1] == "[DONE]"
    assert len(events) == 1 + 3 + 1 + 1
    assert json.loads(events[1])["choices"][0]["delta"]["content"] == "a"


async def test_close_mid_stream_breaks_the_stream(up: FakeUpstream) -> None:
    up.behave(close_mid_stream=True)
    stream = await client_for(up).chat.completions.create(model="m", messages=MESSAGES, stream=True)
    received = []
    # The SDK lets httpx's "incomplete chunked read" through while iterating a stream.
    with pytest.raises(httpx.RemoteProtocolError):
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 2
    with pytest.raises(openai.APIConnectionError):
        await client_for(up).chat.completions.create(model="m", messages=MESSAGES)


async def test_invalid_requests_get_openai_shaped_400(up: FakeUpstream) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{up.base_url}/chat/completions", data=b"{not json") as response:
            assert response.status == 400
            assert (await response.json())["error"]["type"] == "invalid_request_error"
        assert (up.last_request.body, up.last_request.raw_body) == (None, b"{not json")
        async with session.post(f"{up.base_url}/chat/completions", json={"messages": []}) as response:
            assert response.status == 400
            assert (await response.json())["error"]["param"] == "model"
        async with session.post(f"{up.base_url}/embeddings", json={"model": "e"}) as response:
            assert (await response.json())["error"]["param"] == "input"
        async with session.get(f"{up.base_url}/nowhere") as response:
            assert response.status == 404


def test_threaded_fake_serves_the_sync_sdk() -> None:
    with ThreadedFakeUpstream() as up:
        client = openai.OpenAI(base_url=up.base_url, api_key="sync-key", max_retries=0)
        reply = client.chat.completions.create(model="sync-model", messages=MESSAGES)
        assert reply.model == "sync-model"
        assert up.last_request.headers["authorization"] == "Bearer sync-key"


async def test_process_mode_is_steered_over_http() -> None:
    process, port = await asyncio.to_thread(spawn_fake_upstream)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{base}/_fake/behave", json={"fail_status": 502, "fail_times": 1}
            ) as response:
                assert response.status == 200
            client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="k", max_retries=0)
            with pytest.raises(openai.InternalServerError):
                await client.chat.completions.create(model="m", messages=MESSAGES)
            reply = await client.chat.completions.create(model="proc", messages=MESSAGES)
            assert reply.usage is not None and reply.usage.prompt_tokens == 7
            async with session.get(f"{base}/_fake/requests") as response:
                recorded = await response.json()
            assert [r["body"]["model"] for r in recorded] == ["m", "proc"]
            async with session.post(f"{base}/_fake/reset") as response:
                assert response.status == 200
            async with session.get(f"{base}/_fake/requests") as response:
                assert await response.json() == []
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 10)


async def test_bundled_load_generator_and_ttft_client_against_the_fake(up: FakeUpstream) -> None:
    # The benchmark's fallback client (tests/bench/loadgen.py) must count what the server saw.
    from tests.bench import loadgen

    body = json.dumps({"model": "m", "messages": MESSAGES}).encode()
    result = await loadgen.run_load(
        "127.0.0.1", up.port, "/v1/chat/completions", body, connections=4, total_requests=50
    )
    assert (result.requests, result.errors) == (50, 0)
    assert len(up.requests) == 50
    assert 0 < result.p50_ms <= result.p99_ms

    up.behave(fail_status=500, fail_times=3)
    failed = await loadgen.run_load(
        "127.0.0.1", up.port, "/v1/chat/completions", body, connections=1, total_requests=5
    )
    assert (failed.requests, failed.errors) == (5, 3)

    # Paced: 4 connections at 40 requests/s together for 0.5 s send ~20, not as many as the fake answers.
    up.requests.clear()
    paced = await loadgen.run_load(
        "127.0.0.1", up.port, "/v1/chat/completions", body, connections=4, duration_s=0.5, rate=40
    )
    assert paced.errors == 0 and 16 <= paced.requests <= 24 and len(up.requests) == paced.requests
    with pytest.raises(ValueError, match="rate"):
        await loadgen.run_load("127.0.0.1", up.port, "/", body, connections=1, duration_s=0.1, rate=0)

    stream_body = json.dumps({"model": "m", "messages": MESSAGES, "stream": True}).encode()
    ttfts = await loadgen.measure_ttft("127.0.0.1", up.port, "/v1/chat/completions", stream_body, requests=5)
    assert len(ttfts) == 5 and ttfts == sorted(ttfts) and ttfts[0] > 0
    up.behave(reply_text="")
    with pytest.raises(RuntimeError, match="no content token"):
        await loadgen.measure_ttft("127.0.0.1", up.port, "/v1/chat/completions", stream_body, requests=1)


async def test_paced_load_skips_the_slots_a_held_up_generator_missed(up: FakeUpstream) -> None:
    # 8 connections at 400 requests/s: each every 20 ms, 2.5 ms apart. The generator's loop is then held for
    # 60 ms (as when the process it shares a core with takes the CPU): every connection is behind at once.
    # Sending what they missed as soon as they can would put 8 requests on the wire within 1 ms, a burst the
    # server would serve in one turn of its loop; they skip their missed slots and keep their phases instead.
    from tests.bench import loadgen

    body = json.dumps({"model": "m", "messages": MESSAGES}).encode()

    async def hold_the_loop() -> None:
        await asyncio.sleep(0.15)
        time.sleep(0.06)

    holding = asyncio.create_task(hold_the_loop())
    paced = await loadgen.run_load(
        "127.0.0.1", up.port, "/v1/chat/completions", body, connections=8, duration_s=0.4, rate=400
    )
    await holding
    assert paced.errors == 0 and paced.skipped >= 8 * 2
    assert paced.sends_max_1ms is not None and paced.sends_max_1ms <= 3
    assert 100 <= paced.requests + paced.skipped <= 180
    assert loadgen.most_within([0.0, 0.0005, 0.0011, 0.0015, 0.003], 0.001) == 3
    assert loadgen.most_within([], 0.001) == 0


async def test_expect_100_continue_is_answered(up: FakeUpstream) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", up.port)
    body = json.dumps({"model": "m", "messages": MESSAGES}).encode()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"expect: 100-continue\r\ncontent-length: %d\r\n\r\n" % len(body)
    )
    assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(body)
    assert (await reader.readline()).startswith(b"HTTP/1.1 200 OK")
    writer.close()
    await writer.wait_closed()


async def test_wrk_runner_posts_the_body_and_headers(up: FakeUpstream) -> None:
    # The benchmark's wrk driver: generated Lua script, summary parsing, extra headers.
    from tests.bench.wrk_runner import run_wrk, wrk_available

    if not wrk_available():
        pytest.skip("wrk is not installed (apt-get install -y wrk)")
    body = json.dumps({"model": "wrk-model", "messages": MESSAGES}).encode()
    result = await asyncio.to_thread(
        run_wrk,
        f"{up.base_url}/chat/completions",
        body,
        connections=2,
        duration_s=1,
        headers={"authorization": "Bearer wrk-key"},
    )
    assert result.requests > 0 and result.errors == 0
    assert len(up.requests) >= result.requests
    assert up.requests[0].body == {"model": "wrk-model", "messages": MESSAGES}
    assert up.requests[0].headers["authorization"] == "Bearer wrk-key"
