"""Which catalogue entry, data centre and method a configured model gets (config-load time only)."""

from __future__ import annotations

import re
from dataclasses import replace

from meters.carbon.catalogue import Catalogue, Coefficient, Datacentre, ModelEntry, Params, Span
from meters.carbon.overrides import Override, Settings

OVERRIDE_SOURCE = "gateway config override (model entry's carbon: block)"
# "llama-3.1-8b-instruct", "qwen3-30b-a3b", "gemma-2-9b-it": a size in billions between separators; optional
# "-a<N>b" gives active parameters (MoE). "mixtral-8x7b" does not match on purpose (8x7b is not 7B).
_SIZE = re.compile(r"(?:^|[-_/:])(\d+(?:\.\d+)?)b(?:-a(\d+(?:\.\d+)?)b)?(?=$|[-_/:.])")

# Precedence, first available wins (METHODOLOGY.md "Precedence").
PRECEDENCE = {
    "energy": ("audited", "measured", "energy", "estimated", "fallback"),
    "coefficient": ("audited", "measured", "estimated", "energy", "fallback"),
}


def strip_provider(name: str) -> str:
    """'scaleway/llama-3.1-8b-instruct' -> 'llama-3.1-8b-instruct'."""
    return name.rsplit("/", 1)[-1]


def find_entry(catalogue: Catalogue, model_name: str, upstream_model: str | None) -> ModelEntry | None:
    """By model_name, then by the upstream id with and without its provider prefix."""
    for name in (
        model_name,
        strip_provider(model_name),
        upstream_model,
        upstream_model and strip_provider(upstream_model),
    ):
        if name:
            entry = catalogue.find(name)
            if entry is not None:
                return entry
    return None


def params_from_name(*names: str | None) -> Params | None:
    """A parameter count read from a model id such as 'foo-70b' or 'bar-30b-a3b' (labelled as such)."""
    for name in names:
        if not name:
            continue
        match = _SIZE.search(strip_provider(name).lower())
        if match:
            total = float(match.group(1))
            active = float(match.group(2)) if match.group(2) else total
            if 0 < active <= total:
                source = f"parameter count read from the model id {name!r} (no catalogue entry)"
                return Params(Span(total, total), Span(active, active), source, "n/a")
    return None


def apply_override(
    entry: ModelEntry | None, override: Override, model_name: str, catalogue: Catalogue
) -> ModelEntry:
    """The catalogue entry (or the one `override.model` borrows) with the override's factors on top."""
    if override.model is not None:
        entry = catalogue.find(override.model)
    if entry is None:
        entry = ModelEntry(model_name, None, (), None, None, None)
    coefficient = entry.coefficient
    if override.per_1k_input is not None and override.per_1k_output is not None:
        coefficient = Coefficient(
            per_1k_input=override.per_1k_input,
            per_1k_output=override.per_1k_output,
            confidence=override.confidence or "estimated",
            boundary=override.boundary or "unspecified",
            source=override.source or OVERRIDE_SOURCE,
            date="config",
        )
    elif coefficient is not None and (override.confidence or override.boundary or override.source):
        coefficient = replace(
            coefficient,
            confidence=override.confidence or coefficient.confidence,
            boundary=override.boundary or coefficient.boundary,
            source=override.source or coefficient.source,
        )
    params = entry.params
    if override.params_total_b is not None:
        total = Span(override.params_total_b, override.params_total_b)
        active_b = override.params_active_b or override.params_total_b
        params = Params(total, Span(active_b, active_b), override.source or OVERRIDE_SOURCE, "config")
    return replace(entry, coefficient=coefficient, params=params)


def choose_datacentre(
    catalogue: Catalogue, settings: Settings, override: Override, entry: ModelEntry, provider: str | None
) -> Datacentre:
    """Override > the operator's `carbon.datacentre` for that provider > the provider's default > the default.

    The caller's provider wins over the catalogue entry's when the catalogue knows it (the same open model
    served by Scaleway or by Mistral runs in different places).
    """
    if override.datacentre is not None:
        return catalogue.datacentres[override.datacentre]
    called = provider.strip().lower() if provider else None
    where = called if called in catalogue.providers else entry.provider
    if settings.datacentre is not None and catalogue.datacentres[settings.datacentre].provider == where:
        return catalogue.datacentres[settings.datacentre]
    if where in catalogue.providers:
        return catalogue.datacentres[catalogue.providers[where]]
    return catalogue.datacentres[settings.datacentre or catalogue.default_datacentre]


def choose_method(entry: ModelEntry, override: Override, settings: Settings, has_audited: bool) -> str:
    """One of audited, measured, estimated (both coefficient), energy, fallback; see PRECEDENCE."""
    if override.method == "energy":
        return "energy"
    if override.method == "coefficient":
        return "measured" if entry.coefficient and entry.coefficient.confidence == "measured" else "estimated"
    if override.per_1k_input is not None:  # an explicit coefficient in config is what the operator asked for
        return "measured" if entry.coefficient and entry.coefficient.confidence == "measured" else "estimated"
    available = {
        "audited": has_audited,
        "measured": entry.coefficient is not None and entry.coefficient.confidence == "measured",
        "estimated": entry.coefficient is not None and entry.coefficient.confidence == "estimated",
        "energy": entry.params is not None,
        "fallback": True,
    }
    return next(kind for kind in PRECEDENCE[settings.default_method] if available[kind])
