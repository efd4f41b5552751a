"""``run_bench --peers`` (issue 15): the extra targets, loop lag from the servers' logs, RSS after N requests,
and the side-by-side table."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.bench import peers, processes
from tests.bench.report import _median_ratio
from tests.bench.ttft import added_ms
from tests.support.ports import free_port

BENCH_DIR = Path(__file__).resolve().parent
BUDGETS_ON = BENCH_DIR / "budgets_on.yaml"
BUDGETS_ON_REDIS = BENCH_DIR / "budgets_on_redis.yaml"
TENANT_HEADER = "authorization: Bearer sk-bench-tenant"
REDIS_PREFIX = "cgbench:"
PYTHON_SERVERS = ("baseline", "gateway", "limits", "limits-redis")
ROWS = {
    "baseline": "bare Starlette + aiohttp passthrough (no metering)",
    "gateway": "carbon-gateway, metering on",
    "limits": "carbon-gateway, one tenant with every limit on (embedded store)",
    "limits-redis": "carbon-gateway, one tenant with every limit on (Redis)",
    "portkey": "Portkey gateway {version} (Node)",
    "litellm": "LiteLLM proxy {version}",
}


def prepare_args(args: argparse.Namespace) -> None:
    """--peers implies the bare passthrough and a budgets-on gateway, SSE at the most connections only."""
    peers.check_installed()
    args.baseline = True
    if args.limits_config is None:
        args.limits_config, args.limits_header = BUDGETS_ON, [TENANT_HEADER]
    if args.rss_requests is None:
        args.rss_requests = 100_000
    if args.stream_connections is None:
        args.stream_connections = str(max(int(c) for c in args.connections.split(",") if c.strip()))


def start_peers(
    bench: Any,
    upstream_port: int,
    cpus: str | None,
    workdir: Path,
    *,
    start_gateway: Callable[..., Any],
    target: Any,
) -> dict[str, Any]:
    """The Redis budgets-on gateway, Portkey and LiteLLM's proxy, each probed once before timing."""
    found: dict[str, Any] = {}
    _clear_redis()
    pinned = _pin_redis()
    print(
        f"local Redis pinned to cpu(s) {pinned}"
        if pinned
        else "local Redis not pinned (not local, or not allowed)",
        file=sys.stderr,  # stdout may be --json
    )
    headers = {"authorization": TENANT_HEADER.split(":", 1)[1].strip()}
    found["limits-redis"] = {"probe_headers": [], "redis_cpus": pinned}
    found["limits-redis"]["probe_headers"] = start_gateway(
        bench, upstream_port, cpus, headers, workdir, name="limits-redis", extra_config=BUDGETS_ON_REDIS
    )
    portkey = peers.start_portkey(upstream_port, free_port(), cpus, workdir / "portkey.log")
    litellm_dir = workdir / "litellm"
    litellm_dir.mkdir()
    litellm = peers.start_litellm(upstream_port, free_port(), cpus, litellm_dir)
    for peer in (portkey, litellm):
        bench.servers[peer.name] = peer.process
        processes.wait_port(peer.process, peer.port, 120)
        url = f"http://127.0.0.1:{peer.port}/v1/chat/completions"
        body = json.dumps({"model": peer.model, "messages": [{"role": "user", "content": "hi"}]}).encode()
        status, _, answer = processes.probe(url, body, peer.headers)
        if status != 200:
            raise RuntimeError(f"probe through {peer.name} got HTTP {status}: {answer[:300]!r}")
        bench.targets[peer.name] = target(peer.port, peer.model, peer.headers)
        found[peer.name] = {"version": peer.version}
    return found


