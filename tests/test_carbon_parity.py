"""Parity with EcoLogits 0.11.3 (the test oracle): same parameters, zone, PUE, WUE, tokens and latency.

EcoLogits ignores input tokens, so the prefill term is switched off (or prompt_tokens is 0) for parity.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # in case EcoLogits pulls LiteLLM in

import pytest
from ecologits.electricity_mix_repository import electricity_mixes
from ecologits.impacts.llm import compute_llm_impacts
from ecologits.tracers.utils import llm_impacts

from meters.carbon import CarbonEngine
from meters.carbon.energy import build_variant

REL = 1e-2  # the bar; the closed form actually agrees to ~1e-12

# (active B, total B): dense small/large, MoE small-active, MoE large, one needing 8 GPUs.
MODELS = [(8.0, 8.0), (70.6, 70.6), (5.1, 117.0), (22.0, 235.0), (41.0, 675.0), (12.2, 12.2)]
SITES = [("FRA", 1.16, 0.0), ("USA", 1.20, 0.569), ("SWE", 1.16, 0.09), ("POL", 1.37, 0.0)]
OUTPUT_TOKENS = [1, 57, 400, 2_000]
LATENCIES = [None, 0.35, 4.0, 60.0]


def _oracle(active: float, total: float, zone: str, pue: float, wue: float, out: int, latency: float | None):
    mix = electricity_mixes.find_electricity_mix(zone)
    return compute_llm_impacts(
        model_active_parameter_count=active,
        model_total_parameter_count=total,
        output_token_count=out,
        if_electricity_mix_adpe=mix.adpe,
        if_electricity_mix_pe=mix.pe,
        if_electricity_mix_gwp=mix.gwp,
        if_electricity_mix_wue=mix.wue,
        datacenter_pue=pue,
        datacenter_wue=wue,
        request_latency=latency,
    )


@pytest.fixture(scope="module")
def engine() -> CarbonEngine:
    return CarbonEngine.load(settings={"include_prefill": False})


@pytest.mark.parametrize(("active", "total"), MODELS)
@pytest.mark.parametrize(("zone", "pue", "wue"), SITES)
def test_closed_form_matches_compute_llm_impacts(
    engine: CarbonEngine, active: float, total: float, zone: str, pue: float, wue: float
) -> None:
    mix = electricity_mixes.find_electricity_mix(zone)
    variant = build_variant(
        total_b=total,
        active_b=active,
        pue=pue,
        wue=wue,
        grid_gco2e_per_kwh=mix.gwp * 1000,
        grid_water_l_per_kwh=mix.wue,
        lifespan_years=3,  # EcoLogits' HARDWARE_LIFESPAN
        constants=engine.catalogue.energy,
        include_prefill=False,
    )
    for out in OUTPUT_TOKENS:
        for latency in LATENCIES:
            energy_wh, usage_g, embodied_g, water_ml = variant.components(0, out, latency)
            oracle = _oracle(active, total, zone, pue, wue, out, latency)
            assert energy_wh == pytest.approx(oracle.energy.value * 1000, rel=REL)
            assert usage_g == pytest.approx(oracle.usage.gwp.value * 1000, rel=REL)
            assert embodied_g == pytest.approx(oracle.embodied.gwp.value * 1000, rel=REL)
            assert water_ml == pytest.approx(oracle.wcf.value * 1000, rel=REL)


def test_prefill_only_adds_to_input_tokens(engine: CarbonEngine) -> None:
    with_prefill = CarbonEngine.load().factors_for("llama-3.1-8b-instruct")
    without = engine.factors_for("llama-3.1-8b-instruct")

    def numbers(estimate):
        return (estimate.gco2e, estimate.energy_wh, estimate.usage_gco2e, estimate.embodied_gco2e)

    assert numbers(with_prefill.estimate(0, 300, 2.0)) == numbers(without.estimate(0, 300, 2.0))
    assert with_prefill.estimate(5_000, 300, 2.0).gco2e > without.estimate(5_000, 300, 2.0).gco2e
    assert numbers(without.estimate(5_000, 300, 2.0)) == numbers(without.estimate(0, 300, 2.0))
    assert "+ prefill" in with_prefill.source and "+ prefill" not in without.source


# Models EcoLogits registers for Mistral AI (SWE, PUE 1.16, WUE 0.09): point parameters, with and without tps.
# The dated snapshots have their own EcoLogits entries (own tps/ttft): each must match its own.
MISTRAL_MODELS = [
    "mistral-medium-3",
    "ministral-8b-latest",
    "mistral-small-latest",
    "codestral-latest",
    "codestral-2508",
    "ministral-8b-2512",
    "mistral-small-2603",
    "mistral-large-2512",
]


@pytest.mark.parametrize("model", MISTRAL_MODELS)
def test_engine_matches_llm_impacts_for_registered_models(engine: CarbonEngine, model: str) -> None:
    factors = engine.factors_for(model, provider="mistral")
    assert factors.method == "energy"
    assert factors.describe()["factors"]["datacentre"] == "mistral-se"
    for out in OUTPUT_TOKENS:
        for latency in [0.35, 4.0, 60.0, 1e9]:
            estimate = factors.estimate(0, out, latency)
            oracle = llm_impacts("mistralai", model, out, latency)
            assert not oracle.has_errors
            assert estimate.energy_wh == pytest.approx(oracle.energy.value * 1000, rel=REL)
            assert estimate.usage_gco2e == pytest.approx(oracle.usage.gwp.value * 1000, rel=REL)
            assert estimate.embodied_gco2e == pytest.approx(oracle.embodied.gwp.value * 1000, rel=REL)
            assert estimate.gco2e == pytest.approx(oracle.gwp.value * 1000, rel=REL)
            assert estimate.water_ml == pytest.approx(oracle.wcf.value * 1000, rel=REL)


@pytest.mark.parametrize(
    "model", ["gpt-4o", "gpt-4.1-mini", "gpt-5", "gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"]
)
def test_parameter_ranges_match_llm_impacts_min_and_max(engine: CarbonEngine, model: str) -> None:
    # OpenAI: USA grid, PUE 1.20, WUE 0.569 in both; parameter counts are EcoLogits' ranges.
    factors = engine.factors_for(model, provider="openai")
    band = engine.catalogue.bands["energy"]
    for out in OUTPUT_TOKENS:
        for latency in [0.35, 4.0, 1e9]:
            estimate = factors.estimate(0, out, latency)
            oracle = llm_impacts("openai", model, out, latency).gwp.value
            assert estimate.gco2e_min / band.min == pytest.approx(oracle.min * 1000, rel=REL)
            assert estimate.gco2e_max / band.max == pytest.approx(oracle.max * 1000, rel=REL)
            assert oracle.min * 1000 <= estimate.gco2e * (1 + REL)
            assert estimate.gco2e <= oracle.max * 1000 * (1 + REL)
