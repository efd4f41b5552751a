"""A Redis Cluster of a test's own: three masters on free loopback ports, no replicas, in a tmp dir.

A master can be stopped and started again on its port with its nodes.conf, so it rejoins the cluster.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.support.redis_server import wait_until_pingable

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
READY_TIMEOUT_S = 30.0


def free_cluster_port() -> int:
    """A free loopback port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        port = random.randint(20000, 50000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a Redis Cluster node")


class ClusterNodeProcess:
    def __init__(self, directory: Path, persistent: bool = False) -> None:
        self.persistent = persistent  # an AOF written at every command: a killed master comes back whole
        self.port = free_cluster_port()
        self.directory = directory / str(self.port)
        self.directory.mkdir(parents=True)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", "2000", "--save", "", "--dir", str(self.directory),
            *(["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]),
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until_pingable(self.port, READY_TIMEOUT_S)

    def kill(self) -> None:
        """Stop it hard (SIGKILL): what it held in memory is gone, nodes.conf stays."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None


class RedisCluster:
    def __init__(self, directory: Path, masters: int = 3, persistent: bool = False) -> None:
        self.nodes = [ClusterNodeProcess(directory, persistent) for _ in range(masters)]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        subprocess.run(
            [REDIS_CLI, "--cluster", "create", *(f"127.0.0.1:{node.port}" for node in self.nodes),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        self.wait_ok()

    def wait_ok(self) -> None:
        """Until every node says cluster_state:ok (a readiness wait)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        for node in self.nodes:
            client = redis.Redis(port=node.port)
            try:
                while client.cluster("INFO").get("cluster_state") != "ok":
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"Redis Cluster node {node.port} not ok after {READY_TIMEOUT_S}s")
                    time.sleep(0.05)
            finally:
                client.close()

    def master_of(self, key: str) -> ClusterNodeProcess:
        """The node serving `key`'s hash slot."""
        for node in self.nodes:
            if node.process is not None:
                client = redis.Redis(port=node.port)
                try:
                    slot = client.cluster("KEYSLOT", key)
                    for start, end, primary, *_ in client.cluster("SLOTS"):
                        if start <= slot <= end:
                            return next(n for n in self.nodes if n.port == primary[1])
                finally:
                    client.close()
        raise LookupError(key)

    def restart(self, node: ClusterNodeProcess) -> None:
        node.start()
        self.wait_ok()

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    node.kill()

    def flush(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                client = redis.Redis(port=node.port)
                client.flushall()
                client.close()


@contextlib.contextmanager
def redis_cluster(directory: Path, persistent: bool = False) -> Iterator[RedisCluster]:
    cluster = RedisCluster(directory, persistent=persistent)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
