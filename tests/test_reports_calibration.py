"""`carbon.calibrate_from_audited`: after an audited month lands, live estimates of that model are scaled by the
audited/estimated ratio, labelled `calibrated` with the audited month in the source (never `measured`)."""

from __future__ import annotations

import time

import pytest

from meters.periods import month_of
from tests.support.inprocess import SCRIPTED, edge

ADMIN = {"authorization": "Bearer admin-key"}
MASTER = {"authorization": "Bearer master-key"}


async def _estimate(client) -> dict:
    answer = await client.post(
        "/v1/carbon/estimate",
        json={"model": SCRIPTED, "prompt_tokens": 500, "completion_tokens": 500},
        headers=MASTER,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["carbon"]


@pytest.mark.parametrize("enabled", [True, False])
async def test_an_import_calibrates_later_estimates(tmp_path, monkeypatch, enabled: bool) -> None:
    monkeypatch.setenv("GATEWAY_ADMIN_KEY", "admin-key")
    monkeypatch.setenv("GATEWAY_MASTER_KEY", "master-key")
    month = month_of(time.time())
    async with edge(tmp_path, carbon={"calibrate_from_audited": enabled}) as (client, _gw):
        before = await _estimate(client)  # 1 g/1k tokens (edge_config): 1.0 g for 1,000 tokens
        assert before["method"] == "coefficient" and before["gco2e"] == pytest.approx(1.0)
        tracked = await client.post(
            "/v1/carbon/track",
            json={"model": SCRIPTED, "prompt_tokens": 1000, "completion_tokens": 1000},
            headers=MASTER,
        )
        assert tracked.status_code == 201, tracked.text
        body = {"month": month, "source": "Scaleway test", "figures": [{"model": SCRIPTED, "kg_co2e": 0.006}]}
        added = await client.post("/admin/audited", json=body, headers=ADMIN)
        assert added.status_code == 201, added.text
        after = await _estimate(client)
        if not enabled:
            assert after == before
            return
        # 6 g audited over a live estimate of 2 g: every later estimate x3, labelled as such.
        assert after["gco2e"] == pytest.approx(3.0)
        assert after["method"] == "calibrated" and after["confidence"] == "estimated"
        assert f"audited month {month} v1" in after["source"] and "Scaleway test" in after["source"]
        headers = (
            await client.post(
                "/v1/carbon/estimate",
                json={"model": SCRIPTED, "prompt_tokens": 1, "completion_tokens": 1},
                headers=MASTER,
            )
        ).headers
        assert headers["x-carbon-method"] == "calibrated"
