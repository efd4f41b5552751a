"""The bottom-up energy model, folded into per-model constants once so that a request costs a few float ops.

Decode, latency, GPU count, server share and embodied impact follow EcoLogits 0.11.3
(ecologits/impacts/llm.py); the prefill term for input tokens is carbon-gateway's own (METHODOLOGY.md,
"Prefill"). Units: Wh, g, mL, s; parameter counts in billions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from meters.carbon.catalogue import EnergyConstants

HOURS_PER_YEAR = 365 * 24  # EcoLogits and Scaleway both count 365-day years


def embodied_share_kg(
    share: float, hours_used: float, lifespan_hours: float, manufacturing_kg: float
) -> float:
    """Seed 001's allocation: (time used / lifespan) x manufacturing impact x resource share, in kgCO2e."""
    return hours_used / lifespan_hours * manufacturing_kg * share


def gpu_count(total_b: float, c: EnergyConstants) -> int:
    """GPUs needed to hold the weights: 1.2 x P x bits/8 GB over 80 GB cards, rounded up to a power of two."""
    memory_gb = c.memory_overhead * total_b * c.quantization_bits / 8
    cards = max(1, math.ceil(memory_gb / c.gpu_memory_gb))
    return int(2 ** math.ceil(math.log2(cards)))


def decode_wh_per_token_per_gpu(active_b: float, c: EnergyConstants) -> float:
    """EcoLogits' fit: alpha x exp(beta x batch) x P_active + gamma, Wh per output token per GPU."""
    return c.gpu_energy_alpha * math.exp(c.gpu_energy_beta * c.batch_size) * active_b + c.gpu_energy_gamma


def latency_s_per_token(active_b: float, c: EnergyConstants, tps: float | None) -> float:
    """Seconds per output token: 1/tps when a deployment measured it, else EcoLogits' latency fit."""
    if tps is not None:
        return 1.0 / tps
    return c.latency_alpha * active_b + c.latency_beta * c.batch_size + c.latency_gamma


def prefill_gpu_s_per_token(active_b: float, c: EnergyConstants) -> float:
    """GPU-seconds to read one input token: 2 x P_active x 1e9 FLOP at MFU x peak FLOP/s (compute-bound)."""
    return c.prefill_flops_per_param * active_b * 1e9 / (c.prefill_gpu_peak_flops * c.prefill_mfu)


@dataclass(frozen=True, slots=True)
class EnergyVariant:
    """Per-model constants for one set of inputs (central, low or high)."""

    gpus: int
    s_per_output_token: float
    ttft_s: float
    gpu_wh_per_output_token: float  # all the model's GPUs together
    server_wh_per_s: float  # the request's share of the non-GPU server power, per second of generation
    embodied_g_per_s: float  # the request's share of server + GPU manufacturing, per second of generation
    prefill_wh_per_input_token: float  # one GPU at full power + its share of the host; 0 when prefill is off
    prefill_embodied_g_per_input_token: float  # that GPU-time's share of manufacturing; 0 when prefill is off
    pue: float
    g_per_it_wh: float  # PUE x grid intensity: gCO2e per Wh of IT energy
    ml_per_it_wh: float | None  # WUE + PUE x grid water, mL per Wh of IT energy (L/kWh)

    def load(
        self, prompt_tokens: int, completion_tokens: int, latency_s: float | None
    ) -> tuple[float, float]:
        """(IT_Wh, embodied gCO2e) for one request: the one copy of the time, energy and embodied formulas.

        t        = min(latency_s, completion_tokens x s_per_output_token + ttft_s)  (no latency: the modelled time)
        IT_Wh    = server_wh_per_s x t + gpu_wh_per_output_token x completion_tokens
                   + prefill_wh_per_input_token x prompt_tokens
        embodied = embodied_g_per_s x t + prefill_embodied_g_per_input_token x prompt_tokens
        """
        seconds = completion_tokens * self.s_per_output_token + self.ttft_s
        if latency_s is not None and latency_s < seconds:
            seconds = latency_s if latency_s > 0 else 0.0
        it_wh = (
            self.server_wh_per_s * seconds
            + self.gpu_wh_per_output_token * completion_tokens
            + self.prefill_wh_per_input_token * prompt_tokens
        )
        return (
            it_wh,
            self.embodied_g_per_s * seconds + self.prefill_embodied_g_per_input_token * prompt_tokens,
        )

    def grams(self, prompt_tokens: int, completion_tokens: int, latency_s: float | None) -> float:
        """Usage + embodied gCO2e only (the min/max variants need nothing else): IT_Wh x g_per_it_wh + embodied."""
        it_wh, embodied = self.load(prompt_tokens, completion_tokens, latency_s)
        return it_wh * self.g_per_it_wh + embodied

    def components(
        self, prompt_tokens: int, completion_tokens: int, latency_s: float | None
    ) -> tuple[float, float, float, float | None]:
        """(energy Wh at the meter = IT_Wh x PUE, usage gCO2e = IT_Wh x g_per_it_wh, embodied gCO2e,
        water mL = IT_Wh x ml_per_it_wh) for one request."""
        it_wh, embodied = self.load(prompt_tokens, completion_tokens, latency_s)
        ml = self.ml_per_it_wh
        return it_wh * self.pue, it_wh * self.g_per_it_wh, embodied, None if ml is None else it_wh * ml


