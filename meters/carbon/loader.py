"""Loading config/carbon/*.yaml into a validated `Catalogue` (runs once, at start; never per request)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from meters.carbon.catalogue import (
    Band,
    Catalogue,
    Datacentre,
    EnergyConstants,
    Fallback,
    GridFactor,
    SupplierSource,
    Zone,
    normalise,
)
from meters.carbon.labels import Basis, Boundary, Confidence, Method, Rank
from meters.carbon.models_loader import parse_models
from meters.carbon.reader import Reader, load_yaml
from meters.carbon.supplier import load_snapshot

DEFAULT_METHODS = (Method.ENERGY, Method.COEFFICIENT)
BAND_KINDS = (Rank.MEASURED, Rank.AUDITED, Rank.SUPPLIER, Rank.ESTIMATED, Rank.ENERGY)
_ZONE_CODE = re.compile(r"^[A-Z]{3}(-[a-z0-9-]+)?$")


def load_catalogue(directory: Path) -> Catalogue:
    """Read and validate catalogue, energy_model, zones, datacentres, models and supplier snapshots."""
    files = ("catalogue", "energy_model", "zones", "datacentres", "models")
    raw = {
        name: (load_yaml(directory / f"{name}.yaml"), Reader(str(directory / f"{name}.yaml")))
        for name in files
    }
    energy = _parse_energy(*raw["energy_model"])
    zones = _parse_zones(*raw["zones"])
    datacentres, providers = _parse_datacentres(*raw["datacentres"], zones)
    models, index = parse_models(*raw["models"])
    data, reader = raw["catalogue"]
    defaults = reader.mapping(data.get("defaults", {}), "defaults")
    unknown_host = reader.text(defaults, "unknown_host_datacentre", "defaults")
    if unknown_host not in datacentres:
        raise reader.fail("defaults.unknown_host_datacentre", f"unknown data centre {unknown_host!r}")
    include_prefill = defaults.get("include_prefill", True)
    if not isinstance(include_prefill, bool):
        raise reader.fail("defaults.include_prefill", "must be true or false")
    method = reader.choice(defaults.get("method", Method.ENERGY), "defaults.method", Method)
    if method not in DEFAULT_METHODS:
        raise reader.fail("defaults.method", "must be energy or coefficient")
    return Catalogue(
        version=reader.text(data, "version", "catalogue"),
        default_method=method,
        unknown_host_datacentre=unknown_host,
        include_prefill=include_prefill,
        bands=_parse_bands(reader.mapping(data.get("uncertainty"), "uncertainty"), reader),
        fallback=_parse_fallback(reader.mapping(data.get("fallback"), "fallback"), reader),
        energy=energy,
        zones=zones,
        datacentres=datacentres,
        providers=providers,
        models=models,
        index=index,
        suppliers=_parse_suppliers(data.get("supplier", {}), reader, directory, providers),
    )


def _parse_suppliers(
    data: Any, reader: Reader, directory: Path, providers: dict[str, str]
) -> dict[str, SupplierSource]:
    suppliers = {}
    for provider, entry in reader.mapping(data, "supplier").items():
        path = f"supplier.{provider}"
        entry = reader.mapping(entry, path)
        reader.known_keys(entry, path, frozenset({"snapshot", "region", "consumption_mode"}))
        key = normalise(str(provider))
        if key not in providers:
            raise reader.fail(path, f"unknown provider {provider!r} (not in datacentres.yaml providers)")
        snapshot = reader.text(entry, "snapshot", path)
        if Path(snapshot).name != snapshot:
            raise reader.fail(f"{path}.snapshot", "must be a file name in the catalogue directory")
        suppliers[key] = SupplierSource(
            snapshot=load_snapshot(directory / snapshot, key),
            region=reader.text(entry, "region", path),
            consumption_mode=reader.text(entry, "consumption_mode", path),
        )
    return suppliers


def _parse_bands(data: dict[str, Any], reader: Reader) -> dict[Rank, Band]:
    bands = {}
    for kind in BAND_KINDS:
        entry = reader.mapping(data.get(kind), f"uncertainty.{kind}")
        low = reader.number(entry.get("min"), f"uncertainty.{kind}.min")
        high = reader.number(entry.get("max"), f"uncertainty.{kind}.max")
        if not low <= 1.0 <= high:
            raise reader.fail(f"uncertainty.{kind}", "min must be <= 1 <= max")
        bands[kind] = Band(low, high, reader.text(entry, "source", f"uncertainty.{kind}"))
    return bands


def _parse_fallback(data: dict[str, Any], reader: Reader) -> Fallback:
    central = reader.number(data.get("gco2e_per_1k_tokens"), "fallback.gco2e_per_1k_tokens")
    low = reader.number(data.get("gco2e_per_1k_tokens_min"), "fallback.gco2e_per_1k_tokens_min")
    high = reader.number(data.get("gco2e_per_1k_tokens_max"), "fallback.gco2e_per_1k_tokens_max")
    if not low <= central <= high:
        raise reader.fail("fallback", "needs gco2e_per_1k_tokens_min <= gco2e_per_1k_tokens <= _max")
    return Fallback(
        per_1k=central,
        per_1k_min=low,
        per_1k_max=high,
        confidence=reader.choice(data.get("confidence"), "fallback.confidence", Confidence),
        boundary=reader.choice(data.get("boundary"), "fallback.boundary", Boundary),
        basis=reader.choice(data.get("basis"), "fallback.basis", Basis),
        source=reader.text(data, "source", "fallback"),
    )


def _parse_energy(data: dict[str, Any], reader: Reader) -> EnergyConstants:
    decode = reader.mapping(data.get("decode"), "decode")
    latency = reader.mapping(data.get("latency"), "latency")
    hardware = reader.mapping(data.get("hardware"), "hardware")
    prefill = reader.mapping(data.get("prefill"), "prefill")

    def num(section: dict[str, Any], name: str, key: str, positive: bool = True) -> float:
        return reader.number(section.get(key), f"{name}.{key}", positive=positive)

    beta = decode.get("gpu_energy_beta")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise reader.fail("decode.gpu_energy_beta", "must be a number")
    return EnergyConstants(
        gpu_energy_alpha=num(decode, "decode", "gpu_energy_alpha"),
        gpu_energy_beta=float(beta),  # negative by design: per-token energy falls with batch size
        gpu_energy_gamma=num(decode, "decode", "gpu_energy_gamma", positive=False),
        batch_size=num(decode, "decode", "batch_size"),
        latency_alpha=num(latency, "latency", "latency_alpha", positive=False),
        latency_beta=num(latency, "latency", "latency_beta", positive=False),
        latency_gamma=num(latency, "latency", "latency_gamma", positive=False),
        quantization_bits=num(hardware, "hardware", "quantization_bits"),
        gpu_memory_gb=num(hardware, "hardware", "gpu_memory_gb"),
        memory_overhead=num(hardware, "hardware", "memory_overhead"),
        server_gpus=num(hardware, "hardware", "server_gpus"),
        server_power_kw=num(hardware, "hardware", "server_power_kw", positive=False),
        server_embodied_kgco2e=num(hardware, "hardware", "server_embodied_kgco2e", positive=False),
        gpu_embodied_kgco2e=num(hardware, "hardware", "gpu_embodied_kgco2e", positive=False),
        lifespan_years=num(hardware, "hardware", "lifespan_years"),
        prefill_flops_per_param=num(prefill, "prefill", "flops_per_param_per_token"),
        prefill_gpu_peak_flops=num(prefill, "prefill", "gpu_peak_flops"),
        prefill_gpu_power_w=num(prefill, "prefill", "gpu_power_w"),
        prefill_mfu=num(prefill, "prefill", "mfu"),
        source=reader.text(data, "source", "energy_model"),
        prefill_source=reader.text(prefill, "source", "prefill"),
    )


def _parse_zones(data: dict[str, Any], reader: Reader) -> dict[str, Zone]:
    default_basis = data.get("basis")
    zones = {}
    for code, entry in reader.mapping(data.get("zones"), "zones").items():
        path = f"zones.{code}"
        if not isinstance(code, str) or not _ZONE_CODE.match(code):
            raise reader.fail(path, "zone codes are ISO 3166-1 alpha-3 (or EEE/WOR), optionally '-<variant>'")
        entry = reader.mapping(entry, path)
        factors = entry.get("factors")
        if not isinstance(factors, list) or not factors:
            raise reader.fail(f"{path}.factors", "must be a non-empty list")
        parsed = []
        for i, factor in enumerate(factors):
            fpath = f"{path}.factors[{i}]"
            factor = reader.mapping(factor, fpath)
            year = factor.get("year")
            if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
                raise reader.fail(f"{fpath}.year", "must be an integer year or null")
            parsed.append(
                GridFactor(
                    gco2e_per_kwh=reader.number(factor.get("gco2e_per_kwh"), f"{fpath}.gco2e_per_kwh"),
                    water_l_per_kwh=reader.optional_number(
                        factor.get("water_l_per_kwh"), f"{fpath}.water_l_per_kwh"
                    ),
                    basis=reader.choice(factor.get("basis", default_basis), f"{fpath}.basis", Basis),
                    source=reader.text(factor, "source", fpath),
                    year=year,
                    date=reader.text(factor, "date", fpath),
                )
            )
        zones[code] = Zone(code, reader.text(entry, "name", path), tuple(parsed))
    return zones


def _parse_datacentres(
    data: dict[str, Any], reader: Reader, zones: dict[str, Zone]
) -> tuple[dict[str, Datacentre], dict[str, str]]:
    datacentres = {}
    for name, entry in reader.mapping(data.get("datacentres"), "datacentres").items():
        path = f"datacentres.{name}"
        entry = reader.mapping(entry, path)
        zone = reader.text(entry, "zone", path)
        if zone not in zones:
            raise reader.fail(f"{path}.zone", f"unknown zone {zone!r}")
        wue = entry.get("wue")
        provider = entry.get("provider")
        covers = entry.get("covers", [])
        if not isinstance(covers, list) or not all(isinstance(c, str) for c in covers):
            raise reader.fail(f"{path}.covers", "must be a list of data centre ids")
        datacentres[name] = Datacentre(
            id=name,
            provider=None if provider is None else normalise(str(provider)),
            zone=zone,
            pue=reader.span(entry.get("pue"), f"{path}.pue"),
            wue=None if wue is None else reader.span(wue, f"{path}.wue"),
            lifespan_years=reader.optional_number(entry.get("lifespan_years"), f"{path}.lifespan_years"),
            source=reader.text(entry, "source", path),
            date=reader.text(entry, "date", path),
            covers=tuple(covers),
        )
    for name, datacentre in datacentres.items():
        for covered in datacentre.covers:
            if covered not in datacentres or datacentres[covered].covers:
                raise reader.fail(f"datacentres.{name}.covers", f"{covered!r} is not a plain data centre id")
    providers = {}
    for provider, target in reader.mapping(data.get("providers", {}), "providers").items():
        if target not in datacentres:
            raise reader.fail(f"providers.{provider}", f"unknown data centre {target!r}")
        providers[normalise(str(provider))] = str(target)
    return datacentres, providers
