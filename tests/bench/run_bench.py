"""Benchmark the gateway against the fake upstream: RPS, p50/p99, latency and TTFT added, CPU, RSS.

Run from the repository root (needs the gateway installed, ``pip install -e .``, and ideally Debian's
``wrk``)::

    python -m tests.bench.run_bench                      # 10 s per run, c=1 and c=32, JSON and SSE
    python -m tests.bench.run_bench --baseline --repeat 3 --json > bench.json
    python -m tests.bench.run_bench --extra-config tests/bench/budgets_on.yaml \\
        --header "authorization: Bearer sk-bench-tenant"     # budgets on (compare with a run without)
    python -m tests.bench.run_bench --modes json --limits-config tests/bench/budgets_on.yaml \\
        --limits-header "authorization: Bearer sk-bench-tenant"  # budgets off and on, interleaved, compared
    python -m tests.bench.run_bench --py-spy /tmp/gw.raw  # + the gateway's hot spots (pip install py-spy)
    python -m tests.bench.run_bench --upstream-only      # the fake alone (its own ceiling)
    sh tests/bench/peers/setup.sh && python -m tests.bench.run_bench --peers --repeat 3  # issue 15's table
    python -m tests.bench.run_bench --modes json --compare-root /tmp/old  # A/B against another tree's gateway

What it does:

1. Starts the fake upstream (``python -m tests.fakes.upstream``) and the gateway
   (``carbon-gateway serve --config <generated yaml> --port N --workers 1``). The generated config is one
   model in LiteLLM's ``model_list`` shape (``bench`` → ``openai/bench-model`` at the fake);
   ``--extra-config`` is deep-merged into it (mappings merge, other values replace), e.g. budgets on.
   The embedded store lives in a fresh temporary directory; ``REDIS_URL`` in the environment selects Redis.
   ``--baseline`` adds a bare Starlette + aiohttp passthrough (``tests/bench/baseline.py``) as a third target.
2. Pins with ``taskset`` when there are two cores: the gateway (and baseline) alone on the first core; the
   fake upstream, the load generator and this script on the second, so the gateway's figures are one worker
   on one core and the load side does not steal its CPU. ``--no-pin`` turns this off.
3. Sends one request through the gateway: its ``x-carbon-*`` and ``x-ratelimit-*`` headers show that
   metering (and, with tenants, limits) are on. Warms the targets up, then drives closed-loop load with
   ``wrk`` (one thread, a generated Lua script POSTing the body) or, when wrk is missing or with
   ``--loadgen python``, the bundled async generator (``tests/bench/loadgen.py``, slower), for each
   connection count, non-streaming and streaming, against the upstream directly and through the gateway.
   ``--repeat N`` keeps the fastest of N runs per case (other work on the machine only ever slows one);
   the targets take turns within each round, so a slow spell on a shared machine hits them alike.
   ``--limits-config`` adds a second gateway (target ``limits``) with that YAML merged in and
   compares it with the first: issue 4 wants budgets on within 25% of budgets off.
4. For the servers under test, reads their CPU time from /proc around each run: CPU per request and the
   share of its core it got. On a shared machine wall-clock RPS moves with the neighbours; CPU per request
   hardly does, and ``1 s / CPU per request`` is the rate one whole core would sustain.
5. Measures time to first token (first SSE event with non-empty content) with its own sequential client, in
   ``--repeat`` rounds of every target in turn (``tests/bench/ttft.py``; ``--ttft-chunk-delay-ms`` paces the
   fake's events, which exposes a gateway that buffers streams), and
   the gateway's resident memory (VmRSS and VmHWM over its process tree) after each run and at the end.
6. Prints a table and the comparison with the targets (issue 2): >= 2,500 RPS at c=32 non-streaming,
   <= +0.5 ms p50 at c=1, <= +1 ms TTFT for streaming, <= 150 MB RSS; ``--json`` prints one JSON document.
   If a gateway run had errors, the end of the gateway's log is included.
7. ``--peers`` (issue 15) measures in the same run, round by round: the bare passthrough, the gateway with
   metering on, the gateway with one tenant whose every limit is on (embedded store, and Redis from
   ``tests/bench/budgets_on_redis.yaml``), Portkey's gateway and LiteLLM's proxy (``tests/bench/peers.py``;
   install them first with ``sh tests/bench/peers/setup.sh``), then prints one table: RPS, CPU per
   request and p99 at c=32, p50 added at c=1, SSE at c=32 (against the bare SSE passthrough), TTFT added,
   the event loop's worst lag during the c=1 and the c=32 runs (``CARBON_GATEWAY_LOOP_LAG=1``, Python
   servers) and at half load (JSON c=32 paced to half the bare passthrough's RPS, ``peer_run.paced_lag``)
   and RSS after ``--rss-requests`` requests (default 100,000; the Python servers are topped up).
   Before every timed run and TTFT series, it waits until every server is idle (``Bench.wait_quiet``, at most
   30 s); a wait that timed out names the busiest server then (``quiet_waits_s.never_quiet`` in ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make ``tests.*`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import yaml

from tests.bench import loadgen, options, peer_run, processes, profile, steps, ttft
from tests.bench.loadgen import LoadResult
from tests.bench.report import best_row, compare, load_average, log_tail_if_errors, machine, print_report
from tests.bench.wrk_runner import run_wrk, wrk_available
from tests.fakes.process import spawn_fake_upstream
from tests.support.ports import free_port

PATH = "/v1/chat/completions"
PROMPT = (
    "You are benchmarking an OpenAI-compatible gateway. Summarise in one sentence why measuring the carbon "
    "footprint of each request matters for a sustainability report."
)


def request_body(model: str, stream: bool, chunk_delay_ms: float = 0.0) -> bytes:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        body["stream"] = True
    if chunk_delay_ms > 0:
        # Steers the fake (the gateway forwards the body): events paced like a real model's.
        body["fake_behaviour"] = {"stream_chunk_delay_s": chunk_delay_ms / 1000}
    return json.dumps(body, separators=(",", ":")).encode()


class Bench:
    """One benchmark session: the load generator, the targets, and the measurements so far."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and wrk_available())
        if args.loadgen == "wrk" and not wrk_available():
            raise SystemExit("wrk is not installed (apt-get install -y wrk), or use --loadgen python")
        if args.py_spy and not profile.py_spy_available():
            raise SystemExit("--py-spy needs py-spy on PATH (pip install py-spy)")
        self.targets: dict[str, Target] = {}
        self.gateway: subprocess.Popen[bytes] | None = None
        self.servers: dict[str, subprocess.Popen[Any]] = {}  # targets whose CPU is measured
        self.profile: dict[str, Any] | None = None
        self.gateway_log: Path | None = None
        self.logs: dict[str, Path] = {}  # servers whose stderr carries loop-lag lines
        self.served: dict[str, int] = {}  # requests each target answered so far (for RSS after N)
        self.quiet_waits: list[float] = []  # seconds waited for every server to go idle before each run
        self.never_quiet: list[str] = []  # for each wait that timed out: the busiest server then, its core share

    def wait_quiet(self) -> None:
        """Before each timed run: every server idle, so none still works off its last run on the shared core."""
        waited, busiest = processes.wait_quiet({name: server.pid for name, server in self.servers.items()})
        self.quiet_waits.append(waited)
        if busiest is not None:
            self.never_quiet.append(busiest)

    def load(
        self, target: Target, body: bytes, connections: int, duration_s: float, rate: float | None = None
    ) -> LoadResult:
        result = self._load(target, body, connections, duration_s, rate)
        for name, known in self.targets.items():
            if known is target:
                self.served[name] = self.served.get(name, 0) + result.requests
        return result

    def _load(
        self, target: Target, body: bytes, connections: int, duration_s: float, rate: float | None
    ) -> LoadResult:
        if self.use_wrk and rate is None:  # wrk cannot pace its requests; the Python load generator can
            url = f"http://127.0.0.1:{target.port}{PATH}"
            return run_wrk(url, body, connections=connections, duration_s=duration_s, headers=target.headers)
        return loadgen.run_sync(
            loadgen.run_load(
                "127.0.0.1",
                target.port,
                PATH,
                body,
                connections=connections,
                duration_s=duration_s,
                headers=target.headers,
                rate=rate,
            )
        )

    def measure_case(self, mode: str, connections: int, profiled_target: str | None) -> list[dict[str, Any]]:
        """``--repeat`` rounds of one case, each round running every target once in turn (so a slow
        spell on the machine hits all of them alike); per target the fastest run is kept, since
        other work only ever slows a run."""
        runs: dict[str, list[tuple[LoadResult, dict[str, float]]]] = {name: [] for name in self.targets}
        for attempt in range(self.args.repeat):
            for name in self.targets:
                # With a limits gateway, both gateways are profiled (same round, same conditions);
                # the report shows the limits gateway's hot spots.
                profiled = attempt == 0 and (
                    name == profiled_target or (profiled_target == "limits" and name == "gateway")
                )
                runs[name].append(self.run_once(name, mode, connections, profiled))
        return [best_row(name, mode, name_runs) for name, name_runs in runs.items()]

    def run_once(
        self, name: str, mode: str, connections: int, profiled: bool
    ) -> tuple[LoadResult, dict[str, float]]:
        target = self.targets[name]
        body = request_body(target.model, mode == "stream")
        server = self.servers.get(name)
        profiler = None
        if profiled and server is not None:
            profiler = profile.start_py_spy(server.pid, self.args.duration, self._profile_path(name))
        self.wait_quiet()
        cpu_before = self._server_cpu(name)
        log_offset = processes.log_size(self.logs.get(name))
        result = self.load(target, body, connections, self.args.duration)
        figures = self._cpu_figures(name, cpu_before, result)
        backlog = processes.usage_backlog(target.port) if server is not None else None
        if backlog is not None:
            figures["usage_backlog"] = backlog
            if backlog > _BACKLOG_WARN:
                print(f"{name} {mode} c={connections}: {backlog} finished requests still queued for the store "
                      "after the run: its writer fell behind (that work is not in this run's CPU)", file=sys.stderr)
        lag_lines = processes.loop_lag_lines(self.logs.get(name), log_offset)
        for field, key in (
            ("max_ms", "loop_lag_max_ms"),
            ("max_busy_ms", "loop_busy_max_ms"),
            ("gc_max_ms", "gc_max_ms"),
            ("backlog_max", "usage_backlog_max"),  # the writer's longest queue during the run (gateways)
            ("threads", "threads_max"),  # a thread started during the run (each has its own malloc arena)
        ):
            lag = processes.worst(lag_lines, field)
            if lag is not None:
                figures[key] = lag
        if profiler is not None:
            self.profile = profile.finish_py_spy(profiler, self._profile_path(name))
        return result, figures

    def _profile_path(self, name: str) -> Path:
        """The --py-spy file; with a limits gateway, the budgets-off one goes beside it (RAW.off)."""
        path: Path = self.args.py_spy
        return (
            path if name != "gateway" or "limits" not in self.targets else path.with_name(path.name + ".off")
        )

    def _server_cpu(self, name: str) -> float | None:
        server = self.servers.get(name)
        return None if server is None else processes.tree_cpu_seconds(server.pid)

    def _cpu_figures(self, name: str, before: float | None, result: LoadResult) -> dict[str, float]:
        """CPU the server under test spent per request, and its share of one core: a noisy machine
        slows wall-clock figures but barely changes the CPU cost per request."""
        after = self._server_cpu(name)
        if before is None or after is None or result.requests == 0:
            return {}
        used = after - before
        return {
            "server_cpu_us_per_request": round(used / result.requests * 1e6, 1),
            "server_core_share": round(used / result.duration_s, 3) if result.duration_s else 0.0,
            # After each run, so growth across runs (a leak) shows up next to the request counts.
            "server_rss_mb": processes.tree_memory_mb(self.servers[name].pid)["rss_mb"],
        }


