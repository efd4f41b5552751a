"""The carbon figure as a client sees it: `x-carbon-*` headers and the `usage.carbon` body field."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Mapping
from typing import Any

from meters.carbon import Estimate, ModelFactors

CATALOGUE_VERSION = "x-carbon-catalogue-version"
RawHeaders = list[tuple[bytes, bytes]]
_RAW_LABELS_MAX = 1024
_raw_labels: dict[int, tuple[Mapping[str, str], RawHeaders]] = {}


def fmt(value: float) -> str:
    """At least 4 significant digits, trailing zeros kept (6 here)."""
    return f"{value:#.6g}"


def ascii_header(value: str) -> str:
    """Header values must be ASCII: fold accents (é → e), replace the rest."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    return " ".join(folded.split())


def label_headers(factors: ModelFactors) -> dict[str, str]:
    """The figure's labels, known before the response (a stream's headers carry them): method, confidence,
    boundary, basis (location/market), water boundary, source and the catalogue version."""
    headers = {
        "x-carbon-method": str(factors.method),
        "x-carbon-confidence": str(factors.confidence),
        "x-carbon-boundary": str(factors.boundary),
        "x-carbon-basis": str(factors.basis),
        "x-carbon-source": ascii_header(factors.source),
        CATALOGUE_VERSION: factors.catalogue_version,
    }
    if factors.water_boundary is not None:
        headers["x-carbon-water-boundary"] = str(factors.water_boundary)
    return headers


def figure_headers(estimate: Estimate, usage_source: str) -> dict[str, str]:
    """The headers that change with each figure (the labels are per model)."""
    headers = {
        "x-carbon-gco2e": fmt(estimate.gco2e),
        "x-carbon-gco2e-min": fmt(estimate.gco2e_min),
        "x-carbon-gco2e-max": fmt(estimate.gco2e_max),
        "x-carbon-usage-source": usage_source,
    }
    if estimate.energy_wh is not None:
        headers["x-carbon-energy-wh"] = fmt(estimate.energy_wh)
    if estimate.water_ml is not None:
        headers["x-carbon-water-ml"] = fmt(estimate.water_ml)
    return headers


def carbon_headers(labels: dict[str, str], estimate: Estimate, usage_source: str) -> dict[str, str]:
    return {**labels, **figure_headers(estimate, usage_source)}


def encode_headers(headers: Mapping[str, str]) -> RawHeaders:
    """ASGI's raw form, as Starlette builds it (lower-case latin-1 names and values); the gateway's own header
    names are a few dozen constants, each encoded once (`_raw_name`)."""
    return [(_raw_name(name), value.encode("latin-1")) for name, value in headers.items()]


@functools.lru_cache(maxsize=1024)
def _raw_name(name: str) -> bytes:
    return name.lower().encode("latin-1")


def raw_carbon_headers(labels: Mapping[str, str], estimate: Estimate, usage_source: str) -> RawHeaders:
    """`carbon_headers` already encoded, the model's labels encoded once per labels mapping (a model's
    `label_headers` lives as long as its runtime): Starlette would encode every header per response."""
    cached = _raw_labels.get(id(labels))
    if cached is None or cached[0] is not labels:
        if len(_raw_labels) >= _RAW_LABELS_MAX:
            _raw_labels.clear()
        cached = _raw_labels[id(labels)] = (labels, encode_headers(labels))  # holding it keeps the id unique
    return [*cached[1], *encode_headers(figure_headers(estimate, usage_source))]


def carbon_payload(estimate: Estimate, usage_source: str) -> dict[str, Any]:
    """The `usage.carbon` object."""
    payload = estimate.as_dict()
    payload["usage_source"] = usage_source
    return payload