def build_variant(
    *,
    total_b: float,
    active_b: float,
    pue: float,
    wue: float | None,
    grid_gco2e_per_kwh: float,
    grid_water_l_per_kwh: float | None,
    lifespan_years: float,
    constants: EnergyConstants,
    tps: float | None = None,
    ttft_s: float | None = None,
    include_prefill: bool = True,
) -> EnergyVariant:
    c = constants
    gpus = gpu_count(total_b, c)
    server_share = gpus / c.server_gpus / c.batch_size  # this request's share of one server while decoding
    manufacturing_kg = c.server_embodied_kgco2e + c.server_gpus * c.gpu_embodied_kgco2e
    lifespan_hours = lifespan_years * HOURS_PER_YEAR
    # Seed 001's allocation for one second of decoding, in grams: share x (1 s / lifespan) x manufacturing.
    embodied_g_per_s = 1000 * embodied_share_kg(server_share, 1 / 3600, lifespan_hours, manufacturing_kg)
    # Prefill runs compute-bound on whole GPUs, not shared across the batch: one GPU-second holds one GPU
    # at full power and 1/8 of its host (power and manufacturing) for that second.
    prefill_s = prefill_gpu_s_per_token(active_b, c) if include_prefill else 0.0
    host_w_per_gpu = c.server_power_kw * 1000 / c.server_gpus
    prefill_embodied = 1000 * embodied_share_kg(
        1 / c.server_gpus, prefill_s / 3600, lifespan_hours, manufacturing_kg
    )
    if wue is None and grid_water_l_per_kwh is None:
        ml_per_it_wh = None
    else:
        ml_per_it_wh = (wue or 0.0) + pue * (grid_water_l_per_kwh or 0.0)
    return EnergyVariant(
        gpus=gpus,
        s_per_output_token=latency_s_per_token(active_b, c, tps),
        ttft_s=ttft_s or 0.0,
        gpu_wh_per_output_token=gpus * decode_wh_per_token_per_gpu(active_b, c),
        server_wh_per_s=c.server_power_kw * 1000 * server_share / 3600,
        embodied_g_per_s=embodied_g_per_s,
        prefill_wh_per_input_token=prefill_s * (c.prefill_gpu_power_w + host_w_per_gpu) / 3600,
        prefill_embodied_g_per_input_token=prefill_embodied,
        pue=pue,
        g_per_it_wh=pue * grid_gco2e_per_kwh / 1000,
        ml_per_it_wh=ml_per_it_wh,
    )
