"""`carbon-gateway serve --workers 2`: every scrape shows every worker's requests."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.support.configs import gateway_config
from tests.support.ports import free_port
from tests.support.processes import process, wait_for

REQUESTS = 30


async def test_two_workers_share_one_set_of_counters(tmp_path: Path) -> None:
    port = free_port()
    gateway_config(tmp_path / "gateway.yaml", free_port())
    metrics_dir = tmp_path / "metrics"
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "GATEWAY_MASTER_KEY"}}
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        CARBON_GATEWAY_STATE_DIR=str(tmp_path / "state"),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    args = [
        "carbon-gateway",
        "serve",
        "--config",
        str(tmp_path / "gateway.yaml"),
        "--port",
        str(port),
        "--workers",
        "2",
    ]
    base = f"http://127.0.0.1:{port}"
    body = {"model": "demo", "messages": [{"role": "user", "content": "count me once"}]}
    # A new connection per request so that the kernel spreads them over both workers.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        with process(args, tmp_path / "gateway.log", env) as gateway:
            await wait_for(http, f"{base}/healthz", gateway, tmp_path / "gateway.log")
            await both_workers_started(metrics_dir)
            for _ in range(REQUESTS):
                async with http.post(f"{base}/v1/chat/completions", json=body) as response:
                    assert response.status == 200
            totals = []
            for _ in range(6):
                async with http.get(f"{base}/metrics") as response:
                    text = await response.text()
                totals.append(
                    sum(
                        sample.value
                        for family in text_string_to_metric_families(text)
                        if family.name == "carbon_gateway_requests"
                        for sample in family.samples
                        if sample.name == "carbon_gateway_requests_total" and sample.labels["model"] == "demo"
                    )
                )
            pids = worker_pids(metrics_dir)
    assert totals == [REQUESTS] * 6
    assert len(pids) >= 2, f"one worker only: {sorted(p.name for p in metrics_dir.glob('*.db'))}"


def worker_pids(metrics_dir: Path) -> set[str]:
    return {re.sub(r"\D", "", p.stem.rsplit("_", 1)[-1]) for p in metrics_dir.glob("*.db")}


async def both_workers_started(metrics_dir: Path, timeout_s: float = 60.0) -> None:
    """/healthz answers once one worker is up; on a slow machine the other may still be starting,
    and then takes no request. Each worker writes its store-health gauge as it starts."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(worker_pids(metrics_dir)) < 2 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
