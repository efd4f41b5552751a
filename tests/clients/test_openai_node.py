"""openai Node (6.49, tests/clients/node/package-lock.json) on Node 20 against a real gateway: where the figure is,
and base64 embeddings decoded by the SDK. The package is installed by `npm ci` (.ci/run does it): without it
these tests fail, they do not skip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import NEEDS_KEY, UNSET_KEY_ENV, ledger_entry
from tests.support.gateway import GatewayProcess

NODE_DIR = Path(__file__).resolve().parent / "node"
SDK_VERSION = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]["openai"]


def node(gateway: GatewayProcess, case: str, **env: str) -> dict[str, Any]:
    executable = shutil.which("node")
    assert executable, "Node.js is not installed: the Node client tests need `node` (20+) on PATH"
    installed = NODE_DIR / "node_modules" / "openai" / "package.json"
    assert installed.is_file(), f"the openai npm package is not installed: run `npm ci` in {NODE_DIR}"
    assert json.loads(installed.read_text())["version"] == SDK_VERSION, "node_modules is stale: run `npm ci`"
    done = subprocess.run(
        [executable, "clients.mjs", gateway.base_url, case],
        cwd=NODE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_node_20_or_newer() -> None:
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout
    assert int(version.strip().lstrip("v").split(".")[0]) >= 20


def test_non_stream_headers_and_usage_carbon(demo_gateway: GatewayProcess) -> None:
    out = node(demo_gateway, "unary")
    assert float(out["header_gco2e"]) == pytest.approx(out["usage_carbon"]["gco2e"], rel=1e-5)
    assert ledger_entry(demo_gateway, out["request_id"])["carbon"] == out["usage_carbon"]


def test_stream_without_include_usage_the_id_then_the_carbon_api(demo_gateway: GatewayProcess) -> None:
    out = node(demo_gateway, "stream")
    assert out["last_usage_carbon"] is None and out["text"]
    assert out["header_method"]  # the labels come up front, the figure needs the usage
    assert ledger_entry(demo_gateway, out["request_id"])["stream"] is True


def test_stream_with_include_usage_the_last_chunk(demo_gateway: GatewayProcess) -> None:
    out = node(demo_gateway, "stream-usage")
    assert out["last_usage_carbon"] == ledger_entry(demo_gateway, out["request_id"])["carbon"]


def test_stream_usage_always_the_last_chunk_unasked(always_gateway: GatewayProcess) -> None:
    out = node(always_gateway, "stream")
    assert out["last_usage_carbon"] == ledger_entry(always_gateway, out["request_id"])["carbon"]


def test_base64_embeddings_decode_to_the_float_vectors(demo_gateway: GatewayProcess) -> None:
    out = node(demo_gateway, "embeddings")
    floats = httpx.post(
        f"{demo_gateway.base_url}/embeddings",
        json={"model": "demo", "input": ["carbon", "gateway"], "encoding_format": "float"},
    ).json()
    assert out["vectors"] == [item["embedding"] for item in floats["data"]]
    assert [len(v) for v in out["vectors"]] == [16, 16]


def test_a_model_whose_key_is_not_set_is_not_retried(demo_gateway: GatewayProcess) -> None:
    out = node(demo_gateway, "refused", MODEL=NEEDS_KEY)
    assert (out["status"], out["attempts"], out["should_retry"]) == (503, 1, "false")
    assert UNSET_KEY_ENV in out["message"]


def test_a_monthly_budget_429_is_not_waited_for(keyed_gateway: GatewayProcess, over_budget_key: str) -> None:
    # Without x-should-retry: false, openai Node would sleep for retry-after (days) before retrying.
    out = node(keyed_gateway, "refused", MODEL="demo", GATEWAY_KEY=over_budget_key)
    assert (out["status"], out["attempts"], out["should_retry"]) == (429, 1, "false")
    assert int(out["retry_after"]) > 120
