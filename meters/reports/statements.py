"""The report's statements: Scope 3 category 1, the authority of audited figures, the ESRS E1-6 mapping and
the limitations. One wording, used by every format."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from meters.reports.model import Line, ReconciliationLine, Totals
from meters.reports.reconcile import FEWER_SUPPLIER_TOKENS, NO_SUPPLIER_TOKENS

SCOPE3_STATEMENT = (
    "Emissions from third-party AI inference services bought through the gateway are indirect value-chain "
    "emissions of the organisation: GHG Protocol Scope 3, category 1 (purchased goods and services). They are "
    "computed as activity data (tokens per model, provider and data centre) times a documented emission factor, "
    "or taken from the supplier's audited figures where they exist (supplier-specific method)."
)

AUTHORITY_STATEMENT = (
    "Where the supplier's audited monthly figure exists for a model (e.g. Scaleway's Environmental Footprint "
    "report), it is the authoritative number for that model and month; the gateway's live figures are "
    "estimates. Per-tenant, per-key and per-tag figures for audited months are the audited figure apportioned "
    "by plain token share, a clearly labelled estimate; the parts sum exactly to the audited total."
)

METHOD_STATEMENT = (
    "Each line states its method (audited, measured, supplier, energy, estimated coefficient, fallback), its "
    "boundary (usage, usage+embodied, lca, supplier), its confidence and its basis (location- or market-based) "
    "with the factor's value, unit, source, date and catalogue version. Totals are given per boundary, per "
    "method and per basis: the overall total adds figures of different boundaries, as these tables show. "
    "Unknown energy or water is reported as unknown, never as zero."
)

ESRS_STATEMENT = (
    "ESRS E1-6 (Delegated Regulation (EU) 2023/2772) asks for gross Scope 1, 2 and 3 emissions in tCO2e, Scope 3 "
    "per significant category (§44, §51), the methods, assumptions and emission factors used (AR 39(b)) and the "
    "share of Scope 3 computed from primary supplier data (AR 46(g)). This report covers Scope 3 category 1 for "
    "AI inference only; confirm the expected level of assurance with your auditor."
)

STATIC_LIMITATIONS = (
    "Grid mix variability: actual emissions depend on the data centre's grid mix at inference time; factors "
    "are yearly averages (location-based).",
    "Estimated data: models without published or audited data use estimates (energy model or literature "
    "coefficients) that may diverge from reality; each line shows its min-max range.",
    "PUE and water: data-centre PUE and water use are the catalogue's values for the assumed data centre, not "
    "measured for your traffic.",
    "Boundaries differ: a published life-cycle figure (lca), a usage+embodied estimate and a supplier's report "
    "do not cover the same items; compare boundaries before comparing figures.",
    "Model evolution: coefficients age as providers change models and hardware; the catalogue version of "
    "each line says which data it used.",
    "Audited figures carry the supplier's own uncertainty, which the supplier does not publish: their min and "
    "max are shown equal to the figure.",
)


def _t(grams: float) -> float:
    return grams / 1e6


def esrs_lines(models: Sequence[Line], totals: Totals) -> list[tuple[str, float | None, float | None, str]]:
    """(item, location-based tCO2e, market-based tCO2e, note) rows of the E1-6 mapping."""
    location = sum(line.gco2e for line in models if line.basis != "market")
    unstated = sum(line.gco2e for line in models if line.basis is None)
    market_only = sum(line.gco2e for line in models if line.basis == "market")
    all_market = bool(models) and all(line.basis == "market" for line in models)
    note = "market-based: not provided by the supplier"
    if unstated > 0:
        note += (
            f"; {_t(unstated):.6f} t of the location-based figure come from sources that do not state a basis"
        )
    rows: list[tuple[str, float | None, float | None, str]] = [
        ("Scope 1 and Scope 2", None, None, "not covered: this report meters purchased AI inference only"),
        (
            "Scope 3 category 1 (purchased goods and services): AI inference through the gateway",
            _t(location),
            _t(market_only) if all_market else None,
            note,
        ),
    ]
    if market_only > 0 and not all_market:
        rows.append(
            (
                "Scope 3 category 1: lines whose source gives a market-based figure only",
                None,
                _t(market_only),
                "kept out of the location-based figure (e.g. Google's Gemini median, market-based)",
            )
        )
    outside = (totals.outside_gateway_gco2e or 0.0) + (totals.unattributed_gco2e or 0.0)
    if outside > 0:
        rows.append(
            (
                "Scope 3 category 1: supplier-audited AI emissions outside the gateway and unattributed SKUs",
                _t(outside),
                None,
                "from the supplier's audited report (location-based); not apportioned to tenants",
            )
        )
    rows.append(
        (
            "Gross Scope 3 category 1 reported here (location-based)",
            _t(location + outside),
            None,
            "market-based: not provided by the supplier"
            + ("; market-only lines above are not included" if market_only > 0 and not all_market else ""),
        )
    )
    return rows


class Pruned(NamedTuple):
    """The period's months past the store's monthly retention (`retention` months, None when not known)."""

    months: tuple[str, ...]
    retention: int | None
    period_months: tuple[str, ...]

    def statement(self) -> str | None:
        if not self.months:
            return None
        kept = f" (it keeps {self.retention} months)" if self.retention else ""
        span = self.months[0] if len(self.months) == 1 else f"{self.months[0]} to {self.months[-1]}"
        if len(self.months) == len(self.period_months):
            cover = "no figure of the gateway's traffic in this report covers them"
        else:
            rest = [month for month in self.period_months if month not in self.months]
            kept_span = rest[0] if len(rest) == 1 else f"{rest[0]} to {rest[-1]}"
            cover = f"the gateway's figures in this report cover {kept_span} only"
        return (
            f"Usage of {span} is past the store's monthly retention{kept} and has been deleted or is being "
            f"deleted: {cover}. Take those months from a report generated while they were kept."
        )


def limitations(
    models: Sequence[Line],
    totals: Totals,
    reconciliation: Sequence[ReconciliationLine],
    unattributed: int,
    tenant_scope: bool,
    catalogue_versions: int,
    pruned: Pruned | None = None,
) -> tuple[str, ...]:
    notes = list(STATIC_LIMITATIONS)
    pruned_statement = pruned and pruned.statement()
    if pruned_statement:
        notes.append(pruned_statement)
    if totals.requests and totals.energy_known_requests < totals.requests:
        notes.append(
            f"Energy is known for {totals.energy_known_requests:,} of {totals.requests:,} requests; the energy "
            "total covers those only (unknown is not counted as zero)."
        )
    if totals.requests and totals.water_known_requests < totals.requests:
        notes.append(
            f"Water is known for {totals.water_known_requests:,} of {totals.requests:,} requests; the water "
            "total covers those only."
        )
    if len(totals.water_boundaries) > 1:
        notes.append(
            "The water total adds figures on different boundaries ("
            + ", ".join(totals.water_boundaries)
            + ")."
        )
    if any(line.basis == "market" for line in models):
        notes.append("Some lines are market-based only; they are kept apart in the ESRS E1-6 mapping.")
    notes_seen = {line.note or "" for line in reconciliation}
    if NO_SUPPLIER_TOKENS in notes_seen:
        notes.append(
            "For some audited months the supplier gave no token count: the whole audited figure is apportioned "
            "to the gateway's traffic, which overstates it if the same models were also used outside the gateway."
        )
    if any(note.startswith(FEWER_SUPPLIER_TOKENS) for note in notes_seen):
        notes.append(
            "For some audited months the supplier counted fewer tokens than the gateway: check the SKU mapping."
        )
    if unattributed:
        notes.append(
            f"{unattributed} audited SKU figure(s) map to no configured model: reported as unattributed, not "
            "apportioned to tenants."
        )
    if tenant_scope and reconciliation:
        notes.append(
            "A tenant's share is rounded to the microgram on its own; it may differ by 1 µg per model-month from "
            "its share in the organisation report."
        )
    if catalogue_versions > 1:
        notes.append(
            "The period's live figures were computed with more than one catalogue version (see the recalculation log)."
        )
    return tuple(notes)
