"""`carbon-gateway serve` ends: on a port already in use, on SIGTERM, and its store probe always stops (issue 10)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.config import ObservabilitySettings
from gateway.observability.health import StoreHealthProbe
from gateway.observability.metrics import Metrics
from tests.support.gateway import REPO_ROOT, start_gateway, write_config
from tests.support.ports import free_port

DEMO_CONFIG = {
    "model_list": [{"model_name": "demo", "litellm_params": {"model": "demo/carbon-gateway-demo"}}]
}


async def test_probe_stops_when_cancelled_as_its_ping_returns() -> None:
    """The race Python 3.11's wait_for lost: the ping's answer and the cancellation in the same loop turn."""
    metrics = Metrics(ObservabilitySettings(), ["demo"], registry=CollectorRegistry())
    for turns in range(6):
        answered = asyncio.get_running_loop().create_future()

        async def ping(answer: asyncio.Future[bool] = answered) -> bool:
            return await answer

        probe = StoreHealthProbe(metrics, ping, "embedded", interval_s=1.0)
        probe.start()
        for _ in range(3):
            await asyncio.sleep(0)  # the probe is now waiting for its ping
        answered.set_result(True)
        for _ in range(turns):
            await asyncio.sleep(0)
        stopping = asyncio.create_task(probe.stop())
        done, _ = await asyncio.wait({stopping}, timeout=10)
        assert done, f"the probe did not stop (cancelled {turns} loop turns after its ping answered)"


def _serve(port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    config = write_config(tmp_path, DEMO_CONFIG)
    env = {
        **os.environ,
        "CARBON_GATEWAY_STATE_DIR": str(tmp_path / "state"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port)]
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_port_in_use_exits_non_zero_with_a_clear_message(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        process = _serve(port, tmp_path)
        try:
            output, _ = process.communicate(timeout=90)  # a bound, not a measurement: it hung for ever
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    text = output.decode(errors="replace")
    assert process.returncode not in (0, None), text
    assert f"127.0.0.1:{port}" in text and "already in use" in text, text


def test_sigterm_ends_the_process(tmp_path: Path) -> None:
    gateway = start_gateway(write_config(tmp_path, DEMO_CONFIG))
    try:
        gateway.process.send_signal(signal.SIGTERM)
        gateway.process.wait(timeout=30)  # a bound: the graceful-shutdown time is 10 s
    finally:
        if gateway.process.poll() is None:
            gateway.process.kill()
            gateway.process.wait()
    assert gateway.process.returncode is not None
