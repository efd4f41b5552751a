"""`carbon-gateway tenants list|create|keys|delete` on the store itself, no server, no admin key (issue 13,
item 5): run as the real command, on both backends, and the keys it issues work in a gateway on that store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.gateway import running_gateway, write_config
from tests.support.tenancy import BACKENDS, bearer, chat, cleaned, store_block, tenancy_config


@pytest.fixture(params=BACKENDS)
def config_path(request: pytest.FixtureRequest, upstream_port: int, tmp_path: Path) -> Iterator[Path]:
    with cleaned(store_block(request.param, tmp_path)) as store:
        yield write_config(tmp_path, tenancy_config(upstream_port, store))


def tenants(config: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    # As for a gateway process: the store is the config's alone (no REDIS_URL from the test run).
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GATEWAY_ADMIN_KEY", "GATEWAY_MASTER_KEY", "REDIS_URL")
    }
    env["CARBON_GATEWAY_STATE_DIR"] = str(config.parent / "state")
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "tenants", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert (done.returncode == 0) is ok, done.stderr
    return done


def answer(config: Path, *args: str) -> Any:
    return json.loads(tenants(config, *args).stdout)


def test_create_list_issue_revoke_delete(config_path: Path) -> None:
    created = answer(
        config_path, "create", "acme", "--name", "Acme", "--limits", '{"requests_per_minute": 7}'
    )
    assert (created["id"], created["name"], created["limits"], created["keys"]) == (
        "acme",
        "Acme",
        {"requests_per_minute": 7},
        [],
    )
    issued = answer(config_path, "keys", "acme", "--issue", "--name", "ci")
    assert issued["key"].startswith("cg-") and issued["name"] == "ci"
    listed = answer(config_path, "list")
    assert [t["id"] for t in listed["data"]] == ["acme"]
    assert [k["key_id"] for k in listed["data"][0]["keys"]] == [issued["key_id"]]
    assert issued["key"] not in json.dumps(listed)  # shown once
    keys = answer(config_path, "keys", "acme")
    assert [k["key_id"] for k in keys["data"]] == [issued["key_id"]]

    # A gateway on that store takes the key at once.
    with running_gateway(config_path) as gateway:
        served = httpx.post(
            f"{gateway.base_url}/chat/completions", json=chat(), headers=bearer(issued["key"]), timeout=30
        )
        assert served.status_code == 200, served.text
        assert served.headers["x-ratelimit-limit-requests"] == "7"

    assert answer(config_path, "keys", "acme", "--revoke", issued["key_id"]) == {
        "key_id": issued["key_id"],
        "revoked": True,
    }
    assert answer(config_path, "keys", "acme")["data"] == []
    second = answer(config_path, "keys", "acme", "--issue")
    assert answer(config_path, "delete", "acme") == {
        "id": "acme",
        "deleted": True,
        "revoked_keys": [second["key_id"]],
        "usage_kept": True,
    }
    assert answer(config_path, "list")["data"] == []


def test_errors_say_what_is_wrong(config_path: Path) -> None:
    assert "no tenant 'ghost'" in tenants(config_path, "keys", "ghost", ok=False).stderr
    assert "no tenant 'ghost'" in tenants(config_path, "delete", "ghost", ok=False).stderr
    bad = tenants(config_path, "create", "acme", "--limits", '{"gco2e_per_year": 1}', ok=False)
    assert bad.returncode == 2 and "tenant.limits.gco2e_per_year" in bad.stderr
    bad = tenants(
        config_path, "create", "acme", "--models", '{"no-such-model": {"tokens_per_day": 1}}', ok=False
    )
    assert "tenant.models.no-such-model" in bad.stderr
    assert "not JSON" in tenants(config_path, "create", "acme", "--limits", "{oops", ok=False).stderr
    answer(config_path, "create", "acme")
    assert "already exists" in tenants(config_path, "create", "acme", ok=False).stderr
    assert (
        "has no key" in tenants(config_path, "keys", "acme", "--revoke", "key_000000000000", ok=False).stderr
    )
