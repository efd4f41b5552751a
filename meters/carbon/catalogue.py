"""The carbon catalogue: typed records loaded from config/carbon/*.yaml, validated once at load."""

from __future__ import annotations

from dataclasses import dataclass

from meters.carbon.labels import Basis, Boundary, Confidence, Method, Rank, WaterBoundary
from meters.carbon.span import Span
from meters.carbon.supplier import SupplierSnapshot


@dataclass(frozen=True, slots=True)
class Params:
    total_b: Span
    active_b: Span
    source: str
    date: str


@dataclass(frozen=True, slots=True)
class Deployment:
    """Measured serving speed: output tokens per second and time to first token, with the date read."""

    tps: float | None
    ttft_s: float | None
    source: str
    date: str


@dataclass(frozen=True, slots=True)
class Coefficient:
    """A published g/1k-token figure (seed 002 and the like), with what it covers."""

    per_1k_input: float
    per_1k_output: float
    confidence: Confidence
    boundary: Boundary
    basis: Basis
    source: str
    date: str
    energy_wh_per_1k: float | None = None
    water_ml_per_1k: float | None = None
    water_boundary: WaterBoundary | None = None
    note: str | None = None  # what the source's figure is and is not (shown in describe())


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
    basis: Basis
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
    # For a stand-in site (unknown host): the data centres its range must cover (METHODOLOGY.md, "Unknown host").
    covers: tuple[str, ...] = ()


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
    confidence: Confidence
    boundary: Boundary
    basis: Basis
    source: str


@dataclass(frozen=True, slots=True)
class SupplierSource:
    """Which snapshot of a supplier's own per-token factors is in use, for which region and consumption mode."""

    snapshot: SupplierSnapshot
    region: str
    consumption_mode: str


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
    default_method: Method  # ENERGY or COEFFICIENT: which of the two ranks first (resolve.PRECEDENCE)
    unknown_host_datacentre: str
    include_prefill: bool
    bands: dict[Rank, Band]  # the uncertainty band of each kind of factor (not fallback: its own range)
    fallback: Fallback
    energy: EnergyConstants
    zones: dict[str, Zone]
    datacentres: dict[str, Datacentre]
    providers: dict[str, str]
    models: dict[str, ModelEntry]
    index: dict[str, str]  # normalised id or alias -> model id
    suppliers: dict[str, SupplierSource]  # provider -> its own published per-token factors

    def find(self, name: str) -> ModelEntry | None:
        model_id = self.index.get(normalise(name))
        return self.models[model_id] if model_id is not None else None


def normalise(name: str) -> str:
    return name.strip().lower()
