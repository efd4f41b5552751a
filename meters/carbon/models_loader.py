"""Parsing config/carbon/models.yaml: model entries with parameters, deployment data and coefficients."""

from __future__ import annotations

from typing import Any

from meters.carbon.catalogue import Coefficient, Deployment, ModelEntry, Params, normalise
from meters.carbon.labels import Basis, Boundary, Confidence, WaterBoundary
from meters.carbon.reader import Reader

ENTRY_KEYS = frozenset({"id", "provider", "aliases", "params", "deployment", "coefficient"})
DEPLOYMENT_KEYS = frozenset({"tps", "ttft_s", "source", "date"})
COEFFICIENT_KEYS = frozenset(
    {
        "gco2e_per_1k_tokens",
        "gco2e_per_1k_input_tokens",
        "gco2e_per_1k_output_tokens",
        "energy_wh_per_1k_tokens",
        "water_ml_per_1k_tokens",
        "confidence",
        "boundary",
        "basis",
        "water_boundary",
        "source",
        "date",
        "note",
    }
)


def parse_models(data: dict[str, Any], reader: Reader) -> tuple[dict[str, ModelEntry], dict[str, str]]:
    entries = data.get("models")
    if not isinstance(entries, list):
        raise reader.fail("models", "must be a list")
    models: dict[str, ModelEntry] = {}
    index: dict[str, str] = {}
    for i, entry in enumerate(entries):
        path = f"models[{i}]"
        model = parse_model_entry(reader.mapping(entry, path), reader, path)
        for name in (model.id, *model.aliases):
            key = normalise(name)
            if key in index:
                raise reader.fail(f"{path}.id", f"{name!r} is already used by {index[key]!r}")
            index[key] = model.id
        models[model.id] = model
    return models, index


def parse_model_entry(entry: dict[str, Any], reader: Reader, path: str) -> ModelEntry:
    reader.known_keys(entry, path, ENTRY_KEYS)
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise reader.fail(f"{path}.aliases", "must be a list of names")
    provider = entry.get("provider")
    return ModelEntry(
        id=reader.text(entry, "id", path),
        provider=None if provider is None else normalise(str(provider)),
        aliases=tuple(aliases),
        params=_params(entry.get("params"), reader, f"{path}.params"),
        deployment=_deployment(entry.get("deployment"), reader, f"{path}.deployment"),
        coefficient=_coefficient(entry.get("coefficient"), reader, f"{path}.coefficient"),
    )


def _params(data: Any, reader: Reader, path: str) -> Params | None:
    if data is None:
        return None
    data = reader.mapping(data, path)
    total = reader.span(data.get("total_b"), f"{path}.total_b")
    active = total if data.get("active_b") is None else reader.span(data["active_b"], f"{path}.active_b")
    if active.max > total.max:
        raise reader.fail(f"{path}.active_b", "cannot exceed total_b")
    return Params(total, active, reader.text(data, "source", path), reader.text(data, "date", path))


def _deployment(data: Any, reader: Reader, path: str) -> Deployment | None:
    if data is None:
        return None
    data = reader.mapping(data, path)
    reader.known_keys(data, path, DEPLOYMENT_KEYS)
    return Deployment(
        tps=reader.optional_number(data.get("tps"), f"{path}.tps"),
        ttft_s=reader.optional_number(data.get("ttft_s"), f"{path}.ttft_s", positive=False),
        source=reader.text(data, "source", path),
        date=reader.text(data, "date", path),
    )


def _coefficient(data: Any, reader: Reader, path: str) -> Coefficient | None:
    if data is None:
        return None
    data = reader.mapping(data, path)
    reader.known_keys(data, path, COEFFICIENT_KEYS)
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
    water = reader.optional_number(data.get("water_ml_per_1k_tokens"), f"{path}.water_ml_per_1k_tokens")
    water_boundary = data.get("water_boundary")
    if (water is None) != (water_boundary is None):
        raise reader.fail(
            f"{path}.water_boundary", "is required with water_ml_per_1k_tokens (and only with it)"
        )
    return Coefficient(
        per_1k_input=per_in,
        per_1k_output=per_out,
        confidence=reader.choice(data.get("confidence"), f"{path}.confidence", Confidence),
        boundary=reader.choice(data.get("boundary"), f"{path}.boundary", Boundary),
        basis=reader.choice(data.get("basis"), f"{path}.basis", Basis),
        source=reader.text(data, "source", path),
        date=reader.text(data, "date", path),
        energy_wh_per_1k=reader.optional_number(
            data.get("energy_wh_per_1k_tokens"), f"{path}.energy_wh_per_1k_tokens"
        ),
        water_ml_per_1k=water,
        water_boundary=None
        if water_boundary is None
        else reader.choice(water_boundary, f"{path}.water_boundary", WaterBoundary),
        note=reader.optional_text(data, "note", path),
    )
