"""Per-request cost of the observability hooks, in microseconds.

    python tests/bench/bench_metrics.py [--requests N]

Measures Metrics.observe_request (single-process and prometheus_client multiprocess mode,
each in a fresh interpreter because the mode is fixed at import): called with no loop running
(each applied at once), and 16 requests of one series per turn of a running loop (summed, applied
by the turn's flush: how a loaded gateway observes); log_request (JSON line to /dev/null) and
render() after the run. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

MEASURE = r"""
import json, os, sys, time, logging
from gateway.observability.metrics import Metrics
from gateway.config import ObservabilitySettings
from gateway.observability import logs
from meters.carbon.estimate import Estimate
from meters.usage import UsageRecord

n = int(sys.argv[1])
models = [f"model-{i}" for i in range(20)]
metrics = Metrics(ObservabilitySettings(), models)
estimate = Estimate(0.31, 0.2, 0.5, 0.004, 1.2, 0.3, 0.01, "coefficient", "usage", "estimated", "s", "v")
records = [
    UsageRecord(request_id=str(i), timestamp=0.0, tenant_id=f"tenant-{i % 10}", model=models[i % 20],
                provider="scaleway", upstream_model=models[i % 20], prompt_tokens=120, completion_tokens=300,
                estimate=estimate, spend=0.0004, currency="EUR", stream=bool(i % 2), latency_s=0.8,
                ttft_s=0.1 if i % 2 else None, overhead_s=0.0003)
    for i in range(1000)
]
for r in records:  # warm: every label child exists, as in a long-running gateway
    metrics.observe_request(r)

def per_call_us(fn):
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for i in range(n):
            fn(records[i % 1000])
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best

observe = per_call_us(metrics.observe_request)

async def turns(per_turn):
    # Under load several requests finish in one turn of the loop: `per_turn` of one series, then the turn ends
    # (its flush runs). Per request, the flush included.
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for i in range(0, n, per_turn):
            record = records[(i // per_turn) % 1000]
            for _ in range(per_turn):
                metrics.observe_request(record)
            await asyncio.sleep(0)
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best

import asyncio
batched = asyncio.run(turns(16))
logs.configure_logging(ObservabilitySettings())
sys.stdout = open(os.devnull, "w")
log = per_call_us(lambda r: logs.log_request(r, request_id=r.request_id, tenant=r.tenant_id, model=r.model,
                                             status=200, latency_s=0.8, overhead_s=0.0003))
sys.stdout = sys.__stdout__
start = time.perf_counter()
body, _ = metrics.render()
render_ms = (time.perf_counter() - start) * 1e3
print(json.dumps({"observe_request_us": observe, "batched_us": batched, "log_request_us": log, "render_ms": render_ms,
                  "exposition_bytes": len(body), "series_lines": body.count(b"\n")}))
"""


def run(requests: int, multiprocess_dir: str | None) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if multiprocess_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = multiprocess_dir
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(requests)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]} on {os.uname().machine}, {os.cpu_count()} CPUs, load {load}")
    print("best of 5 runs per figure; a loaded machine inflates them")
    print(
        f"{'mode':<14}{'observe_request µs':>20}{'16 a turn µs':>14}{'log_request µs':>16}{'render ms':>11}"
        f"{'lines':>8}"
    )
    single = run(args.requests, None)
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as directory:
        multi = run(args.requests, directory)
    for mode, result in (("single", single), ("multiprocess", multi)):
        print(
            f"{mode:<14}{result['observe_request_us']:>20.2f}{result['batched_us']:>14.2f}"
            f"{result['log_request_us']:>16.2f}"
            f"{result['render_ms']:>11.1f}{result['series_lines']:>8}"
        )


if __name__ == "__main__":
    main()
