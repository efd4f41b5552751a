"""CarbonEngine: loads the catalogue once, hands each configured model its precomputed ModelFactors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meters.carbon.assemble import (
    REFERENCE_REQUEST,
    Site,
    audited_factors,
    coefficient_factors,
    energy_factors,
    energy_input_weight,
    energy_variants,
    fallback_factors,
    reference_gco2e,
    supplier_factors,
)
from meters.carbon.audited import AuditedFigure, AuditedMonth, check_month, parse_figure
from meters.carbon.catalogue import Catalogue, GridFactor, ModelEntry
from meters.carbon.errors import CatalogueError
from meters.carbon.estimate import Estimate
from meters.carbon.factors import ModelFactors
from meters.carbon.labels import Method, Rank
from meters.carbon.loader import load_catalogue
from meters.carbon.overrides import Override, Settings, parse_override, parse_settings
from meters.carbon.resolve import (
    PRECEDENCE,
    apply_override,
    available_ranks,
    choose_datacentre,
    choose_rank,
    find_entry,
    host_provider,
    lookup_names,
    params_from_name,
)
from meters.carbon.supplier import SupplierFactor
from meters.paths import data_dir as default_data_dir

AUDITED_SOURCE = "audited supplier figure (e.g. Scaleway Environmental Footprint API)"
NO_OUTPUT_NOTE = "prefill term applied: no output tokens and carbon.include_prefill is false"


@dataclass(frozen=True, slots=True)
class _Resolved:
    """Everything known about one configured model once its entry, host and options are resolved."""

    model_name: str
    entry: ModelEntry
    override: Override
    host: str | None
    supplier: SupplierFactor | None
    audited: AuditedFigure | None


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
        parameters read from its id (energy method) or the labelled size-class fallback. `provider` (LiteLLM's
        provider name) says who serves it; one the catalogue does not know means an unknown host.
        """
        parsed = parse_override(override, self.catalogue)
        entry = apply_override(
            find_entry(self.catalogue, model_name, upstream_model), parsed, model_name, self.catalogue
        )
        if entry.params is None and entry.coefficient is None:
            entry = _with_params_from_name(entry, model_name, upstream_model)
        host = host_provider(self.catalogue, entry, provider)
        model = _Resolved(
            model_name=model_name,
            entry=entry,
            override=parsed,
            host=host,
            supplier=self._supplier(entry, lookup_names(model_name, upstream_model), host),
            audited=self._audited_figure(entry, model_name),
        )
        available = available_ranks(
            entry, model.audited is not None, model.supplier is not None and model.supplier.published
        )
        rank, reason = choose_rank(entry, parsed, self.settings, available)
        _check_forced_method(parsed, entry)
        chosen = self._build(rank, model)
        forced = parsed.method is not None or parsed.per_1k_input is not None
        self._explain(
            chosen, model, rank, f"not used: {reason}" if forced else f"ranked below {rank}", available
        )
        chosen.add_description(choice={"rank": rank, "reason": reason})
        return chosen

    def _explain(
        self, chosen: ModelFactors, model: _Resolved, rank: Rank, status: str, available: dict[Rank, bool]
    ) -> None:
        """describe(): the chosen figure for the reference request, and each alternative the choice skipped."""
        alternatives = [
            _alternative(self._build(other, model), other, status)
            for other in PRECEDENCE[self.settings.default_method]
            if other not in (rank, Rank.FALLBACK) and available[other]
        ]
        if model.supplier is not None and not model.supplier.published:
            chosen.append_to_source(f"no published supplier factor in {model.supplier.snapshot.file}")
            alternatives.append(
                {
                    "rank": Rank.SUPPLIER,
                    "method": Method.SUPPLIER,
                    "status": "not published",
                    "source": model.supplier.why_not(),
                }
            )
        prompt, completion = REFERENCE_REQUEST
        chosen.add_description(
            reference={
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "gco2e": reference_gco2e(chosen),
            },
            alternatives=alternatives,
        )

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

    def _supplier(self, entry: ModelEntry, names: tuple[str, ...], host: str | None) -> SupplierFactor | None:
        """The host's own published factors for this model, when the host publishes any (Scaleway)."""
        source = self.catalogue.suppliers.get(host) if host is not None else None
        if source is None:
            return None
        candidates = tuple(dict.fromkeys((entry.id, *entry.aliases, *names)))
        return source.snapshot.lookup(candidates, source.region, source.consumption_mode)

    def _build(self, rank: Rank, model: _Resolved) -> ModelFactors:
        entry, name = model.entry, model.model_name
        if rank == Rank.AUDITED and model.audited is not None and self.audited is not None:
            weight = self._input_weight(model)
            return audited_factors(
                name, self.audited.month, model.audited, weight, self.audited.source, self.catalogue
            )
        if rank in (Rank.MEASURED, Rank.ESTIMATED) and entry.coefficient is not None:
            return coefficient_factors(name, entry.coefficient, self.catalogue)
        if rank == Rank.SUPPLIER and model.supplier is not None:
            return supplier_factors(name, model.supplier, self.catalogue)
        if rank == Rank.ENERGY and entry.params is not None:
            return self._energy(model)
        return fallback_factors(name, self.catalogue)

    def _energy(self, model: _Resolved) -> ModelFactors:
        entry = model.entry
        assert entry.params is not None
        site = self._site(model)
        no_output = None
        if not self.settings.include_prefill:  # an embedding must not be a silent 0 (METHODOLOGY.md 1.3)
            no_output = energy_factors(
                model.model_name,
                entry.params,
                entry.deployment,
                site,
                self.catalogue,
                True,
                note=NO_OUTPUT_NOTE,
            )
        return energy_factors(
            model.model_name,
            entry.params,
            entry.deployment,
            site,
            self.catalogue,
            self.settings.include_prefill,
            no_output=no_output,
        )

    def _input_weight(self, model: _Resolved) -> tuple[float, str] | None:
        """An input token's gCO2e relative to an output token's: the supplier's own ratio, else the energy model's."""
        if model.audited is None or model.audited.prompt_tokens is None:
            return None
        if model.supplier is not None and model.supplier.published:
            factors = supplier_factors(model.model_name, model.supplier, self.catalogue)
            per_in, per_out = factors.estimate(1000, 0).gco2e, factors.estimate(0, 1000).gco2e
            return per_in / per_out, "supplier per-token factors"
        if model.entry.params is None:
            return None
        central, _, _ = energy_variants(
            model.entry.params, model.entry.deployment, self._site(model), self.catalogue, True
        )
        return energy_input_weight(central), "energy model (prefill vs decode)"

    def _site(self, model: _Resolved) -> Site:
        datacentre = choose_datacentre(self.catalogue, self.settings, model.override, model.host)
        grid = self._grid(datacentre.zone)
        if not datacentre.covers:
            return Site(datacentre, grid, model.host)
        sites = [datacentre, *(self.catalogue.datacentres[c] for c in datacentre.covers)]
        lows = [(d.pue.min, self._grid(d.zone).gco2e_per_kwh) for d in sites]
        highs = [(d.pue.max, self._grid(d.zone).gco2e_per_kwh) for d in sites]
        low = min(lows, key=lambda pair: pair[0] * pair[1])
        high = max(highs, key=lambda pair: pair[0] * pair[1])
        return Site(datacentre, grid, model.host, low, high, datacentre.covers)

    def _grid(self, zone_code: str) -> GridFactor:
        zone = self.catalogue.zones[zone_code]
        factor = zone.factor(self.settings.zone_year) or zone.factor(None)
        assert factor is not None
        return factor


def _alternative(factors: ModelFactors, rank: Rank, status: str) -> dict[str, Any]:
    """What describe() shows of a method the precedence skipped: its labels, factors and reference figure."""
    described = factors.describe()
    return {
        "rank": rank,
        "status": status,
        **{
            key: described[key]
            for key in ("method", "confidence", "boundary", "basis", "water_boundary", "source")
        },
        "factors": described["factors"],
        "reference_gco2e": reference_gco2e(factors),
    }


def _with_params_from_name(entry: ModelEntry, model_name: str, upstream_model: str | None) -> ModelEntry:
    params = params_from_name(model_name, upstream_model)
    if params is None:
        return entry
    return ModelEntry(entry.id, entry.provider, entry.aliases, params, entry.deployment, entry.coefficient)


def _check_forced_method(override: Override, entry: ModelEntry) -> None:
    if override.method == Method.COEFFICIENT and entry.coefficient is None:
        raise CatalogueError(
            "carbon.method: 'coefficient' needs a coefficient: set carbon.gco2e_per_1k_tokens or carbon.model"
        )
    if override.method == Method.ENERGY and entry.params is None:
        raise CatalogueError(
            "carbon.method: 'energy' needs parameters: set carbon.params_total_b or carbon.model"
        )
