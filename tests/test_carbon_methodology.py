"""meters/METHODOLOGY.md states the precedence and a worked Scaleway example; the engine reproduces its numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from meters.carbon import CarbonEngine
from meters.carbon.labels import Rank
from meters.carbon.resolve import PRECEDENCE

TEXT = (Path(__file__).resolve().parent.parent / "meters" / "METHODOLOGY.md").read_text()


def test_the_stated_precedence_is_the_engine_s() -> None:
    assert "**audited > measured > supplier > energy > estimated coefficient > fallback**" in TEXT
    assert PRECEDENCE["energy"] == (
        Rank.AUDITED,
        Rank.MEASURED,
        Rank.SUPPLIER,
        Rank.ENERGY,
        Rank.ESTIMATED,
        Rank.FALLBACK,
    )
    assert f"(catalogue version {CarbonEngine.load().version})" in TEXT


def test_worked_scaleway_example() -> None:
    # METHODOLOGY.md section 1.2: gpt-oss-120b on Scaleway fr-par (realtime), 400 prompt + 400 completion tokens.
    engine = CarbonEngine.load()
    factors = engine.factors_for("gpt-oss-120b", upstream_model="scaleway/gpt-oss-120b", provider="scaleway")
    estimate = factors.estimate(400, 400)
    assert (estimate.method, estimate.basis, estimate.boundary) == ("supplier", "location", "lca")
    assert estimate.gco2e == pytest.approx(6.48490708e-4, rel=1e-9)
    assert (estimate.gco2e_min, estimate.gco2e_max) == pytest.approx(
        (5.18792566e-4, 1.296981416e-3), rel=1e-9
    )
    assert estimate.water_ml == pytest.approx(6.077698e-4, rel=1e-9)
    assert factors.estimate(3_000_000, 1_000_000).gco2e == pytest.approx(3.21612043, rel=1e-9)
    [energy] = factors.describe()["alternatives"]
    assert energy["reference_gco2e"] == pytest.approx(0.0115557, rel=1e-4)
    assert energy["reference_gco2e"] / estimate.gco2e == pytest.approx(17.8, rel=0.01)
    for number in (
        "6.48490708e-4",
        "5.18792566e-4",
        "1.296981416e-3",
        "6.077698e-4",
        "3.21612043",
        "0.0115557",
    ):
        assert number in TEXT
