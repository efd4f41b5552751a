"""Issue 10 item 3: one record the store cannot take never drops the rest of its batch; it is kept in the
dead-letter file, named in the log, and the others are counted (both stores)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import orjson
import pytest

from gateway.dead_letters import FILE_NAME, DeadLetters
from gateway.writer import UsageWriter
from tests.support.stores import T0, StoreFactory, factory, make_record  # noqa: F401 (fixture)

BAD_TOKENS = 2**62


async def test_a_poisoned_batch_counts_everything_but_the_bad_record(
    factory: StoreFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    store = await factory.open(clock=lambda: T0)
    letters = DeadLetters(tmp_path / "letters")
    writer = UsageWriter(store.meter.count_many, linger_s=0.2, on_failed=letters.keep)
    writer.start()
    good = [make_record("innocent") for _ in range(20)]
    bad = make_record("hostile", prompt_tokens=BAD_TOKENS, gco2e=1e15, spend=1e12)
    with caplog.at_level(logging.WARNING, logger="carbon_gateway.metering"):
        for record in good[:10]:
            writer.submit(None, record)
        writer.submit(None, bad)
        for record in good[10:]:
            writer.submit(None, record)
        await asyncio.wait_for(writer.close(), 30)
    usage = await store.reports.usage("innocent", "2030-03")
    assert usage["totals"]["requests"] == 20
    assert usage["totals"]["prompt_tokens"] == 20 * 10
    lines = (tmp_path / "letters" / FILE_NAME).read_bytes().splitlines()
    assert [orjson.loads(line)["record"]["request_id"] for line in lines] == [bad.request_id]
    assert f"usage record {bad.request_id} of tenant hostile" in caplog.text


async def test_records_the_store_cannot_take_at_shutdown_are_kept_not_dropped(tmp_path: Path) -> None:
    """fail_closed and the store down when the gateway stops: the last batch is tried once more, then each of its
    records goes to the dead-letter file (with its reservation), never only a count in the log."""
    from meters.store import StoreUnavailable

    attempts: list[int] = []

    async def unavailable(batch: list) -> None:
        attempts.append(len(batch))
        raise StoreUnavailable("Redis is unreachable: connection refused")

    letters = DeadLetters(tmp_path / "letters")
    writer = UsageWriter(unavailable, linger_s=0.05, on_failed=letters.keep)
    writer.start()
    records = [make_record("stopping") for _ in range(5)]
    for i, record in enumerate(records):
        writer.submit(f"reservation-{i}", record)
    await asyncio.wait_for(writer.close(), 30)
    assert attempts == [5]
    kept = [orjson.loads(line) for line in (tmp_path / "letters" / FILE_NAME).read_bytes().splitlines()]
    assert [k["record"]["request_id"] for k in kept] == [r.request_id for r in records]
    assert [k["reservation_id"] for k in kept] == [f"reservation-{i}" for i in range(5)]
    assert all("StoreUnavailable" in k["error"] for k in kept)
