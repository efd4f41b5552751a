"""Three gateway replicas (uvicorn processes) on one Redis (issue 14, item 3): what they serve, refuse and
report agrees across them — Prometheus counters sum to what was served, a tenant's budget holds across
replicas, a revoked key is refused by every replica within `gateway.key_cache_ttl_s`, and every replica
reports the same usage."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from meters.tenants import hash_key
from tests.support.gateway import running_gateways, write_config
from tests.support.tenancy import (
    ADMIN_KEY,
    admin,
    bearer,
    chat,
    cleaned,
    create_tenant,
    store_block,
    tenancy_config,
)

KEY_CACHE_TTL_S = 0.5
BUDGET_KEY = "sk-replicas-budget"
RPM = 12  # the budgeted tenant's requests per minute, over every replica


def served_requests(metrics_text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics_text)
        for sample in family.samples
        if sample.name == "carbon_gateway_requests_total" and sample.labels.get("status", "200") == "200"
    )


async def test_three_replicas_agree(upstream_port: int, tmp_path: Path) -> None:
    with cleaned(store_block("redis", tmp_path)) as store:
        budgeted = {"id": "budgeted", "keys": [f"sha256:{hash_key(BUDGET_KEY)}"], "limits": {"requests_per_minute": RPM}}
        config = tenancy_config(upstream_port, store, tenants=[budgeted])
        config.setdefault("gateway", {})["key_cache_ttl_s"] = KEY_CACHE_TTL_S
        path = write_config(tmp_path, config)
        with running_gateways(path, 3, env={"GATEWAY_ADMIN_KEY": ADMIN_KEY}) as replicas:
            urls = [r.base_url for r in replicas]
            key = create_tenant(replicas[0].url, "shared")
            async with httpx.AsyncClient(timeout=30) as client:

                async def call(i: int, api_key: str) -> int:
                    answer = await client.post(f"{urls[i % 3]}/chat/completions", json=chat(max_tokens=5), headers=bearer(api_key))
                    return answer.status_code

                # Budgets: 3 × RPM requests within one minute over three replicas; exactly RPM are served.
                budget = await asyncio.gather(*(call(i, BUDGET_KEY) for i in range(3 * RPM)))
                assert sorted(set(budget)) == [200, 429] and budget.count(200) == RPM, budget
                # A key issued on one replica works on every replica.
                shared = await asyncio.gather(*(call(i, key) for i in range(30)))
                assert shared == [200] * 30

            # Metrics: each replica counts what it served; the sum is what the clients got.
            per_replica = [served_requests(httpx.get(f"{r.url}/metrics").text) for r in replicas]
            assert all(count > 0 for count in per_replica), per_replica
            assert sum(per_replica) == RPM + 30, per_replica

            # Reports: every replica reports the same usage (once the usage writers have counted it).
            period = time.strftime("%Y-%m", time.gmtime())
            deadline = time.monotonic() + 10
            while True:
                reports = [httpx.get(f"{u}/carbon/usage", params={"period": period}, headers=bearer(key)).json() for u in urls]
                if reports[0]["totals"]["requests"] == 30 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert reports[0]["totals"]["requests"] == 30
            assert reports[1] == reports[0] and reports[2] == reports[0]

            # Revocation on one replica: refused by all of them once their key caches have expired.
            with admin(replicas[0].url) as client:
                key_id = client.get("/admin/tenants/shared").json()["keys"][0]["key_id"]
                assert client.delete(f"/admin/keys/{key_id}").status_code == 200
            await asyncio.sleep(KEY_CACHE_TTL_S + 0.2)
            refused = [httpx.post(f"{u}/chat/completions", json=chat(), headers=bearer(key)).status_code for u in urls]
            assert refused == [401, 401, 401]
