"""Scaleway's reference values, both revisions, and the seed's figures as named alternatives (issue 12, item 2)."""

from __future__ import annotations

import pytest

from meters.carbon import CarbonEngine

# Scaleway docs "Calculation reference values", both validated 2025-06-09 (scaleway/docs-content):
# newer (commit 6b0e320cc1ab) and older (commit 09c886594fba). (datacentre id, PUE, WUE, grid g/kWh).
NEWER = [
    ("scw-fr-par-1", 1.45, 0.009, 44.0),
    ("scw-fr-par-2", 1.16, 0.25, 44.0),
    ("scw-fr-par-3", 1.44, 0.001, 44.0),
    ("scw-nl-ams-1", 1.38, 0.85, 253.0),
    ("scw-nl-ams-2", 1.4, None, 253.0),
    ("scw-nl-ams-3", 1.2, None, 253.0),
    ("scw-pl-waw-1", 1.50, None, 615.0),
    ("scw-pl-waw-2", 1.24, None, 615.0),
    ("scw-pl-waw-3", 1.5, None, 615.0),
]
OLDER = [
    ("scw-fr-par-1-r1", 1.46, 0.014, 56.0),
    ("scw-fr-par-2-r1", 1.16, 0.214, 56.0),
    ("scw-fr-par-3-r1", 1.44, 0.004, 56.0),
    ("scw-nl-ams-1-r1", 1.38, 0.85, 268.0),
    ("scw-nl-ams-2-r1", 1.4, None, 268.0),
    ("scw-nl-ams-3-r1", 1.2, None, 268.0),
    ("scw-pl-waw-1-r1", 1.51, None, 661.0),
    ("scw-pl-waw-2-r1", 1.32, None, 661.0),
    ("scw-pl-waw-3-r1", 1.43, None, 661.0),
]
SEED = [("scw-fr-par-2-ai-cluster", 1.25, None, 65.0), ("scw-fr-par-fleet", 1.37, None, 65.0)]


@pytest.mark.parametrize(("datacentre", "pue", "wue", "grid"), NEWER + OLDER + SEED)
def test_every_revision_is_selectable_with_its_values_and_source(
    datacentre: str, pue: float, wue: float | None, grid: float
) -> None:
    engine = CarbonEngine.load(settings={"datacentre": datacentre})
    factors = engine.factors_for("llama-3.1-8b-instruct", provider="scaleway")
    described = factors.describe()
    assert (described["factors"]["datacentre"], described["factors"]["pue"]) == (datacentre, pue)
    assert (described["factors"]["wue_l_per_kwh"], described["factors"]["grid_gco2e_per_kwh"]) == (wue, grid)
    assert factors.water_boundary == ("grid" if wue is None else "onsite+grid")
    sources = " ".join(described["sources"])
    if datacentre.endswith("-r1"):
        assert "older revision" in sources and "09c886594fba" in sources
    elif datacentre in dict((d[0], d) for d in NEWER):
        assert "newer revision" in sources and "6b0e320cc1ab" in sources and "read 2026-11-30" in sources
    else:
        assert "seed 000" in sources


def test_the_newer_revision_is_the_default_and_the_catalogue_version_moved() -> None:
    engine = CarbonEngine.load()
    assert engine.version == "2026-11-30"  # was 2026-11-22 with the older revision only
    factors = engine.factors_for("llama-3.1-8b-instruct", provider="scaleway").describe()["factors"]
    assert (factors["datacentre"], factors["grid_gco2e_per_kwh"], factors["wue_l_per_kwh"]) == (
        "scw-fr-par-2",
        44.0,
        0.25,
    )
    older = CarbonEngine.load(settings={"datacentre": "scw-fr-par-2-r1"})
    new, old = (e.estimate("llama-3.1-8b-instruct", 400, 400) for e in (engine, older))
    # Same PUE, same hardware: only the grid moved, 56 -> 44 g/kWh, so the usage share moves by 44/56.
    assert new.usage_gco2e / old.usage_gco2e == pytest.approx(44 / 56)
    assert new.embodied_gco2e == pytest.approx(old.embodied_gco2e)


def test_a_region_without_its_zone_spans_its_sites_pue() -> None:
    engine = CarbonEngine.load()
    for region, low, high in (("scw-nl-ams", 1.2, 1.4), ("scw-pl-waw", 1.24, 1.5)):
        factors = engine.factors_for("x", override={"params_total_b": 8, "datacentre": region})
        assert factors.describe()["factors"]["pue"] == {"min": low, "max": high}


def test_italy_is_catalogued_with_its_source() -> None:
    [factor] = CarbonEngine.load().catalogue.zones["ITA-scaleway"].factors
    assert (factor.gco2e_per_kwh, factor.basis) == (284.0, "location")
    assert "6b0e320cc1ab" in factor.source
