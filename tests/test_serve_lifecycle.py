"""`carbon-gateway serve` ends: on a port already in use, on SIGTERM, and its store probe always stops (issue 10)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gateway.commands import exposure
from gateway.config import ObservabilitySettings, parse_config
from gateway.observability.health import StoreHealthProbe
from gateway.observability.metrics import Metrics
from meters.store import SQLITE_FILENAME
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


def _output(process: subprocess.Popen[bytes], timeout_s: float) -> str:
    """Everything it printed, once it has exited (killed if it outlives `timeout_s`: a bound, not a measurement)."""
    try:
        output, _ = process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return output.decode(errors="replace")


def _serve(port: int, tmp_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    config = write_config(tmp_path, DEMO_CONFIG)
    env = {
        **os.environ,
        "CARBON_GATEWAY_STATE_DIR": str(tmp_path / "state"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port), *extra]
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_port_in_use_exits_non_zero_with_a_clear_message(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        process = _serve(port, tmp_path)
        text = _output(process, 90)  # a bound, not a measurement: it hung for ever
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


def test_anonymous_beyond_loopback_is_refused(tmp_path: Path) -> None:
    """No key and 0.0.0.0: refused before anything listens (so this test exposes nothing)."""
    config = write_config(tmp_path, DEMO_CONFIG)
    env = {**os.environ, "CARBON_GATEWAY_STATE_DIR": str(tmp_path / "state"), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    for name in ("REDIS_URL", "GATEWAY_MASTER_KEY", "GATEWAY_ADMIN_KEY", exposure.ALLOW_ANONYMOUS_ENV):
        env.pop(name, None)
    command = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--host", "0.0.0.0"]
    process = subprocess.Popen(
        [*command, "--port", str(free_port())], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    text = _output(process, 90)  # a bound: before the fix it served
    assert process.returncode == 2, text
    assert "refusing to serve anonymous access on 0.0.0.0" in text and "--allow-anonymous" in text, text


def test_anonymous_is_allowed_by_the_flag_the_environment_or_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(exposure.ALLOW_ANONYMOUS_ENV, raising=False)
    plain = parse_config(DEMO_CONFIG, tmp_path / "gateway.yaml")
    allowing = parse_config({**DEMO_CONFIG, "gateway": {"allow_anonymous": True}}, tmp_path / "gateway.yaml")
    assert not exposure.anonymous_allowed(False, plain)
    assert exposure.anonymous_allowed(True, plain)
    assert exposure.anonymous_allowed(False, allowing)
    monkeypatch.setenv(exposure.ALLOW_ANONYMOUS_ENV, "1")
    assert exposure.anonymous_allowed(False, plain)
    assert exposure.is_loopback("127.0.0.1") and exposure.is_loopback("::1") and exposure.is_loopback("localhost")
    assert not exposure.is_loopback("0.0.0.0") and not exposure.is_loopback("gateway.example")


@pytest.mark.parametrize(("key", "access"), [(None, "access: ANONYMOUS"), ("sk-master", "access: keys required")])
def test_the_start_up_line_names_the_store_and_the_access(tmp_path: Path, key: str | None, access: str) -> None:
    gateway = start_gateway(write_config(tmp_path, DEMO_CONFIG), env={"GATEWAY_MASTER_KEY": key})
    gateway.stop()
    line = next(line for line in gateway.log().splitlines() if line.startswith("carbon-gateway: serving"))
    assert f"store: embedded SQLite at {tmp_path / 'state' / SQLITE_FILENAME}" in line, line
    assert access in line, line


def test_a_hung_shutdown_is_ended_by_its_watchdog_and_a_finished_one_is_not() -> None:
    """`gateway.shutdown.exit_after`, which every serving process (each worker of `--workers N` too) arms when its
    lifespan's shutdown begins: it calls its exit unless cancelled first."""
    import threading

    from gateway.shutdown import exit_after

    fired: list[float] = []
    done = threading.Event()

    def exit(limit: float) -> None:
        fired.append(limit)
        done.set()

    exit_after(0.05, exit)  # a shutdown that never finishes
    assert done.wait(timeout=10) and fired == [0.05]
    cancelled = exit_after(0.05, exit)
    cancelled.cancel()  # one that finished in time
    cancelled.join(timeout=10)
    assert fired == [0.05]


def test_sigterm_ends_every_worker(tmp_path: Path) -> None:
    """`serve --workers 2`: the supervisor and both workers are gone after a SIGTERM (each worker's lifespan arms
    its own watchdog, which it cancels once its shutdown is done: a clean exit, not the watchdog's)."""
    port = free_port()
    process = _serve(port, tmp_path, "--workers", "2")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        process.send_signal(signal.SIGTERM)
    except BaseException:
        process.kill()
        process.wait()
        raise
    text = _output(process, 60)  # a bound: drain 10 s, then each app's shutdown
    assert process.returncode == 0, text
    assert "did not finish" not in text, text
    assert len(children) >= 2, text
    # The workers (and multiprocessing's resource tracker, which exits once its parent's pipe closes) follow.
    deadline = time.monotonic() + 30  # a bound, not a measurement
    while (alive := [pid for pid in children if _running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive, f"still running after the supervisor ended: {alive}\n{text}"


def _running(pid: str) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "zombie" not in status.lower()
