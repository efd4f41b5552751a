"""Opt-in event-loop lag monitor: how late a periodic timer fires, i.e. how long the loop was stalled.

Off unless ``CARBON_GATEWAY_LOOP_LAG=1`` is set (benchmarks set it). Then a task sleeps ``INTERVAL_S`` at a
time and measures how late each wake-up is; once a second it writes one JSON line to stderr:
``{"event": "loop_lag", "window_s": 1.0, "wakeups": n, "max_ms": x, "mean_ms": y, "max_busy_ms": z, "gc_max_ms": g,
"gc_generation": 0|1|2|-1, "gc_ms": c, "gc_count": k, "backlog_max": b, "rss_mb": r, "threads": t}`` (`gc_ms`,
`gc_count`: every collection in the window, on any thread; `backlog_max`: the usage writer's longest
queue seen, in a gateway; `rss_mb` and `threads` at the window's end). A stall
of the loop (a synchronous transaction, a long batch) shows up as a late wake-up; the benchmark takes the
largest figure logged during each run. On a shared machine the OS also makes the timer late by running
something else: ``max_busy_ms`` counts only lateness during which the loop's thread was on the CPU (its
thread CPU time over the wait, minus the interval), i.e. the loop's own work.

``CARBON_GATEWAY_LOOP_LAG=steps`` adds the loop's longest single step in each window (``loop_steps``:
``"max_step_ms"``, its thread's CPU; ``"max_step_system_ms"``, the kernel's part of it; ``"max_step_wall_ms"``;
``"max_step"``, what it was; all null on a loop whose steps cannot be timed, uvloop's), which tells one piece of
work that held the loop from many short ones queued ahead of the timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable

import orjson

from gateway.observability import loop_steps

ENV = "CARBON_GATEWAY_LOOP_LAG"
INTERVAL_S = 0.005
REPORT_EVERY_S = 1.0


STEPS = "steps"  # the value that adds the longest-step probe


def enabled() -> bool:
    return _setting() in ("1", "true", "yes", "on", STEPS)


def steps_enabled() -> bool:
    """The longest-step probe asked for too (it needs the standard library's loop: ``loop_steps``)."""
    return _setting() == STEPS


def _setting() -> str:
    return os.environ.get(ENV, "").strip().lower()


async def monitor(
    interval_s: float = INTERVAL_S,
    report_every_s: float = REPORT_EVERY_S,
    backlog: Callable[[], int] | None = None,
    steps: bool = False,
) -> None:
    """Runs until cancelled; one line per window with the window's worst and mean lateness, and its longest garbage
    collection (`gc_max_ms`, `gc_generation`): a collection runs on whichever thread allocated, holding the GIL; with
    `backlog` (the usage writer's queue length), its largest value seen at a wake-up (`backlog_max`); with `steps`,
    the longest single step (`loop_steps`)."""
    clock = time.perf_counter
    window_start = clock()
    cpu = time.thread_time
    worst = total = worst_busy = 0.0
    wakeups = most_queued = 0
    collections = _Collections()
    gc.callbacks.append(collections.observe)
    timed = steps and isinstance(asyncio.get_running_loop(), asyncio.BaseEventLoop)
    if timed:
        loop_steps.install()
    try:
        while True:
            before, cpu_before = clock(), cpu()
            await asyncio.sleep(interval_s)
            now = clock()
            late = max(0.0, now - before - interval_s)
            busy = min(late, max(0.0, cpu() - cpu_before - interval_s))
            wakeups += 1
            if backlog is not None:
                most_queued = max(most_queued, backlog())
            total += late
            worst = max(worst, late)
            worst_busy = max(worst_busy, busy)
            if now - window_start >= report_every_s:
                longest, generation, collected_s, collections_run = collections.take()
                line = {
                    "event": "loop_lag",
                    "window_s": round(now - window_start, 3),
                    "wakeups": wakeups,
                    "max_ms": round(worst * 1000, 3),
                    "mean_ms": round(total / wakeups * 1000, 3),
                    "max_busy_ms": round(worst_busy * 1000, 3),
                    "gc_max_ms": round(longest * 1000, 3),
                    "gc_generation": generation,
                    "gc_ms": round(collected_s * 1000, 3),
                    "gc_count": collections_run,
                }
                if backlog is not None:
                    line["backlog_max"] = most_queued
                if timed:
                    step_cpu, step_wall, step_name, step_system = loop_steps.take()
                    line["max_step_ms"] = round(step_cpu * 1000, 3)
                    line["max_step_wall_ms"] = round(step_wall * 1000, 3)
                    line["max_step"] = step_name
                    line["max_step_system_ms"] = round(step_system * 1000, 3)
                elif steps:
                    line["max_step_ms"] = line["max_step_wall_ms"] = line["max_step"] = None
                    line["max_step_system_ms"] = None
                line["rss_mb"], line["threads"] = _rss_mb(), threading.active_count()
                sys.stderr.write(orjson.dumps(line).decode() + "\n")
                sys.stderr.flush()
                window_start, worst, total, worst_busy, wakeups, most_queued = now, 0.0, 0.0, 0.0, 0, 0
    finally:
        gc.callbacks.remove(collections.observe)
        if timed:
            loop_steps.uninstall()


_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 0.0


def _rss_mb() -> float | None:
    """The process's resident memory now (Linux), None elsewhere: a window's line says when memory grew."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return round(int(statm.read().split()[1]) * _PAGE_MB, 1)
    except (OSError, ValueError, IndexError):
        return None


class _Collections:
    """Garbage collections since the last `take`: the longest (seconds, its generation; -1 for none), and all of
    them (seconds, count)."""

    def __init__(self) -> None:
        self._started = 0.0
        self._longest = 0.0
        self._generation = -1
        self._total = 0.0
        self._count = 0

    def observe(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        self._total += took
        self._count += 1
        if took > self._longest:
            self._longest, self._generation = took, info["generation"]

    def take(self) -> tuple[float, int, float, int]:
        """(longest seconds, its generation, all of them in seconds, how many), and start afresh."""
        found = (self._longest, self._generation, self._total, self._count)
        self._longest, self._generation, self._total, self._count = 0.0, -1, 0.0, 0
        return found


@contextlib.asynccontextmanager
async def running(backlog: Callable[[], int] | None = None) -> AsyncIterator[None]:
    """The monitor for the duration of the block when the environment asks for it; else nothing."""
    if not enabled():
        yield
        return
    task = asyncio.create_task(monitor(backlog=backlog, steps=steps_enabled()), name="loop-lag-monitor")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
