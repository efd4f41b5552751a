"""Issue 10 item 9: an upstream's error that echoes the upstream key reaches the client redacted; a non-string
upstream `code` is passed as a string."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.inprocess import SCRIPTED, ScriptedUpstream, edge, edge_config

SECRET = "sk-upstream-secret-0123456789"
HI = {"model": SCRIPTED, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("status", "code", "relayed_status", "relayed_code"),
    [(401, 401, 401, "401"), (400, {"k": SECRET}, 400, '{"k":"[redacted]"}'), (500, ["x"], 502, "upstream_error")],
)
async def test_an_echoed_upstream_key_is_redacted_and_the_code_is_a_string(
    tmp_path: Path, status: int, code: Any, relayed_status: int, relayed_code: str
) -> None:
    models = edge_config(tmp_path)["model_list"]
    models[0]["litellm_params"]["api_key"] = SECRET
    body = orjson.dumps({"error": {"message": f"Incorrect API key provided: {SECRET}.", "code": code}})
    upstream = ScriptedUpstream(status=status, body=body)
    async with edge(tmp_path, upstream, model_list=models) as (client, _):
        response = await client.post("/v1/chat/completions", json=HI)
    assert response.status_code == relayed_status
    assert SECRET not in response.text
    error = response.json()["error"]
    assert "Incorrect API key provided: [redacted]." in error["message"]
    assert error["code"] == relayed_code


async def test_an_upstream_error_event_mid_stream_is_relayed_redacted(tmp_path: Path) -> None:
    models = edge_config(tmp_path)["model_list"]
    models[0]["litellm_params"]["api_key"] = SECRET
    error = orjson.dumps({"error": {"message": f"key {SECRET} revoked", "type": "auth", "code": None}})
    upstream = ScriptedUpstream(chunks=[b"data: " + error + b"\n\n", b"data: [DONE]\n\n"])
    async with edge(tmp_path, upstream, model_list=models) as (client, _):
        response = await client.post("/v1/chat/completions", json={**HI, "stream": True})
    assert response.status_code == 200
    assert SECRET not in response.text and "key [redacted] revoked" in response.text
