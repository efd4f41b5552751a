"""Shared fixtures: a fake upstream process and a gateway process configured against it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.fakes import spawn_fake_upstream
from tests.support.configs import proxy_config
from tests.support.gateway import GatewayProcess, running_gateway, write_config
from tests.support.ports import free_port
from tests.support.stores import shared_cluster  # noqa: F401 - the session's Redis Cluster, for every store suite

_OWN_REDIS: list[subprocess.Popen[bytes]] = []


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    """Tests use the Redis at REDIS_URL (default 127.0.0.1:6379); where none answers, start our own."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if _redis_answers(url) or not shutil.which("redis-server"):
        os.environ.setdefault("REDIS_URL", url)
        return
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    _OWN_REDIS.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _redis_answers(os.environ["REDIS_URL"]) and time.monotonic() < deadline:
        time.sleep(0.05)


def pytest_unconfigure(config: pytest.Config) -> None:
    for process in _OWN_REDIS:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def upstream_port() -> Iterator[int]:
    process, port = spawn_fake_upstream()
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def gateway(upstream_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    directory = tmp_path_factory.mktemp("gateway")
    path = write_config(directory, proxy_config(upstream_port))
    with running_gateway(path) as process:
        yield process


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path
