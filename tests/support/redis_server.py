"""A redis-server of a test's own, on a free loopback port, that can be stopped and started again."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.ports import free_port


def wait_until_pingable(port: int, timeout_s: float) -> None:
    """Wait until the redis-server on `port` accepts connections (a readiness wait, not an assertion)."""
    client = redis.Redis(port=port)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    client.close()


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.directory), "--dbfilename", "dump.rdb"]
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "/usr/bin/redis-server", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_pingable(self.port, 10)

    def stop(self) -> None:
        """Stop, keeping the data in dump.rdb for the next start."""
        with contextlib.suppress(redis.ConnectionError):  # SHUTDOWN closes the connection as it exits
            redis.Redis(port=self.port, retry=Retry(NoBackoff(), 0)).shutdown(save=True)
        assert self.process is not None
        self.process.wait(timeout=10)
        self.process = None
