"""Time to first token in rounds: every target in turn within a round, as for the timed runs.

One series per target at the end of a run let a slow spell of the VM land on one server alone: on 2026-12-06 the
gateway with every limit on added +0.50 ms in one run and +0.75 ms forty minutes later, the same code, while
its RPS against the bare passthrough's (taken round by round) moved from 0.67 to 0.64. Here each of ``--repeat`` rounds times
``--ttft-requests`` sequential streams per target (after every server has gone idle); a target's figure is the
median of its rounds' p50s, and the time added over the upstream is taken round by round (``added_ms``).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from tests.bench import loadgen


def ttft_rounds(bench: Any, path: str, body_for: Callable[[str], bytes]) -> dict[str, dict[str, Any]]:
    """Per target: ``p50_ms`` (median of the rounds' p50s), ``p99_ms`` (over every stream timed), ``runs_p50_ms``;
    or ``error`` for a target whose series failed (it is not timed again)."""
    samples: dict[str, list[float]] = {}
    p50s: dict[str, list[float]] = {}
    failed: dict[str, str] = {}
    for _ in range(bench.args.repeat):
        for name, target in bench.targets.items():
            if name in failed:
                continue
            bench.wait_quiet()
            series = loadgen.measure_ttft(
                "127.0.0.1", target.port, path, body_for(target.model), requests=bench.args.ttft_requests,
                headers=target.headers,
            )  # fmt: skip
            try:
                ttfts = loadgen.run_sync(series)
            except (RuntimeError, ConnectionError) as error:
                failed[name] = str(error)
                continue
            samples.setdefault(name, []).extend(ttfts)
            p50s.setdefault(name, []).append(loadgen.percentile(ttfts, 0.5) * 1000)
    out: dict[str, dict[str, Any]] = {}
    for name in bench.targets:
        if name in failed:
            out[name] = {"error": failed[name]}
            continue
        rounds = p50s[name]
        out[name] = {
            "p50_ms": round(statistics.median(rounds), 3),
            "p99_ms": round(loadgen.percentile(sorted(samples[name]), 0.99) * 1000, 3),
            "runs_p50_ms": [round(p50, 3) for p50 in rounds],
        }
    return out


def added_ms(ttft: dict[str, dict[str, Any]], name: str, over: str = "upstream") -> float | None:
    """TTFT `name` adds over `over`: the median of the per-round differences (of the p50s when either has no
    rounds); None when either is missing."""
    mine, theirs = ttft.get(name, {}), ttft.get(over, {})
    if "p50_ms" not in mine or "p50_ms" not in theirs:
        return None
    a, b = mine.get("runs_p50_ms"), theirs.get("runs_p50_ms")
    if a and b and len(a) == len(b):
        return round(statistics.median(x - y for x, y in zip(a, b, strict=True)), 3)
    return round(mine["p50_ms"] - theirs["p50_ms"], 3)
