"""The gateway (`serve`, a real process) against an HTTPS upstream (the fake, a separate process, serving with
the self-signed pair in tests/fakes/tls): verified against the trust store `SSL_CERT_FILE` names, refused (502,
nothing counted) without it; JSON and SSE both, the usage metered from the upstream's answer."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes.process import spawn_fake_upstream
from tests.support.configs import UPSTREAM_KEY
from tests.support.gateway import running_gateway, write_config

TLS = Path(__file__).parent / "fakes" / "tls"


@pytest.fixture(scope="module")
def https_upstream() -> Iterator[int]:
    process, port = spawn_fake_upstream(
        args=("--tls-cert", str(TLS / "localhost.pem"), "--tls-key", str(TLS / "localhost.key"))
    )
    try:
        yield port
    finally:
        process.terminate()
        process.wait(10)


def config(port: int) -> dict:
    params = {
        "model": "openai/fake-model",
        "api_base": f"https://localhost:{port}/v1",
        "api_key": UPSTREAM_KEY,
    }
    return {"model_list": [{"model_name": "fake", "litellm_params": {**params, "max_retries": 0}}]}


def test_json_and_sse_over_https_with_a_private_ca(https_upstream: int, tmp_path: Path) -> None:
    path = write_config(tmp_path, config(https_upstream))
    with running_gateway(path, env={"SSL_CERT_FILE": str(TLS / "localhost.pem")}) as gateway:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="fake", messages=[{"role": "user", "content": "one two three"}]
        )
        answer = raw.parse()
        assert answer.usage is not None and answer.usage.prompt_tokens == 3
        assert float(raw.headers["x-carbon-gco2e"]) > 0
        assert raw.headers["x-carbon-usage-source"] == "upstream"
        chunks = list(
            client.chat.completions.create(
                model="fake",
                messages=[{"role": "user", "content": "four five"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 2
        trust = ssl.create_default_context(cafile=str(TLS / "localhost.pem"))
        recorded = httpx.get(f"https://localhost:{https_upstream}/_fake/requests", verify=trust).json()
        assert {r["headers"]["authorization"] for r in recorded} == {f"Bearer {UPSTREAM_KEY}"}
        assert counted(gateway.url) == 2


def counted(url: str) -> int:
    """Requests the gateway's store has counted, once its usage writer has written them (50 ms linger)."""
    deadline = time.monotonic() + 10
    while True:
        requests = int(httpx.get(f"{url}/v1/carbon/usage").json()["totals"]["requests"])
        if requests or time.monotonic() > deadline:
            return requests
        time.sleep(0.1)


def test_an_untrusted_certificate_is_a_502_and_nothing_is_counted(
    https_upstream: int, tmp_path: Path
) -> None:
    path = write_config(tmp_path, config(https_upstream))
    with running_gateway(path, env={"SSL_CERT_FILE": None}) as gateway:
        response = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "fake", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert response.status_code == 502, response.text
        assert "ConnectError" in response.json()["error"]["message"]
        assert "CERTIFICATE_VERIFY_FAILED" not in response.text  # the detail is the operator's, in the log:
        assert "CERTIFICATE_VERIFY_FAILED" in gateway.log()
        time.sleep(0.3)  # past the usage writer's linger: nothing was served, nothing may be counted
        assert counted_now(gateway.url) == 0


def counted_now(url: str) -> int:
    return int(httpx.get(f"{url}/v1/carbon/usage").json()["totals"]["requests"])
