"""Several worker processes write metrics; one render merges them all (uvicorn --workers N)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.observability.multiprocess import MULTIPROC_ENV, prepare_multiprocess_dir

REPO = Path(__file__).resolve().parent.parent

WORKER = """
import sys
from gateway.observability.metrics import Metrics
from gateway.config import ObservabilitySettings
from meters.carbon.estimate import Estimate
from meters.usage import UsageRecord

worker, requests = int(sys.argv[1]), int(sys.argv[2])
metrics = Metrics(ObservabilitySettings(), ["demo"])
estimate = Estimate(0.5, 0.25, 1.0, 0.001, None, None, None, "coefficient", "usage", "estimated", "t", "v")
for i in range(requests):
    metrics.observe_request(UsageRecord(
        request_id=f"{worker}-{i}", timestamp=0.0, tenant_id="acme", model="demo", provider="demo",
        upstream_model="demo", prompt_tokens=10, completion_tokens=5, estimate=estimate,
        latency_s=0.05, overhead_s=0.0003,
    ))
metrics.set_budget_remaining(tenant="acme", kind="gco2e", value=100.0 - worker)
metrics.set_store_up(worker != 2)
"""

RENDER = """
import sys
from gateway.observability.metrics import Metrics
from gateway.config import ObservabilitySettings
body, _ = Metrics(ObservabilitySettings(), ["demo"]).render()
sys.stdout.write(body.decode())
"""


def run_python(code: str, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def samples(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def test_prepare_multiprocess_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # setenv first so monkeypatch remembers the original state and undoes what the function exports.
    monkeypatch.setenv(MULTIPROC_ENV, "")
    monkeypatch.delenv(MULTIPROC_ENV)
    assert prepare_multiprocess_dir(None, 1) is None
    assert MULTIPROC_ENV not in os.environ
    stale = tmp_path / "counter_123.db"
    stale.write_bytes(b"old")
    keep = tmp_path / "notes.txt"
    keep.write_text("not ours")
    assert prepare_multiprocess_dir(str(tmp_path), 4) == str(tmp_path)
    assert os.environ[MULTIPROC_ENV] == str(tmp_path)
    assert not stale.exists() and keep.exists()
    created = prepare_multiprocess_dir(None, 2)
    assert created is not None and Path(created).is_dir()
    assert os.environ[MULTIPROC_ENV] == created
    Path(created).rmdir()
    with pytest.raises(ValueError):
        prepare_multiprocess_dir(None, 0)


def test_workers_are_summed_and_gauges_take_the_latest(tmp_path: Path) -> None:
    env = {**os.environ, MULTIPROC_ENV: str(tmp_path), "PYTHONPATH": str(REPO)}
    for worker, requests in ((1, 7), (2, 11), (3, 5)):
        run_python(WORKER, str(worker), str(requests), env=env)
    assert len(list(tmp_path.glob("*.db"))) >= 3  # one file per kind per worker pid
    got = samples(run_python(RENDER, env=env))

    def value(name: str, **labels: str) -> float | None:
        return got.get((name, frozenset(labels.items())))

    base = {"tenant": "acme", "model": "demo"}
    assert value("carbon_gateway_requests_total", **base, provider="demo", status="200") == 23
    assert value("carbon_gateway_tokens_total", **base, type="input") == 230
    assert value("carbon_gateway_tokens_total", **base, type="output") == 115
    assert value("carbon_gateway_emissions_grams_total", **base, method="coefficient", boundary="usage") == pytest.approx(
        11.5
    )
    assert value("carbon_gateway_energy_joules_total", **base) == pytest.approx(23 * 3.6)
    assert value("carbon_gateway_request_duration_seconds_count", model="demo", stream="false") == 23
    assert value("carbon_gateway_overhead_seconds_bucket", le="0.0005") == 23
    # mostrecent: worker 3 wrote last, so one series with its value, not one per pid.
    assert value("carbon_gateway_budget_remaining", tenant="acme", kind="gco2e") == 97.0
    assert value("carbon_gateway_store_up", backend="redis") == 1.0
    assert not any("pid" in dict(labels) for _, labels in got)
