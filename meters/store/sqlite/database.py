"""The embedded store's connections: one SQLite file in WAL mode, shared by every worker process on a host.

Writes and long reads run on one dedicated thread with its own connection, so the event loop never waits
on SQLite's lock; each metering call is one short `BEGIN IMMEDIATE` transaction, which makes
check-and-reserve atomic across processes. The hot-path operations (key lookup, reserve, release) run on
the event loop's own thread with a second connection: a hop to the store thread costs ~100 µs here, more
than the SQL. Their lock wait is capped; past it they retry on the store thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from meters.store.interfaces import Backend
from meters.store.sqlite.schema import BUSY_TIMEOUT_MS, INLINE_BUSY_TIMEOUT_MS, connect
from meters.store.values import StoreUnavailable

T = TypeVar("T")


class SqliteDatabase(Backend):
    name = "embedded"

    def __init__(self, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="cg-sqlite"
        )
        self._thread_conn = self._executor.submit(connect, path, busy_timeout_ms).result()
        self._inline_thread = threading.get_ident()
        self._inline_conn = connect(path, INLINE_BUSY_TIMEOUT_MS)
        # WAL checkpoints (with their fsync) happen on the store thread's commits, never on the loop.
        self._inline_conn.execute("PRAGMA wal_autocheckpoint = 0")

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection: transactions of the two threads never interleave."""
        return self._inline_conn if threading.get_ident() == self._inline_thread else self._thread_conn

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` on the store thread; SQLite errors (locked past busy_timeout, a full or
        read-only disk) become StoreUnavailable."""
        if self._executor is None:
            raise StoreUnavailable(f"embedded store {self.path} is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"embedded store {self.path}: {exc}") from exc

    async def run_inline(self, fn: Callable[..., T], *args: object) -> T:
        """Short operations on the loop thread; a busy database sends them to the store thread."""
        if threading.get_ident() != self._inline_thread:
            return await self.run(fn, *args)
        try:
            return fn(*args)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise StoreUnavailable(f"embedded store {self.path}: {exc}") from exc
        # BEGIN IMMEDIATE failed before any change: waiting for the lock off the loop is safe.
        return await self.run(fn, *args)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction on this thread's connection."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def ping(self) -> bool:
        return await self.run(lambda: self.conn.execute("SELECT 1").fetchone() == (1,))

    async def close(self) -> None:
        if self._executor is None:
            return
        await self.run(self._thread_conn.close)
        self._inline_conn.close()
        self._executor.shutdown(wait=True)
        self._executor = None
