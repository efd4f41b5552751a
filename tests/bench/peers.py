"""Peers for ``run_bench --peers``: Portkey's gateway (Node) and LiteLLM's proxy, started like the gateway.

Installed beforehand, never at test time: ``sh tests/bench/peers/setup.sh`` (``npm ci`` of the pinned
``@portkey-ai/gateway`` under ``tests/bench/peers/portkey/``, and ``litellm[proxy]`` at pyproject's pin in
its own virtualenv, ``BENCH_LITELLM_VENV`` or ``/tmp/bench-litellm-venv``). Both point at the same fake
upstream as the gateway and are pinned to the gateway's core; neither has a database.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.bench import processes

PEERS_DIR = Path(__file__).resolve().parent / "peers"
PORTKEY_DIR = PEERS_DIR / "portkey"
PORTKEY_SERVER = PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
LITELLM_MASTER_KEY = "sk-bench-litellm-master"  # a benchmark-only key on loopback, never a real secret
SETUP_HINT = "install the peers first: sh tests/bench/peers/setup.sh"


@dataclass(frozen=True)
class Peer:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    model: str
    headers: dict[str, str]
    version: str


def litellm_venv() -> Path:
    return Path(os.environ.get("BENCH_LITELLM_VENV", "/tmp/bench-litellm-venv"))


def portkey_version() -> str:
    package = PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "package.json"
    return str(json.loads(package.read_text())["version"])


def check_installed() -> None:
    if not PORTKEY_SERVER.exists():
        raise SystemExit(f"--peers: {PORTKEY_SERVER} is missing; {SETUP_HINT}")
    if not (litellm_venv() / "bin" / "litellm").exists():
        raise SystemExit(f"--peers: no LiteLLM proxy in {litellm_venv()}; {SETUP_HINT}")


def start_portkey(upstream_port: int, port: int, cpus: str | None, log_path: Path) -> Peer:
    command = ["node", str(PORTKEY_SERVER), f"--port={port}"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            processes.pinned(command, cpus), cwd=PORTKEY_DIR, stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
    headers = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": f"http://127.0.0.1:{upstream_port}/v1",
        "authorization": "Bearer fake",
    }
    return Peer("portkey", process, port, "bench-model", headers, portkey_version())


def start_litellm(upstream_port: int, port: int, cpus: str | None, workdir: Path) -> Peer:
    """LiteLLM's proxy, one worker, no database, its master key on (it refuses to start without one)."""
    config = {
        "model_list": [
            {
                "model_name": processes.BENCH_MODEL,
                "litellm_params": {
                    "model": "openai/bench-model",
                    "api_base": f"http://127.0.0.1:{upstream_port}/v1",
                    "api_key": "fake",
                },
            }
        ],
        "general_settings": {"master_key": LITELLM_MASTER_KEY},
    }
    config_path = workdir / "litellm.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    venv = litellm_venv()
    command = [str(venv / "bin" / "litellm"), "--config", str(config_path), "--port", str(port)]
    command += ["--num_workers", "1"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL", "REDIS_URL")}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["LITELLM_LOG"] = "ERROR"
    with (workdir / "litellm.log").open("wb") as log:
        process = subprocess.Popen(
            processes.pinned(command, cpus),
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
    version = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    headers = {"authorization": f"Bearer {LITELLM_MASTER_KEY}"}
    return Peer("litellm", process, port, processes.BENCH_MODEL, headers, version or "unknown")
