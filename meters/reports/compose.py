"""Report -> Document: the sections, their order and wording, for the HTML and the PDF alike."""

from __future__ import annotations

import heapq

from meters.reports import compose_tables as tables
from meters.reports import fmt
from meters.reports.document import BarChart, Block, Document, Figures, Paragraph, Section
from meters.reports.model import Report
from meters.reports.statements import AUTHORITY_STATEMENT, ESRS_STATEMENT, METHOD_STATEMENT, SCOPE3_STATEMENT
from meters.reports.summary import PRIMARY_METHODS

CHART_MODELS = 12


def _key_figures(report: Report) -> Figures:
    t = report.totals
    spend = ", ".join(fmt.money(value, currency) for currency, value in t.spend.items()) or "none"
    items = [
        (
            "Emissions",
            f"{fmt.number(t.gco2e)} gCO2e",
            f"range {fmt.number(t.gco2e_min)} - {fmt.number(t.gco2e_max)}",
        ),
        ("Live estimate", f"{fmt.number(t.estimated_gco2e)} gCO2e", "sum of the figures served"),
        (
            "Energy",
            f"{fmt.number(t.energy_wh)} Wh",
            f"known for {fmt.count(t.energy_known_requests)} requests",
        ),
        ("Water", f"{fmt.number(t.water_ml)} mL", f"known for {fmt.count(t.water_known_requests)} requests"),
        ("Tokens", f"{fmt.count(t.tokens_in)} in", f"{fmt.count(t.tokens_out)} out"),
        ("Requests", fmt.count(t.requests), f"spend {spend}"),
        (
            "Supplier-specific data",
            fmt.share(report.primary_data_share),
            "share of emissions (ESRS E1 AR 46(g))",
        ),
    ]
    if t.outside_gateway_gco2e:
        items.append(
            (
                "Outside the gateway",
                f"{fmt.number(t.outside_gateway_gco2e)} gCO2e",
                "audited, not apportioned",
            )
        )
    if t.unattributed_gco2e:
        items.append(("Unattributed SKUs", f"{fmt.number(t.unattributed_gco2e)} gCO2e", "audited, no model"))
    return Figures(tuple(items))


def _charts(report: Report) -> tuple[BarChart, BarChart]:
    grams: dict[str, float] = {}
    for line in report.models:
        grams[line.model] = grams.get(line.model, 0.0) + line.gco2e
    top = heapq.nlargest(CHART_MODELS, grams.items(), key=lambda item: item[1])
    bars = list(top)
    if len(grams) > len(top):
        rest = sum(grams.values()) - sum(value for _, value in top)
        bars.append((f"{len(grams) - len(top)} other models", rest))
    by_model = BarChart("Emissions by model", "gCO2e", tuple(bars))
    when = "month" if report.by_day_is_monthly else "day"
    by_day = BarChart(
        f"Live estimate by {when}", "gCO2e", tuple((p.day, p.gco2e) for p in report.by_day), horizontal=False
    )
    return by_model, by_day


def _summary(report: Report) -> Section:
    blocks: list[Block] = [_key_figures(report)]
    if report.reconciliation:
        blocks.append(Paragraph(AUTHORITY_STATEMENT))
    blocks.append(
        Paragraph(
            "The total adds lines of different boundaries and methods; the tables per boundary, method and basis "
            "below give each part. Figures are in grams CO2e (gCO2e) unless stated; the ESRS table is in tonnes."
        )
    )
    blocks += list(_charts(report))
    return Section("Summary", tuple(blocks))


def _models(report: Report) -> Section:
    blocks: list[Block] = [tables.model_figures(report.models), tables.model_labels(report.models)]
    blocks.append(tables.breakdowns(report))
    return Section("Per model", tuple(blocks))


