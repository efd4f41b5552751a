"""The one report model every format renders. Units: g CO2e, Wh, mL, tokens; spend per currency.

Reported figures (`gco2e`) are the audited figure, apportioned by token share, where the supplier's audited
month exists for that model; elsewhere the live estimate. `estimated_gco2e` is always the live estimate.
Unknown energy or water is None, never 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from meters.reports.period import Period, Scope
from meters.reports.rows import FactorFact

AUDITED = "audited"
"""Method of a model's audited monthly figure (the authoritative number for that month)."""
AUDITED_APPORTIONED = "audited_apportioned"
"""Method of a tenant's, key's or tag's share of it: an estimate, by token share."""
SUPPLIER_BOUNDARY = "supplier"
"""The supplier's reporting boundary (Scaleway: ADEME PCR for data centres and cloud)."""


@dataclass(slots=True)
class Line:
    """One model (x tenant in the organisation report) under one label and currency.

    Not frozen: a yearly organisation report builds 50k of them and a frozen dataclass's __init__ costs
    ~4x more; treat it as read-only all the same.
    """

    tenant: str | None
    model: str
    provider: str
    datacentre: str | None
    method: str
    boundary: str
    confidence: str
    basis: str | None
    source: str
    catalogue_version: str
    water_boundary: str | None
    factor: FactorFact | None
    currency: str
    requests: int
    tokens_in: int
    tokens_out: int
    gco2e: float
    gco2e_min: float
    gco2e_max: float
    estimated_gco2e: float
    energy_wh: float | None
    energy_known_requests: int
    water_ml: float | None
    water_known_requests: int
    spend: float
    audited_months: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Totals:
    requests: int
    tokens_in: int
    tokens_out: int
    gco2e: float
    gco2e_min: float
    gco2e_max: float
    estimated_gco2e: float
    energy_wh: float | None
    energy_known_requests: int
    water_ml: float | None
    water_known_requests: int
    water_boundaries: tuple[str, ...]
    spend: dict[str, float]
    """By currency: never summed across currencies."""
    outside_gateway_gco2e: float | None
    """Audited emissions of traffic the gateway did not see (organisation scope only)."""
    unattributed_gco2e: float | None
    """Audited SKUs mapped to no model (organisation scope only)."""


@dataclass(frozen=True, slots=True)
class Breakdown:
    """gCO2e per value of one label (boundary, method or basis)."""

    key: str
    gco2e: float
    lines: int


@dataclass(frozen=True, slots=True)
class TagLine:
    tenant: str
    tag: str
    model: str
    requests: int
    tokens: int
    estimated_gco2e: float
    gco2e: float
    """Audited months apportioned by token share, other months the live estimate."""
    audited_months: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ApportionLine:
    tenant: str
    model: str
    months: tuple[str, ...]
    tokens: int
    estimated_gco2e: float
    gco2e: float
    """Sum of the tenant's exact monthly shares of the audited figures."""


@dataclass(frozen=True, slots=True)
class ReconciliationLine:
    month: str
    model: str
    estimated_gco2e: float
    """Live: the sum of the figures served for that traffic."""
    audited_gco2e: float
    """The audited figure for the same traffic (in a tenant report: the tenant's share)."""
    gap_gco2e: float
    """audited - estimated."""
    gap_pct: float | None
    """gap / estimated x 100 (None when nothing was estimated)."""
    ratio: float | None
    """audited / estimated."""
    audited_total_gco2e: float | None
    outside_gateway_gco2e: float | None
    gateway_tokens: int
    supplier_tokens: int | None
    source: str
    version: int
    note: str | None


@dataclass(frozen=True, slots=True)
class UnattributedLine:
    month: str
    sku: str
    gco2e: float
    water_ml: float | None
    location: str | None
    source: str


@dataclass(frozen=True, slots=True)
class Restatement:
    month: str
    subject: str
    previous_gco2e: float | None
    restated_gco2e: float | None
    previous: str
    restated: str


@dataclass(frozen=True, slots=True)
class CatalogueUse:
    version: str
    first_date: str
    last_date: str
    models: int


@dataclass(frozen=True, slots=True)
class EsrsLine:
    """One line of the ESRS E1-6 mapping; values in tCO2e, None with `note` when not available."""

    item: str
    location_based_tco2e: float | None
    market_based_tco2e: float | None
    note: str


@dataclass(frozen=True, slots=True)
class Equivalent:
    label: str
    value: float
    unit: str
    source: str
    date: str


@dataclass(frozen=True, slots=True)
class DayPoint:
    day: str
    gco2e: float


@dataclass(frozen=True)
class Report:
    period: Period
    scope: Scope
    generated_at: str
    gateway_version: str
    catalogue_version: str
    totals: Totals
    lines: tuple[Line, ...]
    models: tuple[Line, ...]
    """Per model summary (tenant None): the organisation report's lines summed over tenants."""
    by_boundary: tuple[Breakdown, ...]
    by_method: tuple[Breakdown, ...]
    by_basis: tuple[Breakdown, ...]
    by_day: tuple[DayPoint, ...]
    by_day_is_monthly: bool
    tags: tuple[TagLine, ...]
    apportionment: tuple[ApportionLine, ...]
    reconciliation: tuple[ReconciliationLine, ...]
    unattributed: tuple[UnattributedLine, ...]
    primary_data_share: float | None
    esrs: tuple[EsrsLine, ...]
    restatements: tuple[Restatement, ...]
    catalogue_uses: tuple[CatalogueUse, ...]
    equivalents: tuple[Equivalent, ...]
    pruned_months: tuple[str, ...]  # the period's months past the store's monthly retention: not in the figures
    limitations: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Keys `period`, `scope`, `totals.gco2e`, `lines[]`, `reconciliation[]`, `apportionment[]`, ...

        Ready for orjson: the long lists (lines, models, tags, apportionment) stay dataclass instances, which
        orjson serialises natively in C (a Python dict per line would double a yearly report's JSON time).
        """
        return {
            "period": self.period.text,
            "scope": self.scope.as_dict(),
            "generated_at": self.generated_at,
            "gateway_version": self.gateway_version,
            "catalogue_version": self.catalogue_version,
            "units": {"gco2e": "g CO2e", "energy_wh": "Wh", "water_ml": "mL", "spend": "per currency"},
            "totals": asdict(self.totals),
            "by_boundary": [asdict(b) for b in self.by_boundary],
            "by_method": [asdict(b) for b in self.by_method],
            "by_basis": [asdict(b) for b in self.by_basis],
            "models": self.models,
            "lines": self.lines,
            "by_day": [asdict(point) for point in self.by_day],
            "by_day_is_monthly": self.by_day_is_monthly,
            "tags": self.tags,
            "apportionment": self.apportionment,
            "reconciliation": [asdict(line) for line in self.reconciliation],
            "unattributed": [asdict(line) for line in self.unattributed],
            "primary_data_share": self.primary_data_share,
            "esrs_e1_6": [asdict(line) for line in self.esrs],
            "recalculation_log": {
                "restatements": [asdict(r) for r in self.restatements],
                "catalogue_versions": [asdict(c) for c in self.catalogue_uses],
            },
            "equivalents": [asdict(e) for e in self.equivalents],
            "pruned_months": list(self.pruned_months),
            "limitations": list(self.limitations),
        }
