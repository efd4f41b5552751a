"""Equivalents for context come from a sourced, dated data file."""

from __future__ import annotations

from pathlib import Path

import pytest

from meters.reports.equivalents import equivalents_of, load_equivalents


def test_shipped_factors_are_sourced_and_dated() -> None:
    factors = load_equivalents()
    assert len(factors) >= 3
    for factor in factors:
        assert factor.gco2e_per_unit > 0 and len(factor.source) > 20
        assert factor.date[:4].isdigit() and factor.date[4] == "-"
    (mistral,) = [f for f in factors if f.id == "mistral_large_2_response"]
    assert equivalents_of(11.4, (mistral,))[0].value == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ("{id: x, label: y, gco2e_per_unit: 0, unit: u, source: s, date: 2026-01-01}", "gco2e_per_unit"),
        ("{id: x, label: y, gco2e_per_unit: 1, unit: u, date: 2026-01-01}", "source"),
        ("{id: x, label: y, gco2e_per_unit: 1, unit: u, source: s}", "date"),
    ],
)
def test_a_factor_without_value_source_or_date_is_refused(tmp_path: Path, entry: str, field: str) -> None:
    path = tmp_path / "equivalents.yaml"
    path.write_text(f"equivalents:\n  - {entry}\n")
    with pytest.raises(ValueError, match=field):
        load_equivalents(path)
