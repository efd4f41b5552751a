"""Builds ModelFactors (and their describe() payloads) from resolved catalogue pieces."""

from __future__ import annotations

from typing import Any

from meters.carbon.audited import AuditedFigure
from meters.carbon.catalogue import Catalogue, Coefficient, Datacentre, Deployment, GridFactor, Params, Span
from meters.carbon.energy import EnergyVariant, build_variant
from meters.carbon.factors import CoefficientFactors, EnergyFactors

BOUNDARY_ENERGY = "usage+embodied"
BOUNDARY_AUDITED = (
    "lca"  # Scaleway's ADEME-PCR footprint: manufacturing, usage and indirect (network, shared)
)


def coefficient_factors(model: str, coefficient: Coefficient, catalogue: Catalogue) -> CoefficientFactors:
    band = catalogue.bands[coefficient.confidence]
    factors: dict[str, Any] = {"gco2e_per_1k_tokens": coefficient.per_1k_input}
    if coefficient.per_1k_input != coefficient.per_1k_output:
        factors = {
            "gco2e_per_1k_input_tokens": coefficient.per_1k_input,
            "gco2e_per_1k_output_tokens": coefficient.per_1k_output,
        }
    if coefficient.energy_wh_per_1k is not None:
        factors["energy_wh_per_1k_tokens"] = coefficient.energy_wh_per_1k
    if coefficient.water_ml_per_1k is not None:
        factors["water_ml_per_1k_tokens"] = coefficient.water_ml_per_1k
    factors["uncertainty"] = {"min": band.min, "max": band.max}
    return CoefficientFactors(
        per_1k_input=coefficient.per_1k_input,
        per_1k_output=coefficient.per_1k_output,
        band_low=band.min,
        band_high=band.max,
        energy_wh_per_1k=coefficient.energy_wh_per_1k,
        water_ml_per_1k=coefficient.water_ml_per_1k,
        model=model,
        method="coefficient",
        boundary=coefficient.boundary,
        confidence=coefficient.confidence,
        source=coefficient.source,
        catalogue_version=catalogue.version,
        described={
            "factors": factors,
            "sources": [
                f"{coefficient.source} ({coefficient.date})",
                f"uncertainty: {band.source}",
            ],
        },
    )


def fallback_factors(model: str, catalogue: Catalogue) -> CoefficientFactors:
    fb = catalogue.fallback
    return CoefficientFactors(
        per_1k_input=fb.per_1k,
        per_1k_output=fb.per_1k,
        band_low=fb.per_1k_min / fb.per_1k,
        band_high=fb.per_1k_max / fb.per_1k,
        model=model,
        method="fallback",
        boundary=fb.boundary,
        confidence=fb.confidence,
        source=fb.source,
        catalogue_version=catalogue.version,
        described={
            "factors": {
                "gco2e_per_1k_tokens": fb.per_1k,
                "gco2e_per_1k_tokens_min": fb.per_1k_min,
                "gco2e_per_1k_tokens_max": fb.per_1k_max,
            },
            "sources": [fb.source],
        },
    )


def audited_factors(
    model: str,
    month: str,
    figure: AuditedFigure,
    input_weight: float | None,
    source: str,
    catalogue: Catalogue,
) -> CoefficientFactors:
    per_in, per_out = figure.per_1k(input_weight)
    band = catalogue.bands["audited"]
    label = f"{source}, {month}: {figure.kg_co2e} kgCO2e over {figure.tokens} tokens"
    factors: dict[str, Any] = {
        "month": month,
        "kg_co2e": figure.kg_co2e,
        "tokens": figure.tokens,
        "gco2e_per_1k_input_tokens": per_in,
        "gco2e_per_1k_output_tokens": per_out,
        "input_weight": input_weight if per_in != per_out else None,
        "uncertainty": {"min": band.min, "max": band.max},
    }
    return CoefficientFactors(
        per_1k_input=per_in,
        per_1k_output=per_out,
        band_low=band.min,
        band_high=band.max,
        model=model,
        method="audited",
        boundary=BOUNDARY_AUDITED,
        confidence="measured",
        source=label,
        catalogue_version=catalogue.version,
        described={"factors": factors, "sources": [label, f"uncertainty: {band.source}"]},
    )


