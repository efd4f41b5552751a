"""The value every carbon method returns: one labelled, traceable figure."""

from __future__ import annotations

from typing import Any, NamedTuple

from meters.carbon.labels import Basis, Boundary, Confidence, Method, WaterBoundary


class Estimate(NamedTuple):
    """gCO2e for one request (or one batch of tokens), with what it includes.

    An immutable record built on every request: a NamedTuple is built in ~0.4 us, a frozen dataclass of the
    same fields in ~2 us (tests/bench/bench_estimate.py). Labels (meters/carbon/labels.py): `method`,
    `boundary` (what the carbon figure covers), `confidence`, `basis` (location- or market-based electricity
    factor) and `water_boundary` (what `water_ml` covers; None when `water_ml` is None).
    """

    gco2e: float
    gco2e_min: float
    gco2e_max: float
    energy_wh: float | None
    water_ml: float | None
    usage_gco2e: float | None
    embodied_gco2e: float | None
    method: Method
    boundary: Boundary
    confidence: Confidence
    source: str
    catalogue_version: str
    # Defaults keep ledger entries written before these labels existed readable.
    basis: Basis = Basis.UNSPECIFIED
    water_boundary: WaterBoundary | None = None
    # Audio input (meters/carbon/audio.py): its duration, where the duration came from, its token equivalents.
    audio: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The `usage.carbon` body field (labels are str members: they serialise as plain JSON strings); `audio`
        only where the request had audio input."""
        fields: dict[str, Any] = {
            "gco2e": self.gco2e,
            "gco2e_min": self.gco2e_min,
            "gco2e_max": self.gco2e_max,
            "energy_wh": self.energy_wh,
            "water_ml": self.water_ml,
            "usage_gco2e": self.usage_gco2e,
            "embodied_gco2e": self.embodied_gco2e,
            "method": self.method,
            "boundary": self.boundary,
            "confidence": self.confidence,
            "source": self.source,
            "catalogue_version": self.catalogue_version,
            "basis": self.basis,
            "water_boundary": self.water_boundary,
        }
        if self.audio is not None:
            fields["audio"] = self.audio
        return fields
