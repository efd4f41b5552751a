"""Live estimates calibrated on an audited month (`carbon.calibrate_from_audited`).

A model whose audited month came out `ratio` times its live estimate gets its later estimates scaled by that
ratio: method `calibrated`, confidence `estimated`, the source naming the audited month and version. Never
`measured`: the audited figure is authoritative for its own month only; this is an estimate of the next ones.
"""

from __future__ import annotations

import math
from typing import Any

from meters.carbon.estimate import Estimate
from meters.carbon.factors import Labels, ModelFactors
from meters.carbon.labels import Confidence, Method


class CalibratedFactors(ModelFactors):
    __slots__ = ("_base", "ratio")

    def __init__(self, base: ModelFactors, *, ratio: float, month: str, version: int, source: str) -> None:
        if not math.isfinite(ratio) or ratio <= 0:
            raise ValueError(f"calibration ratio must be a finite number > 0, got {ratio!r}")
        note = f"calibrated x{ratio:.4g} on the audited month {month} v{version} ({source})"
        labels = Labels(
            method=Method.CALIBRATED,
            boundary=base.boundary,
            confidence=Confidence.ESTIMATED,
            basis=base.basis,
            water_boundary=base.water_boundary,
            source=f"{base.source}; {note}",
            catalogue_version=base.catalogue_version,
        )
        described: dict[str, Any] = {
            "calibration": {"ratio": ratio, "month": month, "version": version, "source": source},
            "calibrated_from": base.describe(),
        }
        super().__init__(model=base.model, labels=labels, described=described)
        self._base = base
        self.ratio = ratio

    @property
    def base(self) -> ModelFactors:
        return self._base

    def estimate(
        self, prompt_tokens: int, completion_tokens: int, latency_s: float | None = None
    ) -> Estimate:
        raw = self._base.estimate(prompt_tokens, completion_tokens, latency_s)
        r = self.ratio
        return raw._replace(
            gco2e=raw.gco2e * r,
            gco2e_min=raw.gco2e_min * r,
            gco2e_max=raw.gco2e_max * r,
            usage_gco2e=None if raw.usage_gco2e is None else raw.usage_gco2e * r,
            embodied_gco2e=None if raw.embodied_gco2e is None else raw.embodied_gco2e * r,
            method=Method.CALIBRATED,
            confidence=Confidence.ESTIMATED,
            source=self.source,
        )
