"""The opt-in event-loop lag monitor (CARBON_GATEWAY_LOOP_LAG): off by default, one JSON line per window."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import orjson
import pytest

from gateway.observability import loop_lag


async def test_off_unless_asked(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(loop_lag.ENV, raising=False)
    before = len(asyncio.all_tasks())
    async with loop_lag.running():
        assert len(asyncio.all_tasks()) == before
    assert capsys.readouterr().err == ""


async def test_a_blocked_loop_shows_up_as_lag(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(loop_lag.monitor(interval_s=0.001, report_every_s=0.05))
    await asyncio.sleep(0.01)
    time.sleep(0.03)  # the loop stalls: the timer that was due fires at least this late
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines and all(line["event"] == "loop_lag" for line in lines)
    assert max(line["max_ms"] for line in lines) >= 25.0
    # time.sleep blocks the loop without using the CPU: the busy part is never more than the lateness.
    assert all(0.0 <= line["max_busy_ms"] <= line["max_ms"] for line in lines)


async def test_running_starts_and_stops_the_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(loop_lag.ENV, "1")
    async with loop_lag.running():
        names = {task.get_name() for task in asyncio.all_tasks()}
        assert "loop-lag-monitor" in names
    assert "loop-lag-monitor" not in {task.get_name() for task in asyncio.all_tasks()}


async def test_a_window_names_its_longest_garbage_collection(capsys: pytest.CaptureFixture[str]) -> None:
    hooks = list(gc.callbacks)
    task = asyncio.create_task(loop_lag.monitor(interval_s=0.001, report_every_s=0.05))
    await asyncio.sleep(0.01)
    garbage = [[i] for i in range(200_000)]  # something for a full collection to walk
    gc.collect()
    del garbage
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert any(line["gc_generation"] == 2 and line["gc_max_ms"] > 0 for line in lines)
    assert all(line["gc_generation"] == -1 for line in lines if line["gc_max_ms"] == 0)
    # every collection is in its window's total: at least the longest
    assert all(line["gc_ms"] >= line["gc_max_ms"] for line in lines)
    assert any(line["gc_count"] >= 1 and line["gc_ms"] > 0 for line in lines)
    assert gc.callbacks == hooks  # the monitor's hook went with it


async def test_a_window_names_the_longest_writer_queue_it_saw(capsys: pytest.CaptureFixture[str]) -> None:
    """`backlog_max`: the largest value the backlog callable returned at a wake-up in the window (a gateway passes
    its usage writer's queue length); absent without one."""
    queued = [0]
    task = asyncio.create_task(loop_lag.monitor(interval_s=0.001, report_every_s=0.05, backlog=lambda: queued[0]))
    await asyncio.sleep(0.01)
    queued[0] = 700
    await asyncio.sleep(0.01)
    queued[0] = 3
    await asyncio.sleep(0.15)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["backlog_max"] == 700
    assert lines[0]["threads"] >= 1 and lines[0]["rss_mb"] > 1  # what the process holds, at each window's end
    assert lines[-1]["backlog_max"] == 3  # a later window starts afresh
    plain = asyncio.create_task(loop_lag.monitor(interval_s=0.001, report_every_s=0.02))
    await asyncio.sleep(0.05)
    plain.cancel()
    with pytest.raises(asyncio.CancelledError):
        await plain
    assert all("backlog_max" not in orjson.loads(line) for line in capsys.readouterr().err.splitlines())


def _spin(seconds: float) -> None:
    """Busy the CPU (not sleep) for `seconds` of this thread's CPU time."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


async def test_the_step_probe_names_the_step_that_held_the_loop(capsys: pytest.CaptureFixture[str]) -> None:
    async def hog() -> None:
        await asyncio.sleep(0.01)
        _spin(0.02)  # one step of 20 ms of CPU: a stall, not a queue

    original = asyncio.Handle._run
    task = asyncio.create_task(loop_lag.monitor(interval_s=0.001, report_every_s=0.05, steps=True))
    await asyncio.sleep(0.005)
    await asyncio.create_task(hog())
    for _ in range(20):  # many short steps: none of them long
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert asyncio.Handle._run is original  # the probe went with the monitor
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    longest = max(lines, key=lambda line: line["max_step_ms"])
    assert longest["max_step_ms"] >= 20.0
    assert longest["max_step_wall_ms"] >= longest["max_step_ms"] - 0.1  # the two clocks' granularity
    assert longest["max_step"].startswith("task ") and longest["max_step"].endswith("hog (done)")
    assert [line["max_step_ms"] < 5.0 for line in lines].count(False) == 1  # the other windows' steps are short


def _in_python(seconds: float) -> None:
    """Busy this thread for `seconds` of its CPU time, nearly all of it in Python (`_spin`'s clock reads are
    system calls: half its time is the kernel's)."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        sum(i * i for i in range(20_000))


def _in_kernel(seconds: float) -> None:
    """Busy this thread for `seconds` of its CPU time, nearly all of it in the kernel (zeroing a buffer)."""
    buffer = bytearray(1 << 20)
    until = time.thread_time() + seconds
    with open("/dev/zero", "rb", buffering=0) as zero:
        while time.thread_time() < until:
            zero.readinto(buffer)


@pytest.mark.parametrize(
    ("busy", "in_kernel"), [(_in_python, False), (_in_kernel, True)], ids=["python", "kernel"]
)
async def test_the_step_probe_tells_the_kernels_part_of_a_long_step(
    busy: Any, in_kernel: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """A step's system time beside its CPU time: Linux splits the two by sampling at its ticks, so a step of 40 ms
    is told apart as mostly the kernel's (a loopback send charged with its receiver's work) or mostly Python's."""
    task = asyncio.create_task(loop_lag.monitor(interval_s=0.001, report_every_s=0.05, steps=True))
    await asyncio.sleep(0.005)
    asyncio.get_running_loop().call_soon(busy, 0.04)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    longest = max(lines, key=lambda line: line["max_step_ms"])
    assert longest["max_step_ms"] >= 40.0
    assert 0.0 <= longest["max_step_system_ms"] <= longest["max_step_ms"]
    share = longest["max_step_system_ms"] / longest["max_step_ms"]
    assert share > 0.7 if in_kernel else share < 0.3


async def test_many_short_steps_make_a_late_timer_but_no_long_step(capsys: pytest.CaptureFixture[str]) -> None:
    """What the probe is for: 40 ready steps of 0.5 ms each hold a timer ~20 ms, yet no one step is long."""
    task = asyncio.create_task(loop_lag.monitor(interval_s=0.001, report_every_s=0.05, steps=True))
    await asyncio.sleep(0.005)
    loop = asyncio.get_running_loop()
    for _ in range(40):
        loop.call_soon(_spin, 0.0005)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert max(line["max_busy_ms"] for line in lines) >= 10.0
    assert max(line["max_step_ms"] for line in lines) < 5.0


async def test_the_step_probe_is_null_where_steps_cannot_be_timed(capsys: pytest.CaptureFixture[str]) -> None:
    import uvloop

    async def briefly() -> None:
        task = asyncio.create_task(loop_lag.monitor(interval_s=0.001, report_every_s=0.02, steps=True))
        await asyncio.sleep(0.06)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    await asyncio.get_running_loop().run_in_executor(None, uvloop.run, briefly())
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines and all(line["max_step_ms"] is None and line["max_step"] is None for line in lines)
    assert all(line["max_step_system_ms"] is None for line in lines)


def test_steps_turns_on_the_monitor_and_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(loop_lag.ENV, "steps")
    assert loop_lag.enabled() and loop_lag.steps_enabled()
    monkeypatch.setenv(loop_lag.ENV, "1")
    assert loop_lag.enabled() and not loop_lag.steps_enabled()


async def test_a_task_step_is_named_by_where_it_stopped() -> None:
    from gateway.observability import loop_steps

    gate = asyncio.Event()

    async def inner() -> None:
        await gate.wait()

    async def outer() -> None:
        await inner()

    loop = asyncio.get_running_loop()
    task = asyncio.create_task(outer())
    step = loop._ready[-1]  # type: ignore[attr-defined]  # the task's first step, scheduled by create_task
    named = asyncio.Handle(step._callback, (), loop)  # the same step callback, to name again later
    await asyncio.sleep(0)  # the task runs up to gate.wait()
    assert loop_steps.describe(named).startswith("task ")
    assert loop_steps.describe(named).endswith("outer > inner > wait")
    gate.set()
    await task
    assert loop_steps.describe(named).endswith("outer (done)")
    assert "lambda" in loop_steps.describe(asyncio.Handle(lambda: None, (), loop))
