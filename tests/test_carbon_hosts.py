"""Unknown hosts, dated model snapshots, embeddings/prefill and skipped alternatives (issue 12, items 7-10)."""

from __future__ import annotations

import json
from pathlib import Path

import ecologits
import pytest

from meters.carbon import CarbonEngine

ECOLOGITS_MODELS = json.loads((Path(ecologits.__file__).parent / "data" / "models.json").read_text())


@pytest.fixture(scope="module")
def engine() -> CarbonEngine:
    return CarbonEngine.load()


# ---- item 7: an unknown host is not France ----


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("acme-13b", {}),  # no provider at all (e.g. /v1/carbon/track)
        (
            "llama-3.1-8b-instruct",
            {"upstream_model": "hosted_vllm/llama-3.1-8b-instruct", "provider": "hosted_vllm"},
        ),
        ("llama-3.1-70b-instruct", {}),  # open weights: the catalogue knows no host
    ],
)
def test_an_unknown_host_gets_the_world_grid_a_generic_pue_and_a_label(
    engine: CarbonEngine, name: str, kwargs: dict
) -> None:
    factors = engine.factors_for(name, **kwargs)
    described = factors.describe()["factors"]
    assert (
        described["datacentre"],
        described["zone"],
        described["grid_gco2e_per_kwh"],
        described["pue"],
    ) == (
        "generic-world",
        "WOR",
        458.29,
        1.55,
    )
    assert "unknown host" in factors.source


def test_the_unknown_host_range_covers_every_likely_host(engine: CarbonEngine) -> None:
    unknown = engine.factors_for("acme-13b")
    covered = unknown.describe()["factors"]["range_covers"]["datacentres"]
    assert len(covered) == 14 and "scw-fr-par-2" in covered and "openai-us" in covered
    for prompt, completion in ((400, 400), (2000, 50), (1000, 0)):
        estimate = unknown.estimate(prompt, completion)
        for site in covered:
            there = engine.factors_for("acme-13b", override={"datacentre": site}).estimate(prompt, completion)
            assert estimate.gco2e_min <= there.gco2e <= estimate.gco2e_max, site
    # The old behaviour put it on scw-fr-par-2: 7x lower than the catalogue's own world default.
    france = engine.factors_for("acme-13b", override={"datacentre": "scw-fr-par-2"}).estimate(400, 400)
    assert unknown.estimate(400, 400).gco2e / france.gco2e > 5


def test_known_hosts_keep_their_own_sites(engine: CarbonEngine) -> None:
    assert engine.factors_for("gpt-4o", provider="openai").describe()["factors"]["datacentre"] == "openai-us"
    assert engine.factors_for("llama-3.1-8b-instruct").describe()["factors"]["datacentre"] == "scw-fr-par-2"
    demo = engine.factors_for("demo", upstream_model="demo/carbon-gateway-demo", provider="demo")
    assert demo.describe()["factors"]["datacentre"] == "scw-fr-par-2"


# ---- item 8: dated snapshots have their own entries where EcoLogits does ----

DATED = [
    "gpt-4o-2024-11-20",
    "gpt-4o-2024-08-06",
    "gpt-4o-2024-05-13",
    "gpt-4o-mini-2024-07-18",
    "gpt-4-turbo-2024-04-09",
    "gpt-3.5-turbo-0125",
    "gpt-4.1-2025-04-14",
    "gpt-5-2025-08-07",
    "o1-2024-12-17",
    "mistral-large-2512",
    "mistral-small-2603",
    "ministral-8b-2512",
    "codestral-2508",
    "gemini-flash-latest",
]


@pytest.mark.parametrize("model", DATED)
def test_a_dated_snapshot_is_its_own_entry(engine: CarbonEngine, model: str) -> None:
    assert engine.catalogue.find(model).id == model


