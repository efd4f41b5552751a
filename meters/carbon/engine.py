"""CarbonEngine: loads the catalogue once, hands each configured model its precomputed ModelFactors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from meters.carbon.assemble import (
    audited_factors,
    coefficient_factors,
    energy_factors,
    energy_variants,
    fallback_factors,
    input_weight,
)
from meters.carbon.audited import AuditedFigure, AuditedMonth, check_month, parse_figure
from meters.carbon.catalogue import Catalogue, GridFactor, ModelEntry
from meters.carbon.errors import CatalogueError
from meters.carbon.estimate import Estimate
from meters.carbon.factors import ModelFactors
from meters.carbon.loader import load_catalogue
from meters.carbon.overrides import Override, Settings, parse_override, parse_settings
from meters.carbon.resolve import (
    apply_override,
    choose_datacentre,
    choose_method,
    find_entry,
    params_from_name,
)
from meters.paths import data_dir as default_data_dir

AUDITED_SOURCE = "audited supplier figure (e.g. Scaleway Environmental Footprint API)"


class CarbonEngine:
    """The carbon catalogue plus the gateway's `carbon:` settings (and optionally an audited month)."""

    def __init__(self, catalogue: Catalogue, settings: Settings, audited: AuditedMonth | None = None) -> None:
        self.catalogue = catalogue
        self.settings = settings
        self.audited = audited
        self._cache: dict[str, ModelFactors] = {}

    @classmethod
    def load(cls, data_dir: Path | None = None, settings: Mapping[str, Any] | None = None) -> CarbonEngine:
        """Read config/carbon/*.yaml (or `data_dir`); `settings`: the config's top-level `carbon:`."""
        directory = Path(data_dir) if data_dir is not None else default_data_dir() / "carbon"
        catalogue = load_catalogue(directory)
        return cls(catalogue, parse_settings(settings, catalogue))

    @property
    def version(self) -> str:
        return self.catalogue.version

    def with_audited(
        self,
        month: str,
        figures: Mapping[str, AuditedFigure | tuple[float, int] | tuple[float, int, int]],
        source: str = AUDITED_SOURCE,
    ) -> CarbonEngine:
        """A new engine in which each listed model uses the effective g/1k of its audited month.

        `figures` maps a model (catalogue id, alias or gateway model name) to (kg_co2e, tokens) or
        (kg_co2e, prompt_tokens, completion_tokens). Factors already handed out are unaffected.
        """
        month = check_month(month)
        parsed: dict[str, AuditedFigure] = {}
        for name, value in figures.items():
            entry = self.catalogue.find(name)
            parsed[entry.id if entry else name] = parse_figure(month, name, value)
        return CarbonEngine(self.catalogue, self.settings, AuditedMonth(month, parsed, source))

    def factors_for(
        self,
        model_name: str,
        upstream_model: str | None = None,
        provider: str | None = None,
        override: Mapping[str, Any] | None = None,
    ) -> ModelFactors:
        """The factors of one configured model. Call at config load, not per request.

        Lookup: `model_name`, then `upstream_model` with and without its provider prefix; the model entry's
        `carbon:` block (`override`) wins over the catalogue. Never fails for an unknown model: it gets
        parameters read from its id (energy method) or the labelled size-class fallback.
        """
        parsed = parse_override(override, self.catalogue)
        entry = apply_override(
            find_entry(self.catalogue, model_name, upstream_model), parsed, model_name, self.catalogue
        )
        if entry.params is None and entry.coefficient is None:
            entry = _with_params_from_name(entry, model_name, upstream_model)
        audited = self._audited_figure(entry, model_name)
        kind = choose_method(entry, parsed, self.settings, audited is not None)
        _check_forced_method(parsed, entry, kind)
        if kind == "audited" and audited is not None:
            return self._audited(model_name, entry, audited, parsed, provider)
        if kind in ("measured", "estimated") and entry.coefficient is not None:
            return coefficient_factors(model_name, entry.coefficient, self.catalogue)
        if kind == "energy" and entry.params is not None:
            return self._energy(model_name, entry, parsed, provider)
        return fallback_factors(model_name, self.catalogue)

    def describe(self) -> list[dict[str, Any]]:
        """Every catalogue model, resolved as if configured under its own id with no override."""
        return [self._cached(model_id).describe() for model_id in self.catalogue.models]

    def estimate(
        self, model: str, prompt_tokens: int, completion_tokens: int, latency_s: float | None = None
    ) -> Estimate:
        """Convenience for callers without a config (CLI, reports): factors are cached per model name."""
        return self._cached(model).estimate(prompt_tokens, completion_tokens, latency_s)

    def _cached(self, model: str) -> ModelFactors:
        factors = self._cache.get(model)
        if factors is None:
            factors = self._cache[model] = self.factors_for(model)
        return factors

    def _audited_figure(self, entry: ModelEntry, model_name: str) -> AuditedFigure | None:
        if self.audited is None:
            return None
        return self.audited.figures.get(entry.id) or self.audited.figures.get(model_name)

    def _energy(
        self, model_name: str, entry: ModelEntry, override: Override, provider: str | None
    ) -> ModelFactors:
        assert entry.params is not None
        datacentre = choose_datacentre(self.catalogue, self.settings, override, entry, provider)
        grid = self._grid(datacentre.zone)
        factors = energy_factors(
            model_name,
            entry.params,
            entry.deployment,
            datacentre,
            grid,
            self.catalogue,
            self.settings.include_prefill,
        )
        return factors

    def _audited(
        self,
        model_name: str,
        entry: ModelEntry,
        figure: AuditedFigure,
        override: Override,
        provider: str | None,
    ) -> ModelFactors:
        weight = None
        if entry.params is not None and figure.prompt_tokens is not None:
            datacentre = choose_datacentre(self.catalogue, self.settings, override, entry, provider)
            central, _, _ = energy_variants(
                entry.params, entry.deployment, datacentre, self._grid(datacentre.zone), self.catalogue, True
            )
            weight = input_weight(central)
        assert self.audited is not None
        return audited_factors(
            model_name, self.audited.month, figure, weight, self.audited.source, self.catalogue
        )

    def _grid(self, zone_code: str) -> GridFactor:
        zone = self.catalogue.zones[zone_code]
        factor = zone.factor(self.settings.zone_year) or zone.factor(None)
        if factor is None:
            raise CatalogueError(f"zone {zone_code!r} has no grid factor")
        return factor


def _with_params_from_name(entry: ModelEntry, model_name: str, upstream_model: str | None) -> ModelEntry:
    params = params_from_name(model_name, upstream_model)
    if params is None:
        return entry
    return ModelEntry(entry.id, entry.provider, entry.aliases, params, entry.deployment, entry.coefficient)


def _check_forced_method(override: Override, entry: ModelEntry, kind: str) -> None:
    if override.method == "coefficient" and entry.coefficient is None:
        raise CatalogueError(
            "carbon.method: 'coefficient' needs a coefficient: set carbon.gco2e_per_1k_tokens or carbon.model"
        )
    if override.method == "energy" and entry.params is None:
        raise CatalogueError(
            "carbon.method: 'energy' needs parameters: set carbon.params_total_b or carbon.model"
        )
