"""Loading config/carbon/*.yaml into a validated `Catalogue` (runs once, at start; never per request)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from meters.carbon.catalogue import (
    BOUNDARIES,
    CONFIDENCES,
    Band,
    Catalogue,
    Coefficient,
    Datacentre,
    Deployment,
    EnergyConstants,
    Fallback,
    GridFactor,
    ModelEntry,
    Params,
    Reader,
    Zone,
)
from meters.carbon.errors import CatalogueError

METHODS = ("energy", "coefficient")
BAND_KINDS = ("measured", "audited", "estimated", "energy")
_ZONE_CODE = re.compile(r"^[A-Z]{3}(-[a-z0-9-]+)?$")


def normalise(name: str) -> str:
    return name.strip().lower()


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError as exc:
        raise CatalogueError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogueError(f"{path}: must hold a mapping at the top level")
    return data


def load_catalogue(directory: Path) -> Catalogue:
    """Read and validate catalogue, energy_model, zones, datacentres and models (*.yaml) in `directory`."""
    files = {
        name: directory / f"{name}.yaml" for name in ("catalogue", "energy_model", "zones", "datacentres")
    }
    files["models"] = directory / "models.yaml"
    raw = {name: (_load_yaml(path), Reader(str(path))) for name, path in files.items()}
    energy = _parse_energy(*raw["energy_model"])
    zones = _parse_zones(*raw["zones"])
    datacentres, providers = _parse_datacentres(*raw["datacentres"], zones)
    models, index = _parse_models(*raw["models"])
    data, reader = raw["catalogue"]
    defaults = reader.mapping(data.get("defaults", {}), "defaults")
    datacentre = reader.text(defaults, "datacentre", "defaults")
    if datacentre not in datacentres:
        raise reader.fail("defaults.datacentre", f"unknown data centre {datacentre!r}")
    include_prefill = defaults.get("include_prefill", True)
    if not isinstance(include_prefill, bool):
        raise reader.fail("defaults.include_prefill", "must be true or false")
    return Catalogue(
        version=reader.text(data, "version", "catalogue"),
        default_method=reader.choice(defaults.get("method", "energy"), "defaults.method", METHODS),
        default_datacentre=datacentre,
        include_prefill=include_prefill,
        bands=_parse_bands(reader.mapping(data.get("uncertainty"), "uncertainty"), reader),
        fallback=_parse_fallback(reader.mapping(data.get("fallback"), "fallback"), reader),
        energy=energy,
        zones=zones,
        datacentres=datacentres,
        providers=providers,
        models=models,
        index=index,
    )


def _parse_bands(data: dict[str, Any], reader: Reader) -> dict[str, Band]:
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
        confidence=reader.choice(data.get("confidence"), "fallback.confidence", CONFIDENCES),
        boundary=reader.choice(data.get("boundary"), "fallback.boundary", BOUNDARIES),
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
            water = factor.get("water_l_per_kwh")
            year = factor.get("year")
            if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
                raise reader.fail(f"{fpath}.year", "must be an integer year or null")
            parsed.append(
                GridFactor(
                    gco2e_per_kwh=reader.number(factor.get("gco2e_per_kwh"), f"{fpath}.gco2e_per_kwh"),
                    water_l_per_kwh=None
                    if water is None
                    else reader.number(water, f"{fpath}.water_l_per_kwh"),
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
        lifespan = entry.get("lifespan_years")
        provider = entry.get("provider")
        datacentres[name] = Datacentre(
            id=name,
            provider=None if provider is None else normalise(str(provider)),
            zone=zone,
            pue=reader.span(entry.get("pue"), f"{path}.pue"),
            wue=None if wue is None else reader.span(wue, f"{path}.wue"),
            lifespan_years=None if lifespan is None else reader.number(lifespan, f"{path}.lifespan_years"),
            source=reader.text(entry, "source", path),
            date=reader.text(entry, "date", path),
        )
    providers = {}
    for provider, target in reader.mapping(data.get("providers", {}), "providers").items():
        if target not in datacentres:
            raise reader.fail(f"providers.{provider}", f"unknown data centre {target!r}")
        providers[normalise(str(provider))] = str(target)
    return datacentres, providers


def _parse_models(data: dict[str, Any], reader: Reader) -> tuple[dict[str, ModelEntry], dict[str, str]]:
    entries = data.get("models")
    if not isinstance(entries, list):
        raise reader.fail("models", "must be a list")
    models: dict[str, ModelEntry] = {}
    index: dict[str, str] = {}
    for i, entry in enumerate(entries):
        path = f"models[{i}]"
        entry = reader.mapping(entry, path)
        model = parse_model_entry(entry, reader, path)
        for name in (model.id, *model.aliases):
            key = normalise(name)
            if key in index:
                raise reader.fail(f"{path}.id", f"{name!r} is already used by {index[key]!r}")
            index[key] = model.id
        models[model.id] = model
    return models, index


def parse_model_entry(entry: dict[str, Any], reader: Reader, path: str) -> ModelEntry:
    known = {"id", "provider", "aliases", "params", "deployment", "coefficient"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise reader.fail(f"{path}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(known))})")
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise reader.fail(f"{path}.aliases", "must be a list of names")
    provider = entry.get("provider")
    return ModelEntry(
        id=reader.text(entry, "id", path),
        provider=None if provider is None else normalise(str(provider)),
        aliases=tuple(aliases),
        params=_parse_params(entry.get("params"), reader, f"{path}.params"),
        deployment=_parse_deployment(entry.get("deployment"), reader, f"{path}.deployment"),
        coefficient=_parse_coefficient(entry.get("coefficient"), reader, f"{path}.coefficient"),
    )


def _parse_params(data: Any, reader: Reader, path: str) -> Params | None:
    if data is None:
        return None
    data = reader.mapping(data, path)
    total = reader.span(data.get("total_b"), f"{path}.total_b")
    active = total if data.get("active_b") is None else reader.span(data["active_b"], f"{path}.active_b")
    if active.max > total.max:
        raise reader.fail(f"{path}.active_b", "cannot exceed total_b")
    return Params(total, active, reader.text(data, "source", path), reader.text(data, "date", path))


def _parse_deployment(data: Any, reader: Reader, path: str) -> Deployment | None:
    if data is None:
        return None
    data = reader.mapping(data, path)
    tps, ttft = data.get("tps"), data.get("ttft_s")
    return Deployment(
        tps=None if tps is None else reader.number(tps, f"{path}.tps"),
        ttft_s=None if ttft is None else reader.number(ttft, f"{path}.ttft_s", positive=False),
        source=reader.text(data, "source", path),
    )


def _parse_coefficient(data: Any, reader: Reader, path: str) -> Coefficient | None:
    if data is None:
        return None
    data = reader.mapping(data, path)
    single = data.get("gco2e_per_1k_tokens")
    split_in, split_out = data.get("gco2e_per_1k_input_tokens"), data.get("gco2e_per_1k_output_tokens")
    if single is not None and (split_in is not None or split_out is not None):
        raise reader.fail(path, "give gco2e_per_1k_tokens or the _input_/_output_ pair, not both")
    if single is not None:
        per_in = per_out = reader.number(single, f"{path}.gco2e_per_1k_tokens")
    elif split_in is not None and split_out is not None:
        per_in = reader.number(split_in, f"{path}.gco2e_per_1k_input_tokens", positive=False)
        per_out = reader.number(split_out, f"{path}.gco2e_per_1k_output_tokens")
    else:
        raise reader.fail(
            path, "needs gco2e_per_1k_tokens or both gco2e_per_1k_input_tokens and _output_tokens"
        )
    energy, water = data.get("energy_wh_per_1k_tokens"), data.get("water_ml_per_1k_tokens")
    return Coefficient(
        per_1k_input=per_in,
        per_1k_output=per_out,
        confidence=reader.choice(data.get("confidence"), f"{path}.confidence", CONFIDENCES),
        boundary=reader.choice(data.get("boundary"), f"{path}.boundary", BOUNDARIES),
        source=reader.text(data, "source", path),
        date=reader.text(data, "date", path),
        energy_wh_per_1k=None if energy is None else reader.number(energy, f"{path}.energy_wh_per_1k_tokens"),
        water_ml_per_1k=None if water is None else reader.number(water, f"{path}.water_ml_per_1k_tokens"),
    )
