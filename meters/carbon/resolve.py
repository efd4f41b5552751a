"""Which catalogue entry, host, data centre and precedence tier a configured model gets (config-load time only)."""

from __future__ import annotations

import re
from dataclasses import replace

from meters.carbon.catalogue import Catalogue, Coefficient, Datacentre, ModelEntry, Params, normalise
from meters.carbon.labels import Basis, Boundary, Confidence, Method, Rank
from meters.carbon.overrides import Override, Settings
from meters.carbon.span import Span

OVERRIDE_SOURCE = "gateway config override (model entry's carbon: block)"
# "llama-3.1-8b-instruct", "qwen3-30b-a3b", "gemma-2-9b-it": a size in billions between separators; optional
# "-a<N>b" gives active parameters (MoE). "mixtral-8x7b" does not match on purpose (8x7b is not 7B).
_SIZE = re.compile(r"(?:^|[-_/:])(\d+(?:\.\d+)?)b(?:-a(\d+(?:\.\d+)?)b)?(?=$|[-_/:.])")

# Precedence, first available wins (METHODOLOGY.md "Precedence"); `carbon.default_method: coefficient`
# ranks estimated coefficients above the energy model.
PRECEDENCE: dict[Method, tuple[Rank, ...]] = {
    Method.ENERGY: (Rank.AUDITED, Rank.MEASURED, Rank.SUPPLIER, Rank.ENERGY, Rank.ESTIMATED, Rank.FALLBACK),
    Method.COEFFICIENT: (
        Rank.AUDITED,
        Rank.MEASURED,
        Rank.SUPPLIER,
        Rank.ESTIMATED,
        Rank.ENERGY,
        Rank.FALLBACK,
    ),
}


def strip_provider(name: str) -> str:
    """'scaleway/llama-3.1-8b-instruct' -> 'llama-3.1-8b-instruct'."""
    return name.rsplit("/", 1)[-1]


def lookup_names(model_name: str, upstream_model: str | None) -> tuple[str, ...]:
    """The names a configured model is looked up by, in order: its own, then the upstream id's."""
    names = [model_name, strip_provider(model_name)]
    if upstream_model:
        names += [upstream_model, strip_provider(upstream_model)]
    return tuple(dict.fromkeys(names))


def find_entry(catalogue: Catalogue, model_name: str, upstream_model: str | None) -> ModelEntry | None:
    """By model_name, then by the upstream id with and without its provider prefix."""
    for name in lookup_names(model_name, upstream_model):
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
            confidence=override.confidence or Confidence.ESTIMATED,
            boundary=override.boundary or Boundary.UNSPECIFIED,
            basis=override.basis or Basis.UNSPECIFIED,
            source=override.source or OVERRIDE_SOURCE,
            date="config",
        )
    elif coefficient is not None and (
        override.confidence or override.boundary or override.basis or override.source
    ):
        coefficient = replace(
            coefficient,
            confidence=override.confidence or coefficient.confidence,
            boundary=override.boundary or coefficient.boundary,
            basis=override.basis or coefficient.basis,
            source=override.source or coefficient.source,
        )
    params = entry.params
    if override.params_total_b is not None:
        total = Span(override.params_total_b, override.params_total_b)
        active_b = override.params_active_b or override.params_total_b
        params = Params(total, Span(active_b, active_b), override.source or OVERRIDE_SOURCE, "config")
    return replace(entry, coefficient=coefficient, params=params)


def host_provider(catalogue: Catalogue, entry: ModelEntry, provider: str | None) -> str | None:
    """Who serves the model: the caller's provider when the catalogue knows it, else (no caller provider) the
    catalogue entry's; None when the host is unknown (a provider the catalogue does not know, or none at all).

    The caller's provider wins: the same open model served by Scaleway or by Mistral runs in different places.
    """
    if provider and provider.strip():
        called = normalise(provider)
        return called if called in catalogue.providers else None
    return entry.provider if entry.provider in catalogue.providers else None


def choose_datacentre(
    catalogue: Catalogue, settings: Settings, override: Override, host: str | None
) -> Datacentre:
    """Override > the operator's `carbon.datacentre` when it is the host's > the host's default > unknown host.

    An unknown host is never assumed to be a known one: it gets the catalogue's `unknown_host_datacentre`
    (world grid, generic PUE, a range covering the likely hosts), unless the operator's data centre is
    itself declared without a provider (e.g. their own site for self-hosted models).
    """
    if override.datacentre is not None:
        return catalogue.datacentres[override.datacentre]
    if settings.datacentre is not None and catalogue.datacentres[settings.datacentre].provider == host:
        return catalogue.datacentres[settings.datacentre]
    if host is not None:
        return catalogue.datacentres[catalogue.providers[host]]
    return catalogue.datacentres[catalogue.unknown_host_datacentre]


def available_ranks(entry: ModelEntry, has_audited: bool, has_supplier: bool) -> dict[Rank, bool]:
    coefficient = entry.coefficient
    return {
        Rank.AUDITED: has_audited,
        Rank.MEASURED: coefficient is not None and coefficient.confidence == Confidence.MEASURED,
        Rank.SUPPLIER: has_supplier,
        Rank.ENERGY: entry.params is not None,
        Rank.ESTIMATED: coefficient is not None and coefficient.confidence == Confidence.ESTIMATED,
        Rank.FALLBACK: True,
    }


def choose_rank(
    entry: ModelEntry, override: Override, settings: Settings, available: dict[Rank, bool]
) -> tuple[Rank, str]:
    """The precedence tier used (see PRECEDENCE) and why, the override's forced method first."""
    coefficient_rank = (
        Rank.MEASURED
        if entry.coefficient is not None and entry.coefficient.confidence == Confidence.MEASURED
        else Rank.ESTIMATED
    )
    if override.method == Method.ENERGY:
        return Rank.ENERGY, "forced by the model's carbon.method: energy"
    if override.method == Method.COEFFICIENT:
        return coefficient_rank, "forced by the model's carbon.method: coefficient"
    if override.per_1k_input is not None:
        return coefficient_rank, "the model's carbon: block gives a coefficient"
    order = PRECEDENCE[settings.default_method]
    rank = next(kind for kind in order if available[kind])
    return rank, "first available of " + " > ".join(order)
