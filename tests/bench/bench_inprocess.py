"""The gateway's own CPU per request, in-process: the app called over raw ASGI, no sockets, no HTTP parsing.

    python -m tests.bench.bench_inprocess [--modes meter,tenant,budget] [--requests 5000] [--rounds 5]

A round sends ``--requests`` chat completions one after another to the app (``create_app`` with its lifespan running,
the embedded store in a temporary directory, the heap settled as ``serve`` settles it), its model answered by a
scripted upstream with a fixed body, then waits for the usage writer to have written them. Per round it reads each
thread's CPU time from ``/proc/self/task/*/schedstat`` and prints µs per request on the loop's thread and on the
others (the embedded store's writer). The modes: ``meter`` (no key: metering only), ``tenant`` (the benchmark
tenant's key, no limits: authentication and leases), ``budget`` (``tests/bench/budgets_on.yaml``: every limit on).
Run it pinned to one core (``taskset -c 0``) for figures comparable round to round: they spread by ~1 µs, where
anything over loopback on this VM spreads by 10% — the tool for an A/B of a change to the request path (against
another tree: ``PYTHONPATH=DIR``). What it leaves out: the HTTP server, the upstream client and the kernel.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

from gateway import heap
from gateway.app import create_app
from tests.support.inprocess import (
    SCRIPTED,
    ScriptedUpstream,
    demo_route,
    edge_config,
    parse_edge_config,
    scripted_route,
)

BUDGETS_ON = Path(__file__).with_name("budgets_on.yaml")
KEY = b"Bearer sk-bench-tenant"
BODY = orjson.dumps(
    {"model": SCRIPTED, "messages": [{"role": "user", "content": "Say hello to the benchmark, please, in a few words."}]}
)
ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": "scripted-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }
)


class _Upstream(ScriptedUpstream):
    """The scripted upstream without its record of every payload (a benchmark would grow it without end)."""

    async def send(self, endpoint: Any, payload: dict[str, Any], *, stream: bool) -> Any:
        response = await super().send(endpoint, payload, stream=stream)
        self.payloads.clear()
        return response


def _extra_config(mode: str, lease: str | None) -> dict[str, Any]:
    if mode == "meter":
        return {}
    extra: dict[str, Any] = yaml.safe_load(BUDGETS_ON.read_text())
    if mode == "tenant":
        del extra["tenants"][0]["limits"]
    if lease:
        requests, seconds = lease.split(",")
        extra["store"] = {"lease_requests": int(requests), "lease_s": float(seconds)}
    return extra


def _thread_ns() -> dict[str, int]:
    """Each thread of this process: nanoseconds on the CPU so far (Linux)."""
    found = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as stat:
                found[tid] = int(stat.read().split()[0])
        except OSError:
            continue
    return found


async def run_mode(mode: str, requests: int, rounds: int, lease: str | None) -> list[tuple[float, float]]:
    """(loop thread µs, other threads µs) per request, one pair a round."""
    if mode not in ("meter", "tenant", "budget"):
        raise SystemExit(f"unknown mode {mode!r}: meter, tenant or budget")
    tmp = Path(tempfile.mkdtemp(prefix="carbon-bench-inprocess-"))
    config = parse_edge_config(edge_config(tmp, **_extra_config(mode, lease)), tmp)
    app = create_app(config, routes={SCRIPTED: scripted_route(), "demo": demo_route()})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
    if mode != "meter":
        headers.append((b"authorization", KEY))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions", "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    figures = []
    async with app.router.lifespan_context(app):
        gateway = app.state.gateway
        gateway.registry.models[SCRIPTED].upstream = _Upstream(body=ANSWER)
        for _ in range(2000):  # warm-up: leases sized, caches filled
            await app(dict(scope), receive, send)
        await gateway.accounting.writer.flush()
        heap.settle()
        loop_tid = str(threading.get_native_id())
        for _ in range(rounds):
            before = _thread_ns()
            for _ in range(requests):
                await app(dict(scope), receive, send)
            await gateway.accounting.writer.flush()
            after = _thread_ns()
            loop_us = (after[loop_tid] - before[loop_tid]) / requests / 1000
            other_us = sum(ns - before.get(tid, 0) for tid, ns in after.items() if tid != loop_tid) / requests / 1000
            figures.append((loop_us, other_us))
            await asyncio.sleep(0.05)
    if statuses != {200}:
        raise SystemExit(f"{mode}: the app answered {sorted(statuses)}, not only 200")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="meter,tenant,budget", help="comma-separated, run in this order")
    parser.add_argument("--requests", type=int, default=5000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lease", help="store.lease_requests,lease_s for the keyed modes, e.g. 1024,0.5")
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    started = time.perf_counter()
    for mode in args.modes.split(","):
        figures = asyncio.run(run_mode(mode.strip(), args.requests, args.rounds, args.lease))
        loops = sorted(loop for loop, _ in figures)
        others = sorted(other for _, other in figures)
        print(
            f"{mode:7s} loop thread {loops[len(loops) // 2]:6.1f} µs/request (rounds {', '.join(f'{x:.1f}' for x in loops)}); "
            f"other threads {others[len(others) // 2]:5.1f}",
            flush=True,
        )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
