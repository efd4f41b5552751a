"""Builds ModelFactors (and their describe() payloads) from resolved catalogue pieces, one builder per method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meters.carbon.audited import AuditedFigure
from meters.carbon.catalogue import Catalogue, Coefficient, Datacentre, Deployment, GridFactor, Params
from meters.carbon.energy import EnergyVariant, build_variant
from meters.carbon.factors import CoefficientFactors, EnergyFactors, Labels, ModelFactors
from meters.carbon.labels import Basis, Boundary, Confidence, Method, Rank, WaterBoundary
from meters.carbon.span import Span
from meters.carbon.supplier import SupplierFactor

# Scaleway's ADEME-PCR footprint: manufacturing, usage and indirect (network, storage, shared services).
BOUNDARY_AUDITED = Boundary.LCA
BASIS_AUDITED = Basis.LOCATION  # Scaleway: location-based, PPAs excluded per ADEME
REFERENCE_REQUEST = (400, 400)  # prompt, completion tokens: the request describe() prices every method on


@dataclass(frozen=True, slots=True)
class Site:
    """Where the energy method puts a model: its data centre and grid, and the range of sites it stands for."""

    datacentre: Datacentre
    grid: GridFactor
    host: str | None  # the serving provider, None when unknown
    low: tuple[float, float] | None = None  # (PUE, gCO2e/kWh) of the lowest covered site, for an unknown host
    high: tuple[float, float] | None = None
    covered: tuple[str, ...] = ()


def reference_gco2e(factors: ModelFactors) -> float:
    return factors.estimate(*REFERENCE_REQUEST).gco2e


def coefficient_factors(model: str, coefficient: Coefficient, catalogue: Catalogue) -> CoefficientFactors:
    band = catalogue.bands[Rank(coefficient.confidence)]  # measured or estimated
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
    sources = [f"{coefficient.source} ({coefficient.date})", f"uncertainty: {band.source}"]
    if coefficient.note:
        sources.insert(1, coefficient.note)
    return CoefficientFactors(
        per_1k_input=coefficient.per_1k_input,
        per_1k_output=coefficient.per_1k_output,
        band_low=band.min,
        band_high=band.max,
        energy_wh_per_1k=coefficient.energy_wh_per_1k,
        water_ml_per_1k_input=coefficient.water_ml_per_1k,
        water_ml_per_1k_output=coefficient.water_ml_per_1k,
        model=model,
        labels=Labels(
            Method.COEFFICIENT,
            coefficient.boundary,
            coefficient.confidence,
            coefficient.basis,
            coefficient.water_boundary,
            coefficient.source,
            catalogue.version,
        ),
        described={"factors": factors, "sources": sources},
    )


def supplier_factors(model: str, supplier: SupplierFactor, catalogue: Catalogue) -> CoefficientFactors:
    """The supplier's own per-token factors, input and output priced separately (only when `published`)."""
    assert supplier.p_in is not None and supplier.p_out is not None
    g_in, g_out = supplier.p_in.gco2e_per_token, supplier.p_out.gco2e_per_token
    assert g_in is not None and g_out is not None
    w_in, w_out = supplier.p_in.water_ml_per_token, supplier.p_out.water_ml_per_token
    snapshot = supplier.snapshot
    band = catalogue.bands[Rank.SUPPLIER]
    region = supplier.p_in.region
    mode = supplier.p_in.consumption_mode
    source = f"supplier per-token factors for {supplier.model} ({region}, {mode}): {snapshot.label()}"
    product_sources = {p.source for p in (supplier.p_in, supplier.p_out) if p.source}
    water_known = w_in is not None and w_out is not None
    return CoefficientFactors(
        per_1k_input=g_in * 1000,
        per_1k_output=g_out * 1000,
        band_low=band.min,
        band_high=band.max,
        water_ml_per_1k_input=None if w_in is None else w_in * 1000,
        water_ml_per_1k_output=None if w_out is None else w_out * 1000,
        model=model,
        labels=Labels(
            Method.SUPPLIER,
            snapshot.boundary,
            Confidence.ESTIMATED,  # the supplier's own allocation from benchmarked throughput, not metered
            snapshot.basis,
            snapshot.water_boundary if water_known else None,
            source,
            catalogue.version,
        ),
        described={
            "factors": {
                "gco2e_per_input_token": g_in,
                "gco2e_per_output_token": g_out,
                "water_ml_per_input_token": w_in,
                "water_ml_per_output_token": w_out,
                "region": region,
                "consumption_mode": mode,
                "snapshot": snapshot.file,
                "uncertainty": {"min": band.min, "max": band.max},
            },
            "sources": [
                f"{snapshot.source} (fetched {snapshot.fetched}, read {snapshot.read})",
                f"provenance: {snapshot.provenance}",
                *sorted(product_sources),
                f"method: {snapshot.method}",
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
        labels=Labels(
            Method.FALLBACK, fb.boundary, fb.confidence, fb.basis, None, fb.source, catalogue.version
        ),
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
    input_weight: tuple[float, str] | None,
    source: str,
    catalogue: Catalogue,
) -> CoefficientFactors:
    """`input_weight`: (an input token's gCO2e / an output token's, where that ratio comes from)."""
    per_in, per_out = figure.per_1k(None if input_weight is None else input_weight[0])
    band = catalogue.bands[Rank.AUDITED]
    label = f"{source}, {month}: {figure.kg_co2e} kgCO2e over {figure.tokens} tokens"
    split = per_in != per_out and input_weight is not None
    factors: dict[str, Any] = {
        "month": month,
        "kg_co2e": figure.kg_co2e,
        "tokens": figure.tokens,
        "gco2e_per_1k_input_tokens": per_in,
        "gco2e_per_1k_output_tokens": per_out,
        "input_weight": input_weight[0] if split and input_weight else None,
        "input_weight_from": input_weight[1] if split and input_weight else None,
        "uncertainty": {"min": band.min, "max": band.max},
    }
    return CoefficientFactors(
        per_1k_input=per_in,
        per_1k_output=per_out,
        band_low=band.min,
        band_high=band.max,
        model=model,
        labels=Labels(
            Method.AUDITED,
            BOUNDARY_AUDITED,
            Confidence.MEASURED,
            BASIS_AUDITED,
            None,
            label,
            catalogue.version,
        ),
        described={"factors": factors, "sources": [label, f"uncertainty: {band.source}"]},
    )


def energy_variants(
    params: Params, deployment: Deployment | None, site: Site, catalogue: Catalogue, include_prefill: bool
) -> tuple[EnergyVariant, EnergyVariant, EnergyVariant]:
    """(central, low, high): central parameters, PUE and grid, then the low ends, then the high ends."""
    datacentre = site.datacentre
    lifespan = datacentre.lifespan_years or catalogue.energy.lifespan_years
    ends = {"min": site.low, "max": site.high}

    def variant(pick: str) -> EnergyVariant:
        pue, grid = ends.get(pick) or (datacentre.pue.pick(pick), site.grid.gco2e_per_kwh)
        return build_variant(
            total_b=params.total_b.pick(pick),
            active_b=params.active_b.pick(pick),
            pue=pue,
            wue=None if datacentre.wue is None else datacentre.wue.pick(pick),
            grid_gco2e_per_kwh=grid,
            grid_water_l_per_kwh=site.grid.water_l_per_kwh,
            lifespan_years=lifespan,
            constants=catalogue.energy,
            tps=deployment.tps if deployment else None,
            ttft_s=deployment.ttft_s if deployment else None,
            include_prefill=include_prefill,
        )

    return variant("central"), variant("min"), variant("max")


def energy_input_weight(central: EnergyVariant) -> float:
    """An input token's gCO2e relative to an output token's, under the energy model (TTFT left out)."""
    base = central.grams(0, 0, None)
    return (central.grams(1, 0, None) - base) / (central.grams(0, 1, None) - base)


def water_boundary_of(datacentre: Datacentre, grid: GridFactor) -> WaterBoundary | None:
    """The energy method's water: on-site (WUE) and/or the grid's; None when neither is known."""
    if datacentre.wue is not None and grid.water_l_per_kwh is not None:
        return WaterBoundary.ONSITE_GRID
    if datacentre.wue is not None:
        return WaterBoundary.ONSITE
    return None if grid.water_l_per_kwh is None else WaterBoundary.GRID


def _label(span: Span) -> str:
    return f"{span.min:g}" if span.min == span.max else f"{span.min:g}-{span.max:g}"


def _params_label(params: Params) -> str:
    total, active = _label(params.total_b), _label(params.active_b)
    label = f"{total}B" if params.total_b == params.active_b else f"{total}B total/{active}B active"
    if params.date == "n/a":  # read from the model id, not from a catalogue (see resolve.params_from_name)
        return f"{label} (read from the model id)"
    return f"{label} (from config)" if params.date == "config" else label


def energy_factors(
    model: str,
    params: Params,
    deployment: Deployment | None,
    site: Site,
    catalogue: Catalogue,
    include_prefill: bool,
    *,
    no_output: EnergyFactors | None = None,
    note: str | None = None,
) -> EnergyFactors:
    """`no_output`: the factors for requests with no output tokens (see EnergyFactors); `note`: appended to
    the source label."""
    central, low, high = energy_variants(params, deployment, site, catalogue, include_prefill)
    datacentre, grid = site.datacentre, site.grid
    band = catalogue.bands[Rank.ENERGY]
    lifespan = datacentre.lifespan_years or catalogue.energy.lifespan_years
    where = f"{datacentre.id} PUE {_label(datacentre.pue)}, grid {grid.gco2e_per_kwh:g} g/kWh"
    if site.low is not None:
        where = f"unknown host: {where} (range covers {len(site.covered)} likely hosts)"
    # Short and recomputable: the inputs that matter, the full trail is in describe()["sources"].
    source = (
        f"energy model (EcoLogits 0.11.3 method{' + prefill' if include_prefill else ''}): "
        f"{_params_label(params)} params, {where}" + (f"; {note}" if note else "")
    )
    sources = [
        f"parameters: {params.source} ({params.date})",
        f"energy model: {catalogue.energy.source}",
        f"data centre {datacentre.id}: {datacentre.source} ({datacentre.date})",
        f"grid {datacentre.zone}: {grid.source}" + (f", data year {grid.year}" if grid.year else ""),
        f"uncertainty: {band.source}",
    ]
    if include_prefill:
        sources.insert(2, f"prefill: {catalogue.energy.prefill_source}")
    if deployment is not None:
        sources.insert(1, f"deployment (tps, ttft): {deployment.source} ({deployment.date})")
    factors: dict[str, Any] = {
        "params_total_b": params.total_b.label(),
        "params_active_b": params.active_b.label(),
        "gpus": central.gpus,
        "host": site.host,
        "datacentre": datacentre.id,
        "zone": datacentre.zone,
        "grid_gco2e_per_kwh": grid.gco2e_per_kwh,
        "grid_water_l_per_kwh": grid.water_l_per_kwh,
        "pue": datacentre.pue.label(),
        "wue_l_per_kwh": None if datacentre.wue is None else datacentre.wue.label(),
        "hardware_lifespan_years": lifespan,
        "wh_per_output_token_gpu": central.gpu_wh_per_output_token,
        "wh_per_input_token_prefill": central.prefill_wh_per_input_token,
        "embodied_gco2e_per_input_token_prefill": central.prefill_embodied_g_per_input_token,
        "s_per_output_token": central.s_per_output_token,
        "ttft_s": central.ttft_s,
        "server_wh_per_s": central.server_wh_per_s,
        "embodied_gco2e_per_s": central.embodied_g_per_s,
        "uncertainty": {"min": band.min, "max": band.max},
    }
    if site.low is not None and site.high is not None:
        factors["range_covers"] = {
            "datacentres": list(site.covered),
            "low": {"pue": site.low[0], "grid_gco2e_per_kwh": site.low[1]},
            "high": {"pue": site.high[0], "grid_gco2e_per_kwh": site.high[1]},
        }
    if no_output is not None:
        factors["no_output_tokens"] = (
            "prefill term applied: carbon.include_prefill is false, and a request with no output tokens"
            " (an embedding) would otherwise be 0"
        )
    return EnergyFactors(
        central=central,
        low=low,
        high=high,
        band_low=band.min,
        band_high=band.max,
        model=model,
        labels=Labels(
            Method.ENERGY,
            Boundary.USAGE_EMBODIED,
            Confidence.ESTIMATED,
            grid.basis,
            water_boundary_of(datacentre, grid),
            source,
            catalogue.version,
        ),
        described={"factors": factors, "sources": sources},
        no_output=no_output,
    )
