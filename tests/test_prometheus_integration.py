"""A real Prometheus scrapes a real gateway; every dashboard query and every rule is evaluated.

The gateway runs as `carbon-gateway serve` (a subprocess, embedded store, offline `demo`
model plus a model whose upstream is a closed loopback port, to produce 5xx and upstream
errors). Prometheus (Debian's `prometheus` package) scrapes it every second and evaluates
deploy/prometheus/alerts.yml. Then each PromQL expression of the Grafana dashboard and of
the rules must be valid and must return data whenever the metrics it reads are exported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.configs import gateway_config
from tests.support.ports import free_port
from tests.support.processes import process, wait_for

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "carbon-gateway.json"
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
# Grafana's variables, replaced as Grafana would with "All" selected.
GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$__range": "10m", "$tenant": ".*", "$model": ".*"}
# Metric families the test traffic must make the gateway export.
REQUIRED_FAMILIES = {
    "carbon_gateway_requests",
    "carbon_gateway_tokens",
    "carbon_gateway_emissions_grams",
    "carbon_gateway_request_duration_seconds",
    "carbon_gateway_time_to_first_token_seconds",
    "carbon_gateway_overhead_seconds",
}


ADMIN_KEY = "admin-key-for-the-prometheus-test"
MESSAGES = [{"role": "user", "content": "How much carbon does this sentence cost?"}]
# Bounds each request's reservation close to what the demo model really answers.
MAX_TOKENS = 64


def prometheus_config(path: Path, gateway_port: int) -> None:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "carbon-gateway",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{gateway_port}"]}],
            }
        ],
    }
    path.write_text(yaml.safe_dump(config))


@contextlib.asynccontextmanager
async def stack(tmp_path: Path) -> AsyncIterator[tuple[aiohttp.ClientSession, str, str]]:
    gateway_port, prometheus_port = free_port(), free_port()
    gateway_config(tmp_path / "gateway.yaml", free_port())
    prometheus_config(tmp_path / "prometheus.yml", gateway_port)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PROMETHEUS_MULTIPROC_DIR", "REDIS_URL"}
    }
    for key in ("GATEWAY_MASTER_KEY", "CARBON_GATEWAY_CONFIG"):
        env.pop(key, None)
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        CARBON_GATEWAY_STATE_DIR=str(tmp_path / "state"),
        GATEWAY_ADMIN_KEY=ADMIN_KEY,
    )
    gateway_args = [
        "carbon-gateway",
        "serve",
        "--config",
        str(tmp_path / "gateway.yaml"),
        "--port",
        str(gateway_port),
    ]
    prometheus_args = [
        PROMETHEUS,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
    ]
    gateway_url, prometheus_url = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{prometheus_port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        with process(gateway_args, tmp_path / "gateway.log", env) as gateway:
            await wait_for(http, f"{gateway_url}/healthz", gateway, tmp_path / "gateway.log")
            with process(prometheus_args, tmp_path / "prometheus.log", env) as prometheus:
                await wait_for(http, f"{prometheus_url}/-/ready", prometheus, tmp_path / "prometheus.log")
                yield http, gateway_url, prometheus_url


async def create_tenant(
    http: aiohttp.ClientSession, gateway_url: str, tenant: dict[str, Any]
) -> dict[str, str]:
    """Create a tenant through the admin API; the Authorization header of its new key."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with http.post(f"{gateway_url}/admin/tenants", json=tenant, headers=admin) as response:
        assert response.status == 201, await response.text()
    async with http.post(
        f"{gateway_url}/admin/tenants/{tenant['id']}/keys", json={}, headers=admin
    ) as response:
        assert response.status in (200, 201), await response.text()
        key = (await response.json())["key"]
    return {"Authorization": f"Bearer {key}"}


async def chat(http: aiohttp.ClientSession, gateway_url: str, auth: dict[str, str], **body: Any) -> int:
    payload = {"model": "demo", "messages": MESSAGES, "max_tokens": MAX_TOKENS, **body}
    async with http.post(f"{gateway_url}/v1/chat/completions", json=payload, headers=auth) as response:
        data = await response.read()
        if response.status == 200 and body.get("stream"):
            # Streams carry the method up front and the figures in the usage chunk.
            assert "x-carbon-method" in response.headers and b"data: [DONE]" in data
        elif response.status == 200:
            assert "x-carbon-gco2e" in response.headers
        return response.status


