"""Opt-in probe of the event loop's longest single step: one callback that held the loop.

A late timer (``loop_lag``) cannot tell one long piece of work from many short ones queued in one turn of the
loop: under load, every ready request runs before the timer's callback does. This probe times each callback
the loop runs instead — its thread's CPU time (the step's own work) and its wall time (that plus waits for the
GIL or the core: another thread of the process, or the machine, running meanwhile) — and keeps the longest of
each until ``take``.

``CARBON_GATEWAY_LOOP_LAG=steps`` turns it on (with the lag monitor). It needs the standard library's loop,
whose handles are Python (uvloop's are compiled, and cannot be timed from Python): ``serve`` then runs on
asyncio's own loop, a little slower than uvloop, so the steps it reports are if anything longer than in
production. Each callback then costs two clock reads of the thread's CPU and a `getrusage` (~1.5 µs, of which
`getrusage` ~0.3; a second one for a callback longer than any before it): a benchmark's probe, not a setting for
serving.

The kernel's part of the longest step (`ru_stime`, the system time of the thread) says whose work made it long: on
loopback, a `send()` runs the receiving socket's network processing in the sender's system call, and a kernel
without `CONFIG_IRQ_TIME_ACCOUNTING` charges softirq work to whichever thread is running. Linux splits a thread's
CPU into user and system time by sampling at its timer ticks (`cputime_adjust`): for a step of a few ms, a few
samples — enough to tell a step that was mostly the kernel's from one that was mostly Python, not more.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from typing import Any

_original_run: Callable[[asyncio.Handle], None] | None = None
_longest_cpu = 0.0
_longest_wall = 0.0
_longest_name = ""
_longest_system = 0.0
_usage = resource.getrusage
_THREAD = resource.RUSAGE_THREAD  # Linux only, as this probe is (benchmarks)

_AWAIT_DEPTH = 40  # frames followed down a task's await chain
_SHOWN = 4  # the innermost ones named


def describe(handle: asyncio.Handle) -> str:
    """A callback's name; for a task's step, the task's coroutine and where the step ended (the innermost
    functions of the await it stopped at: ``task RequestResponseCycle.run_asgi @ proxy > post > wait``)."""
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if not isinstance(owner, asyncio.Task):
        return str(getattr(callback, "__qualname__", type(callback).__name__))
    coroutine: Any = owner.get_coro()
    name = "task " + str(getattr(coroutine, "__qualname__", owner.get_name()))
    frames: list[str] = []
    awaited: Any = coroutine
    while awaited is not None and len(frames) < _AWAIT_DEPTH:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame.f_code.co_name)
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return name + (" @ " + " > ".join(frames[-_SHOWN:]) if frames else " (done)")


def _timed_run(handle: asyncio.Handle) -> None:
    global _longest_cpu, _longest_wall, _longest_name, _longest_system
    assert _original_run is not None
    system = _usage(_THREAD).ru_stime
    cpu, wall = time.thread_time(), time.perf_counter()
    _original_run(handle)
    wall = time.perf_counter() - wall
    cpu = time.thread_time() - cpu
    if wall > _longest_wall:
        _longest_wall = wall
    if cpu > _longest_cpu:
        system = _usage(_THREAD).ru_stime - system
        _longest_cpu, _longest_name, _longest_system = cpu, describe(handle), max(0.0, min(cpu, system))


def install() -> None:
    """Time every callback of the standard library's loops from now on (idempotent)."""
    global _original_run
    if _original_run is None:
        _original_run = asyncio.Handle._run
        setattr(asyncio.Handle, "_run", _timed_run)  # noqa: B010 (a method swapped at run time, typed apart)
    take()


def uninstall() -> None:
    global _original_run
    if _original_run is not None:
        setattr(asyncio.Handle, "_run", _original_run)  # noqa: B010
        _original_run = None


def take() -> tuple[float, float, str, float]:
    """The longest step since the last call: (its CPU seconds, the longest wall seconds, the CPU-longest's name, the
    part of its CPU seconds in the kernel)."""
    global _longest_cpu, _longest_wall, _longest_name, _longest_system
    found = (_longest_cpu, _longest_wall, _longest_name, _longest_system)
    _longest_cpu, _longest_wall, _longest_name, _longest_system = 0.0, 0.0, "", 0.0
    return found
