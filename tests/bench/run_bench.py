"""Benchmark the gateway against the fake upstream: RPS, p50/p99, latency and TTFT added, RSS.

Run from the repository root (needs the gateway installed, ``pip install -e .``, and ideally Debian's
``wrk``)::

    python -m tests.bench.run_bench                      # 10 s per run, c=1 and c=32, JSON and SSE
    python -m tests.bench.run_bench --duration 5 --json  # machine-readable
    python -m tests.bench.run_bench --extra-config budgets-on.yaml --header "authorization: Bearer sk-t1"
    python -m tests.bench.run_bench --upstream-only      # the fake alone (its own ceiling)

What it does:

1. Starts the fake upstream (``python -m tests.fakes.upstream``) and the gateway
   (``carbon-gateway serve --config <generated yaml> --port N --workers 1``). The generated config is one
   model in LiteLLM's ``model_list`` shape (``bench`` → ``openai/bench-model`` at the fake);
   ``--extra-config`` is deep-merged into it (mappings merge, other values replace), e.g. budgets on.
2. Pins with ``taskset`` when there are two cores: the gateway alone on the first core, the fake upstream,
   the load generator and this script on the second, so the gateway's figures are one worker on one core
   and the load side does not steal its CPU. ``--no-pin`` turns this off.
3. Checks one request through the gateway (status, and whether ``x-carbon-gco2e`` comes back, i.e. metering
   is on), warms both targets up, then drives closed-loop load with ``wrk`` (one thread, a generated Lua
   script POSTing the body) or, when wrk is missing or ``--loadgen python``, the bundled async generator
   (``tests/bench/loadgen.py``; slower, so its ceiling is lower), for each connection count, for a
   non-streaming and a streaming chat completion, against (a) the upstream directly and (b) the gateway.
4. Measures time to first token (first SSE event with non-empty content) with its own sequential client,
   and the gateway's resident memory (VmRSS now and VmHWM peak, summed over its process tree, from /proc).
5. Prints a table and the comparison with the targets (issue 2): >= 2,500 RPS at c=32 non-streaming,
   <= +0.5 ms p50 at c=1, <= +1 ms TTFT for streaming, <= 150 MB RSS; ``--json`` prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):  # run as a file: make ``tests.*`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import yaml

from tests.bench import loadgen, processes
from tests.bench.loadgen import LoadResult
from tests.bench.wrk_runner import run_wrk, wrk_available
from tests.fakes.process import spawn_fake_upstream

PATH = "/v1/chat/completions"
PROMPT = (
    "You are benchmarking an OpenAI-compatible gateway. Summarise in one sentence why measuring the carbon "
    "footprint of each request matters for a sustainability report."
)
T = TypeVar("T")
TARGETS = {"rps_c32_json": 2500.0, "added_p50_ms_c1": 0.5, "added_ttft_ms": 1.0, "rss_mb": 150.0}


def request_body(model: str, stream: bool) -> bytes:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load run (default 10)")
    parser.add_argument("--connections", default="1,32", help="comma-separated connection counts")
    parser.add_argument("--modes", default="json,stream", help="json, stream or both")
    parser.add_argument("--extra-config", type=Path, help="YAML merged into the generated gateway config")
    parser.add_argument("--header", action="append", default=[], help="'name: value' sent to the gateway")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--ttft-requests", type=int, default=300, help="sequential streams timed for TTFT")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up load per target")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--upstream-only", action="store_true", help="benchmark the fake upstream alone")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    return parser.parse_args(argv)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def _run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """uvloop when available: the bundled client then costs the shared core less."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and wrk_available())
        if args.loadgen == "wrk" and not wrk_available():
            raise SystemExit("wrk is not installed (apt-get install -y wrk), or use --loadgen python")

    def load(
        self, port: int, body: bytes, connections: int, duration_s: float, headers: dict[str, str]
    ) -> LoadResult:
        if self.use_wrk:
            url = f"http://127.0.0.1:{port}{PATH}"
            return run_wrk(url, body, connections=connections, duration_s=duration_s, headers=headers)
        return _run_async(
            loadgen.run_load(
                "127.0.0.1", port, PATH, body, connections=connections, duration_s=duration_s, headers=headers
            )
        )

    def ttft_ms(self, port: int, body: bytes, headers: dict[str, str]) -> dict[str, float]:
        ttfts = _run_async(
            loadgen.measure_ttft(
                "127.0.0.1", port, PATH, body, requests=self.args.ttft_requests, headers=headers
            )
        )
        return {
            "p50_ms": round(loadgen.percentile(ttfts, 0.5) * 1000, 3),
            "p99_ms": round(loadgen.percentile(ttfts, 0.99) * 1000, 3),
        }