async def send_traffic(http: aiohttp.ClientSession, gateway_url: str, auth: dict[str, str]) -> None:
    async with http.get(f"{gateway_url}/readyz") as response:  # readiness also reports store health
        assert response.status == 200, await response.text()
    for _ in range(10):
        assert await chat(http, gateway_url, auth) == 200
    for _ in range(4):
        assert await chat(http, gateway_url, auth, stream=True, stream_options={"include_usage": True}) == 200
    for _ in range(2):
        assert await chat(http, gateway_url, auth, model="broken") in (502, 503, 504)


async def budget_ratio(http: aiohttp.ClientSession, gateway_url: str, tenant: str) -> float | None:
    """remaining / limit of the tenant's gCO2e budget, as the gateway exports it."""
    async with http.get(f"{gateway_url}/metrics") as response:
        text = await response.text()
    gauges = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("tenant") == tenant and sample.labels.get("kind") == "gco2e"
    }
    if "carbon_gateway_budget_limit" not in gauges:
        return None
    return gauges["carbon_gateway_budget_remaining"] / gauges["carbon_gateway_budget_limit"]


async def spend_budgets(http: aiohttp.ClientSession, gateway_url: str) -> None:
    """Three tenants: one past 80% of its carbon budget, one past 100% (warn policy), one rejected."""
    probe = await create_tenant(http, gateway_url, {"id": "probe"})
    payload = {"model": "demo", "messages": MESSAGES, "max_tokens": MAX_TOKENS}
    async with http.post(f"{gateway_url}/v1/chat/completions", json=payload, headers=probe) as response:
        assert response.status == 200
        grams = float(response.headers["x-carbon-gco2e"])  # the same prompt costs the same each time
    tenants = {
        "eighty": ({"gco2e_per_month": 10 * grams}, lambda ratio, status: ratio <= 0.2),
        "spent": (
            {"gco2e_per_month": 2 * grams, "on_exceed": {"gco2e_per_month": "warn"}},
            lambda ratio, status: ratio <= 0,
        ),
        "blocked": ({"gco2e_per_month": 1.5 * grams}, lambda ratio, status: status == 429),
    }
    for tenant, (limits, done) in tenants.items():
        auth = await create_tenant(http, gateway_url, {"id": tenant, "limits": limits})
        ratio = None
        for _ in range(30):
            status = await chat(http, gateway_url, auth)
            assert status in (200, 429)
            ratio = await budget_ratio(http, gateway_url, tenant)
            assert ratio is not None, f"no carbon budget gauge for {tenant}"
            if done(ratio, status):
                break
        else:
            pytest.fail(f"tenant {tenant} never reached its budget state (ratio {ratio})")


async def query(http: aiohttp.ClientSession, prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    async with http.get(f"{prometheus_url}/api/v1/query", params={"query": expr}) as response:
        body = await response.json()
    assert response.status == 200 and body["status"] == "success", f"{expr}\n{body}"
    return body["data"]["result"]


async def targets_up(http: aiohttp.ClientSession, prometheus_url: str) -> bool:
    return bool(await query(http, prometheus_url, 'up{job="carbon-gateway"} == 1'))


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"unknown Grafana variable in {panel['title']}: {expr}"
            found.append((f"panel {panel['title']!r} {target['refId']}", expr))
    return found


def rule_queries() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [
        (f"rule {rule.get('record') or rule.get('alert')}", rule["expr"])
        for group in groups
        for rule in group["rules"]
    ]


def families_in_exposition(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text) if family.samples}


def comparison_free(expr: str) -> str:
    """The signal of an alert: its expression without the final threshold comparison."""
    return re.sub(r"\s*(==|!=|>=|<=|>|<)\s*-?[0-9.]+\s*$", "", expr.strip())


