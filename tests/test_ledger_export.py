"""`carbon-gateway ledger export`: a period's ledger written streaming, JSONL or CSV, on every backend."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from gateway.commands.ledger import Progress, flatten, period_bounds
from tests.support import stores as helpers
from tests.support.stores import T0, make_record

factory, store, clock = helpers.factory, helpers.store, helpers.clock

DAY = 86400


def export(factory, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    block = {"prefix": factory.prefix, "redis_url": factory.redis_url} if factory.redis_url else {}
    block["state_dir"] = str(factory.state_dir)
    model = {"model_name": "m", "litellm_params": {"model": "openai/m", "api_base": "http://127.0.0.1:9/v1"}}
    config = tmp_path / "export.yaml"
    config.write_text(yaml.safe_dump({"model_list": [model], "store": block}))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CARBON_GATEWAY_STATE_DIR")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "ledger", "export", "--config", str(config), *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


async def _fill(factory, clock) -> None:
    store = await factory.open(clock=clock)
    records = [make_record("a", timestamp=T0 + i, request_id=f"a{i}", tags={"team": "x"}) for i in range(700)]
    records += [make_record("b", timestamp=T0 + 5, request_id="b0")]
    records += [make_record("a", timestamp=T0 + 20 * DAY, request_id="april")]  # 2030-04: another period
    assert all(await store.meter.count_many([(None, r) for r in records]))
    await store.close()


async def test_export_month_jsonl_every_tenant_and_one(factory, clock, tmp_path):
    await _fill(factory, clock)
    done = export(factory, tmp_path, "--period", "2030-03", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 701  # more than a Redis page (500): read page after page
    assert {entry["request_id"] for entry in lines} == {f"a{i}" for i in range(700)} | {"b0"}
    assert done.stderr == ""  # not a terminal: no progress line

    out = tmp_path / "b.jsonl"
    done = export(factory, tmp_path, "--period", "2030-03-15", "--tenant", "b", "--format", "jsonl", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["request_id"] for line in out.read_text().splitlines()] == ["b0"]


async def test_export_csv_flattens_carbon_and_tags(factory, clock, tmp_path):
    await _fill(factory, clock)
    done = export(factory, tmp_path, "--period", "2030", "--tenant", "a", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == 701
    assert rows[-1]["request_id"] == "april"
    assert float(rows[0]["carbon_gco2e"]) == 0.5
    assert json.loads(rows[0]["tags"]) == {"team": "x"}


def test_bad_period_is_refused(factory, tmp_path):
    done = export(factory, tmp_path, "--period", "2030-13", "--format", "csv")
    assert done.returncode == 2
    assert "--period" in done.stderr


def test_progress_line_and_bounds():
    start, end = period_bounds("2030-03")
    assert end - start == 31 * DAY
    stream = io.StringIO()
    progress = Progress(start, end, stream)
    progress.show(1, {"timestamp": start + 15.5 * DAY, "tenant_id": "a"})
    progress.done(2)
    assert stream.getvalue().startswith("\r[" + "#" * 15)
    assert "2030-03-16" in stream.getvalue() and stream.getvalue().endswith("done" + " " * 20 + "\n")
    assert flatten({"carbon": {"gco2e": 1.0}, "tags": {}}) == {"carbon_gco2e": 1.0, "tags": "{}"}