def compare(results: list[dict[str, Any]], ttft: dict[str, Any], memory: dict[str, Any] | None) -> dict:
    """Each target: the measured figure, the goal and whether it is met (None when not measured)."""

    def find(target: str, mode: str, connections: int) -> dict[str, Any] | None:
        for row in results:
            if (row["target"], row["mode"], row["connections"]) == (target, mode, connections):
                return row
        return None

    verdict: dict[str, Any] = {}
    gateway_c32 = find("gateway", "json", 32)
    if gateway_c32:
        rps = gateway_c32["rps"]
        verdict["rps_c32_json"] = {"value": rps, "goal": ">= 2500", "met": rps >= TARGETS["rps_c32_json"]}
    direct_c1, gateway_c1 = find("upstream", "json", 1), find("gateway", "json", 1)
    if direct_c1 and gateway_c1:
        added = round(gateway_c1["p50_ms"] - direct_c1["p50_ms"], 3)
        verdict["added_p50_ms_c1"] = {
            "value": added,
            "goal": "<= 0.5",
            "met": added <= TARGETS["added_p50_ms_c1"],
        }
    if "gateway" in ttft and "upstream" in ttft:
        added = round(ttft["gateway"]["p50_ms"] - ttft["upstream"]["p50_ms"], 3)
        verdict["added_ttft_ms"] = {
            "value": added,
            "goal": "<= 1.0",
            "met": added <= TARGETS["added_ttft_ms"],
        }
    if memory:
        rss = memory["peak_rss_mb"]
        verdict["rss_mb"] = {"value": rss, "goal": "<= 150 (peak)", "met": rss <= TARGETS["rss_mb"]}
    return verdict


def print_report(report: dict[str, Any]) -> None:
    print(f"machine: {report['machine']}")
    print(
        f"pinning: {report['pinning']}  load generator: {report['loadgen']}  metering: {report['metering']}"
    )
    print(f"{'target':<9} {'mode':<7} {'c':>3} {'RPS':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for row in report["results"]:
        print(
            f"{row['target']:<9} {row['mode']:<7} {row['connections']:>3} {row['rps']:>9.1f} "
            f"{row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} {row['errors']:>7}"
        )
    for target, figures in report["ttft"].items():
        print(f"TTFT {target}: p50 {figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms")
    if report["memory"]:
        memory = report["memory"]
        print(f"gateway memory: RSS {memory['rss_mb']} MB, peak {memory['peak_rss_mb']} MB")
    for name, verdict in report["verdict"].items():
        state = "met" if verdict["met"] else "MISSED"
        print(f"{name}: {verdict['value']} (goal {verdict['goal']}) {state}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    gateway_cpus, side_cpus = processes.cpu_plan(not args.no_pin)
    if side_cpus is not None:
        os.sched_setaffinity(0, {int(side_cpus)})  # this script, wrk and the fake share the second core
    bench = Bench(args)
    connection_counts = [int(c) for c in args.connections.split(",") if c.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    gateway_headers = dict(h.split(":", 1) for h in args.header)
    gateway_headers = {name.strip(): value.strip() for name, value in gateway_headers.items()}
    upstream, upstream_port = spawn_fake_upstream(cpus=side_cpus, record_limit=100)
    targets: dict[str, tuple[int, str, dict[str, str]]] = {"upstream": (upstream_port, "bench-model", {})}
    report: dict[str, Any] = {
        "machine": machine(),
        "pinning": {"gateway": gateway_cpus, "upstream_and_load": side_cpus},
        "loadgen": "wrk" if bench.use_wrk else "python",
        "metering": None,
        "results": [],
        "ttft": {},
        "memory": None,
    }
    gateway = None
    with tempfile.TemporaryDirectory(prefix="carbon-bench-") as tmp:
        try:
            if not args.upstream_only:
                config_path, log_path = Path(tmp) / "gateway.yaml", Path(tmp) / "gateway.log"
                config = processes.gateway_config(upstream_port, args.extra_config)
                config_path.write_text(yaml.safe_dump(config, sort_keys=False))
                port = processes.free_port()
                gateway = processes.start_gateway(config_path, port, gateway_cpus, log_path)
                processes.wait_ready(gateway, f"http://127.0.0.1:{port}/healthz", 90, log_path)
                status, headers, answer = processes.probe(
                    f"http://127.0.0.1:{port}{PATH}",
                    request_body(processes.BENCH_MODEL, False),
                    gateway_headers,
                )
                if status != 200:
                    raise RuntimeError(f"probe through the gateway got HTTP {status}: {answer[:500]!r}")
                report["metering"] = "x-carbon-gco2e" in headers
                targets["gateway"] = (port, processes.BENCH_MODEL, gateway_headers)
            for port, model, headers in targets.values():
                bench.load(port, request_body(model, False), 8, args.warmup, headers)
            for mode in modes:
                for connections in connection_counts:
                    for name, (port, model, headers) in targets.items():
                        body = request_body(model, mode == "stream")
                        result = bench.load(port, body, connections, args.duration, headers)
                        report["results"].append({"target": name, "mode": mode, **result.as_dict()})
            if "stream" in modes:
                for name, (port, model, headers) in targets.items():
                    report["ttft"][name] = bench.ttft_ms(port, request_body(model, True), headers)
            if gateway is not None:
                report["memory"] = processes.tree_memory_mb(gateway.pid)
        finally:
            if gateway is not None:
                processes.stop(gateway)
            processes.stop(upstream)
    report["verdict"] = compare(report["results"], report["ttft"], report["memory"])
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except RuntimeError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
