"""`carbon-gateway store migrate`: a single Redis written in the layout before hash tags carries over."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import redis
import yaml

from meters.limits import Limits, Scope
from meters.store import Amounts, open_store
from meters.tenants import Tenant
from tests.support.stores import REDIS_URL, FakeClock, make_record

LIMITS = Limits.from_config({"gco2e_per_month": 10.0}, "acme")


def old_name(key: str, prefix: str) -> str:
    """The name a key had before hash tags: cg:u:{acme}|day -> cg:u:acme|day, cg:{dir}key:h -> cg:key:h."""
    rest = key[len(prefix) :].replace("{dir}", "").replace("{ltenants}", "ltenants")
    kind, colon, tail = rest.partition(":")
    if colon and tail.startswith("{"):
        tenant, _, after = tail[1:].partition("}")
        tail = f"{tenant}{after}" if kind == "l" or after.startswith("|") else after
    return prefix + kind + colon + tail


def migrate(tmp_path: Path, prefix: str, *args: str) -> dict:
    model = {"model_name": "m", "litellm_params": {"model": "openai/m", "api_base": "http://127.0.0.1:9/v1"}}
    config = tmp_path / "migrate.yaml"
    config.write_text(yaml.safe_dump({"model_list": [model], "store": {"redis_url": REDIS_URL, "prefix": prefix}}))
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "store", "migrate", "--config", str(config), *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_old_layout_carries_over(tmp_path):
    prefix = f"cgtest-migrate:{uuid.uuid4().hex[:10]}:"
    client = redis.Redis.from_url(REDIS_URL)
    clock = FakeClock()
    try:
        store = await open_store(REDIS_URL, prefix=prefix, state_dir=tmp_path, clock=clock)
        await store.directory.put_tenant(Tenant(id="acme", limits=LIMITS))
        key, plaintext = await store.directory.issue_key("acme")
        assert await store.meter.record(make_record("acme", key_id=key.key_id, request_id="r1", gco2e=4.0))
        await store.close()
        # Back to the old names (what an earlier version wrote), TTLs kept.
        for name in [k.decode() for k in client.scan_iter(match=prefix + "*")]:
            assert re.search(r"\{", old_name(name, prefix)) is None, name
            client.rename(name, old_name(name, prefix))

        assert migrate(tmp_path, prefix, "--dry-run")["moved"]["w"] > 0
        moved = migrate(tmp_path, prefix)["moved"]
        assert {"tenant", "key", "keyid", "tkeys", "tenants", "u", "um", "done", "l", "w", "ltenants"} <= set(moved)
        assert migrate(tmp_path, prefix)["moved"] == {}  # twice is harmless

        store = await open_store(REDIS_URL, prefix=prefix, state_dir=tmp_path, clock=clock)
        tenant, _ = await store.directory.resolve_key(plaintext)
        assert tenant.id == "acme"
        assert (await store.reports.usage("acme", "2030-03"))["totals"]["gco2e"] == 4.0
        assert (await store.reports.request("r1", "acme"))["request_id"] == "r1"
        # The month's budget window came along: 4 g spent of 10, so 7 g more is refused.
        scopes = [Scope("t:acme", LIMITS)]
        over = await store.meter.reserve("acme", key_id=None, model="small", amounts=Amounts(gco2e=7.0), scopes=scopes)
        assert not over.ok
        assert not await store.meter.record(make_record("acme", request_id="r1"))  # still counted once
        await store.close()
    finally:
        for name in client.scan_iter(match=prefix + "*"):
            client.unlink(name)
        client.close()