_BACKLOG_WARN = 1024  # two usage writer batches


@dataclass(frozen=True)
class Target:
    port: int
    model: str
    headers: dict[str, str]


def _start_gateway(
    bench: Bench,
    upstream_port: int,
    cpus: str | None,
    headers: dict[str, str],
    workdir: Path,
    *,
    name: str = "gateway",
    extra_config: Path | None = None,
    root: Path = processes.REPO_ROOT,
    loop_lag: str = "1",
) -> list[str]:
    """Start a gateway, wait for /healthz, probe one request; return its metering and limit headers."""
    workdir = workdir / name
    workdir.mkdir()
    config_path, log_path = workdir / "gateway.yaml", workdir / "gateway.log"
    config = processes.gateway_config(upstream_port, extra_config)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    state_dir = workdir / "state"
    state_dir.mkdir()
    gateway = processes.start_gateway(config_path, port, cpus, log_path, state_dir, root, loop_lag)
    if name == "gateway":
        bench.gateway, bench.gateway_log = gateway, log_path
    bench.logs[name] = log_path
    bench.servers[name] = gateway  # registered first, so it is stopped even if the probe fails
    processes.wait_ready(gateway, f"http://127.0.0.1:{port}/healthz", 90, log_path)
    url = f"http://127.0.0.1:{port}{PATH}"
    status, answer_headers, answer = processes.probe(url, request_body(processes.BENCH_MODEL, False), headers)
    if status != 200:
        raise RuntimeError(f"probe through the {name} gateway got HTTP {status}: {answer[:500]!r}")
    bench.targets[name] = Target(port, processes.BENCH_MODEL, headers)
    return sorted(header for header in answer_headers if header.startswith(("x-carbon-", "x-ratelimit-")))


