"""Opt-in probe of the event loop's longest single step: one callback that held the loop.

A late timer (``loop_lag``) cannot tell one long piece of work from many short ones queued in one turn of the
loop: under load, every ready request runs before the timer's callback does. This probe times each callback
the loop runs instead — its thread's CPU time (the step's own work) and its wall time (that plus waits for the
GIL or the core: another thread of the process, or the machine, running meanwhile) — and keeps the longest of
each until ``take``.

``CARBON_GATEWAY_LOOP_LAG=steps`` turns it on (with the lag monitor). It needs the standard library's loop,
whose handles are Python (uvloop's are compiled, and cannot be timed from Python): ``serve`` then runs on
asyncio's own loop, a little slower than uvloop, so the steps it reports are if anything longer than in
production. Each callback then costs two clock reads of the thread's CPU (~1.5 µs): a benchmark's probe, not a
setting for serving.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

_original_run: Callable[[asyncio.Handle], None] | None = None
_longest_cpu = 0.0
_longest_wall = 0.0
_longest_name = ""

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
    global _longest_cpu, _longest_wall, _longest_name
    assert _original_run is not None
    cpu, wall = time.thread_time(), time.perf_counter()
    _original_run(handle)
    wall = time.perf_counter() - wall
    cpu = time.thread_time() - cpu
    if wall > _longest_wall:
        _longest_wall = wall
    if cpu > _longest_cpu:
        _longest_cpu, _longest_name = cpu, describe(handle)


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


def take() -> tuple[float, float, str]:
    """The longest step since the last call: (its CPU seconds, the longest wall seconds, the CPU-longest's name)."""
    global _longest_cpu, _longest_wall, _longest_name
    found = (_longest_cpu, _longest_wall, _longest_name)
    _longest_cpu, _longest_wall, _longest_name = 0.0, 0.0, ""
    return found
