"""The value every carbon method returns: one labelled, traceable figure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Estimate:
    """gCO2e for one request (or one batch of tokens), with what it includes.

    `boundary` says what the figure covers: `usage` (electricity at the data centre),
    `usage+embodied` (plus the hardware's manufacturing share), `lca` (a published
    life-cycle figure, which may include training and network). `confidence` is
    `measured` (a published measurement for that model) or `estimated`.
    """

    gco2e: float
    gco2e_min: float
    gco2e_max: float
    energy_wh: float | None
    water_ml: float | None
    usage_gco2e: float | None
    embodied_gco2e: float | None
    method: str
    boundary: str
    confidence: str
    source: str
    catalogue_version: str

    def as_dict(self) -> dict[str, Any]:
        """The `usage.carbon` body field."""
        return {
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
        }
