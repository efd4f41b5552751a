"""The loop's longest single step at half load: issue 15's "no event-loop stall over 5 ms under load".

A late timer at half load (``peer_run.paced_lag``) mixes two things: one piece of work that held the loop (a
stall) and many short ones that were ready before the timer (queueing, the bare passthrough's too). This phase
separates them. Each Python server is started again, a copy beside the one measured so far, with
``CARBON_GATEWAY_LOOP_LAG=steps`` (``gateway/observability/loop_steps.py``: every callback of the loop timed, on
asyncio's own loop since uvloop's cannot be), and paced exactly as in ``paced_lag``: JSON at c=32, half the bare
passthrough's best RPS, ``--repeat`` rounds of ``--duration``, the copies in turn, after a warm-up round whose
figures are dropped (a server's first requests open its upstream connections). Per server it keeps the longest
step's CPU time (the loop's own work in that step) and the kernel's part of it (system time), the longest wall time of any step (that plus the GIL or the
core taken by another thread or process meanwhile) and what the CPU-longest step was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.observability.loop_lag import STEPS
from tests.bench import processes

SUFFIX = "-steps"


def _longest(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The worst ``max_step_ms`` / ``max_step_wall_ms`` in loop-lag lines, and the CPU-longest step's name."""
    timed = [line for line in lines if line.get("max_step_ms") is not None]
    if not timed:
        return {}
    worst = max(timed, key=lambda line: line["max_step_ms"])
    return {
        "max_step_ms": worst["max_step_ms"],
        "max_step_system_ms": worst.get("max_step_system_ms"),
        "max_step": worst.get("max_step"),
        "max_step_wall_ms": max(line.get("max_step_wall_ms") or 0.0 for line in timed),
    }


class Copier:
    """Starts a probed copy of a Python server under ``name + SUFFIX``, registered in ``bench`` like any target:
    the bare passthrough, or a gateway with the config it was started with (``extra_configs``) and its headers."""

    def __init__(
        self,
        bench: Any,
        upstream_port: int,
        cpus: str | None,
        workdir: Path,
        *,
        start_gateway: Callable[..., Any],
        target: Any,
        extra_configs: dict[str, Path | None],
    ) -> None:
        self.bench, self.upstream_port, self.cpus, self.workdir = bench, upstream_port, cpus, workdir
        self.start_gateway, self.target, self.extra_configs = start_gateway, target, extra_configs

    def __call__(self, name: str, copy: str) -> None:
        if name == "baseline":
            processes.start_baseline(
                self.bench, self.upstream_port, self.cpus, self.workdir, self.target, name=copy, loop_lag=STEPS
            )
            return
        self.start_gateway(
            self.bench,
            self.upstream_port,
            self.cpus,
            self.bench.targets[name].headers,
            self.workdir,
            name=copy,
            extra_config=self.extra_configs.get(name),
            loop_lag=STEPS,
        )


def longest_steps(
    bench: Any,
    paced: dict[str, Any],
    request_body: Callable[..., bytes],
    start_copy: Callable[[str, str], None],
) -> dict[str, Any]:
    """Each server of ``paced`` again, as a copy ``start_copy(name, copy_name)`` starts (a ``Copier``), paced as
    ``paced`` was; the copies are stopped and unregistered afterwards."""
    rate = paced.get("rate")
    if not rate:
        return {}
    names = [name for name in paced.get("servers", {}) if name in bench.targets]
    copies: dict[str, str] = {}
    lines: dict[str, list[dict[str, Any]]] = {name: [] for name in names}  # the measured rounds' loop-lag lines
    errors = dict.fromkeys(names, 0)
    try:
        for name in names:
            copies[name] = name + SUFFIX
            start_copy(name, copies[name])
        for attempt in range(bench.args.repeat + 1):  # the first round warms up: its figures are dropped
            for name, copy in copies.items():
                bench.wait_quiet()
                log = bench.logs.get(copy)
                offset = processes.log_size(log)
                target = bench.targets[copy]
                result = bench.load(target, request_body(target.model, False), 32, bench.args.duration, rate)
                if attempt > 0:
                    errors[name] += result.errors
                    lines[name] += processes.loop_lag_lines(log, offset)
    finally:
        for copy in copies.values():
            server = bench.servers.pop(copy, None)
            if server is not None:
                processes.stop(server)
            bench.targets.pop(copy, None)
            bench.logs.pop(copy, None)
    seen = {
        name: {"errors": errors[name], "rounds": bench.args.repeat, **_longest(lines[name])} for name in copies
    }
    return {"rate": rate, "connections": 32, "loop": "asyncio", "servers": seen}
