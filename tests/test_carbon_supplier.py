"""The `supplier` method: Scaleway's own per-token factors from a dated catalogue snapshot (issue 12, item 1)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from meters.carbon import CarbonEngine, CatalogueError
from meters.carbon.supplier import load_snapshot
from meters.carbon.supplier_api import page_count_done, products_from_pages
from meters.paths import data_dir
from tests.fakes.scaleway_catalog import genai_product, instance_product

SNAPSHOT = "scaleway_products-2026-09-03.yaml"
# From the snapshot (third-party record of the API on 2026-09-03): g per input token, g per output token.
PUBLISHED = {
    "gpt-oss-120b": (7.9744683e-7, 8.2377994e-7),
    "qwen3-235b-a22b-instruct-2507": (8.0430635e-7, 8.9237534e-7),
    "mistral-small-3.2-24b-instruct-2506": (7.9739505e-7, 8.2326204e-7),
    "qwen3-coder-30b-a3b-instruct": (6.686743e-7, 6.843928e-7),
    "pixtral-12b-2409": (6.7132316e-7, 7.108812e-7),
}
NOT_PUBLISHED = [
    "llama-3.1-8b-instruct",
    "llama-3.3-70b-instruct",
    "gemma-3-27b-it",
    "mistral-nemo-instruct-2407",
]


@pytest.fixture(scope="module")
def engine() -> CarbonEngine:
    return CarbonEngine.load()


@pytest.mark.parametrize(("model", "per_token"), PUBLISHED.items())
def test_scaleway_models_use_their_published_input_and_output_factors(
    engine: CarbonEngine, model: str, per_token: tuple[float, float]
) -> None:
    factors = engine.factors_for(model, upstream_model=f"scaleway/{model}", provider="scaleway")
    assert (factors.method, factors.confidence, factors.boundary, factors.basis) == (
        "supplier",
        "estimated",
        "lca",
        "location",
    )
    g_in, g_out = per_token
    assert factors.estimate(1000, 0).gco2e == pytest.approx(1000 * g_in, rel=1e-12)
    assert factors.estimate(0, 1000).gco2e == pytest.approx(1000 * g_out, rel=1e-12)
    estimate = factors.estimate(300, 200)
    assert estimate.gco2e == pytest.approx(300 * g_in + 200 * g_out, rel=1e-12)
    assert (estimate.gco2e_min, estimate.gco2e_max) == pytest.approx(
        (0.8 * estimate.gco2e, 2 * estimate.gco2e)
    )
    assert estimate.water_ml > 0 and estimate.water_boundary == "onsite"  # Scaleway: energy x site WUE
    assert estimate.energy_wh is None and SNAPSHOT in estimate.source
    assert factors.describe()["factors"]["gco2e_per_input_token"] == g_in


@pytest.mark.parametrize("model", NOT_PUBLISHED)
def test_a_zero_factor_is_not_published_and_falls_back_saying_so(engine: CarbonEngine, model: str) -> None:
    factors = engine.factors_for(model, provider="scaleway")
    assert factors.method == "energy"
    assert factors.estimate(400, 400).gco2e > 0
    assert f"no published supplier factor in {SNAPSHOT}" in factors.source
    [skipped] = [a for a in factors.describe()["alternatives"] if a["method"] == "supplier"]
    assert skipped["status"] == "not published"
    assert "not published, not zero" in skipped["source"] and SNAPSHOT in skipped["source"]


def test_a_model_scaleway_does_not_list_gets_no_supplier_note(engine: CarbonEngine) -> None:
    factors = engine.factors_for("bge-multilingual-gemma2", provider="scaleway")
    assert factors.method == "energy" and "supplier" not in factors.source
    assert all(a["method"] != "supplier" for a in factors.describe()["alternatives"])


def test_only_scaleway_hosting_gets_scaleway_factors(engine: CarbonEngine) -> None:
    assert engine.factors_for("gpt-oss-120b").method == "supplier"  # the catalogue entry says Scaleway
    assert engine.factors_for("gpt-oss-120b", provider="openai").method == "energy"
    elsewhere = engine.factors_for("gpt-oss-120b", upstream_model="groq/gpt-oss-120b", provider="groq")
    assert (elsewhere.method, elsewhere.describe()["factors"]["datacentre"]) == ("energy", "generic-world")


def test_a_snapshot_model_missing_from_the_catalogue_still_gets_its_factor(engine: CarbonEngine) -> None:
    factors = engine.factors_for("qwen-mini", upstream_model="scaleway/qwen3.6-35b-a3b", provider="scaleway")
    assert factors.method == "supplier"
    assert factors.estimate(1000, 1000).gco2e == pytest.approx(1000 * (7.967006e-7 + 8.163179e-7), rel=1e-12)


def test_precedence_audited_and_measured_rank_above_supplier_above_energy_and_estimated(
    tmp_path: Path,
) -> None:
    shutil.copytree(data_dir() / "carbon", tmp_path, dirs_exist_ok=True)
    models = tmp_path / "models.yaml"
    measured = (
        "{id: gpt-oss-120b, provider: scaleway, coefficient: {gco2e_per_1k_tokens: 0.5, confidence: measured,"
        ' boundary: lca, basis: location, source: "a published LCA", date: 2026},'
    )
    text = models.read_text()
    assert "{id: gpt-oss-120b, provider: scaleway," in text
    models.write_text(text.replace("{id: gpt-oss-120b, provider: scaleway,", measured))
    assert CarbonEngine.load(tmp_path).factors_for("gpt-oss-120b").method == "coefficient"  # measured first
    engine = CarbonEngine.load()
    assert engine.factors_for("gpt-oss-120b").method == "supplier"
    audited = engine.with_audited("2026-10", {"gpt-oss-120b": (0.012, 3_000_000, 1_000_000)})
    split = audited.factors_for("gpt-oss-120b")
    assert split.method == "audited"
    # The month's total is shared between input and output tokens in the supplier's own ratio.
    described = split.describe()["factors"]
    assert described["input_weight"] == pytest.approx(7.9744683e-7 / 8.2377994e-7)
    assert described["input_weight_from"] == "supplier per-token factors"
    assert split.estimate(3_000_000, 1_000_000).gco2e == pytest.approx(12.0)
    # Supplier ranks above estimated coefficients under either default method.
    coefficient_first = CarbonEngine.load(settings={"default_method": "coefficient"})
    assert coefficient_first.factors_for("gpt-oss-120b").method == "supplier"
    # A model's carbon: block still wins.
    forced = engine.factors_for("gpt-oss-120b", override={"method": "energy"})
    assert forced.method == "energy"
    [alternative] = [a for a in forced.describe()["alternatives"] if a["method"] == "supplier"]
    assert alternative["status"].startswith("not used: forced")


def test_api_pages_become_snapshot_rows() -> None:
    pages = [
        {
            "products": [
                genai_product("m", "output_token", kg=0.002, m3=0.000004, size=1000),
                genai_product("m", "input_token", kg=0.0, size=1000),
                instance_product(),
                genai_product("whisper", "input_duration", kg=0.1, unit="second", size=60),
                {"product": "broken"},
                "not a product",
            ],
            "total_count": 6,
        }
    ]
    rows = products_from_pages(pages)
    assert [(r["model"], r["token_type"]) for r in rows] == [("m", "input_token"), ("m", "output_token")]
    assert rows[0]["gco2e_per_token"] is None and rows[0]["kg_co2_equivalent"] == 0.0
    assert rows[1]["gco2e_per_token"] == pytest.approx(0.002 * 1000 / 1000)
    assert rows[1]["water_ml_per_token"] == pytest.approx(0.000004 * 1e6 / 1000)
    with pytest.raises(ValueError, match="products"):
        products_from_pages([{"total_count": 3}])


@pytest.mark.parametrize(
    ("fetched", "page_size", "total", "last", "done"),
    [
        (100, 100, 250, 100, False),
        (250, 100, 250, 50, True),
        (200, 100, None, 100, False),
        (230, 100, None, 30, True),
    ],
)
def test_paging_stops_at_total_count_or_a_short_page(
    fetched: int, page_size: int, total: int | None, last: int, done: bool
) -> None:
    assert page_count_done(fetched, page_size, total, last) is done


def _snapshot(tmp_path: Path, **product: object) -> Path:
    row = {"model": "m", "region": "fr-par", "consumption_mode": "realtime", "token_type": "input_token"}
    document = yaml.safe_load((data_dir() / "carbon" / SNAPSHOT).read_text())
    document["products"] = [{**row, **product}]
    path = tmp_path / "scaleway_products-2026-12-01.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("product", "key"),
    [
        ({"unit_size": 1000, "kg_co2_equivalent": 0.001, "gco2e_per_token": 0.002}, "gco2e_per_token"),
        ({"unit_size": 1000, "m3_water_usage": 0.001, "water_ml_per_token": None}, "water_ml_per_token"),
        ({"unit_size": 0}, "unit_size"),
        ({"gco2e_per_token": 0}, "gco2e_per_token"),  # 0 is never stored: not published is null
        ({"gco2e_per_token": "8e-7"}, "gco2e_per_token"),
        ({"kg": 1}, "kg"),
    ],
)
def test_snapshot_errors_name_the_file_and_key(tmp_path: Path, product: dict, key: str) -> None:
    path = _snapshot(tmp_path, **product)
    with pytest.raises(CatalogueError) as caught:
        load_snapshot(path, "scaleway")
    assert path.name in str(caught.value) and key in str(caught.value)


def test_snapshot_of_another_supplier_or_duplicated_products_is_refused(tmp_path: Path) -> None:
    path = _snapshot(tmp_path, gco2e_per_token=8e-7)
    with pytest.raises(CatalogueError, match="configured for 'mistral'"):
        load_snapshot(path, "mistral")
    document = yaml.safe_load(path.read_text())
    document["products"] *= 2
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(CatalogueError, match="duplicate"):
        load_snapshot(path, "scaleway")
