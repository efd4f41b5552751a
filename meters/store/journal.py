"""A bounded local JSONL journal of usage that could not reach Redis, replayed when it is back.

Several worker processes may share one journal file: appends take an exclusive `flock`;
a replay atomically renames the file aside (so appends continue into a fresh file), holds
a lock on the renamed file while replaying, and puts back whatever it could not replay.
Renamed files left by a crashed process are picked up by the next replay.
"""

from __future__ import annotations

import fcntl
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from meters.store.records import UncountableRecord

log = logging.getLogger(__name__)


class Journal:
    def __init__(self, path: Path, max_records: int) -> None:
        self.path = path
        self.max_records = max_records
        self.dropped = 0  # records refused because the journal was full (this process)
        self._appended = 0  # records this process appended since the file was last emptied

    def pending(self) -> bool:
        try:
            if self.path.stat().st_size > 0:
                return True
        except FileNotFoundError:
            pass
        return any(self._replay_files())

    def append(self, entry: dict[str, Any]) -> bool:
        """Append one entry; False (and counted in `dropped`) when the journal is full."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = orjson.dumps(entry) + b"\n"
        with open(self.path, "ab") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            if os.fstat(handle.fileno()).st_size == 0:
                self._appended = 0  # emptied (replayed) since our last append
            if self._appended >= self.max_records:
                self.dropped += 1
                log.error(
                    "usage journal %s is full (%d records): dropping a record", self.path, self.max_records
                )
                return False
            handle.write(line)
            self._appended += 1
        return True

    def _replay_files(self) -> list[Path]:
        return sorted(self.path.parent.glob(self.path.name + ".replaying-*"))

    def _take(self) -> None:
        """Move the live journal aside so appends go to a fresh file while we replay."""
        try:
            with open(self.path, "rb") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                if os.fstat(handle.fileno()).st_size:
                    os.rename(
                        self.path, self.path.with_name(f"{self.path.name}.replaying-{uuid.uuid4().hex}")
                    )
        except FileNotFoundError:
            pass

    async def replay(self, apply: Callable[[dict[str, Any]], Awaitable[None]]) -> int:
        """Apply every journalled entry in order; stop at the first failure and keep the rest. An entry that can
        never be counted (not JSON, or `apply` raised UncountableRecord) is set aside in `rejected_path` instead,
        and the replay goes on.

        `apply` must be idempotent: an entry applied just before a crash is applied again.
        """
        self._take()
        replayed = 0
        for path in self._replay_files():
            try:
                handle = open(path, "rb")  # noqa: SIM115 - held open for the lock
            except FileNotFoundError:
                continue
            with handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # another process is replaying this one
                if not path.exists():
                    continue  # finished by another process before we got the lock
                lines = [line for line in handle.read().splitlines() if line.strip()]
                done = 0
                try:
                    for line in lines:
                        try:
                            entry = orjson.loads(line)
                            if not isinstance(entry, dict):
                                raise UncountableRecord("not a JSON object")
                            await apply(entry)
                            replayed += 1
                        except (orjson.JSONDecodeError, UncountableRecord) as exc:
                            self._reject(line, exc)
                        done += 1
                finally:
                    if done < len(lines):
                        self._put_back(lines[done:])
                    path.unlink()
        return replayed

    @property
    def rejected_path(self) -> Path:
        """Where entries that can never be counted go (a line torn by a crash, a record no counter can hold)."""
        return self.path.with_name(self.path.name + ".rejected")

    def _reject(self, line: bytes, error: Exception) -> None:
        """Set an entry that can never be counted aside, so it does not hold back every entry after it."""
        with open(self.rejected_path, "ab") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(line + b"\n")
        log.error("usage journal %s: an entry cannot be counted (%s); kept in %s", self.path, error, self.rejected_path)

    def _put_back(self, lines: list[bytes]) -> None:
        with open(self.path, "ab") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(b"".join(line + b"\n" for line in lines))
