"""Engine behaviour: lookup, unknown models, overrides, settings, data centres, audited months, describe."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import orjson
import pytest

from meters.carbon import AuditedFigure, CarbonEngine, CatalogueError, Estimate, ModelFactors
from meters.paths import data_dir


@pytest.fixture(scope="module")
def engine() -> CarbonEngine:
    return CarbonEngine.load()


def test_lookup_by_model_name_then_upstream_id_with_and_without_prefix(engine: CarbonEngine) -> None:
    direct = engine.factors_for("gpt-oss-120b")
    via_upstream = engine.factors_for("my-chat", upstream_model="scaleway/gpt-oss-120b", provider="scaleway")
    bare_upstream = engine.factors_for("my-chat", upstream_model="gpt-oss-120b")
    assert (
        direct.describe()["factors"]
        == via_upstream.describe()["factors"]
        == bare_upstream.describe()["factors"]
    )
    assert via_upstream.model == "my-chat"
    assert engine.factors_for("GPT-4o-2024-08-06").describe()["factors"]["params_total_b"] == 440


def test_demo_alias_is_llama_8b_on_scaleway_fr_par(engine: CarbonEngine) -> None:
    demo = engine.factors_for("demo", upstream_model="demo", provider="demo", override={"model": "demo"})
    factors = demo.describe()["factors"]
    assert demo.method == "energy"
    assert (factors["params_total_b"], factors["datacentre"], factors["pue"]) == (8.0, "scw-fr-par-2", 1.16)
    assert demo.estimate(20, 30).gco2e > 0


def test_unknown_model_gets_a_labelled_fallback_never_zero(engine: CarbonEngine) -> None:
    factors = engine.factors_for("house-model", upstream_model="openai/house-model", provider="openai")
    estimate = factors.estimate(1000, 0)
    assert factors.method == "fallback"
    assert estimate.confidence == "estimated"
    assert estimate.gco2e == pytest.approx(0.3)
    assert (estimate.gco2e_min, estimate.gco2e_max) == pytest.approx((0.05, 2.85))
    assert "fallback" in estimate.source


def test_unknown_model_with_a_size_in_its_id_uses_the_energy_model(engine: CarbonEngine) -> None:
    dense = engine.factors_for("acme-13b-chat")
    moe = engine.factors_for("vllm-box", upstream_model="hosted_vllm/acme-30b-a3b")
    assert dense.method == moe.method == "energy"
    assert dense.describe()["factors"]["params_active_b"] == 13.0
    assert moe.describe()["factors"]["params_total_b"] == 30.0
    assert moe.describe()["factors"]["params_active_b"] == 3.0
    assert any("read from the model id" in source for source in dense.describe()["sources"])
    assert "13B (read from the model id) params" in dense.source
    assert engine.factors_for("mixtral-8x7b").method == "fallback"  # 8x7b is not a 7B model


def test_energy_estimate_adds_up_and_is_labelled(engine: CarbonEngine) -> None:
    estimate = engine.estimate("llama-3.3-70b-instruct", 1200, 350, 6.5)
    assert estimate.method == "energy"
    assert estimate.boundary == "usage+embodied"
    assert estimate.confidence == "estimated"
    assert estimate.gco2e == pytest.approx(estimate.usage_gco2e + estimate.embodied_gco2e)
    assert estimate.gco2e_min < estimate.gco2e < estimate.gco2e_max
    assert estimate.energy_wh > 0 and estimate.water_ml > 0
    # A shorter measured latency caps the server and embodied share, never raises it.
    assert engine.estimate("llama-3.3-70b-instruct", 1200, 350, 0.5).gco2e < estimate.gco2e


def test_precedence_energy_over_estimated_coefficient_unless_configured(engine: CarbonEngine) -> None:
    assert engine.factors_for("gpt-4o").method == "energy"
    assert engine.factors_for("claude-3-opus").method == "coefficient"  # no parameters published
    coefficient_first = CarbonEngine.load(settings={"default_method": "coefficient"})
    assert coefficient_first.factors_for("gpt-4o").method == "coefficient"
    assert engine.factors_for("gpt-4o", override={"method": "coefficient"}).estimate(500, 500).gco2e == 0.3


def test_override_coefficients_params_and_datacentre(engine: CarbonEngine) -> None:
    single = engine.factors_for("mine", override={"gco2e_per_1k_tokens": 0.2, "source": "our LCA 2026"})
    assert single.estimate(1000, 1000).gco2e == pytest.approx(0.4)
    assert (single.confidence, single.boundary, single.source) == ("estimated", "unspecified", "our LCA 2026")
    split = engine.factors_for(
        "mine",
        override={
            "gco2e_per_1k_input_tokens": 0.1,
            "gco2e_per_1k_output_tokens": 0.4,
            "confidence": "measured",
        },
    )
    assert split.estimate(2000, 1000).gco2e == pytest.approx(0.6)
    assert split.confidence == "measured"
    energy = engine.factors_for("mine", override={"params_total_b": 70, "datacentre": "scw-pl-waw"})
    described = energy.describe()["factors"]
    assert (described["datacentre"], described["grid_gco2e_per_kwh"]) == ("scw-pl-waw", 615.0)
    borrowed = engine.factors_for("x", override={"model": "llama-3-8b", "method": "coefficient"})
    assert borrowed.estimate(1000, 0).gco2e == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"gco2e_per_1k_tokens": -1}, "carbon.gco2e_per_1k_tokens"),
        ({"gco2e_per_1k_tokens": "0.3"}, "carbon.gco2e_per_1k_tokens"),
        ({"gco2e_per_1k_tokens": True}, "carbon.gco2e_per_1k_tokens"),
        ({"gco2e_per_1k_tokens": float("nan")}, "carbon.gco2e_per_1k_tokens"),
        ({"gco2e_per_1k_input_tokens": 0.1}, "carbon.gco2e_per_1k_output_tokens"),
        ({"gco2e_per_1k_tokens": 0.1, "gco2e_per_1k_output_tokens": 0.2}, "carbon.gco2e_per_1k_tokens"),
        ({"confidence": "certain"}, "carbon.confidence"),
        ({"boundary": "cradle"}, "carbon.boundary"),
        ({"method": "guess"}, "carbon.method"),
        ({"method": "coefficient"}, "carbon.method"),
        ({"method": "energy"}, "carbon.method"),
        ({"model": "no-such-model"}, "carbon.model"),
        ({"datacentre": "mars-1"}, "carbon.datacentre"),
        ({"params_total_b": 0}, "carbon.params_total_b"),
        ({"params_active_b": 3}, "carbon.params_total_b"),
        ({"params_total_b": 7, "params_active_b": 8}, "carbon.params_active_b"),
        ({"source": ""}, "carbon.source"),
        ({"gco2e": 1}, "carbon.gco2e"),
    ],
)
def test_invalid_override_names_the_key(engine: CarbonEngine, override: dict, key: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        engine.factors_for("unknown-model", override=override)
    assert key in str(caught.value)


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"default_method": "lca"}, "carbon.default_method"),
        ({"datacentre": "nowhere"}, "carbon.datacentre"),
        ({"zone_year": "2023"}, "carbon.zone_year"),
        ({"zone_year": 1999}, "carbon.zone_year"),
        ({"include_prefill": "yes"}, "carbon.include_prefill"),
        ({"body": "off"}, "carbon.body"),
        ({"grid": "FRA"}, "carbon.grid"),
    ],
)
def test_invalid_settings_name_the_key(settings: dict, key: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        CarbonEngine.load(settings=settings)
    assert key in str(caught.value)


def test_settings_pick_the_scaleway_site_and_grid_year() -> None:
    seed_site = CarbonEngine.load(settings={"datacentre": "scw-fr-par-2-ai-cluster"})
    factors = seed_site.factors_for("llama-3.1-8b-instruct", provider="scaleway").describe()["factors"]
    assert (factors["pue"], factors["grid_gco2e_per_kwh"]) == (1.25, 65.0)
    # The operator's Scaleway site does not move OpenAI's models.
    assert seed_site.factors_for("gpt-4o").describe()["factors"]["datacentre"] == "openai-us"
    year_2023 = CarbonEngine.load(settings={"zone_year": 2023})
    assert year_2023.factors_for("gpt-4o").describe()["factors"]["grid_gco2e_per_kwh"] == 369.5


def test_audited_month_gives_an_effective_factor_that_reproduces_the_month(engine: CarbonEngine) -> None:
    audited = engine.with_audited(
        "2026-10",
        {"llama-3.1-8b-instruct": (0.004, 2_000_000), "gpt-oss-120b": (0.012, 3_000_000, 1_000_000)},
    )
    flat = audited.factors_for("llama-3.1-8b-instruct")
    assert (flat.method, flat.confidence, flat.boundary) == ("audited", "measured", "lca")
    assert flat.estimate(1_500_000, 500_000).gco2e == pytest.approx(4.0)  # the month's 0.004 kg, in grams
    split = audited.factors_for("gpt-oss-120b")
    assert split.estimate(3_000_000, 1_000_000).gco2e == pytest.approx(12.0)
    described = split.describe()["factors"]
    assert 0 < described["input_weight"] < 1
    assert described["gco2e_per_1k_input_tokens"] < described["gco2e_per_1k_output_tokens"]
    # Audited beats a measured published figure too (supplier-specific data first).
    assert (
        engine.with_audited("2026-10", {"mistral-large-2": (1.0, 10**6)})
        .factors_for("mistral-large-2")
        .method
        == "audited"
    )
    assert engine.factors_for("llama-3.1-8b-instruct").method == "energy"  # the original engine is unchanged


@pytest.mark.parametrize(
    ("month", "figures"),
    [
        ("2026-13", {"demo": (1.0, 10)}),
        ("2026-10", {"demo": (-1.0, 10)}),
        ("2026-10", {"demo": (1.0, 0)}),
        ("2026-10", {"demo": (1.0, 1.5)}),
        ("2026-10", {"demo": (1.0,)}),
    ],
)
def test_invalid_audited_month_is_rejected(engine: CarbonEngine, month: str, figures: dict) -> None:
    with pytest.raises(CatalogueError):
        engine.with_audited(month, figures)


def test_audited_figure_math_is_exact() -> None:
    figure = AuditedFigure(kg_co2e=0.5, tokens=1_000_000, prompt_tokens=800_000, completion_tokens=200_000)
    assert figure.per_1k() == pytest.approx((0.5, 0.5))
    per_in, per_out = figure.per_1k(input_weight=0.25)
    assert per_in == pytest.approx(0.25 * per_out)
    assert per_in * 800 + per_out * 200 == pytest.approx(500.0)


def test_describe_lists_every_catalogue_model_with_sources(engine: CarbonEngine) -> None:
    described = engine.describe()
    assert len(described) == len(engine.catalogue.models)
    for entry in described:
        assert {
            "model",
            "method",
            "boundary",
            "confidence",
            "factors",
            "sources",
            "catalogue_version",
        } <= set(entry)
        assert entry["sources"] and all(isinstance(s, str) and s for s in entry["sources"])
    assert described[0] is not engine.describe()[0]  # callers get copies


def test_every_model_estimates_positive_and_ordered(engine: CarbonEngine) -> None:
    for model in engine.catalogue.models:
        factors = engine.factors_for(model)
        assert isinstance(factors, ModelFactors)
        estimate = factors.estimate(300, 200)
        assert 0 < estimate.gco2e_min <= estimate.gco2e <= estimate.gco2e_max, model


def test_estimate_is_an_immutable_record_whose_dict_is_plain_json() -> None:
    values = (1.5, 1.0, 3.0, 0.2, None, 1.2, 0.3, "energy", "usage+embodied", "estimated", "src", "v1")
    built = Estimate(*values)
    assert (built.basis, built.water_boundary) == (
        "unspecified",
        None,
    )  # defaults: ledgers written before them
    with pytest.raises(AttributeError):
        built.gco2e = 2.0  # type: ignore[misc]
    estimate = CarbonEngine.load().estimate("llama-3.1-8b-instruct", 100, 50)
    text = json.dumps(estimate.as_dict())
    assert json.loads(text)["method"] == "energy" and '"basis": "location"' in text
    assert orjson.loads(orjson.dumps(estimate.as_dict())) == json.loads(text)
    assert Estimate(**json.loads(text)) == estimate  # a stored ledger entry reads back equal


def test_catalogue_errors_name_the_file_and_key(tmp_path: Path) -> None:
    shutil.copytree(data_dir() / "carbon", tmp_path, dirs_exist_ok=True)
    models = tmp_path / "models.yaml"
    models.write_text(models.read_text().replace("gco2e_per_1k_tokens: 0.35", "gco2e_per_1k_tokens: -0.35"))
    with pytest.raises(CatalogueError) as caught:
        CarbonEngine.load(tmp_path)
    assert "models.yaml" in str(caught.value) and "gco2e_per_1k_tokens" in str(caught.value)


def test_methodology_worked_example(engine: CarbonEngine) -> None:
    # meters/METHODOLOGY.md, section 1.2: demo = llama-3.1-8b-instruct on scw-fr-par-2, 400 + 400 tokens.
    factors = engine.factors_for("demo", provider="demo")
    described = factors.describe()["factors"]
    assert described["wh_per_input_token_prefill"] == pytest.approx(7.6396e-6, rel=1e-4)
    assert described["embodied_gco2e_per_input_token_prefill"] == pytest.approx(1.6852e-7, rel=1e-4)
    estimate = factors.estimate(400, 400)
    assert estimate.energy_wh == pytest.approx(0.038017, rel=1e-4)
    assert estimate.usage_gco2e == pytest.approx(0.0016728, rel=1e-4)
    assert estimate.embodied_gco2e == pytest.approx(0.0015279, rel=1e-4)
    assert estimate.gco2e == pytest.approx(0.0032006, rel=1e-4)
    assert (estimate.gco2e_min, estimate.gco2e_max) == pytest.approx((0.0016003, 0.0064012), rel=1e-4)
    assert estimate.water_ml == pytest.approx(0.14786, rel=1e-4)
    assert (estimate.basis, estimate.water_boundary) == ("location", "onsite+grid")


def test_mistral_large_2_boundary_gap(engine: CarbonEngine) -> None:
    # METHODOLOGY.md section 5: the LCA figure vs the bottom-up figures for one 400-token response.
    lca = engine.estimate("mistral-large-2", 0, 400)
    bottom_up = engine.factors_for("mistral-large-2", override={"method": "energy"}).estimate(0, 400)
    assert lca.boundary == "lca" and bottom_up.boundary == "usage+embodied"
    assert lca.gco2e / bottom_up.usage_gco2e == pytest.approx(91, rel=0.01)
    assert lca.gco2e / bottom_up.gco2e == pytest.approx(25.6, rel=0.01)
