"""`check-config` and `serve` accept and refuse exactly the same configs: both go through
gateway.config.load_config and gateway.gateway.prepare, and name the same key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.gateway import REPO_ROOT, running_gateway, write_config
from tests.support.ports import free_port

DEMO: dict[str, Any] = {"model_name": "demo", "litellm_params": {"model": "demo/carbon-gateway-demo"}}


def demo_config(**extra: Any) -> dict[str, Any]:
    return {"model_list": [DEMO], **extra}


BAD: dict[str, tuple[dict[str, Any], str]] = {
    "a misspelt observability key": (
        demo_config(observability={"metrics_enabeld": False}),
        "observability.metrics_enabeld: unknown key (did you mean 'metrics_enabled'?)",
    ),
    "a misspelt gateway key": (
        demo_config(gateway={"max_body_byte": 1}),
        "gateway.max_body_byte: unknown key (did you mean 'max_body_bytes'?)",
    ),
    "a near-miss of a LiteLLM parameter": (
        {"model_list": [{**DEMO, "litellm_params": {**DEMO["litellm_params"], "max_retires": 3}}]},
        "model_list[0] (demo).litellm_params.max_retires: unknown key (did you mean 'max_retries'?)",
    ),
    "a misspelt store key": (demo_config(store={"leas_s": 1}), "store.leas_s: unknown key (did you mean 'lease_s'?)"),
    "a lease of no time": (demo_config(store={"lease_s": 0}), "store.lease_s: must be a number of seconds"),
    "a router setting the gateway does not read": (
        demo_config(router_settings={"routing_strategy": "simple-shuffle"}),
        "router_settings.routing_strategy: unknown key",
    ),
    "a plaintext tenant key": (
        demo_config(tenants=[{"id": "acme", "keys": ["sk-plaintext"]}]),
        "tenants[0].keys[0]: keys must be 'sha256:<hex>' or 'os.environ/VAR' (never plaintext)",
    ),
    "a carbon engine setting it does not know": (demo_config(carbon={"defualt_method": "energy"}), "carbon"),
    "a model carbon block with an unknown method": (
        {"model_list": [{**DEMO, "carbon": {"method": "magic"}}]},
        "model_list[0] (demo).carbon",
    ),
    "a LiteLLM-only top-level block": (demo_config(litellm_settings={"drop_params": True}), "litellm_settings"),
}


def cli(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=REPO_ROOT,
        check=False,
    )


@pytest.mark.parametrize("case", sorted(BAD))
def test_check_config_and_serve_refuse_the_same_config_naming_the_same_key(case: str, tmp_path: Path) -> None:
    raw, expected = BAD[case]
    path = write_config(tmp_path, raw)
    checked = cli("check-config", str(path))
    served = cli("serve", "--config", str(path), "--port", str(free_port()))
    assert checked.returncode == 1, checked.stdout
    assert served.returncode == 2, served.stderr
    assert f"{path}: {expected}" in checked.stderr
    assert f"{path}: {expected}" in served.stderr
    # The same line, word for word.
    assert checked.stderr.strip().splitlines()[-1] == served.stderr.strip().splitlines()[-1]


def test_a_config_check_config_accepts_is_served(tmp_path: Path) -> None:
    raw = demo_config(
        observability={"metrics_enabled": False},
        gateway={"max_body_bytes": 1024},
        store={"lease_s": 1, "state_dir": str(tmp_path / "state")},
    )
    path = write_config(tmp_path, raw)
    checked = cli("check-config", str(path))
    assert checked.returncode == 0, checked.stderr
    assert "(valid)" in checked.stdout
    with running_gateway(path) as gateway:
        assert gateway.process.poll() is None