def energy_variants(
    params: Params,
    deployment: Deployment | None,
    datacentre: Datacentre,
    grid: GridFactor,
    catalogue: Catalogue,
    include_prefill: bool,
) -> tuple[EnergyVariant, EnergyVariant, EnergyVariant]:
    """(central, low, high): central parameters and PUE, then the low ends, then the high ends."""
    lifespan = datacentre.lifespan_years or catalogue.energy.lifespan_years
    tps = deployment.tps if deployment else None
    ttft = deployment.ttft_s if deployment else None

    def variant(pick: str) -> EnergyVariant:
        wue = None if datacentre.wue is None else getattr(datacentre.wue, pick)
        return build_variant(
            total_b=getattr(params.total_b, pick),
            active_b=getattr(params.active_b, pick),
            pue=getattr(datacentre.pue, pick),
            wue=wue,
            grid_gco2e_per_kwh=grid.gco2e_per_kwh,
            grid_water_l_per_kwh=grid.water_l_per_kwh,
            lifespan_years=lifespan,
            constants=catalogue.energy,
            tps=tps,
            ttft_s=ttft,
            include_prefill=include_prefill,
        )

    return variant("central"), variant("min"), variant("max")


def input_weight(central: EnergyVariant) -> float:
    """An input token's gCO2e relative to an output token's, under the energy model (no TTFT)."""
    seconds = central.s_per_output_token
    output_g = (
        central.gpu_wh_per_output_token + central.server_wh_per_s * seconds
    ) * central.g_per_it_wh + central.embodied_g_per_s * seconds
    return central.prefill_wh_per_input_token * central.g_per_it_wh / output_g


def _span_label(span: Span) -> str:
    return f"{span.min:g}" if span.min == span.max else f"{span.min:g}-{span.max:g}"


def _params_label(params: Params) -> str:
    total, active = _span_label(params.total_b), _span_label(params.active_b)
    label = f"{total}B" if params.total_b == params.active_b else f"{total}B total/{active}B active"
    if params.date == "n/a":  # read from the model id, not from a catalogue (see resolve.params_from_name)
        return f"{label} (read from the model id)"
    return f"{label} (from config)" if params.date == "config" else label


def energy_factors(
    model: str,
    params: Params,
    deployment: Deployment | None,
    datacentre: Datacentre,
    grid: GridFactor,
    catalogue: Catalogue,
    include_prefill: bool,
) -> EnergyFactors:
    central, low, high = energy_variants(params, deployment, datacentre, grid, catalogue, include_prefill)
    band = catalogue.bands["energy"]
    lifespan = datacentre.lifespan_years or catalogue.energy.lifespan_years
    # Short and recomputable: the inputs that matter, the full trail is in describe()["sources"].
    source = (
        f"energy model (EcoLogits 0.11.3 method{' + prefill' if include_prefill else ''}): "
        f"{_params_label(params)} params, {datacentre.id} PUE {_span_label(datacentre.pue)}, "
        f"grid {grid.gco2e_per_kwh:g} g/kWh"
    )
    sources = [
        f"parameters: {params.source} ({params.date})",
        f"energy model: {catalogue.energy.source}",
        f"data centre {datacentre.id}: {datacentre.source}",
        f"grid {datacentre.zone}: {grid.source}" + (f", data year {grid.year}" if grid.year else ""),
        f"uncertainty: {band.source}",
    ]
    if include_prefill:
        sources.insert(2, f"prefill: {catalogue.energy.prefill_source}")
    if deployment is not None:
        sources.insert(1, f"deployment (tps, ttft): {deployment.source}")
    factors = {
        "params_total_b": params.total_b.label(),
        "params_active_b": params.active_b.label(),
        "gpus": central.gpus,
        "datacentre": datacentre.id,
        "zone": datacentre.zone,
        "grid_gco2e_per_kwh": grid.gco2e_per_kwh,
        "grid_water_l_per_kwh": grid.water_l_per_kwh,
        "pue": datacentre.pue.label(),
        "wue_l_per_kwh": None if datacentre.wue is None else datacentre.wue.label(),
        "hardware_lifespan_years": lifespan,
        "wh_per_output_token_gpu": central.gpu_wh_per_output_token,
        "wh_per_input_token_prefill": central.prefill_wh_per_input_token,
        "s_per_output_token": central.s_per_output_token,
        "ttft_s": central.ttft_s,
        "server_wh_per_s": central.server_wh_per_s,
        "embodied_gco2e_per_s": central.embodied_g_per_s,
        "uncertainty": {"min": band.min, "max": band.max},
    }
    return EnergyFactors(
        central=central,
        low=low,
        high=high,
        band_low=band.min,
        band_high=band.max,
        model=model,
        method="energy",
        boundary=BOUNDARY_ENERGY,
        confidence="estimated",
        source=source,
        catalogue_version=catalogue.version,
        described={"factors": factors, "sources": sources},
    )