def _clear_redis() -> None:
    """Drop the benchmark tenant's keys (its prefix only) in the Redis DB budgets_on_redis.yaml names."""
    import redis

    client = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    try:
        keys = list(client.scan_iter(f"{REDIS_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _pin_redis() -> str | None:
    """Keep the local Redis off the servers' core, as the fake upstream and wrk are: on the side core this
    script runs on (run_bench pinned it). Unpinned, Redis takes turns on the gateway's core and the Redis row
    measures the two sharing it. Its affinity is restored when the run ends. The cores, or None (not local,
    no permission)."""
    import redis

    client = redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    try:
        pid = int(client.info("server")["process_id"])
        before = os.sched_getaffinity(pid)
        side = os.sched_getaffinity(0)
        os.sched_setaffinity(pid, side)
    except (OSError, KeyError, ValueError, redis.RedisError):
        return None
    finally:
        client.close()
    atexit.register(_restore_affinity, pid, before)
    return ",".join(str(cpu) for cpu in sorted(side))


def _restore_affinity(pid: int, cpus: set[int]) -> None:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(pid, cpus)


def rss_after(bench: Any, requests: int, request_body: Callable[..., bytes]) -> dict[str, Any]:
    """Top the Python servers up to ``requests`` answered, then read every server's RSS (bounded loop)."""
    out: dict[str, Any] = {}
    for name in bench.servers:
        target = bench.targets.get(name)
        if target is None:
            continue
        for _ in range(20):
            served = bench.served.get(name, 0)
            if name not in PYTHON_SERVERS or served >= requests:
                break
            probe = bench.load(target, request_body(target.model, False), 32, 2)
            rate = max(probe.rps, 100.0)
            bench.load(
                target, request_body(target.model, False), 32, min(60.0, max(2.0, (requests - served) / rate))
            )
        memory = processes.tree_memory_mb(bench.servers[name].pid)
        out[name] = {"requests": bench.served.get(name, 0), **memory}
        backlog = processes.usage_backlog(target.port) if name in PYTHON_SERVERS else None
        if backlog is not None:  # records queued for the store at that moment are in the RSS
            out[name]["usage_backlog"] = backlog
    return out


PACED_FRACTION = 0.5  # of the bare passthrough's RPS at c=32: every Python server well under its capacity


def paced_lag(bench: Any, report: dict[str, Any], request_body: Callable[..., bytes]) -> dict[str, Any]:
    """The loop's worst lag under load but below saturation: JSON at c=32 paced to half the bare passthrough's
    RPS (the Python load generator), ``--repeat`` rounds of ``--duration`` each, every Python server in turn.
    At c=32 unpaced a timer waits behind every ready request (queueing, the bare passthrough's too); here a
    late timer means one piece of work that held the loop."""
    bare = _row(report["results"], "baseline", "json", 32)
    if bare is None or not bare["rps"]:
        return {}
    rate = round(PACED_FRACTION * bare["rps"], 1)
    worst: dict[str, dict[str, float]] = {}
    for _ in range(bench.args.repeat):
        for name, target in bench.targets.items():
            if name not in PYTHON_SERVERS:
                continue
            bench.wait_quiet()
            log = bench.logs.get(name)
            offset = processes.log_size(log)
            result = bench.load(target, request_body(target.model, False), 32, bench.args.duration, rate)
            seen = worst.setdefault(name, {"errors": 0, "skipped": 0})
            seen["errors"] += result.errors
            seen["skipped"] += result.skipped  # slots missed (generator held up, answer late)
            seen["sends_max_1ms"] = max(seen.get("sends_max_1ms", 0), result.sends_max_1ms or 0)
            seen["rps_min"] = min(seen.get("rps_min", result.rps), result.rps)
            seen["p99_ms"] = max(seen.get("p99_ms", 0.0), result.p99_ms)
            lag_lines = processes.loop_lag_lines(log, offset)
            for field, key in (("max_ms", "loop_lag_max_ms"), ("max_busy_ms", "loop_busy_max_ms")):
                lag = processes.worst(lag_lines, field)
                if lag is not None:
                    seen[key] = max(seen.get(key, 0.0), lag)
    return {"rate": rate, "fraction_of_bare": PACED_FRACTION, "connections": 32, "servers": worst}


def _row(results: list[dict[str, Any]], target: str, mode: str, connections: int) -> dict[str, Any] | None:
    for row in results:
        if (row["target"], row["mode"], row["connections"]) == (target, mode, connections):
            return row
    return None


def _median(values: list[float]) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def summary(report: dict[str, Any], c_high: int = 32) -> dict[str, dict[str, Any]]:
    """Per server: the table's figures, ratios to the bare passthrough taken round by round (median)."""
    results, ttft = report["results"], report["ttft"]
    bare, bare_sse = _row(results, "baseline", "json", c_high), _row(results, "baseline", "stream", c_high)
    upstream_c1 = _row(results, "upstream", "json", 1)
    out: dict[str, dict[str, Any]] = {}
    for name in ROWS:
        json_row = _row(results, name, "json", c_high)
        if json_row is None:
            continue
        figures: dict[str, Any] = {
            "rps": json_row["rps"],
            "errors": json_row["errors"],
            "cpu_us": json_row.get("server_cpu_us_per_request"),
            "p99_ms": json_row["p99_ms"],
            "loop_lag_max_ms": json_row.get("loop_lag_max_ms"),
            "loop_busy_max_ms": json_row.get("loop_busy_max_ms"),
        }
        if bare is not None:
            figures["rps_ratio"] = _median_ratio(json_row["runs_rps"], bare["runs_rps"])
            figures["p99_ratio"] = _median_ratio(json_row["runs_p99_ms"], bare["runs_p99_ms"])
            if json_row.get("runs_cpu_us_per_request") and bare.get("runs_cpu_us_per_request"):
                # What one core would serve, relative to the bare proxy: robust when neighbours steal the core.
                figures["capacity_ratio"] = _median_ratio(
                    bare["runs_cpu_us_per_request"], json_row["runs_cpu_us_per_request"]
                )
        c1 = _row(results, name, "json", 1)
        if c1 is not None and upstream_c1 is not None:
            added = [a - b for a, b in zip(c1["runs_p50_ms"], upstream_c1["runs_p50_ms"], strict=True)]
            figures["p50_added_c1_ms"] = round(_median(added), 3)
        if c1 is not None:  # one request at a time: a late timer is the loop blocked, not requests queued
            figures["loop_lag_c1_ms"] = c1.get("loop_lag_max_ms")
            figures["loop_busy_c1_ms"] = c1.get("loop_busy_max_ms")
        sse = _row(results, name, "stream", c_high)
        if sse is not None:
            figures["sse_rps"], figures["sse_errors"] = sse["rps"], sse["errors"]
            if bare_sse is not None:
                figures["sse_ratio"] = _median_ratio(sse["runs_rps"], bare_sse["runs_rps"])
            for key in ("loop_lag_max_ms", "loop_busy_max_ms"):
                if sse.get(key) is not None:
                    figures[key] = max(figures[key] or 0.0, sse[key])
        added = added_ms(ttft, name)
        if added is not None:
            figures["ttft_added_ms"] = added
        paced = (report.get("paced") or {}).get("servers", {}).get(name, {})
        if "loop_lag_max_ms" in paced:
            figures["loop_lag_paced_ms"] = paced["loop_lag_max_ms"]
            figures["loop_busy_paced_ms"] = paced.get("loop_busy_max_ms")
        step = (report.get("steps") or {}).get("servers", {}).get(name, {})
        figures["step_ms"], figures["step_wall_ms"] = step.get("max_step_ms"), step.get("max_step_wall_ms")
        rss = report.get("rss_after", {}).get(name)
        if rss:
            figures["rss_mb"], figures["rss_requests"] = rss["rss_mb"], rss["requests"]
        out[name] = figures
    return out


def _fmt(value: Any, pattern: str, missing: str = "—") -> str:
    return missing if value is None else pattern.format(value)


def _lag(figures: dict[str, Any], wall: str, busy: str) -> str:
    return _fmt(figures.get(wall), "{:.1f} ms") + _fmt(figures.get(busy), " ({:.1f} ms)", "")


def table(report: dict[str, Any]) -> list[str]:
    """The issue's table (Markdown), plus SSE, TTFT, loop lag and RSS columns."""
    versions = {name: info.get("version", "") for name, info in (report.get("peers") or {}).items()}
    lines = [
        "",
        "| server | RPS c=32 (× bare) | CPU/request (bare's ÷ this) | p99 (× bare) | p50 added at c=1 | SSE c=32 (× bare SSE)"
        " | TTFT added | worst loop lag c=1 (busy) | worst loop lag c=32 (busy) | worst loop lag at half load (busy)"
        " | longest loop step at half load (wall) | RSS after N requests |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, f in summary(report).items():
        label = ROWS[name].format(version=versions.get(name, ""))
        rps = f"{f['rps']:,.0f}" + _fmt(f.get("rps_ratio"), " ({:.2f})", "")
        if f["errors"]:
            rps += f" [{f['errors']} errors]"
        sse = "—"
        if "sse_rps" in f:
            sse = (
                "failed"
                if f["sse_errors"] and f["sse_errors"] >= 0.5 * max(f["sse_rps"], 1)
                else (f"{f['sse_rps']:,.0f}" + _fmt(f.get("sse_ratio"), " ({:.2f})", ""))
            )
        rss = _fmt(f.get("rss_mb"), "{:.0f} MB") + _fmt(f.get("rss_requests"), " ({:,})", "")
        lines.append(
            f"| {label} | {rps} | {_fmt(f['cpu_us'], '{:,.0f} µs')}{_fmt(f.get('capacity_ratio'), ' ({:.2f})', '')} | {f['p99_ms']:.1f} ms"
            f"{_fmt(f.get('p99_ratio'), ' ({:.2f})', '')} | {_fmt(f.get('p50_added_c1_ms'), '{:+.2f} ms')} | {sse}"
            f" | {_fmt(f.get('ttft_added_ms'), '{:+.2f} ms')} | {_lag(f, 'loop_lag_c1_ms', 'loop_busy_c1_ms')}"
            f" | {_lag(f, 'loop_lag_max_ms', 'loop_busy_max_ms')} | {_lag(f, 'loop_lag_paced_ms', 'loop_busy_paced_ms')}"
            f" | {_lag(f, 'step_ms', 'step_wall_ms')} | {rss} |"
        )
    paced = report.get("paced") or {}
    if paced.get("servers"):
        evenness = ", ".join(
            f"{name} {seen.get('sends_max_1ms', '?')} / {seen.get('skipped', 0)}"
            for name, seen in paced["servers"].items()
        )
        lines.append(
            f"\nhalf load: {paced['rate']:,.0f} requests/s; most sent within 1 ms / slots skipped: {evenness}"
        )
    probed = (report.get("steps") or {}).get("servers", {})
    if probed:  # the longest step's CPU is the loop's own work in one callback (a copy on asyncio's loop)
        system = any(seen.get("max_step_system_ms") is not None for seen in probed.values())
        lines.append(
            ("longest loop steps (the kernel's part of their CPU): " if system else "longest loop steps: ")
            + ", ".join(
                f"{n} {s.get('max_step')}{_fmt(s.get('max_step_system_ms'), ' ({:.1f} ms)', '')}"
                for n, s in probed.items()
            )
        )
    return lines


def start_reference(
    bench: Any,
    args: argparse.Namespace,
    upstream_port: int,
    cpus: str | None,
    workdir: Path,
    start: Callable[..., Any],
) -> None:
    """``--compare-root``: the same gateways from another source tree (targets gateway-ref, limits-ref)."""
    root = args.compare_root.resolve()
    start(
        bench,
        upstream_port,
        cpus,
        options_headers(args.header),
        workdir,
        name="gateway-ref",
        extra_config=args.extra_config,
        root=root,
    )
    if args.limits_config:
        start(
            bench,
            upstream_port,
            cpus,
            options_headers(args.limits_header),
            workdir,
            name="limits-ref",
            extra_config=args.limits_config,
            root=root,
        )


def options_headers(lines: list[str]) -> dict[str, str]:
    from tests.bench.options import headers

    return headers(lines)


def reference_lines(report: dict[str, Any]) -> list[str]:
    """This tree against ``--compare-root``'s, round by round (median of per-round ratios)."""
    lines = ["", "this tree / reference tree (median of per-round ratios):"]
    for row in report["results"]:
        name = row["target"]
        if name not in ("gateway", "limits"):
            continue
        ref = _row(report["results"], f"{name}-ref", row["mode"], row["connections"])
        if ref is None:
            continue
        rps = _median_ratio(row["runs_rps"], ref["runs_rps"])
        text = f"  {name} {row['mode']} c={row['connections']}: RPS {rps}"
        if row.get("runs_cpu_us_per_request") and ref.get("runs_cpu_us_per_request"):
            cpu = _median_ratio(row["runs_cpu_us_per_request"], ref["runs_cpu_us_per_request"])
            text += f", CPU/request {cpu} ({_pairs(row, ref)})"
        lines.append(text)
    return lines


def _pairs(row: dict[str, Any], ref: dict[str, Any]) -> str:
    return ", ".join(
        f"{a:.0f}/{b:.0f}"
        for a, b in zip(row["runs_cpu_us_per_request"], ref["runs_cpu_us_per_request"], strict=True)
    )
