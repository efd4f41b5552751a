"""Per-estimate cost of the carbon engine, per method (not collected by pytest).

    python tests/bench/bench_estimate.py [--n 200000]

Prints CPU microseconds per `ModelFactors.estimate()` call (best of 5 runs; CPU time, so that other jobs on
the box matter less) and, for scale, one EcoLogits
`compute_llm_impacts` call. The issue's target is <= 2 us per estimate.

Measured 2026-11-30 on this 2-core box while other jobs ran (CPU time, best of 5 alternating before/after
processes x 7 repeats of 20,000 estimates; before = commit af6ab23, a 12-field frozen dataclass built through the
slot-descriptor fast path; after = a 14-field NamedTuple, one energy formula, the prefill shares), us/estimate:
coefficient 1.18 -> 0.68, energy point params 1.43 -> 1.08 (no latency 1.37 -> 1.05), energy param ranges
2.32 -> 2.22, fallback 1.18 -> 0.64, audited 1.23 -> 0.67. The fast path was worth 40-50% against the plain frozen
dataclass constructor (+1.0 to +1.4 us per estimate: its __init__ sets each field through object.__setattr__);
a NamedTuple is built faster still (~0.44 us for 14 fields against ~2.0 us), so the trick and its hand-kept
field list are gone.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import timeit
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from meters.carbon import CarbonEngine

CASES = [
    ("coefficient (seed 002, gpt-4o)", "gpt-4o", {"method": "coefficient"}, None),
    (
        "coefficient split in/out (override)",
        "mine",
        {"gco2e_per_1k_input_tokens": 0.1, "gco2e_per_1k_output_tokens": 0.4},
        None,
    ),
    ("energy, point params (llama-3.1-8b)", "llama-3.1-8b-instruct", None, 1.7),
    ("energy, point params, no latency", "llama-3.1-8b-instruct", None, None),
    ("energy, param ranges (gpt-4o)", "gpt-4o", None, 2.3),
    ("fallback (unknown model)", "unknown-model", None, None),
    ("supplier (Scaleway per-token factors)", "gpt-oss-120b", None, None),
    ("energy, unknown host (world, covered range)", "acme-13b", None, 1.7),
]


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    engine = CarbonEngine.load()
    audited = engine.with_audited("2026-10", {"llama-3.1-8b-instruct": (0.004, 3_000_000, 1_000_000)})
    print(f"{_cpu()}, Python {platform.python_version()}, n={args.n}, best of 5")
    rows = [
        (label, engine.factors_for(model, override=override), latency)
        for label, model, override, latency in CASES
    ]
    rows.append(("audited (split in/out)", audited.factors_for("llama-3.1-8b-instruct"), None))
    no_prefill = CarbonEngine.load(settings={"include_prefill": False})
    rows.append(("energy, prefill off (chat)", no_prefill.factors_for("llama-3.1-8b-instruct"), 1.7))
    for label, factors, latency in rows:
        names = {"estimate": factors.estimate, "latency": latency}
        best = min(
            timeit.repeat(
                "estimate(812, 264, latency)", globals=names, number=args.n, repeat=5, timer=time.process_time
            )
        )
        print(f"{label:44s} {factors.method:12s} {best / args.n * 1e6:6.3f} us/estimate")
    names = {"estimate": engine.estimate}
    cached = min(
        timeit.repeat(
            "estimate('gpt-4o', 812, 264)", globals=names, number=args.n, repeat=5, timer=time.process_time
        )
    )
    print(
        f"{'engine.estimate() (dict lookup + estimate)':44s} {'energy':12s} {cached / args.n * 1e6:6.3f} us/estimate"
    )
    _ecologits_reference()


def _ecologits_reference() -> None:
    try:
        from ecologits.impacts.llm import compute_llm_impacts
    except ImportError:
        return
    n = 500
    seconds = timeit.timeit(
        lambda: compute_llm_impacts(8.0, 8.0, 264, 1e-7, 9.3, 0.04144, 3.67, 1.16, 0.0, request_latency=1.7),
        number=n,
    )
    print(f"{'reference: EcoLogits compute_llm_impacts':44s} {'':12s} {seconds / n * 1e6:6.1f} us/call")


if __name__ == "__main__":
    main()
