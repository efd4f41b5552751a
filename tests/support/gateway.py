"""Start real gateway processes for tests: `carbon-gateway serve` under uvicorn on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


class GatewayProcess:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def write_config(directory: Path, config: Mapping[str, Any], name: str = "gateway.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path


@contextmanager
def running_gateway(
    config_path: Path,
    *,
    env: Mapping[str, str | None] | None = None,
    workers: int = 1,
    port: int | None = None,
    timeout_s: float = 60.0,
    args: Sequence[str] = (),
) -> Iterator[GatewayProcess]:
    gateway = start_gateway(config_path, env=env, workers=workers, port=port, timeout_s=timeout_s, args=args)
    try:
        yield gateway
    finally:
        gateway.stop()


def start_gateway(
    config_path: Path,
    *,
    env: Mapping[str, str | None] | None = None,
    workers: int = 1,
    port: int | None = None,
    timeout_s: float = 60.0,
    args: Sequence[str] = (),
) -> GatewayProcess:
    port = port or free_port()
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GATEWAY_MASTER_KEY", "GATEWAY_ADMIN_KEY", "REDIS_URL")
    }
    full_env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    full_env.setdefault("CARBON_GATEWAY_STATE_DIR", str(config_path.parent / "state"))
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    log_path = config_path.parent / f"gateway-{port}.log"
    command = [
        sys.executable,
        "-m",
        "gateway.cli",
        "serve",
        "--config",
        str(config_path),
        "--port",
        str(port),
        "--workers",
        str(workers),
        *args,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    gateway = GatewayProcess(process, port, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}:\n{gateway.log()}")
        try:
            if httpx.get(f"{gateway.url}/readyz", timeout=1).status_code == 200:
                return gateway
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    gateway.stop()
    raise RuntimeError(f"gateway did not become ready in {timeout_s}s:\n{gateway.log()}")



@contextmanager
def running_gateways(config_path: Path, count: int, **options: Any) -> Iterator[list[GatewayProcess]]:
    """`count` gateway processes (replicas) on one config, started one after the other (started side by
    side on a 2-core machine, each takes longer than the lot in turn)."""
    gateways: list[GatewayProcess] = []
    try:
        for _ in range(count):
            gateways.append(start_gateway(config_path, **options))
        yield gateways
    finally:
        for gateway in gateways:
            gateway.stop()
