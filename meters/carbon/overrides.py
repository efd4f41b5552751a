"""Validation of the gateway config's `carbon:` settings block and of a model entry's `carbon:` override."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from meters.carbon.catalogue import Catalogue
from meters.carbon.errors import CatalogueError
from meters.carbon.labels import Basis, Boundary, Confidence, E, Method, member

# Keys of the top-level `carbon:` block the engine reads (the gateway reads `body` and `stream_usage` itself).
SETTINGS_KEYS = ("default_method", "datacentre", "zone_year", "include_prefill")
OVERRIDE_KEYS = (
    "model",
    "method",
    "gco2e_per_1k_tokens",
    "gco2e_per_1k_input_tokens",
    "gco2e_per_1k_output_tokens",
    "confidence",
    "source",
    "boundary",
    "basis",
    "datacentre",
    "params_total_b",
    "params_active_b",
)
OVERRIDE_METHODS = (Method.COEFFICIENT, Method.ENERGY)


@dataclass(frozen=True, slots=True)
class Settings:
    default_method: Method
    datacentre: str | None
    zone_year: int | None
    include_prefill: bool


@dataclass(frozen=True, slots=True)
class Override:
    model: str | None = None
    method: Method | None = None
    per_1k_input: float | None = None
    per_1k_output: float | None = None
    confidence: Confidence | None = None
    source: str | None = None
    boundary: Boundary | None = None
    basis: Basis | None = None
    datacentre: str | None = None
    params_total_b: float | None = None
    params_active_b: float | None = None


def _fail(prefix: str, key: str, problem: str) -> CatalogueError:
    return CatalogueError(f"{prefix}.{key}: {problem}")


def _positive(prefix: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(prefix, key, f"must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise _fail(prefix, key, f"must be a finite number > 0, got {value!r}")
    return number


def _text(prefix: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(prefix, key, f"must be a non-empty string, got {value!r}")
    return value.strip()


def _choice(prefix: str, key: str, value: Any, kind: type[E], allowed: tuple[E, ...] | None = None) -> E:
    try:
        return member(kind, value, allowed)
    except ValueError as exc:
        raise _fail(prefix, key, str(exc)) from None


def _known_keys(prefix: str, data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    if not isinstance(data, Mapping):
        raise CatalogueError(f"{prefix}: must be a mapping, got {type(data).__name__}")
    for key in data:
        if key not in allowed:
            raise _fail(prefix, str(key), f"unknown key (allowed: {', '.join(allowed)})")


def parse_settings(settings: Mapping[str, Any] | None, catalogue: Catalogue) -> Settings:
    """The top-level `carbon:` block of the gateway config; errors name `carbon.<key>`."""
    data = settings or {}
    _known_keys("carbon", data, SETTINGS_KEYS)
    method = data.get("default_method", catalogue.default_method)
    datacentre = data.get("datacentre")
    if datacentre is not None and datacentre not in catalogue.datacentres:
        known = ", ".join(sorted(catalogue.datacentres))
        raise _fail("carbon", "datacentre", f"unknown data centre {datacentre!r} (known: {known})")
    year = data.get("zone_year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
        raise _fail("carbon", "zone_year", f"must be an integer year, got {year!r}")
    years = {f.year for zone in catalogue.zones.values() for f in zone.factors if f.year is not None}
    if year is not None and year not in years:
        raise _fail("carbon", "zone_year", f"no grid factor for {year} (available: {sorted(years)})")
    prefill = data.get("include_prefill", catalogue.include_prefill)
    if not isinstance(prefill, bool):
        raise _fail("carbon", "include_prefill", f"must be true or false, got {prefill!r}")
    return Settings(
        default_method=_choice("carbon", "default_method", method, Method, OVERRIDE_METHODS),
        datacentre=datacentre,
        zone_year=year,
        include_prefill=prefill,
    )


def parse_override(
    override: Mapping[str, Any] | None, catalogue: Catalogue, prefix: str = "carbon"
) -> Override:
    """A model entry's `carbon:` block; errors name `<prefix>.<key>`."""
    if not override:
        return Override()
    _known_keys(prefix, override, OVERRIDE_KEYS)
    get = override.get
    model = get("model")
    if model is not None and catalogue.find(_text(prefix, "model", model)) is None:
        raise _fail(prefix, "model", f"no catalogue model or alias named {model!r}")
    single = get("gco2e_per_1k_tokens")
    pair = (get("gco2e_per_1k_input_tokens"), get("gco2e_per_1k_output_tokens"))
    per_in = per_out = None
    if single is not None:
        if pair != (None, None):
            raise _fail(prefix, "gco2e_per_1k_tokens", "give it or the _input_/_output_ pair, not both")
        per_in = per_out = _positive(prefix, "gco2e_per_1k_tokens", single)
    elif pair != (None, None):
        if None in pair:
            missing = "gco2e_per_1k_output_tokens" if pair[1] is None else "gco2e_per_1k_input_tokens"
            raise _fail(prefix, missing, "is required with its input/output pair")
        per_in = _positive(prefix, "gco2e_per_1k_input_tokens", pair[0])
        per_out = _positive(prefix, "gco2e_per_1k_output_tokens", pair[1])
    datacentre = get("datacentre")
    if datacentre is not None and datacentre not in catalogue.datacentres:
        raise _fail(prefix, "datacentre", f"unknown data centre {datacentre!r}")
    total = (
        None if get("params_total_b") is None else _positive(prefix, "params_total_b", get("params_total_b"))
    )
    active = (
        None
        if get("params_active_b") is None
        else _positive(prefix, "params_active_b", get("params_active_b"))
    )
    if active is not None and total is None:
        raise _fail(prefix, "params_total_b", "is required with params_active_b")
    if active is not None and total is not None and active > total:
        raise _fail(prefix, "params_active_b", f"{active} exceeds params_total_b {total}")
    method = get("method")
    if method is not None:
        method = _choice(prefix, "method", method, Method, OVERRIDE_METHODS)
    return Override(
        model=model,
        method=method,
        per_1k_input=per_in,
        per_1k_output=per_out,
        confidence=None
        if get("confidence") is None
        else _choice(prefix, "confidence", get("confidence"), Confidence),
        source=None if get("source") is None else _text(prefix, "source", get("source")),
        boundary=None if get("boundary") is None else _choice(prefix, "boundary", get("boundary"), Boundary),
        basis=None if get("basis") is None else _choice(prefix, "basis", get("basis"), Basis),
        datacentre=datacentre,
        params_total_b=total,
        params_active_b=active,
    )
