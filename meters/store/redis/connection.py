"""The Redis store's connection: one client pool under a key prefix, and the fail-open journal.

When Redis is unreachable, `call` raises StoreUnavailable; under `fail_open` the meter then lets
requests through (`degraded=True`) and journals their usage locally (`journal`), replayed into Redis
by whichever worker next reaches it; under `fail_closed` the error reaches the gateway (503).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from meters.store.interfaces import Backend
from meters.store.journal import Journal
from meters.store.values import StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
FAIL_CLOSED = "fail_closed"
_JOURNAL_CHECK_EVERY_S = 5.0


class RedisConnection(Backend):
    name = "redis"

    def __init__(self, client: aioredis.Redis, *, prefix: str, on_failure: str, journal: Journal) -> None:
        self.client = client
        self.prefix = prefix
        self.on_failure = on_failure
        self.journal = journal
        # Set by the meter: counts one journalled entry (the SETTLE script).
        self.apply_entry: Callable[[dict[str, Any]], Awaitable[Any]] | None = None
        self._replaying: asyncio.Task[int] | None = None
        self._next_journal_check = 0.0  # monotonic; 0 = check on the next successful call

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str,
        on_failure: str,
        journal: Journal,
        connect_timeout_s: float = 0.5,
        command_timeout_s: float = 2.0,
        max_connections: int = 64,
    ) -> RedisConnection:
        # A blocking pool makes bursts wait for a free connection instead of failing with
        # "Too many connections" (which would look like an outage and trip fail_open).
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=command_timeout_s,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=command_timeout_s,
            # One immediate retry replaces a connection Redis closed (e.g. it restarted);
            # an unreachable Redis then fails fast instead of backing off for seconds.
            retry=Retry(NoBackoff(), 1),
        )
        return cls(aioredis.Redis(connection_pool=pool), prefix=prefix, on_failure=on_failure, journal=journal)

    @property
    def fail_closed(self) -> bool:
        return self.on_failure == FAIL_CLOSED

    def host(self) -> str:
        kwargs: dict[str, object] = self.client.get_connection_kwargs()  # type: ignore[no-untyped-call]
        return str(kwargs.get("host"))

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis operation; unreachable Redis becomes StoreUnavailable."""
        try:
            result = await operation()
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        if self._replaying is None and time.monotonic() >= self._next_journal_check:
            # Any worker may have journalled while Redis was down: look now and then, not per call.
            self._next_journal_check = time.monotonic() + _JOURNAL_CHECK_EVERY_S
            if self.journal.pending() and self.apply_entry is not None:
                self._replaying = asyncio.create_task(self._replay_in_background())
        return result

    def journal_entry(self, entry: dict[str, Any]) -> bool:
        """Keep an entry for replay (fail_open); False when the journal is full and it is lost."""
        self._next_journal_check = 0.0
        return self.journal.append(entry)

    @property
    def replay_task(self) -> asyncio.Task[int] | None:
        """The background replay started by the last successful call, if one is running."""
        return self._replaying

    async def replay_journal(self) -> int:
        """Count every journalled record now; returns how many were replayed."""
        assert self.apply_entry is not None, "the meter registers apply_entry"
        apply = self.apply_entry

        async def replay_one(entry: dict[str, Any]) -> None:
            await apply(entry)

        return await self.journal.replay(replay_one)

    async def _replay_in_background(self) -> int:
        try:
            replayed = await self.replay_journal()
            if replayed:
                log.info("replayed %d journalled usage records into Redis", replayed)
            return replayed
        except UNREACHABLE:
            self._next_journal_check = 0.0
            return 0
        except Exception:
            log.exception("replaying the usage journal failed")
            return 0
        finally:
            self._replaying = None

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except UNREACHABLE:
            return False

    async def writable(self) -> bool:
        """A short-lived probe key written: False when Redis is unreachable or refuses writes (a read-only
        replica, MISCONF after a failed save, out of memory)."""
        try:
            return bool(await self.client.set(f"{self.prefix}writable-probe", b"1", px=10_000))
        except Exception:
            return False

    async def close(self) -> None:
        if self._replaying is not None:
            await asyncio.gather(self._replaying, return_exceptions=True)
        await self.client.aclose()
