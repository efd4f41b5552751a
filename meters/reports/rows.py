"""What the store hands the reports for one period and scope: the input contract.

Granularity: each usage and tag row aggregates one `date`, either a day ("YYYY-MM-DD") or a whole month
("YYYY-MM", the monthly aggregates kept >= 13 months). A yearly organisation report should get monthly rows
(1,000 tenants x 50 models x 12 months = 600k rows, not 18M day rows) plus `DailyRow`s for the by-day
chart; a monthly report can get day rows, from which the chart is drawn directly.

Units: grams CO2e (g), watt-hours (Wh), millilitres (mL); spend in the row's currency; tokens and
requests are counts. Unknown energy or water is not 0: `energy_wh` sums only over the `energy_known`
requests whose energy was known (0 of them: the report says null); the same for water.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from meters.audited.figures import AuditedImport


@dataclass(frozen=True, slots=True)
class CarbonLabel:
    """What every request of a row shared about its carbon figure (hash computed once: a yearly report
    hashes a label per row)."""

    method: str
    """audited | measured | supplier | energy | estimated | coefficient | fallback ..."""
    boundary: str
    """usage | usage+embodied | lca | unspecified ..."""
    confidence: str
    """measured | estimated ..."""
    basis: str | None
    """"location" | "market" | None (the source does not say)."""
    source: str
    catalogue_version: str
    water_boundary: str | None = None
    """on-site | on-site+grid | lca ... None when no water figure."""
    datacentre: str | None = None
    """Data centre or region the figure assumed (e.g. scw-fr-par-2), None when unknown."""
    _hash: int = field(init=False, repr=False, compare=False, default=0)  # not a field to replace()

    def __post_init__(self) -> None:
        fields = (
            self.method,
            self.boundary,
            self.confidence,
            self.basis,
            self.source,
            self.catalogue_version,
            self.water_boundary,
            self.datacentre,
        )
        object.__setattr__(self, "_hash", hash(fields))

    def __hash__(self) -> int:
        return self._hash


@dataclass(slots=True)  # a value: not frozen only because frozen construction costs ~4x (600k rows)
class Counters:
    """Sums over the requests of one row."""

    requests: int
    prompt_tokens: int
    completion_tokens: int
    gco2e: float
    gco2e_min: float
    gco2e_max: float
    energy_wh: float = 0.0
    """Wh, summed over the `energy_known` requests only."""
    energy_known: int = 0
    """Requests whose energy was known."""
    water_ml: float = 0.0
    """mL, summed over the `water_known` requests only."""
    water_known: int = 0
    spend: float = 0.0
    """In the row's currency."""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)  # a value: not frozen only because frozen construction costs ~4x (600k rows)
class UsageRow:
    """One tenant's use of one model on one date under one carbon label and currency."""

    date: str
    """"YYYY-MM-DD" (a day) or "YYYY-MM" (a month's aggregate)."""
    tenant_id: str
    model: str
    provider: str
    label: CarbonLabel
    currency: str
    counters: Counters


@dataclass(slots=True)  # a value: not frozen only because frozen construction costs ~4x (600k rows)
class TagRow:
    """The requests of one tenant carrying one tag ("k=v", e.g. build=1234) on one model and date."""

    date: str
    tenant_id: str
    tag: str
    model: str
    label: CarbonLabel
    counters: Counters


@dataclass(frozen=True, slots=True)
class DailyRow:
    """The scope's live estimate for one day (for the by-day chart when usage rows are monthly)."""

    day: str
    gco2e: float


AMOUNTS = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "gco2e",
    "gco2e_min",
    "gco2e_max",
    "energy_wh",
    "energy_known",
    "water_ml",
    "water_known",
    "spend",
)
"""The amounts of a plain-tuple row, in Counters' order: counts as they are; g, Wh, mL and spend as integers
in units of 1/scale (the stores keep nano-units: scale 10**9)."""

AuditedTuple = tuple[Any, ...]
"""(tenant, model, provider, currency, label key, date, *AMOUNTS): a UsageRow of an audited model-month (its
first five: the line it would be summed into were the month not audited)."""
LineTuple = tuple[Any, ...]
"""(tenant, model, provider, currency, label key, first date, last date, *AMOUNTS): a line's sums outside the
audited model-months (as a UsageRow of its first date with the sums plus an empty one of its last date)."""
PartTuple = tuple[Any, ...]
"""(tenant, model, provider, currency, label key, month, requests, prompt_tokens, completion_tokens, gco2e): the
first ten of an AuditedTuple, what the apportionment and the reconciliation need of one line's audited
model-month (gco2e in units of 1/scale)."""
TagTuple = tuple[Any, ...]
"""(tenant, month, tag, model, requests, tokens, gco2e): what the report uses of a TagRow (tokens: prompt +
completion; gco2e in units of 1/scale)."""


class LabelLookup(Protocol):
    def __getitem__(self, key: str, /) -> CarbonLabel: ...


@dataclass
class StoreRows:
    """The input contract as plain tuples: what a store hands a report without an object per row (a yearly
    organisation report with half its models audited reads ~300k audited monthly rows). Gives the same
    report as the equivalent UsageRows/TagRows, number for number."""

    labels: LabelLookup
    """label key -> its CarbonLabel (one object per key)."""
    scale: int
    lines: Iterable[LineTuple] = ()
    audited: Iterable[AuditedTuple] = ()
    """In the order their sums are to be added (each line's and each model-month's rows in a fixed order).
    Without `audited_parts`: one row per line and audited month. With them: each line's sums over several
    audited months whose imports share one source and basis (dated any one of those months)."""
    audited_parts: Iterable[PartTuple] | None = None
    """The audited months' rows as PartTuples, one per line and month, when `audited` holds sums."""
    tags: Iterable[TagTuple] = ()
    daily: Sequence[DailyRow] = ()
    """The scope's live estimate per day (the by-day chart; tuples carry no per-day figure)."""
    org_tokens: dict[tuple[str, str], int] = field(default_factory=dict)
    """(month, model) -> the organisation's gateway tokens, for a tenant report (see build_report)."""


@dataclass(frozen=True, slots=True)
class FactorFact:
    """A model's emission factor as the catalogue states it (from `engine.describe()`)."""

    value: float | None
    unit: str
    """e.g. "gCO2e/1k tokens" or "Wh/output token"."""
    source: str
    date: str | None
    version: str


def factor_facts(raw: Mapping[str, Mapping[str, object]]) -> dict[str, FactorFact]:
    """{model: {value, unit, source, date, version}} -> FactorFact (the lead maps describe() to this)."""
    facts: dict[str, FactorFact] = {}
    for model, fact in raw.items():
        value = fact.get("value")
        facts[model] = FactorFact(
            value=float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None,
            unit=str(fact.get("unit") or ""),
            source=str(fact.get("source") or ""),
            date=None if fact.get("date") is None else str(fact.get("date")),
            version=str(fact.get("version") or ""),
        )
    return facts


__all__ = [
    "AMOUNTS",
    "AuditedImport",
    "AuditedTuple",
    "CarbonLabel",
    "Counters",
    "DailyRow",
    "FactorFact",
    "LabelLookup",
    "LineTuple",
    "PartTuple",
    "StoreRows",
    "TagRow",
    "TagTuple",
    "UsageRow",
    "factor_facts",
]
