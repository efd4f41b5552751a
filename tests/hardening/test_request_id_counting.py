"""Issue 10 item 1: a client-chosen `x-request-id` never decides what is counted (in-process, embedded store)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.support.inprocess import edge

KEY_A, KEY_B = "sk-hard-tenant-a", "sk-hard-tenant-b"
TENANTS = {
    "tenants": [
        {"id": "ta", "keys": ["os.environ/CGTEST_HARD_KEY_A"], "limits": {"tokens_per_day": 500}},
        {"id": "tb", "keys": ["os.environ/CGTEST_HARD_KEY_B"]},
    ]
}


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGTEST_HARD_KEY_A", KEY_A)
    monkeypatch.setenv("CGTEST_HARD_KEY_B", KEY_B)


async def test_one_client_request_id_on_150_requests_counts_every_served_one(tmp_path: Path) -> None:
    body = {"model": "demo", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 60}
    headers = {"authorization": f"Bearer {KEY_A}", "x-request-id": "same-client-id"}
    async with edge(tmp_path, **TENANTS) as (client, gw):
        statuses = []
        for _ in range(150):
            response = await client.post("/v1/chat/completions", json=body, headers=headers)
            statuses.append(response.status_code)
            assert response.headers["x-client-request-id"] == "same-client-id"
            await asyncio.sleep(0.06 if response.status_code == 200 else 0)  # let the writer count it
        served = statuses.count(200)
        assert served and statuses.count(429) == 150 - served  # the quota ends the run: it was counted
        month = time.strftime("%Y-%m", time.gmtime())
        usage = await gw.store.reports.usage("ta", month)
    assert usage["totals"]["requests"] == served
    assert usage["totals"]["prompt_tokens"] + usage["totals"]["completion_tokens"] <= 500


async def test_track_idempotency_is_per_tenant(tmp_path: Path) -> None:
    track = {"model": "demo", "prompt_tokens": 10, "completion_tokens": 5, "request_id": "shared-id"}
    async with edge(tmp_path, **TENANTS) as (client, _):
        first = await client.post("/v1/carbon/track", json=track, headers={"authorization": f"Bearer {KEY_A}"})
        again = await client.post("/v1/carbon/track", json=track, headers={"authorization": f"Bearer {KEY_A}"})
        other = await client.post("/v1/carbon/track", json=track, headers={"authorization": f"Bearer {KEY_B}"})
    assert first.status_code == 201
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert other.status_code == 201 and other.json().get("duplicate") is not True
