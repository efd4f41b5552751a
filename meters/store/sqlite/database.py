"""The embedded store's connections: one SQLite file in WAL mode, shared by every worker process on a host.

Writes and long reads run on one dedicated thread with its own connection, so the event loop never waits
on SQLite's lock; each metering call is one short `BEGIN IMMEDIATE` transaction, which makes
check-and-reserve atomic across processes. The hot-path operations (a key's lookup, a reservation: one
request's, or a lease for a worker's next ones) run on the event loop's own thread with a second connection:
a hop to the store thread costs ~100 µs here, more than their SQL. They do not wait for SQLite's lock: a
locked database (the usage writer's transaction) sends them to the store thread at once. With a 5 ms wait
instead, at 2,400 requests/s with every limit on the longest of them held the loop 7.6-8.1 ms (p99 of ~150 a
run); without, 4.9-5.5 ms (the store thread shares the core), 7% of them moved to the store thread (issue
15). Lease returns and releases, which no request waits for, take the store thread.

A file deleted under a running gateway (its state directory removed) would go on taking writes into an unlinked
inode, lost at the next start. Every store-thread call first checks that the path is still the file it opened: if
it is gone, the open connection's content (everything counted, since too) is copied to a new file at the path
(SQLite's backup API) and the connections reopen on it; if another process put a new file there, they reopen on
that one. Either is logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
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
log = logging.getLogger(__name__)


_REOPEN_WAIT_MS = 5  # reopening on the loop after the file was replaced: a short wait for its lock


def _inline_connection(path: Path, opening_wait_ms: int) -> sqlite3.Connection:
    """The loop thread's connection: opening (WAL, schema) waits for the lock like any other; then its statements
    do not (`INLINE_BUSY_TIMEOUT_MS`)."""
    conn = connect(path, opening_wait_ms)
    conn.execute(f"PRAGMA busy_timeout = {INLINE_BUSY_TIMEOUT_MS}")
    # WAL checkpoints (with their fsync) happen on the store thread's commits, never on the loop.
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    return conn


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:  # gone, or its directory replaced by a file
        return None
    return (stat.st_dev, stat.st_ino)


class SqliteDatabase(Backend):
    name = "embedded"

    def __init__(self, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="cg-sqlite"
        )
        self._thread_conn = self._executor.submit(connect, path, busy_timeout_ms).result()
        self._inline_thread = threading.get_ident()
        self._inline_conn = _inline_connection(path, busy_timeout_ms)
        self._identity = _identity(path)

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection: transactions of the two threads never interleave."""
        return self._inline_conn if threading.get_ident() == self._inline_thread else self._thread_conn

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` on the store thread; SQLite errors (locked past busy_timeout, a full or
        read-only disk) become StoreUnavailable."""
        if self._executor is None:
            raise StoreUnavailable(f"embedded store {self.path} is closed")
        if _identity(self.path) != self._identity:
            await self._reopen()
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
        try:
            return await self.run(lambda: self.conn.execute("SELECT 1").fetchone() == (1,))
        except StoreUnavailable:
            return False

    async def writable(self) -> bool:
        if self._executor is None:
            return False
        if _identity(self.path) != self._identity:
            try:
                await self._reopen()
            except StoreUnavailable:
                return False
        return os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)

    async def _reopen(self) -> None:
        """The file at the path is not the one open: restore it from the open connection (deleted), or
        reopen on the one now there (replaced)."""
        assert self._executor is not None
        loop = asyncio.get_running_loop()
        try:
            restored = await loop.run_in_executor(self._executor, self._reopen_sync)
            inline, self._inline_conn = self._inline_conn, _inline_connection(self.path, _REOPEN_WAIT_MS)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(
                f"embedded store {self.path} is gone and cannot be recreated: {exc}"
            ) from exc
        inline.close()
        self._identity = _identity(self.path)
        if restored:
            log.warning(
                "embedded store %s was deleted under the running gateway: recreated from the open database, "
                "every count and ledger entry kept", self.path,
            )  # fmt: skip
        else:
            log.warning("embedded store %s was replaced by another file: reopened on it", self.path)

    def _reopen_sync(self) -> bool:
        restored = False
        if _identity(self.path) is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            copy = sqlite3.connect(self.path, isolation_level=None)
            try:
                self._thread_conn.backup(copy)
            finally:
                copy.close()
            restored = True
        old, self._thread_conn = self._thread_conn, connect(self.path, self._busy_timeout_ms)
        old.close()
        return restored

    async def close(self) -> None:
        if self._executor is None:
            return
        if _identity(self.path) != self._identity:
            try:
                await self._reopen()  # what was counted since the file vanished is not lost at the exit
            except StoreUnavailable as exc:
                log.error("%s: the usage counted since is lost", exc)
        await self.run(self._thread_conn.close)
        self._inline_conn.close()
        self._executor.shutdown(wait=True)
        self._executor = None
