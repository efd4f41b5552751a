"""The usage writer: batches, survives an unavailable store, drains on shutdown."""

from __future__ import annotations

import asyncio

from gateway.writer import BATCH_LIMIT, UsageWriter
from meters.store import StoreUnavailable
from tests.support.stores import make_record


async def test_a_burst_is_written_in_one_batch_and_close_drains() -> None:
    batches: list[list] = []

    async def write_many(items: list) -> None:
        batches.append(items)

    writer = UsageWriter(write_many, linger_s=0.05)
    writer.start()
    records = [make_record("acme") for _ in range(100)]
    for record in records:
        writer.submit(None, record)
    await writer.close()
    assert [record for batch in batches for _, record in batch] == records
    assert len(batches) == 1


async def test_an_unavailable_store_is_retried_until_it_is_back() -> None:
    attempts = 0
    written: list = []

    async def write_many(items: list) -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= 2:
            raise StoreUnavailable("redis is down")
        written.extend(items)

    writer = UsageWriter(write_many, linger_s=0.0)
    writer.start()
    writer.submit("res-1", make_record("acme"))
    for _ in range(200):
        if written:
            break
        await asyncio.sleep(0.05)
    await writer.close()
    assert attempts == 3
    assert [rid for rid, _ in written] == ["res-1"]


async def test_a_bug_in_the_store_does_not_kill_the_writer() -> None:
    seen: list = []

    async def write_many(items: list) -> None:
        if not seen:
            seen.append("boom")
            raise ValueError("bug")
        seen.extend(items)

    writer = UsageWriter(write_many, linger_s=0.0)
    writer.start()
    writer.submit(None, make_record("acme"))
    await asyncio.sleep(0.05)
    writer.submit(None, make_record("acme"))
    await writer.close()
    assert len(seen) == 2


async def test_an_urgent_item_cuts_the_linger_short() -> None:
    written: list[int] = []

    async def write_many(batch):
        written.append(len(batch))

    writer = UsageWriter(write_many, linger_s=30.0)
    writer.start()
    writer.submit(None, make_record("t"))
    writer.submit("reservation-1", make_record("t"), urgent=True)
    await asyncio.wait_for(_until(lambda: sum(written) == 2), 5)  # not after 30 s
    await writer.close()
    assert written == [2]


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_a_backlog_is_written_without_lingering_between_full_batches() -> None:
    """A whole batch already waiting is written at once: lingering before each batch of a backlog would cap the
    writer at BATCH_LIMIT records per linger, below the rate requests finish under load. The rest, less than a
    batch, still lingers."""
    written: list[int] = []

    async def write_many(batch):
        written.append(len(batch))

    writer = UsageWriter(write_many, linger_s=30.0)
    for _ in range(2 * BATCH_LIMIT + 10):
        writer.submit(None, make_record("t"))
    writer.start()
    await asyncio.wait_for(_until(lambda: len(written) == 2), 5)  # not after 30 s
    await asyncio.sleep(0.05)
    assert written == [BATCH_LIMIT, BATCH_LIMIT]  # the last 10 wait for the linger (or a flush)
    await writer.flush()
    assert written == [BATCH_LIMIT, BATCH_LIMIT, 10]
    await writer.close()
