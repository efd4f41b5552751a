"""Basis, water boundary and provenance labels on every figure (issue 12, items 4-6; issue 9, item 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from meters.carbon import Basis, Boundary, CarbonEngine, Confidence, Method, WaterBoundary
from meters.carbon.labels import Rank

METHODOLOGY = (Path(__file__).resolve().parent.parent / "meters" / "METHODOLOGY.md").read_text()


@pytest.fixture(scope="module")
def engine() -> CarbonEngine:
    return CarbonEngine.load()


def test_every_estimate_carries_every_label_from_its_closed_vocabulary(engine: CarbonEngine) -> None:
    for settings in (None, {"include_prefill": False}, {"default_method": "coefficient"}):
        configured = CarbonEngine.load(settings=settings)
        for model in [*configured.catalogue.models, "acme-13b", "house-model"]:
            for prompt, completion in ((400, 400), (1000, 0)):
                estimate = configured.estimate(model, prompt, completion)
                assert type(estimate.method) is Method and type(estimate.boundary) is Boundary, model
                assert type(estimate.confidence) is Confidence and type(estimate.basis) is Basis, model
                # A water figure always says what it covers; no water figure, no water label.
                assert (estimate.water_ml is None) == (estimate.water_boundary is None), model
                assert estimate.water_boundary is None or type(estimate.water_boundary) is WaterBoundary


def test_google_gemini_median_is_market_based_and_not_lca(engine: CarbonEngine) -> None:
    estimate = engine.estimate("gemini-1-5-flash", 100, 300)
    assert (estimate.basis, estimate.boundary, estimate.water_boundary) == (
        "market",
        "usage+embodied",
        "onsite",
    )
    sources = " ".join(engine.factors_for("gemini-1-5-flash").describe()["sources"])
    assert "arXiv:2508.15734" in sources and "not model-specific" in sources and "400 tokens" in sources
    # A report can keep market-based figures out of a location-based total by the label alone.
    figures = [
        engine.estimate(m, 100, 300) for m in ("gemini-1-5-flash", "mistral-large-2", "llama-3.1-8b-instruct")
    ]
    location = [e for e in figures if e.basis == Basis.LOCATION]
    assert [e.source for e in location] == [figures[1].source, figures[2].source]


def test_each_water_figure_says_what_it_covers(engine: CarbonEngine) -> None:
    assert engine.estimate("mistral-large-2", 0, 400).water_boundary == "lca"  # LCA water consumption
    assert engine.estimate("gemini-1-5-flash", 0, 400).water_boundary == "onsite"  # cooling only
    assert engine.estimate("gpt-oss-120b", 0, 400).water_boundary == "onsite"  # Scaleway: energy x WUE
    assert engine.estimate("llama-3.1-8b-instruct", 0, 400).water_boundary == "onsite+grid"  # WUE + grid
    seed_site = CarbonEngine.load(settings={"datacentre": "scw-fr-par-2-ai-cluster"})
    assert seed_site.estimate("llama-3.1-8b-instruct", 0, 400).water_boundary == "grid"  # no WUE published
    assert engine.estimate("claude-3-opus", 0, 400).water_boundary is None
    assert "water_boundary" in METHODOLOGY and "never summed" in METHODOLOGY


def test_mistral_figure_is_marginal_inference_without_training(engine: CarbonEngine) -> None:
    factors = engine.factors_for("mistral-large-2")
    assert (factors.boundary, factors.basis, factors.confidence) == ("lca", "location", "measured")
    assert "no training share" in " ".join(factors.describe()["sources"])
    assert "and a training share" not in METHODOLOGY
    assert "no training share" in METHODOLOGY


def test_gravity_coefficients_have_an_unspecified_boundary_and_a_year(engine: CarbonEngine) -> None:
    for model in ("gpt-4o-mini", "claude-3-opus", "llama-3-70b"):
        coefficient = engine.catalogue.models[model].coefficient
        assert (coefficient.boundary, coefficient.basis, coefficient.date) == (
            "unspecified",
            "unspecified",
            "2025",
        )
    assert engine.catalogue.fallback.boundary == "unspecified"


def test_every_deployment_value_is_dated(engine: CarbonEngine) -> None:
    deployments = [m.deployment for m in engine.catalogue.models.values() if m.deployment is not None]
    assert len(deployments) > 20 and all(d.date == "2026-11-22" for d in deployments)


def test_a_coefficient_override_may_state_its_basis(engine: CarbonEngine) -> None:
    plain = engine.factors_for("mine", override={"gco2e_per_1k_tokens": 0.2})
    assert plain.basis == "unspecified"
    stated = engine.factors_for("mine", override={"gco2e_per_1k_tokens": 0.2, "basis": "market"})
    assert stated.estimate(1000, 0).basis == "market"


def test_labels_are_plain_strings_on_the_wire() -> None:
    assert [str(member) for member in Rank] == [
        "audited",
        "measured",
        "supplier",
        "energy",
        "estimated",
        "fallback",
    ]
    assert Method.SUPPLIER == "supplier" and f"{Basis.MARKET}" == "market"