def _tenants(report: Report) -> Section | None:
    if not report.scope.is_organisation:
        return None
    note = Paragraph(
        "A sustainability team files totals per model, boundary and method; per-tenant detail serves chargeback. "
        f"This document shows every model, the {tables.TOP_TENANTS} largest tenants and the {tables.TOP_LINES} largest "
        "tenant x model lines; the CSV and JSON exports carry every line.",
        "note",
    )
    return Section("Per tenant", (note, tables.tenants(report), tables.tenant_lines(report)))


def _tags(report: Report) -> Section:
    if not report.tags:
        return Section("Per tag (per build)", (Paragraph("No tagged requests in this period.", "note"),))
    text = (
        "A tag's figure for an audited month is that month's audited figure apportioned by the tag's share of the "
        "model's tokens: a labelled estimate. Other months show the live estimate."
    )
    return Section("Per tag (per build)", (Paragraph(text, "note"), tables.tags(report)))


def _reconciliation(report: Report) -> Section:
    if not report.reconciliation:
        text = "No audited supplier figure covers this period: every figure is the gateway's live estimate."
        return Section("Reconciliation with audited figures", (Paragraph(text),))
    blocks: list[Block] = [Paragraph(AUTHORITY_STATEMENT), tables.reconciliation(report)]
    if report.apportionment:
        blocks.append(tables.apportionment(report))
    if report.unattributed:
        blocks.append(tables.unattributed(report))
    return Section("Reconciliation with audited figures", tuple(blocks))


def _reporting(report: Report) -> tuple[Section, ...]:
    primary = (
        f"{fmt.share(report.primary_data_share)} of this report's emissions come from supplier-specific data: "
        f"methods {', '.join(sorted(PRIMARY_METHODS))} or a published measurement (confidence measured). The rest "
        "are estimates from activity data (tokens) and documented factors (ESRS E1 AR 46(g))."
    )
    sources = sorted({line.source for line in report.models})
    return (
        Section("Supplier-specific data (ESRS E1 AR 46(g))", (Paragraph(primary),)),
        Section("GHG Protocol: Scope 3, category 1", (Paragraph(SCOPE3_STATEMENT),)),
        Section("ESRS E1-6 mapping", (Paragraph(ESRS_STATEMENT), tables.esrs(report))),
        Section(
            "Methodology and sources",
            (Paragraph(METHOD_STATEMENT), *(Paragraph(source, "bullet") for source in sources[:40])),
        ),
        Section(
            "Limitations and uncertainty", tuple(Paragraph(text, "bullet") for text in report.limitations)
        ),
    )


def _recalculation(report: Report) -> Section:
    blocks: list[Block] = []
    if report.restatements:
        blocks += list(tables.restatements(report))
    else:
        blocks.append(Paragraph("No audited import of this period was restated.", "note"))
    blocks.append(tables.catalogue_uses(report))
    used = {use.version for use in report.catalogue_uses}
    if used and used != {report.catalogue_version}:
        blocks.append(
            Paragraph(
                f"The current catalogue is {report.catalogue_version}. Live figures keep the version they were served "
                "with and are not recomputed; a restated audited month replaces the earlier import in this report.",
                "note",
            )
        )
    return Section("Recalculation log", tuple(blocks))


def _equivalents(report: Report) -> Section:
    if not report.equivalents:
        return Section("Equivalents for context", (Paragraph("No equivalence factors configured.", "note"),))
    return Section("Equivalents for context", (tables.equivalents(report),))


def compose(report: Report) -> Document:
    scope = report.scope.title
    meta = (
        ("Period", report.period.text),
        ("Scope", scope),
        ("Generated", report.generated_at),
        ("Gateway version", report.gateway_version),
        ("Catalogue version", report.catalogue_version),
    )
    sections = [
        _summary(report),
        _models(report),
        _tenants(report),
        _tags(report),
        _reconciliation(report),
        *_reporting(report),
        _recalculation(report),
        _equivalents(report),
    ]
    title = f"AI inference emissions report, {report.period.text}"
    return Document(title, meta, tuple(section for section in sections if section is not None))
