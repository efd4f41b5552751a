"""The Redis store's connection: one client pool under a key prefix, and the fail-open journal.

`redis://…` (or `rediss://`) names one Redis; `redis+cluster://host:port[,host:port…]` (or
`rediss+cluster://`, optionally `user:password@` before the first node) names a Redis Cluster by some
of its nodes: the client discovers the rest and routes each command (each script, by its KEYS[1]) to
the node serving its hash slot (see keys.py).

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
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ClusterDownError, RedisClusterException, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from meters.store.interfaces import Backend
from meters.store.journal import Journal
from meters.store.values import StoreUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
# A cluster whose master for a slot is down answers CLUSTERDOWN (or the client finds the slot uncovered).
UNREACHABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    ClusterDownError,
    SlotNotCoveredError,
    TryAgainError,
)
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
RedisClient = aioredis.Redis | RedisCluster
FAIL_CLOSED = "fail_closed"
_JOURNAL_CHECK_EVERY_S = 5.0


class RedisConnection(Backend):
    name = "redis"

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str,
        on_failure: str,
        journal: Journal,
        max_connections: int = 64,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.on_failure = on_failure
        self.journal = journal
        # Set by the meter: counts one journalled entry (the SETTLE script).
        self.apply_entry: Callable[[dict[str, Any]], Awaitable[Any]] | None = None
        self._replaying: asyncio.Task[int] | None = None
        # A cluster client fails (MaxConnectionsError) instead of waiting for a free connection to a node:
        # bound the operations in flight so bursts wait, as the single-Redis blocking pool makes them.
        self._slots = asyncio.Semaphore(max_connections) if isinstance(client, RedisCluster) else None
        self._cluster_ready = False  # the slot map read once before the first burst (see _ready)
        self._ready_lock = asyncio.Lock()
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
        if url.partition("://")[0] in CLUSTER_SCHEMES:
            cluster = cluster_client(
                url,
                connect_timeout_s=connect_timeout_s,
                command_timeout_s=command_timeout_s,
                max_connections=max_connections,
            )
            return cls(
                cluster,
                prefix=prefix,
                on_failure=on_failure,
                journal=journal,
                max_connections=max_connections,
            )
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
        return cls(
            aioredis.Redis(connection_pool=pool), prefix=prefix, on_failure=on_failure, journal=journal
        )

    @property
    def fail_closed(self) -> bool:
        return self.on_failure == FAIL_CLOSED

    @property
    def cluster(self) -> bool:
        return isinstance(self.client, RedisCluster)

    def host(self) -> str:
        if isinstance(self.client, RedisCluster):
            return ",".join(f"{node.host}:{node.port}" for node in self.client.get_nodes())
        kwargs: dict[str, object] = self.client.get_connection_kwargs()  # type: ignore[no-untyped-call]
        return str(kwargs.get("host"))

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis operation; unreachable Redis becomes StoreUnavailable."""
        try:
            if self._slots is None:
                result = await operation()
            else:
                await self._ready()
                async with self._slots:
                    result = await operation()
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"Redis is unreachable: {exc}") from exc
        if self._replaying is None and time.monotonic() >= self._next_journal_check:
            # Any worker may have journalled while Redis was down: look now and then, not per call.
            self._next_journal_check = time.monotonic() + _JOURNAL_CHECK_EVERY_S
            if self.journal.pending() and self.apply_entry is not None:
                self._replaying = asyncio.create_task(self._replay_in_background())
        return result

    async def _ready(self) -> None:
        """Read the cluster's slot map before the first command: redis-py 8.1 reads it lazily, and a burst
        of first commands racing that read fails some of them (seen with 150 concurrent commands)."""
        if self._cluster_ready or not isinstance(self.client, RedisCluster):
            return
        async with self._ready_lock:
            if not self._cluster_ready:
                try:
                    await self.client.initialize()
                except RedisClusterException as exc:  # no startup node answered
                    raise RedisConnectionError(str(exc)) from exc
                self._cluster_ready = True

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
            await self._ready()
            return bool(await self.client.ping())
        except (*UNREACHABLE, RedisClusterException):
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


def cluster_nodes(url: str) -> tuple[str, list[tuple[str, int]]]:
    """(the one-node URL the credentials and TLS come from, [(host, port)…]) of a cluster URL."""
    scheme, _, rest = url.partition("://")
    netloc, _, path = rest.partition("/")
    if path.strip("/") not in ("", "0"):
        raise ValueError(f"a Redis Cluster has only database 0, got {url!r}")
    credentials, at, hosts = netloc.rpartition("@")
    nodes: list[tuple[str, int]] = []
    for part in hosts.split(","):
        host, colon, port = part.strip().rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"Redis Cluster nodes are host:port[,host:port…], got {part!r} in the URL")
        nodes.append((host.strip("[]"), int(port)))
    single = f"{scheme.removesuffix('+cluster')}://{credentials}{at}{hosts.split(',')[0].strip()}"
    return single, nodes


def cluster_client(
    url: str, *, connect_timeout_s: float, command_timeout_s: float, max_connections: int
) -> RedisCluster:
    single, nodes = cluster_nodes(url)
    # A timeout makes the cluster client drop its free connections to that node and re-read the slot map
    # (redis-py 8.1 can then trip over connections other tasks are still opening): connecting gets a
    # few seconds, as a loaded host may need, instead of the single Redis's half second.
    connect_timeout_s = max(connect_timeout_s, 2.0)
    return RedisCluster.from_url(
        single,
        startup_nodes=[ClusterNode(host, port) for host, port in nodes],
        max_connections=max_connections,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=command_timeout_s,
        retry=Retry(NoBackoff(), 1),
    )
