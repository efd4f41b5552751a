"""curl against a real gateway: headers (`-i`), the body's `usage.carbon`, and in a stream the `: x-carbon {json}`
comment before `data: [DONE]`, or the usage chunk when asked for (or with stream_usage: always)."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.clients.conftest import ledger_entry
from tests.support.gateway import GatewayProcess

BODY = {"model": "demo", "messages": [{"role": "user", "content": "Hello from curl"}]}


def curl(gateway: GatewayProcess, body: dict[str, Any]) -> tuple[dict[str, str], str]:
    executable = shutil.which("curl")
    assert executable, "curl is not installed"
    done = subprocess.run(
        [executable, "-s", "-N", "-i", f"{gateway.base_url}/chat/completions", "-H", "content-type: application/json",
         "-d", json.dumps(body)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    head, _, payload = done.stdout.replace("\r\n", "\n").partition("\n\n")
    headers = {}
    for line in head.splitlines()[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, payload


def events(payload: str) -> list[str]:
    return [event for event in payload.split("\n\n") if event.strip()]


def test_non_stream_headers_and_body(demo_gateway: GatewayProcess) -> None:
    headers, payload = curl(demo_gateway, BODY)
    carbon = json.loads(payload)["usage"]["carbon"]
    assert float(headers["x-carbon-gco2e"]) == pytest.approx(carbon["gco2e"], rel=1e-5)
    assert ledger_entry(demo_gateway, headers["x-request-id"])["carbon"] == carbon


def test_stream_without_include_usage_the_comment(demo_gateway: GatewayProcess) -> None:
    headers, payload = curl(demo_gateway, {**BODY, "stream": True})
    *_, comment, done = events(payload)
    assert done == "data: [DONE]" and comment.startswith(": x-carbon ")
    carbon = json.loads(comment.removeprefix(": x-carbon "))
    assert carbon == ledger_entry(demo_gateway, headers["x-request-id"])["carbon"]


@pytest.mark.parametrize("always", [False, True])
def test_stream_usage_chunk(
    demo_gateway: GatewayProcess, always_gateway: GatewayProcess, always: bool
) -> None:
    gateway = always_gateway if always else demo_gateway
    body = (
        {**BODY, "stream": True}
        if always
        else {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    )
    headers, payload = curl(gateway, body)
    *_, usage_chunk, done = events(payload)
    assert done == "data: [DONE]"
    carbon = json.loads(usage_chunk.removeprefix("data: "))["usage"]["carbon"]
    assert carbon == ledger_entry(gateway, headers["x-request-id"])["carbon"]
