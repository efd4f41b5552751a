"""Command-line options of the benchmark (``python -m tests.bench.run_bench --help``)."""

from __future__ import annotations

import argparse
from pathlib import Path


def parse_args(argv: list[str] | None, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load run (default 10)")
    parser.add_argument("--connections", default="1,32", help="comma-separated connection counts")
    parser.add_argument("--modes", default="json,stream", help="json, stream or both")
    parser.add_argument("--extra-config", type=Path, help="YAML merged into the generated gateway config")
    parser.add_argument("--header", action="append", default=[], help="'name: value' sent to the gateway")
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--ttft-requests", type=int, default=300, help="sequential streams timed for TTFT")
    parser.add_argument(
        "--ttft-chunk-delay-ms",
        type=float,
        default=0.0,
        help="pace the fake's SSE events this far apart in the TTFT runs: a gateway that buffered the "
        "stream would then show a TTFT near the whole stream's duration",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest is kept")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up load per target")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also measure a bare Starlette + aiohttp passthrough (tests/bench/baseline.py)",
    )
    parser.add_argument(
        "--limits-config",
        type=Path,
        help="also measure a second gateway with this YAML merged in (e.g. tests/bench/budgets_on.yaml), "
        "interleaved run by run with the first, and compare the two (issue 4: within 25%%)",
    )
    parser.add_argument(
        "--limits-header", action="append", default=[], help="'name: value' sent to the second gateway"
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="issue 15's table: bare passthrough, metering on, every limit on (embedded and Redis), Portkey and "
        "LiteLLM's proxy in one run (install the peers first: sh tests/bench/peers/setup.sh)",
    )
    parser.add_argument(
        "--rss-requests",
        type=int,
        default=None,
        help="top the Python servers up to this many requests, then read their RSS (default 100000 with --peers)",
    )
    parser.add_argument(
        "--stream-connections",
        help="connection counts for the SSE runs (default: --connections; 32 with --peers)",
    )
    parser.add_argument(
        "--compare-root",
        type=Path,
        help="another source tree (e.g. `git archive <commit> | tar -x -C DIR`): its gateway (and limits gateway) "
        "run as targets gateway-ref/limits-ref in the same rounds, compared round by round",
    )
    parser.add_argument("--upstream-only", action="store_true", help="benchmark the fake upstream alone")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="RAW_FILE",
        help="profile the gateway with py-spy during the non-streaming run at the most connections",
    )
    return parser.parse_args(argv)


def headers(lines: list[str]) -> dict[str, str]:
    """``--header 'name: value'`` lines as a mapping."""
    found = {}
    for line in lines:
        name, _, value = line.partition(":")
        found[name.strip()] = value.strip()
    return found
