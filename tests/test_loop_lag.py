"""The opt-in event-loop lag monitor (CARBON_GATEWAY_LOOP_LAG): off by default, one JSON line per window."""

from __future__ import annotations

import asyncio
import gc
import time

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