async def find_problems(http: aiohttp.ClientSession, prometheus_url: str) -> list[str]:
    """Everything still wrong: queries without data, unhealthy rules, alerts in the wrong state."""
    problems = []
    for name, expr in dashboard_queries() + rule_queries():
        result = await query(http, prometheus_url, expr)  # valid, whatever it returns
        if name.startswith("rule ") and not name.startswith("rule carbon_gateway:"):
            # An alert returns data only while it fires: its signal (no threshold) must have data.
            result = await query(http, prometheus_url, comparison_free(expr))
        if not result:
            problems.append(f"no data: {name}: {expr}")
    async with http.get(f"{prometheus_url}/api/v1/rules") as response:
        rules = [rule for group in (await response.json())["data"]["groups"] for rule in group["rules"]]
    if len(rules) != len(rule_queries()):
        problems.append(f"Prometheus loaded {len(rules)} rules, alerts.yml has {len(rule_queries())}")
    problems += [
        f"rule {r['name']}: {r['health']} {r.get('lastError')}" for r in rules if r["health"] != "ok"
    ]
    # 4 of 32 requests failed with 5xx: the error-rate alert is pending (its `for` is 5m).
    # The budget alerts fire at once (`for: 0m`), each for the right tenant only.
    async with http.get(f"{prometheus_url}/api/v1/alerts") as response:
        alerts = (await response.json())["data"]["alerts"]
    states = {(a["labels"]["alertname"], a["labels"].get("tenant")): a["state"] for a in alerts}
    expected = {
        ("GatewayHighErrorRate", None): "pending",
        ("CarbonBudget80Percent", "eighty"): "firing",
        ("CarbonBudgetExhausted", "spent"): "firing",
    }
    problems += [f"alert {key}: {states.get(key)}, expected {state}" for key, state in expected.items()
                 if states.get(key) != state]  # fmt: skip
    problems += [f"alert {key} should not be active" for key in states
                 if key == ("CarbonBudgetExhausted", "eighty") or key[1] in ("load", "probe")]  # fmt: skip
    return problems


async def test_dashboard_and_rules_against_real_prometheus(tmp_path: Path) -> None:
    async with stack(tmp_path) as (http, gateway_url, prometheus_url):
        deadline = time.monotonic() + 30
        while not await targets_up(http, prometheus_url):
            assert time.monotonic() < deadline, "Prometheus never scraped the gateway"
            await asyncio.sleep(0.5)
        # Two waves a few scrapes apart: rate() needs increases between samples, not just values.
        load = await create_tenant(http, gateway_url, {"id": "load"})
        await send_traffic(http, gateway_url, load)
        await spend_budgets(http, gateway_url)
        await asyncio.sleep(3)
        await send_traffic(http, gateway_url, load)
        await asyncio.sleep(4)

        async with http.get(f"{gateway_url}/metrics") as response:
            assert response.status == 200
            exported = families_in_exposition(await response.text())
        assert exported >= REQUIRED_FAMILIES | {"carbon_gateway_store_up"}, (
            f"missing: {REQUIRED_FAMILIES - exported}"
        )
        # Scrapes and rule evaluations run on Prometheus' clock: poll until all is seen (or time out).
        problems = await find_problems(http, prometheus_url)
        deadline = time.monotonic() + 60
        while problems and time.monotonic() < deadline:
            await asyncio.sleep(1)
            problems = await find_problems(http, prometheus_url)
        assert not problems, "\n".join(problems)
        rejected = await query(http, prometheus_url, 'carbon_gateway_rejections_total{tenant="blocked"}')
        assert rejected and rejected[0]["metric"]["reason"] == "carbon_budget_exceeded"

        # One JSON access line per request, and never the key or the prompt.
        log = (tmp_path / "gateway.log").read_text()
        access = [json.loads(line) for line in log.splitlines() if line.startswith('{"ts"')]
        assert len([line for line in access if line["tenant"] == "load"]) == 32
        assert {line["status"] for line in access} >= {200}
        assert all("gco2e" in line for line in access if line["status"] == 200)
        assert "not-a-real-key" not in log and "How much carbon" not in log

        # The headline panels show real numbers, not just series.
        emitted = await query(http, prometheus_url, "sum(carbon_gateway_emissions_grams_total)")
        assert float(emitted[0]["value"][1]) > 0
        tokens = await query(http, prometheus_url, 'sum(carbon_gateway_tokens_total{type="output"})')
        assert float(tokens[0]["value"][1]) > 0
