"""`carbon-gateway audited import|pull-scaleway|list` and `report`, run as the real commands on both stores:
CSV in, Scaleway's footprint API (a fake on loopback: 401, 403, 5xx) in, reports out with no server."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.scaleway_footprint import FAKE_KEY, FAKE_PDF, FakeFootprint, footprint_answer, sku
from tests.support.gateway import write_config
from tests.support.tenancy import BACKENDS, cleaned, store_block, tenancy_config

MONTH = "2026-10"


@pytest.fixture(params=BACKENDS)
def config_path(request: pytest.FixtureRequest, upstream_port: int, tmp_path: Path) -> Iterator[Path]:
    with cleaned(store_block(request.param, tmp_path)) as store:
        yield write_config(tmp_path, tenancy_config(upstream_port, store))


def cli(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SCW_SECRET_KEY", "SCW_API_URL")}
    clean["CARBON_GATEWAY_STATE_DIR"] = str(config.parent / "state")
    command, rest = args[0], args[1:]
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", command, "--config", str(config), *rest],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=120,
    )


def test_import_csv_list_and_report(config_path: Path, tmp_path: Path) -> None:
    good = tmp_path / "october.csv"
    good.write_text("model,kg_co2e,m3_water,tokens\nfake,12.5,0.01,1000000\n")
    first = cli(config_path, "audited", "import", str(good), "--month", MONTH)
    assert first.returncode == 0, first.stderr
    assert "version 1" in first.stdout
    again = cli(config_path, "audited", "import", str(good), "--month", MONTH, "--source", "restated")
    assert "version 2" in again.stdout and "restatement" in again.stdout
    listed = json.loads(cli(config_path, "audited", "list", "--month", MONTH).stdout)["data"]
    assert [(i["version"], i["source"]) for i in listed] == [(2, "restated"), (1, "file october.csv")]
    bad = tmp_path / "bad.csv"
    bad.write_text("model,kg_co2e\nfake,1\nfake-not-configured,2\n")
    refused = cli(config_path, "audited", "import", str(bad), "--month", MONTH)
    assert refused.returncode != 0 and "line 3" in refused.stderr and "model" in refused.stderr
    month = cli(config_path, "audited", "import", str(good), "--month", "2026-13")
    assert month.returncode != 0 and "--month" in month.stderr
    report = cli(config_path, "report", "--period", MONTH, "--format", "csv")
    assert report.returncode == 0, report.stderr
    rows = list(csv.DictReader(io.StringIO(report.stdout)))
    assert rows == [] or "model" in rows[0]
    written = cli(config_path, "report", "--period", "2026", "--format", "pdf", "--out", str(tmp_path))
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "carbon-report-2026-organisation.pdf").read_bytes().startswith(b"%PDF")
    unknown = cli(config_path, "report", "--period", MONTH, "--format", "xml")
    assert unknown.returncode != 0 and "--format" in unknown.stderr


def test_pull_scaleway_from_the_fake(config_path: Path, tmp_path: Path) -> None:
    answer = footprint_answer(
        MONTH,
        zone_skus=[sku("/ai/generative_apis/consumption/fake-model_output_tokens/fr-par", 1.5, 0.002)],
        region_skus=[sku("/ai/generative_apis/consumption/unknown-llm_input_tokens/fr-par", 0.25)],
    )
    with FakeFootprint(answers={MONTH: answer}) as fake:
        env = {"SCW_SECRET_KEY": FAKE_KEY, "SCW_API_URL": fake.base_url}
        args = ("audited", "pull-scaleway", "--organization-id", "org-1", "--month", MONTH)
        pulled = cli(config_path, *args, "--save-pdf", str(tmp_path / "scw"), env=env)
        assert pulled.returncode == 0, pulled.stderr
        assert "1 unattributed" in pulled.stdout
        saved = list((tmp_path / "scw").iterdir())
        assert len(saved) == 1 and saved[0].read_bytes() == FAKE_PDF
        (stored,) = json.loads(cli(config_path, "audited", "list").stdout)["data"]
        figures = {(f["model"], f["kg_co2e"]) for f in stored["figures"]}
        assert figures == {("fake", 1.5), (None, 0.25)}  # the unmapped SKU kept, unattributed
        wrong = cli(config_path, *args, env={**env, "SCW_SECRET_KEY": "wrong"})
        assert wrong.returncode != 0 and "401" in wrong.stderr
        for mode, status in (("forbidden", "403"), ("error", "500"), ("unavailable", "503")):
            fake.mode = mode
            failed = cli(config_path, *args, env=env)
            assert failed.returncode != 0 and status in failed.stderr, (mode, failed.stderr)
        missing = cli(config_path, *args)
        assert missing.returncode != 0 and "SCW_SECRET_KEY" in missing.stderr
    assert len(json.loads(cli(config_path, "audited", "list").stdout)["data"]) == 1  # failures stored nothing
