"""A non-editable install works (issue 13, item 4): the wheel is built, installed into a fresh venv, and run
from outside the checkout; the default config and the carbon catalogue come from the package itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.gateway import REPO_ROOT
from tests.support.ports import free_port

DEMO = {"model": "demo", "messages": [{"role": "user", "content": "Hello from a wheel"}]}


def run(*command: str | Path, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_serves_the_demo_from_outside_the_checkout(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CARBON_GATEWAY_", "GATEWAY_")) and k not in ("REDIS_URL", "PYTHONPATH")
    }
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, REPO_ROOT, cwd=tmp_path, env=env)
    [wheel] = dist.glob("carbon_gateway-*.whl")
    venv = tmp_path / "venv"
    # The test environment's packages (the dependencies) stay visible; carbon-gateway itself comes from the wheel.
    run(sys.executable, "-m", "venv", "--system-site-packages", venv, cwd=tmp_path, env=env)
    run(
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        wheel,
        cwd=tmp_path,
        env=env,
    )
    where = run(
        venv / "bin" / "python",
        "-c",
        "import gateway, meters.paths; print(gateway.__file__); print(meters.paths.data_dir())",
        cwd=tmp_path,
        env=env,
    ).split()
    assert all(str(venv) in path for path in where), where  # not the checkout, not an editable install
    assert "carbon-gateway" in run(venv / "bin" / "carbon-gateway", "--version", cwd=tmp_path, env=env)

    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    serve_env = {
        **env,
        "CARBON_GATEWAY_STATE_DIR": str(tmp_path / "state"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    server = subprocess.Popen(
        [str(venv / "bin" / "carbon-gateway"), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=serve_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        deadline = time.monotonic() + 90
        while not ready():
            assert time.monotonic() < deadline, "the wheel's gateway did not become ready in 90 s"
            time.sleep(0.2)
        response = httpx.post(f"{url}/v1/chat/completions", json=DEMO, timeout=30)
        assert response.status_code == 200, response.text
        carbon = response.json()["usage"]["carbon"]
        assert carbon["gco2e"] > 0 and carbon["method"] and carbon["source"]
        assert float(response.headers["x-carbon-gco2e"]) > 0
        assert httpx.get(f"{url}/v1/models/demo", timeout=10).json()["id"] == "demo"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
