"""Per-model factors, built once at config load; `estimate()` is the per-request hot path (no I/O)."""

from __future__ import annotations

import copy
from typing import Any

from meters.carbon.build import build_estimate
from meters.carbon.energy import EnergyVariant
from meters.carbon.estimate import Estimate


class ModelFactors:
    """What one configured model costs per token, with its labels. Subclasses implement one method each."""

    __slots__ = ("_described", "boundary", "catalogue_version", "confidence", "method", "model", "source")

    def __init__(
        self,
        *,
        model: str,
        method: str,
        boundary: str,
        confidence: str,
        source: str,
        catalogue_version: str,
        described: dict[str, Any],
    ) -> None:
        self.model = model
        self.method = method
        self.boundary = boundary
        self.confidence = confidence
        self.source = source
        self.catalogue_version = catalogue_version
        self._described = {
            "model": model,
            "method": method,
            "boundary": boundary,
            "confidence": confidence,
            "source": source,
            "catalogue_version": catalogue_version,
            **described,
        }

    def estimate(
        self, prompt_tokens: int, completion_tokens: int, latency_s: float | None = None
    ) -> Estimate:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """For GET /v1/carbon/models: model, method, boundary, confidence, factors, sources (a fresh copy)."""
        return copy.deepcopy(self._described)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, method={self.method!r})"


class CoefficientFactors(ModelFactors):
    """gCO2e = tokens / 1000 x g/1k (seed 002), with separate input and output coefficients when given.

    Also serves `audited` (an effective g/1k from an audited month) and `fallback` (a labelled class default).
    """

    __slots__ = ("_band_high", "_band_low", "_in", "_ml_per_token", "_out", "_single", "_wh_per_token")

    def __init__(
        self,
        *,
        per_1k_input: float,
        per_1k_output: float,
        band_low: float,
        band_high: float,
        energy_wh_per_1k: float | None = None,
        water_ml_per_1k: float | None = None,
        **labels: Any,
    ) -> None:
        super().__init__(**labels)
        self._single = per_1k_input == per_1k_output
        # Kept per 1k so that the single-coefficient case is the seed's formula, operation for operation.
        self._in = per_1k_input
        self._out = per_1k_output
        self._band_low = band_low
        self._band_high = band_high
        self._wh_per_token = None if energy_wh_per_1k is None else energy_wh_per_1k / 1000
        self._ml_per_token = None if water_ml_per_1k is None else water_ml_per_1k / 1000

    def estimate(
        self, prompt_tokens: int, completion_tokens: int, latency_s: float | None = None
    ) -> Estimate:
        if self._single:
            grams = (prompt_tokens + completion_tokens) / 1000 * self._in
        else:
            grams = prompt_tokens / 1000 * self._in + completion_tokens / 1000 * self._out
        tokens = prompt_tokens + completion_tokens
        wh, ml = self._wh_per_token, self._ml_per_token
        return build_estimate(
            grams,
            grams * self._band_low,
            grams * self._band_high,
            None if wh is None else tokens * wh,
            None if ml is None else tokens * ml,
            None,  # a consolidated coefficient does not split usage from embodied
            None,
            self.method,
            self.boundary,
            self.confidence,
            self.source,
            self.catalogue_version,
        )


class EnergyFactors(ModelFactors):
    """Bottom-up: (server + GPU + prefill energy) x PUE x grid, plus the embodied share of the GPU-time.

    The central figure uses central parameters and PUE; min/max use the low/high variants (parameter and PUE
    ranges) widened by the catalogue's `energy` uncertainty band.
    """

    __slots__ = ("_band_high", "_band_low", "_central", "_high", "_low")

    def __init__(
        self,
        *,
        central: EnergyVariant,
        low: EnergyVariant,
        high: EnergyVariant,
        band_low: float,
        band_high: float,
        **labels: Any,
    ) -> None:
        super().__init__(**labels)
        self._central = central
        self._low = low if low != central else None
        self._high = high if high != central else None
        self._band_low = band_low
        self._band_high = band_high

    def estimate(
        self, prompt_tokens: int, completion_tokens: int, latency_s: float | None = None
    ) -> Estimate:
        # EnergyVariant.components(), inlined: this runs on every request.
        v = self._central
        seconds = completion_tokens * v.s_per_output_token + v.ttft_s
        if latency_s is not None and latency_s < seconds:
            seconds = latency_s if latency_s > 0 else 0.0
        it_wh = (
            v.server_wh_per_s * seconds
            + v.gpu_wh_per_output_token * completion_tokens
            + v.prefill_wh_per_input_token * prompt_tokens
        )
        usage = it_wh * v.g_per_it_wh
        embodied = v.embodied_g_per_s * seconds
        total = usage + embodied
        ml = v.ml_per_it_wh
        low = high = total
        if self._low is not None:
            low = min(self._low.grams(prompt_tokens, completion_tokens, latency_s), total)
        if self._high is not None:
            high = max(self._high.grams(prompt_tokens, completion_tokens, latency_s), total)
        return build_estimate(
            total,
            low * self._band_low,
            high * self._band_high,
            it_wh * v.pue,
            None if ml is None else it_wh * ml,
            usage,
            embodied,
            self.method,
            self.boundary,
            self.confidence,
            self.source,
            self.catalogue_version,
        )