def _measure_all(bench: Bench, report: dict[str, Any]) -> None:
    args = bench.args
    connection_counts = [int(c) for c in args.connections.split(",") if c.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    stream_counts = [int(c) for c in (args.stream_connections or args.connections).split(",") if c.strip()]
    for target in bench.targets.values():
        bench.load(target, request_body(target.model, False), 8, args.warmup)
    profiled_target = "limits" if "limits" in bench.targets else "gateway"
    for mode in modes:
        for connections in connection_counts if mode == "json" else stream_counts:
            profiled = bool(args.py_spy) and mode == "json" and connections == max(connection_counts)
            report["results"] += bench.measure_case(mode, connections, profiled_target if profiled else None)
    if "stream" in modes:
        delay = args.ttft_chunk_delay_ms
        report["ttft"] = ttft.ttft_rounds(bench, PATH, lambda model: request_body(model, True, delay))


def run(args: argparse.Namespace) -> dict[str, Any]:
    gateway_cpus, side_cpus = processes.cpu_plan(not args.no_pin)
    if side_cpus is not None:
        os.sched_setaffinity(0, {int(side_cpus)})  # this script, wrk and the fake share the second core
    bench = Bench(args)
    if args.peers:
        peer_run.prepare_args(args)
    gateway_headers, limits_headers = options.headers(args.header), options.headers(args.limits_header)
    upstream, upstream_port = spawn_fake_upstream(cpus=side_cpus, record_limit=100)
    bench.targets["upstream"] = Target(upstream_port, "bench-model", {})
    report: dict[str, Any] = {
        "machine": machine(),
        "pinning": {"gateway": gateway_cpus, "upstream_and_load": side_cpus},
        "loadgen": "wrk" if bench.use_wrk else "python",
        "config_extra": str(args.extra_config) if args.extra_config else None,
        "limits_config": str(args.limits_config) if args.limits_config else None,
        "ttft_chunk_delay_ms": args.ttft_chunk_delay_ms,
        "metering": None,
        "probe_headers": [],
        "results": [],
        "ttft": {},
        "memory": None,
    }
    with tempfile.TemporaryDirectory(prefix="carbon-bench-") as tmp:
        try:
            if not args.upstream_only:
                report["probe_headers"] = _start_gateway(
                    bench,
                    upstream_port,
                    gateway_cpus,
                    gateway_headers,
                    Path(tmp),
                    extra_config=args.extra_config,
                )
                report["metering"] = "x-carbon-gco2e" in report["probe_headers"]
                if args.limits_config:
                    report["limits_probe_headers"] = _start_gateway(
                        bench,
                        upstream_port,
                        gateway_cpus,
                        limits_headers,
                        Path(tmp),
                        name="limits",
                        extra_config=args.limits_config,
                    )
            if args.compare_root:
                peer_run.start_reference(bench, args, upstream_port, gateway_cpus, Path(tmp), _start_gateway)
            if args.baseline:
                processes.start_baseline(bench, upstream_port, gateway_cpus, Path(tmp), Target)
            if args.peers:
                report["peers"] = peer_run.start_peers(
                    bench, upstream_port, gateway_cpus, Path(tmp), start_gateway=_start_gateway, target=Target
                )
            _measure_all(bench, report)
            if args.peers:
                report["paced"] = peer_run.paced_lag(bench, report, request_body)
                configs = {"gateway": args.extra_config, "limits": args.limits_config}
                configs["limits-redis"] = peer_run.BUDGETS_ON_REDIS
                copier = steps.Copier(
                    bench, upstream_port, gateway_cpus, Path(tmp), start_gateway=_start_gateway, target=Target,
                    extra_configs=configs,
                )
                report["steps"] = steps.longest_steps(bench, report["paced"], request_body, copier)
            if args.rss_requests:
                report["rss_after"] = peer_run.rss_after(bench, args.rss_requests, request_body)
            if bench.gateway is not None:
                report["memory"] = processes.tree_memory_mb(bench.gateway.pid)
                report["pinning"]["gateway_allowed"] = processes.allowed_cpus(bench.gateway.pid)
        finally:
            gateway_log_tail = log_tail_if_errors(report["results"], bench.gateway_log)
            for server in bench.servers.values():
                processes.stop(server)
            processes.stop(upstream)
    report["profile"] = bench.profile
    report["quiet_waits_s"] = processes.waits_summary(bench.quiet_waits, bench.never_quiet)
    report["gateway_log_tail"] = gateway_log_tail
    report["machine"]["load_average_at_end"] = load_average()
    report["verdict"] = compare(report["results"], report["ttft"], report["memory"])
    return report


def main(argv: list[str] | None = None) -> int:
    args = options.parse_args(argv, __doc__.split("\n")[0])
    try:
        report = run(args)
    except RuntimeError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
        if args.peers:
            print("\n".join(peer_run.table(report)))
        if args.compare_root:
            print("\n".join(peer_run.reference_lines(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
