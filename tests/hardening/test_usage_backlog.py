"""A store slower than the traffic: past `gateway.max_usage_backlog` finished requests waiting in memory, new
requests get a 503 `usage_backlog` (retryable); what was served is still counted, and the gateway serves again
once the writer has caught up (both stores)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.hardening.support import AUTH, BACKENDS, KEY_ENV, TENANT, settled, store_block
from tests.support.inprocess import edge
from tests.support.tenancy import drop_prefix

CHAT = {"model": "demo", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 20}
TRANSCRIBE = {"model": "demo"}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_full_usage_backlog_refuses_new_requests_and_loses_nothing(tmp_path: Path, backend: str) -> None:
    store = store_block(backend, tmp_path)
    tenants = [{"id": TENANT, "keys": [f"os.environ/{KEY_ENV}"]}]
    try:
        async with edge(tmp_path, store=store, tenants=tenants, gateway={"max_usage_backlog": 2}) as (client, gw):
            writer = gw.accounting.writer
            gate = asyncio.Event()
            write = writer._write_many

            async def stalled(batch: list[Any]) -> Any:  # the store, slower than the traffic
                await gate.wait()
                return await write(batch)

            writer._write_many = stalled  # type: ignore[method-assign]
            try:
                await _fill_and_refuse(client, writer)
            finally:
                gate.set()  # a failed check must fail, not hang the shutdown on a stalled store
            totals = await settled(gw)
            assert totals["requests"] == 3  # every served request counted, none of the refused ones
            again = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
            assert again.status_code == 200
            assert (await settled(gw))["requests"] == 4
    finally:
        drop_prefix(store)


async def _fill_and_refuse(client: Any, writer: Any) -> None:
    statuses = []
    for _ in range(3):
        response = await client.post("/v1/chat/completions", json=CHAT, headers=AUTH)
        statuses.append(response.status_code)
        await asyncio.sleep(0.1)  # the first is taken into a batch (stalled), the next two wait
    assert statuses == [200, 200, 200] and writer.backlog == 2

    refused = await client.post("/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH)
    assert refused.status_code == 503
    error = refused.json()["error"]
    assert error["code"] == "usage_backlog" and "gateway.max_usage_backlog" in error["message"]
    assert refused.headers["retry-after"] == "1" and refused.headers["x-should-retry"] == "true"
    files = {"file": ("a.wav", b"RIFF", "audio/wav")}
    audio = await client.post("/v1/audio/transcriptions", data=TRANSCRIBE, files=files, headers=AUTH)
    assert audio.status_code == 503 and audio.json()["error"]["code"] == "usage_backlog"


async def test_max_usage_backlog_is_checked(tmp_path: Path) -> None:
    from tests.support.inprocess import edge_config, parse_edge_config

    for bad in (0, -1, "many", True, 1.5):
        with pytest.raises(Exception, match="max_usage_backlog"):
            parse_edge_config(edge_config(tmp_path, gateway={"max_usage_backlog": bad}), tmp_path)
    config = parse_edge_config(edge_config(tmp_path), tmp_path)
    assert config.gateway.max_usage_backlog == 100_000
