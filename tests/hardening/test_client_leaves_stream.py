"""Issue 15: streams are relayed by `gateway/relay_response.py` (one plain task watches for the client leaving,
instead of Starlette's anyio task group). A client that leaves mid-stream still stops the relay at once and is
counted as a 499 with what it was served; a stream that ends normally is a 200 and nothing is cancelled after it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.configs import proxy_config
from tests.support.gateway import GatewayProcess, running_gateway, write_config

WORDS = 400  # streamed a word per event, one event every 50 ms: ~20 s if the relay ran to the end


@pytest.fixture(scope="module")
def gateway(upstream_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    directory: Path = tmp_path_factory.mktemp("leaves")
    path = write_config(directory, proxy_config(upstream_port, store={"state_dir": str(directory / "state")}))
    with running_gateway(path) as process:
        yield process


def stream_body(**behaviour: object) -> dict[str, object]:
    return {
        "model": "fake",
        "stream": True,
        "messages": [{"role": "user", "content": "Tell me a long story"}],
        "fake_behaviour": behaviour,
    }


def counted(gateway: GatewayProcess, request_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        found = httpx.get(f"{gateway.base_url}/carbon/requests/{request_id}", timeout=10)
        if found.status_code == 200:
            return found.json()
        assert time.monotonic() < deadline, f"request {request_id} was never counted: {found.text}"
        time.sleep(0.1)


def test_a_client_that_leaves_is_counted_as_a_499_with_what_it_was_served(gateway: GatewayProcess) -> None:
    body = stream_body(stream_chunk_delay_s=0.05, reply_text=" ".join(["word"] * WORDS))
    with httpx.stream("POST", f"{gateway.base_url}/chat/completions", json=body, timeout=30) as response:
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        for chunk in response.iter_raw():
            if b"word" in chunk:
                break  # the first words arrived: leave
    entry = counted(gateway, request_id)
    assert entry["status"] == 499 and entry["stream"] is True
    served = entry["usage"]["completion_tokens"]  # type: ignore[index]
    assert 0 < served < WORDS / 2  # the relay stopped soon after the client left, long before the end
    assert "Exception in ASGI application" not in gateway.log()


def test_a_stream_that_ends_is_a_200_and_the_connection_is_reused(gateway: GatewayProcess) -> None:
    with httpx.Client(timeout=30) as client:
        ids = []
        for _ in range(3):  # one keep-alive connection: nothing cancelled after an answer completes
            with client.stream("POST", f"{gateway.base_url}/chat/completions", json=stream_body()) as response:
                assert response.status_code == 200
                text = b"".join(response.iter_raw())
                assert text.rstrip().endswith(b"data: [DONE]")
                ids.append(response.headers["x-request-id"])
    assert [counted(gateway, request_id)["status"] for request_id in ids] == [200, 200, 200]
    assert "Exception in ASGI application" not in gateway.log()
