"""Non-OpenAI providers go through LiteLLM's translation: an Anthropic-shaped fake on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from tests.support.gateway import free_port, running_gateway, write_config

SEEN = web.AppKey("seen", list)
REPLY = "Bonjour from a fake Anthropic messages API."


async def _messages(request: web.Request) -> web.Response:
    body = await request.json()
    request.app[SEEN].append({"headers": dict(request.headers), "body": body})
    return web.json_response({
        "id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"],
        "content": [{"type": "text", "text": REPLY}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 21, "output_tokens": 9},
    })  # fmt: skip


@pytest.fixture
async def anthropic_fake() -> AsyncIterator[tuple[int, list]]:
    app = web.Application()
    app[SEEN] = []
    app.router.add_post("/v1/messages", _messages)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield port, app[SEEN]
    finally:
        await runner.cleanup()


async def test_anthropic_through_litellm_comes_back_in_openai_shape_with_carbon(
    anthropic_fake, tmp_path
) -> None:
    port, seen = anthropic_fake
    config = {"model_list": [{"model_name": "claude", "litellm_params": {
        "model": "anthropic/claude-3-5-sonnet-20240620", "api_base": f"http://127.0.0.1:{port}",
        "api_key": "sk-ant-fake", "max_retries": 0}}]}  # fmt: skip
    with running_gateway(write_config(tmp_path, config)) as gateway:
        async with httpx.AsyncClient(timeout=60) as client:
            response = await client.post(
                f"{gateway.base_url}/chat/completions",
                json={
                    "model": "claude",
                    "messages": [{"role": "user", "content": "Salut"}],
                    "max_tokens": 50,
                },
            )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["content"] == REPLY
    assert body["usage"]["prompt_tokens"] == 21
    assert body["usage"]["completion_tokens"] == 9
    assert body["usage"]["carbon"]["gco2e"] > 0
    assert float(response.headers["x-carbon-gco2e"]) > 0
    assert seen[0]["headers"]["x-api-key"] == "sk-ant-fake"
    assert seen[0]["body"]["model"] == "claude-3-5-sonnet-20240620"
