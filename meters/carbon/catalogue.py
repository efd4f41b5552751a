"""The carbon catalogue: typed records loaded from config/carbon/*.yaml, validated once at load."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from meters.carbon.errors import CatalogueError

CONFIDENCES = ("measured", "estimated")
BOUNDARIES = ("usage", "usage+embodied", "lca", "unspecified")


@dataclass(frozen=True, slots=True)
class Span:
    """A value that may be known only as a range (e.g. undisclosed parameter counts)."""

    min: float
    max: float

    @property
    def central(self) -> float:
        return (self.min + self.max) / 2

    def label(self) -> float | dict[str, float]:
        return self.min if self.min == self.max else {"min": self.min, "max": self.max}


@dataclass(frozen=True, slots=True)
class Params:
    total_b: Span
    active_b: Span
    source: str
    date: str


@dataclass(frozen=True, slots=True)
class Deployment:
    tps: float | None
    ttft_s: float | None
    source: str


@dataclass(frozen=True, slots=True)
class Coefficient:
    per_1k_input: float
    per_1k_output: float
    confidence: str
    boundary: str
    source: str
    date: str
    energy_wh_per_1k: float | None = None
    water_ml_per_1k: float | None = None


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    provider: str | None
    aliases: tuple[str, ...]
    params: Params | None
    deployment: Deployment | None
    coefficient: Coefficient | None


@dataclass(frozen=True, slots=True)
class GridFactor:
    gco2e_per_kwh: float
    water_l_per_kwh: float | None
    source: str
    year: int | None
    date: str


@dataclass(frozen=True, slots=True)
class Zone:
    code: str
    name: str
    factors: tuple[GridFactor, ...]

    def factor(self, year: int | None) -> GridFactor | None:
        if year is None:
            return self.factors[0]
        return next((f for f in self.factors if f.year == year), None)


@dataclass(frozen=True, slots=True)
class Datacentre:
    id: str
    provider: str | None
    zone: str
    pue: Span
    wue: Span | None
    lifespan_years: float | None
    source: str
    date: str


@dataclass(frozen=True, slots=True)
class Band:
    min: float
    max: float
    source: str


@dataclass(frozen=True, slots=True)
class Fallback:
    per_1k: float
    per_1k_min: float
    per_1k_max: float
    confidence: str
    boundary: str
    source: str


@dataclass(frozen=True, slots=True)
class EnergyConstants:
    """EcoLogits' constants (decode, latency, hardware) and carbon-gateway's prefill term."""

    gpu_energy_alpha: float
    gpu_energy_beta: float
    gpu_energy_gamma: float
    batch_size: float
    latency_alpha: float
    latency_beta: float
    latency_gamma: float
    quantization_bits: float
    gpu_memory_gb: float
    memory_overhead: float
    server_gpus: float
    server_power_kw: float
    server_embodied_kgco2e: float
    gpu_embodied_kgco2e: float
    lifespan_years: float
    prefill_flops_per_param: float
    prefill_gpu_peak_flops: float
    prefill_gpu_power_w: float
    prefill_mfu: float
    source: str
    prefill_source: str


@dataclass(frozen=True, slots=True)
class Catalogue:
    version: str
    default_method: str
    default_datacentre: str
    include_prefill: bool
    bands: dict[str, Band]
    fallback: Fallback
    energy: EnergyConstants
    zones: dict[str, Zone]
    datacentres: dict[str, Datacentre]
    providers: dict[str, str]
    models: dict[str, ModelEntry]
    index: dict[str, str]  # normalised id or alias -> model id

    def find(self, name: str) -> ModelEntry | None:
        model_id = self.index.get(name.strip().lower())
        return self.models[model_id] if model_id is not None else None


class Reader:
    """Reads typed values out of parsed YAML, naming the file and key path in every error."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, problem: str) -> CatalogueError:
        return CatalogueError(f"{self.where}: '{key}': {problem}")

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}")
        return value

    def text(self, data: dict[str, Any], key: str, path: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if value is None or isinstance(value, (dict, list, bool)):
            raise self.fail(f"{path}.{key}", "must be a non-empty string")
        text = str(value).strip()
        if not text:
            raise self.fail(f"{path}.{key}", "must be a non-empty string")
        return text

    def number(self, value: Any, key: str, *, positive: bool = True) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"must be a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number) or number < 0 or (positive and number == 0):
            raise self.fail(key, f"must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")
        return number

    def span(self, value: Any, key: str) -> Span:
        if isinstance(value, dict):
            unknown = set(value) - {"min", "max"}
            if unknown or "min" not in value or "max" not in value:
                raise self.fail(key, "a range must be {min: <number>, max: <number>}")
            low, high = self.number(value["min"], f"{key}.min"), self.number(value["max"], f"{key}.max")
            if low > high:
                raise self.fail(key, f"min {low} is greater than max {high}")
            return Span(low, high)
        number = self.number(value, key)
        return Span(number, number)

    def choice(self, value: Any, key: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise self.fail(key, f"must be one of {', '.join(allowed)}, got {value!r}")
        return str(value)
