"""Every upstream call has an end (issue 10, item 7): a non-stream call ends at the model's `timeout` in total
(504 in OpenAI's shape), a stream at its `stream_timeout` between events or at `gateway.stream_max_duration_s`
(an error event), and the request is accounted for either way. The gateway runs under uvicorn; the upstream
misbehaves on loopback (tests/support/slow_upstream.py). Timeouts here are bounds, not measurements: the client
waits far longer than the gateway should, and the upstream's slow answers would take minutes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest

from gateway.deadlines import StreamIdle, StreamTooLong, guarded
from tests.support.gateway import GatewayProcess, running_gateway, write_config
from tests.support.slow_upstream import SlowUpstream, threaded

CLIENT_TIMEOUT_S = 30.0  # the drip answers take 80 s and more; the gateway must end them well before
MESSAGES = [{"role": "user", "content": "hello"}]


def _model(name: str, upstream: SlowUpstream, **params: Any) -> dict[str, Any]:
    litellm = {"model": f"openai/{name}", "api_base": upstream.base_url, "api_key": "k", "max_retries": 0}
    litellm.update({"timeout": 1, "connect_timeout": 1, **params})
    carbon = {"gco2e_per_1k_tokens": 1.0, "confidence": "estimated", "source": "test"}
    return {"model_name": name, "litellm_params": litellm, "carbon": carbon}


@pytest.fixture(scope="module")
def upstream() -> Iterator[SlowUpstream]:
    with threaded() as up:
        yield up


@pytest.fixture(scope="module")
def gateway(upstream: SlowUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp_path = tmp_path_factory.mktemp("deadlines")
    config = {
        "model_list": [
            _model("drip", upstream),
            _model("never-read", upstream),
            _model("drip-stream", upstream, timeout=60, stream_timeout=1),
            _model("endless-stream", upstream, timeout=60),
        ],
        "gateway": {"max_body_bytes": 10 * 1024 * 1024, "stream_max_duration_s": 2},
        "observability": {"log_requests": False},
    }
    with running_gateway(write_config(tmp_path, config)) as gw:
        yield gw


def _assert_openai_error(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["code"] == code, body


async def _record(client: httpx.AsyncClient, request_id: str) -> dict[str, Any]:
    answer = await client.get(f"/v1/carbon/requests/{request_id}")
    assert answer.status_code == 200, answer.text
    record: dict[str, Any] = answer.json()
    return record


async def test_a_dripping_answer_ends_at_the_models_timeout(gateway: GatewayProcess) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=CLIENT_TIMEOUT_S) as client:
        answer = await client.post("/v1/chat/completions", json={"model": "drip", "messages": MESSAGES})
    assert answer.status_code == 504, answer.text
    _assert_openai_error(answer.json(), "upstream_timeout")
    assert "in total" in answer.json()["error"]["message"]


async def test_an_upload_the_upstream_never_reads_ends_at_the_models_timeout(gateway: GatewayProcess) -> None:
    big = {"model": "never-read", "messages": [{"role": "user", "content": "x" * 9_000_000}]}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=CLIENT_TIMEOUT_S) as client:
        answer = await client.post("/v1/chat/completions", content=orjson.dumps(big))
    assert answer.status_code == 504, answer.text
    _assert_openai_error(answer.json(), "upstream_timeout")


async def _stream(client: httpx.AsyncClient, model: str) -> tuple[str, list[bytes]]:
    events: list[bytes] = []
    payload = {"model": model, "messages": MESSAGES, "stream": True}
    async with client.stream("POST", "/v1/chat/completions", json=payload) as answer:
        assert answer.status_code == 200
        buffer = b""
        async for chunk in answer.aiter_bytes():
            buffer += chunk
        events = [event for event in buffer.split(b"\n\n") if event.strip()]
        return answer.headers["x-request-id"], events


@pytest.mark.parametrize(
    ("model", "code"), [("drip-stream", "upstream_timeout"), ("endless-stream", "stream_max_duration")]
)
async def test_a_stream_ends_with_an_error_event_and_is_accounted(
    gateway: GatewayProcess, model: str, code: str
) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=CLIENT_TIMEOUT_S) as client:
        request_id, events = await _stream(client, model)
        assert events and events[-1].startswith(b"data: "), events[-3:]
        _assert_openai_error(orjson.loads(events[-1][len(b"data: ") :]), code)
        await asyncio.sleep(0.2)  # the usage writer's batch (the look-up also waits for it once)
        record = await _record(client, request_id)
    assert record["status"] == 504 and record["stream"] is True, record


async def _drip_bytes() -> AsyncIterator[bytes]:
    for _ in range(1000):
        await asyncio.sleep(0.01)
        yield b"x"  # never a whole event


async def _events() -> AsyncIterator[bytes]:
    for _ in range(1000):
        await asyncio.sleep(0.01)
        yield b"data: {}\n\n"


async def _drain(chunks: AsyncIterator[bytes]) -> str:
    try:
        async for _ in chunks:
            pass
    except (StreamIdle, StreamTooLong) as exc:
        return type(exc).__name__
    return "ended"


async def test_the_guard_ends_a_dripping_or_endless_stream() -> None:
    assert await _drain(guarded(_drip_bytes(), idle_s=0.2, max_s=100)) == "StreamIdle"
    assert await _drain(guarded(_events(), idle_s=0.2, max_s=0.3)) == "StreamTooLong"


async def test_a_slow_client_is_not_the_upstreams_idleness_and_a_cancel_is_not_a_timeout() -> None:
    received = 0
    async for _ in guarded(_events(), idle_s=0.2, max_s=100):
        received += 1
        if received == 3:
            await asyncio.sleep(0.5)  # the client reads slowly: the upstream is not idle
        if received == 10:
            break
    assert received == 10
    task = asyncio.create_task(_drain(guarded(_drip_bytes(), idle_s=10, max_s=100)))
    await asyncio.sleep(0.1)
    task.cancel()  # the client left: a cancellation, not a StreamIdle
    with pytest.raises(asyncio.CancelledError):
        await task