def test_every_ecologits_model_we_name_carries_ecologits_own_data(engine: CarbonEngine) -> None:
    """No alias hides a model EcoLogits holds separately; each entry's parameters and tps/ttft are its own."""
    registry = {m["name"]: m for m in ECOLOGITS_MODELS["models"]}
    eco_aliases = {a["alias"]: a["name"] for a in ECOLOGITS_MODELS["aliases"]}
    eco_aliases.update({a["name"]: a["alias"] for a in ECOLOGITS_MODELS["aliases"]})
    checked = 0
    for entry in engine.catalogue.models.values():
        for alias in entry.aliases:
            assert alias not in registry or eco_aliases.get(alias) == entry.id, (entry.id, alias)
        known = registry.get(entry.id) or registry.get(eco_aliases.get(entry.id, ""))
        if known is None or entry.params is None:
            continue
        deployment = known["deployment"]
        expected = (deployment["tps"], deployment["ttft"]) if deployment["tps"] is not None else None
        actual = (entry.deployment.tps, entry.deployment.ttft_s) if entry.deployment else None
        assert actual == expected, entry.id
        assert entry.deployment is None or entry.deployment.date == "2026-11-22"
        checked += 1
    assert checked >= 30


# ---- item 9: embeddings and requests with no output tokens ----


def test_an_embedding_gets_host_and_embodied_shares(engine: CarbonEngine) -> None:
    estimate = engine.estimate("bge-multilingual-gemma2", 1000, 0)
    assert estimate.usage_gco2e > 0 and estimate.embodied_gco2e > 0
    assert estimate.gco2e == pytest.approx(estimate.usage_gco2e + estimate.embodied_gco2e)
    described = engine.factors_for("bge-multilingual-gemma2").describe()["factors"]
    # One input token: 2 x 9.2e9 FLOP at 0.5 x 989 TFLOP/s = 37.2 us of one GPU at 700 W plus 1/8 of a 1.2 kW host.
    gpu_s = 2 * 9.2e9 / (989e12 * 0.5)
    assert described["wh_per_input_token_prefill"] == pytest.approx(gpu_s * (700 + 150) / 3600)
    assert described["embodied_gco2e_per_input_token_prefill"] == pytest.approx(
        1000 * gpu_s / 3600 / (6 * 8760) * (5700 + 8 * 273) / 8
    )


def test_prefill_off_never_gives_an_embedding_a_silent_zero() -> None:
    parity = CarbonEngine.load(settings={"include_prefill": False})
    factors = parity.factors_for("bge-multilingual-gemma2")
    embedding = factors.estimate(1000, 0)
    assert embedding.gco2e > 0 and embedding.method == "energy"
    assert "no output tokens and carbon.include_prefill is false" in embedding.source
    assert embedding == CarbonEngine.load().factors_for("bge-multilingual-gemma2").estimate(1000, 0)._replace(
        source=embedding.source
    )
    chat = factors.estimate(1000, 10)  # with output tokens: EcoLogits' own terms, prompt ignored
    assert chat.gco2e == factors.estimate(0, 10).gco2e
    assert "include_prefill" in factors.describe()["factors"]["no_output_tokens"]
    assert factors.estimate(0, 0).gco2e == 0  # nothing happened: zero is then the figure, not a gap


# ---- item 10: the skipped alternatives are visible ----


def test_describe_shows_the_chosen_method_and_the_skipped_coefficient(engine: CarbonEngine) -> None:
    described = engine.factors_for("gpt-4-turbo").describe()
    assert (described["method"], described["choice"]["rank"]) == ("energy", "energy")
    assert "audited > measured > supplier > energy > estimated > fallback" in described["choice"]["reason"]
    [coefficient] = described["alternatives"]
    assert (coefficient["method"], coefficient["rank"], coefficient["status"]) == (
        "coefficient",
        "estimated",
        "ranked below energy",
    )
    assert coefficient["factors"]["gco2e_per_1k_tokens"] == 0.35
    assert coefficient["source"] == "Gravity Climate 2025"
    assert coefficient["reference_gco2e"] == pytest.approx(0.8 * 0.35)  # 400 + 400 tokens
    ratio = described["reference"]["gco2e"] / coefficient["reference_gco2e"]
    assert 3 < ratio < 5  # why gpt-4-turbo shows several times its coefficient


def test_describe_under_the_coefficient_default_lists_the_energy_model(engine: CarbonEngine) -> None:
    coefficient_first = CarbonEngine.load(settings={"default_method": "coefficient"})
    described = coefficient_first.factors_for("gpt-4-turbo").describe()
    assert described["method"] == "coefficient"
    [energy] = described["alternatives"]
    assert (energy["method"], energy["status"]) == ("energy", "ranked below estimated")
    assert energy["factors"]["datacentre"] == "openai-us"
    supplier = engine.factors_for("gpt-oss-120b").describe()
    assert [a["method"] for a in supplier["alternatives"]] == ["energy"]
