"""Per-model factors, built once at config load; `estimate()` is the per-request hot path (no I/O)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from meters.carbon.energy import EnergyVariant
from meters.carbon.estimate import Estimate
from meters.carbon.labels import Basis, Boundary, Confidence, Method, WaterBoundary


@dataclass(frozen=True, slots=True)
class Labels:
    """What every estimate of one model's factors carries besides its numbers."""

    method: Method
    boundary: Boundary
    confidence: Confidence
    basis: Basis
    water_boundary: WaterBoundary | None  # None when the method gives no water figure
    source: str
    catalogue_version: str


class ModelFactors:
    """What one configured model costs per token, with its labels. Subclasses implement one method each."""

    __slots__ = (
        "_described",
        "basis",
        "boundary",
        "catalogue_version",
        "confidence",
        "method",
        "model",
        "source",
        "water_boundary",
    )

    def __init__(self, *, model: str, labels: Labels, described: dict[str, Any]) -> None:
        self.model = model
        self.method = labels.method
        self.boundary = labels.boundary
        self.confidence = labels.confidence
        self.basis = labels.basis
        self.water_boundary = labels.water_boundary
        self.source = labels.source
        self.catalogue_version = labels.catalogue_version
        self._described = {
            "model": model,
            "method": labels.method,
            "boundary": labels.boundary,
            "confidence": labels.confidence,
            "basis": labels.basis,
            "water_boundary": labels.water_boundary,
            "source": labels.source,
            "catalogue_version": labels.catalogue_version,
            **described,
        }

    def estimate(
        self, prompt_tokens: int, completion_tokens: int, latency_s: float | None = None
    ) -> Estimate:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """For GET /v1/carbon/models: model, labels, factors, sources, alternatives (a fresh copy)."""
        return copy.deepcopy(self._described)

    def add_description(self, **extra: Any) -> None:
        """Config-load time only: what the engine learnt while choosing (alternatives, notes)."""
        self._described.update(extra)

    def append_to_source(self, note: str) -> None:
        """Config-load time only: say in the source label itself why this method was used."""
        self.source = self._described["source"] = f"{self.source}; {note}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, method={self.method!r})"


class CoefficientFactors(ModelFactors):
    """gCO2e = prompt_tokens / 1000 x C_in + completion_tokens / 1000 x C_out (g per 1k tokens).

    With one coefficient (C_in = C_out) this is seed 002's (prompt + completion) / 1000 x C, operation for
    operation. Serves `coefficient`, `supplier` (Scaleway's per-token factors x 1000), `audited` (an effective
    g/1k from an audited month) and `fallback` (a labelled class default). Energy (Wh) and water (mL) per 1k
    tokens scale the same way when the source gives them.
    """

    __slots__ = ("_band_high", "_band_low", "_in", "_out", "_single", "_water_in", "_water_out", "_wh")

    def __init__(
        self,
        *,
        per_1k_input: float,
        per_1k_output: float,
        band_low: float,
        band_high: float,
        energy_wh_per_1k: float | None = None,
        water_ml_per_1k_input: float | None = None,
        water_ml_per_1k_output: float | None = None,
        model: str,
        labels: Labels,
        described: dict[str, Any],
    ) -> None:
        super().__init__(model=model, labels=labels, described=described)
        self._single = per_1k_input == per_1k_output
        self._in = per_1k_input
        self._out = per_1k_output
        self._band_low = band_low
        self._band_high = band_high
        self._wh = energy_wh_per_1k
        known_water = water_ml_per_1k_input is not None and water_ml_per_1k_output is not None
        self._water_in = water_ml_per_1k_input if known_water else None
        self._water_out = water_ml_per_1k_output if known_water else None

    def estimate(
        self, prompt_tokens: int, completion_tokens: int, latency_s: float | None = None
    ) -> Estimate:
        if self._single:
            grams = (prompt_tokens + completion_tokens) / 1000 * self._in
        else:
            grams = prompt_tokens / 1000 * self._in + completion_tokens / 1000 * self._out
        wh, w_in, w_out = self._wh, self._water_in, self._water_out
        return Estimate(
            grams,
            grams * self._band_low,
            grams * self._band_high,
            None if wh is None else (prompt_tokens + completion_tokens) / 1000 * wh,
            None
            if w_in is None or w_out is None
            else prompt_tokens / 1000 * w_in + completion_tokens / 1000 * w_out,
            None,  # a consolidated coefficient does not split usage from embodied
            None,
            self.method,
            self.boundary,
            self.confidence,
            self.source,
            self.catalogue_version,
            self.basis,
            self.water_boundary,
        )


class EnergyFactors(ModelFactors):
    """Bottom-up: (server + GPU + prefill energy) x PUE x grid, plus the embodied share of the GPU-time.

    The central figure uses central parameters and PUE; min/max use the low/high variants (parameter, PUE and,
    for an unknown host, grid ranges) widened by the catalogue's `energy` uncertainty band. `no_output`: the
    factors used for a request with prompt tokens and no output tokens when the prefill term is switched off
    (an embedding is then never a silent 0).
    """

    __slots__ = ("_band_high", "_band_low", "_central", "_high", "_low", "_no_output")

    def __init__(
        self,
        *,
        central: EnergyVariant,
        low: EnergyVariant,
        high: EnergyVariant,
        band_low: float,
        band_high: float,
        model: str,
        labels: Labels,
        described: dict[str, Any],
        no_output: EnergyFactors | None = None,
    ) -> None:
        super().__init__(model=model, labels=labels, described=described)
        self._central = central
        self._low = low if low != central else None
        self._high = high if high != central else None
        self._band_low = band_low
        self._band_high = band_high
        self._no_output = no_output

    def estimate(
        self, prompt_tokens: int, completion_tokens: int, latency_s: float | None = None
    ) -> Estimate:
        if completion_tokens == 0 and prompt_tokens and self._no_output is not None:
            return self._no_output.estimate(prompt_tokens, completion_tokens, latency_s)
        energy_wh, usage, embodied, water = self._central.components(
            prompt_tokens, completion_tokens, latency_s
        )
        total = usage + embodied
        low = high = total
        if self._low is not None:
            low = min(self._low.grams(prompt_tokens, completion_tokens, latency_s), total)
        if self._high is not None:
            high = max(self._high.grams(prompt_tokens, completion_tokens, latency_s), total)
        return Estimate(
            total,
            low * self._band_low,
            high * self._band_high,
            energy_wh,
            water,
            usage,
            embodied,
            self.method,
            self.boundary,
            self.confidence,
            self.source,
            self.catalogue_version,
            self.basis,
            self.water_boundary,
        )
