"""The embedded usage writer hands the GIL to the event loop between records, and only outside its write
transaction (meters/store/sqlite/ceding.py)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from meters.store import open_store
from meters.store.sqlite import ceding as ceding_module
from meters.store.sqlite.ceding import ceding
from tests.support.stores import make_record


class _Clock:
    """A perf_counter that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_ceding_gives_every_item_in_order_and_yields_once_per_interval(monkeypatch) -> None:
    clock, yields = _Clock(), []
    monkeypatch.setattr(ceding_module.time, "perf_counter", clock)
    monkeypatch.setattr(ceding_module.os, "sched_yield", lambda: yields.append(clock.now))
    seen = []
    for item in ceding(range(10), every_s=0.001):
        seen.append(item)
        clock.now += 0.0004  # each item takes 0.4 ms: a yield after the 3rd, 6th and 9th
    assert seen == list(range(10))
    assert len(yields) == 3


def test_ceding_never_yields_while_the_work_is_short(monkeypatch) -> None:
    yields = []
    monkeypatch.setattr(ceding_module.time, "perf_counter", _Clock())
    monkeypatch.setattr(ceding_module.os, "sched_yield", lambda: yields.append(1))
    assert list(ceding(iter("abc"), every_s=0.001)) == ["a", "b", "c"]
    assert yields == []


def test_the_default_interval_is_read_when_called(monkeypatch) -> None:
    yields = []
    monkeypatch.setattr(ceding_module, "CEDE_EVERY_S", 0.0)
    monkeypatch.setattr(ceding_module.os, "sched_yield", lambda: yields.append(1))
    assert list(ceding([1, 2, 3])) == [1, 2, 3]
    assert len(yields) == 3


async def test_the_writer_hands_over_only_outside_its_transaction(tmp_path: Path, monkeypatch) -> None:
    """A yield inside the transaction would leave SQLite's lock held while the loop runs: the loop's own lease
    and reservation transactions would find it taken and wait for the store thread (p99 at c=32 ×1.35 when
    the records' counting loop yielded too)."""
    store = await open_store(None, state_dir=tmp_path)
    try:
        meter = store.meter
        db = meter._db
        states: list[bool] = []
        monkeypatch.setattr(ceding_module, "CEDE_EVERY_S", 0.0)  # a yield after every record
        monkeypatch.setattr(ceding_module.os, "sched_yield", lambda: states.append(db.conn.in_transaction))
        records = [make_record("acme", gco2e=0.5) for _ in range(5)]
        assert await meter.count_many([(None, r) for r in records]) == [True] * 5
        assert len(states) == 5  # one pass checks and prepares: a hand-over after each record
        assert not any(states)
        assert (await store.reports.usage("acme", "2030-03"))["totals"]["requests"] == 5
        entries = [e async for e in store.reports.ledger("acme", 0, 2**31)]
        assert sorted(e["request_id"] for e in entries) == sorted(r.request_id for r in records)
    finally:
        await store.close()


@pytest.mark.parametrize("size", [1, 7, 300])
async def test_prepared_records_count_as_before(tmp_path: Path, size: int) -> None:
    """The ledger entry and the day's window are worked out before the transaction: the same rows as counting
    each record alone."""
    store = await open_store(None, state_dir=tmp_path)
    try:
        records = [make_record("acme", gco2e=0.25, tags={"team": f"t{i % 3}"}) for i in range(size)]
        assert await store.meter.count_many([(None, r) for r in records]) == [True] * size
        assert await store.meter.count_many([(None, r) for r in records[:1]]) == [False]
        usage = await store.reports.usage("acme", "2030-03")
        assert usage["totals"]["requests"] == size
        assert usage["totals"]["gco2e"] == pytest.approx(0.25 * size)
        entries = [e async for e in store.reports.ledger("acme", 0, 2**31)]
        by_id = {e["request_id"]: e for e in entries}
        for record in itertools.islice(records, 5):
            assert by_id[record.request_id]["tags"] == dict(record.tags)
            assert by_id[record.request_id]["carbon"]["gco2e"] == pytest.approx(0.25)
    finally:
        await store.close()


def test_without_sched_yield_the_gil_is_still_released(monkeypatch) -> None:
    """A platform without `os.sched_yield` (Windows): `time.sleep(0)` instead, never an AttributeError in the
    writer's thread (a batch that raised there would not be counted)."""
    slept = []
    monkeypatch.delattr(ceding_module.os, "sched_yield", raising=False)
    monkeypatch.setattr(ceding_module.time, "sleep", lambda seconds: slept.append(seconds))
    assert list(ceding([1, 2], every_s=0.0)) == [1, 2]
    assert slept == [0, 0]
