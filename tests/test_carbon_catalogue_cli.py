"""`carbon-gateway catalogue pull-scaleway` against a fake Product Catalog API on loopback (issue 12, item 1)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from gateway.cli import parser as cli_parser
from gateway.commands.catalogue import PullError, pull_scaleway
from meters.carbon import CarbonEngine
from meters.carbon.supplier import load_snapshot
from meters.paths import data_dir
from tests.fakes.scaleway_catalog import FakeScalewayCatalog, genai_product, instance_product

DAY = date(2026, 12, 1)
ROOT = Path(__file__).resolve().parent.parent

PRODUCTS = [
    genai_product("gpt-oss-120b", "input_token", kg=0.00079744683, m3=7.307859e-7),
    genai_product("gpt-oss-120b", "output_token", kg=0.00082377994, m3=7.886386e-7),
    genai_product("gpt-oss-120b", "input_token", kg=0.0004, mode="batch"),
    genai_product("gpt-oss-120b", "output_token", kg=0.0004, mode="batch"),
    genai_product("llama-3.1-8b-instruct", "input_token", kg=0.0),  # 0 = not published
    genai_product("llama-3.1-8b-instruct", "output_token", kg=None),  # missing = not published
    genai_product("whisper-large-v3", "input_duration", kg=0.001, unit="second", size=60),
    instance_product(),
]


def test_pull_pages_through_the_catalogue_and_writes_a_loadable_snapshot(tmp_path: Path) -> None:
    with FakeScalewayCatalog(PRODUCTS) as catalog:
        path, products = pull_scaleway(tmp_path, catalog.base_url, today=DAY, page_size=2)
    assert path == tmp_path / "scaleway_products-2026-12-01.yaml"
    # 7 Generative APIs products in pages of 2: pages 1-4, the 4th short; the filter is asked for.
    assert [q["page"] for q in catalog.requests] == [["1"], ["2"], ["3"], ["4"]]
    assert all(q["product_types"] == ["generative_apis"] for q in catalog.requests)
    snapshot = load_snapshot(path, "scaleway")  # the engine's own validator
    assert (snapshot.read, snapshot.basis, snapshot.boundary, snapshot.water_boundary) == (
        "2026-12-01",
        "location",
        "lca",
        "onsite",
    )
    assert "pull-scaleway" in snapshot.provenance and catalog.base_url in snapshot.source
    by_key = {(p.model, p.consumption_mode, p.token_type): p for p in snapshot.products}
    assert len(by_key) == len(products) == 6  # the per-second audio product and the instance are left out
    gpt_in = by_key["gpt-oss-120b", "realtime", "input_token"]
    assert (gpt_in.unit_size, gpt_in.kg_co2_equivalent, gpt_in.sku) == (
        1_000_000,
        0.00079744683,
        "/ai/generative_apis/consumption/gpt_oss_120b_input_token/fr-par",
    )
    assert gpt_in.gco2e_per_token == pytest.approx(7.9744683e-7, rel=1e-12)  # kg x 1000 / size
    assert gpt_in.water_ml_per_token == pytest.approx(7.307859e-7, rel=1e-12)  # m3 x 1e6 / size
    assert by_key["gpt-oss-120b", "batch", "output_token"].water_ml_per_token is None  # not published
    for token_type in ("input_token", "output_token"):
        assert by_key["llama-3.1-8b-instruct", "realtime", token_type].gco2e_per_token is None


def test_a_snapshot_is_never_overwritten(tmp_path: Path) -> None:
    with FakeScalewayCatalog(PRODUCTS) as catalog:
        path, _ = pull_scaleway(tmp_path, catalog.base_url, today=DAY)
        before = path.read_bytes()
        with pytest.raises(PullError, match="never overwritten"):
            pull_scaleway(tmp_path, catalog.base_url, today=DAY)
        later, _ = pull_scaleway(tmp_path, catalog.base_url, today=date(2026, 12, 2))
    assert path.read_bytes() == before
    assert later.name == "scaleway_products-2026-12-02.yaml"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, later.name]  # no staging file left


@pytest.mark.parametrize(
    ("products", "status", "message"),
    [
        (PRODUCTS, 503, "HTTP 503"),
        ([instance_product()], None, "no Generative APIs"),
    ],
)
def test_a_failed_pull_writes_nothing(
    tmp_path: Path, products: list[dict], status: int | None, message: str
) -> None:
    with (
        FakeScalewayCatalog(products, fail_status=status) as catalog,
        pytest.raises(PullError, match=message),
    ):
        pull_scaleway(tmp_path, catalog.base_url, today=DAY)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_or_non_http_base_urls_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PullError, match="http"):
        pull_scaleway(tmp_path, "file:///etc", today=DAY)
    with FakeScalewayCatalog(PRODUCTS) as catalog:
        dead = catalog.base_url
    with pytest.raises(PullError, match="cannot read"):
        pull_scaleway(tmp_path, dead, today=DAY, timeout_s=5)


def test_the_engine_uses_a_pulled_snapshot_once_the_catalogue_names_it(tmp_path: Path) -> None:
    shutil.copytree(data_dir() / "carbon", tmp_path, dirs_exist_ok=True)
    doubled = [
        genai_product("gpt-oss-120b", "input_token", kg=0.0016),
        genai_product("gpt-oss-120b", "output_token", kg=0.0032),
    ]
    with FakeScalewayCatalog(doubled) as catalog:
        path, _ = pull_scaleway(tmp_path, catalog.base_url, today=DAY)
    before = CarbonEngine.load(tmp_path).factors_for("gpt-oss-120b", provider="scaleway")
    catalogue = tmp_path / "catalogue.yaml"
    text = catalogue.read_text().replace("scaleway_products-2026-09-03.yaml", path.name)
    catalogue.write_text(text.replace('version: "2026-11-30"', 'version: "2026-12-01"'))
    engine = CarbonEngine.load(tmp_path)
    after = engine.factors_for("gpt-oss-120b", provider="scaleway")
    assert before.estimate(1000, 1000).gco2e != after.estimate(1000, 1000).gco2e
    estimate = after.estimate(1000, 1000)
    assert (estimate.method, estimate.catalogue_version) == ("supplier", "2026-12-01")
    assert estimate.gco2e == pytest.approx(1000 * 1.6e-6 + 1000 * 3.2e-6)
    assert estimate.water_ml is None and estimate.water_boundary is None  # no water published
    assert path.name in estimate.source


def test_the_cli_registers_pull_scaleway_and_honours_scw_api_url(tmp_path: Path) -> None:
    parser = cli_parser()
    args = parser.parse_args(["catalogue", "pull-scaleway", "--out", str(tmp_path)])
    assert args.base_url is None and callable(args.run)
    assert parser.parse_args(["catalogue", "pull-scaleway"]).out == str(data_dir() / "carbon")
    with FakeScalewayCatalog(PRODUCTS) as catalog:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SCW_API_URL": catalog.base_url}
        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "catalogue", "pull-scaleway", "--out", str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        again = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "catalogue", "pull-scaleway", "--out", str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    assert "6 Generative APIs token products, 4 with a published factor" in done.stdout
    [written] = list(tmp_path.iterdir())
    assert load_snapshot(written, "scaleway").source.startswith(catalog.base_url)
    assert again.returncode == 1 and "never overwritten" in again.stderr
