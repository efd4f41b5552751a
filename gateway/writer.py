"""The usage writer: finished requests' usage handed to the store off the response path, in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from meters.store import CountItem, StoreUnavailable
from meters.usage import UsageRecord

log = logging.getLogger("carbon_gateway.metering")

BATCH_LIMIT = 512
LINGER_S = 0.05  # usage shows up 50 ms late at most; what is in flight stays held meanwhile
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0


class UsageWriter:
    """Hands finished usage to the store off the response path, in batches.

    Items go through a queue drained by one task. After the first item it lingers briefly so
    a burst (or a steady trickle) is written in one store call — one SQLite transaction, one
    Redis round trip — instead of one per request; a slow store never delays a response, and
    shutdown drains what is queued before the store closes. An item is
    `(reservation_id or None, record)`. An `urgent` item cuts the linger short: a request
    reserved on its own (its tenant is near a limit) holds its worst case until it is counted,
    and the tenant's next request should not be refused for that.

    One bad record never drops the others: a batch the store refuses (for anything but an outage) is
    written again one record at a time (counting is idempotent on the request id, so what the first
    attempt counted is not counted twice), and a record that still fails goes to `on_failed` (the
    gateway keeps it in its dead-letter file and releases what it held), named in the log. So do the
    records of a batch the store is still unavailable for at shutdown.
    """

    def __init__(
        self,
        write_many: Callable[[list[CountItem]], Awaitable[Any]],
        *,
        linger_s: float = LINGER_S,
        on_failed: Callable[[str | None, UsageRecord, BaseException], None] | None = None,
    ) -> None:
        self._write_many = write_many
        self._on_failed = on_failed
        self._linger_s = linger_s
        self._queue: asyncio.Queue[CountItem | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._hurry = asyncio.Event()
        self._busy = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._drain(), name="usage-writer")

    def submit(self, reservation_id: str | None, record: UsageRecord, *, urgent: bool = False) -> None:
        self._queue.put_nowait((reservation_id, record))
        if urgent:
            self._hurry.set()

    @property
    def backlog(self) -> int:
        """Records submitted and not yet handed to the store (a batch being written not included)."""
        return self._queue.qsize()

    async def flush(self) -> None:
        """Wait until everything submitted so far is written (tests, and callers that read their own usage)."""
        while not self._queue.empty() or self._busy:
            self._hurry.set()
            await asyncio.sleep(0.002)

    async def close(self) -> None:
        if self._task is not None:
            self._stopping = True
            self._queue.put_nowait(None)
            await self._task
            self._task = None

    async def _drain(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            self._busy = True
            # Linger for more, unless a whole batch is waiting already (a backlog: write it now).
            full = self._queue.qsize() >= BATCH_LIMIT - 1
            if item is not None and not self._stopping and not self._hurry.is_set() and not full:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), self._linger_s)
            self._hurry.clear()
            batch: list[CountItem] = []
            while item is not None:
                batch.append(item)
                if len(batch) >= BATCH_LIMIT or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            stopping = item is None
            if batch:
                await self._write(batch)
            self._busy = False

    async def _write(self, batch: list[CountItem]) -> None:
        """Write a batch; while the store is unavailable (fail_closed), keep it and retry.

        New requests are refused meanwhile, so the queue does not grow; on shutdown one last
        attempt is made. (With fail_open the Redis store journals by itself and never raises.)
        """
        delay = RETRY_FIRST_S
        while True:
            try:
                await self._write_many(batch)
                return
            except StoreUnavailable as exc:
                if self._stopping:
                    log.error(
                        "store unavailable at shutdown: %d usage record(s) not counted: %s", len(batch), exc
                    )
                    for reservation_id, record in batch:  # kept on disk (dead letters), never just dropped
                        self._failed(reservation_id, record, exc)
                    return
                log.warning("store unavailable, retrying %d usage record(s) in %.1fs", len(batch), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            except Exception as exc:  # a record the store cannot take, or a bug: never the whole batch
                await self._isolate(batch, exc)
                return

    async def _isolate(self, batch: list[CountItem], exc: Exception) -> None:
        if len(batch) == 1:
            self._failed(*batch[0], exc)
            return
        log.warning("a batch of %d usage records failed (%r): writing them one by one", len(batch), exc)
        for item in batch:
            await self._write([item])

    def _failed(self, reservation_id: str | None, record: UsageRecord, exc: BaseException) -> None:
        if self._on_failed is None:
            log.error("usage record %s could not be written: %r", record.request_id, exc)
        else:
            self._on_failed(reservation_id, record, exc)
