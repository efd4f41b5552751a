"""The report's tables for the HTML and PDF: bounded, largest first, the rest left to the CSV and JSON."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from meters.reports import fmt
from meters.reports.document import Column, Table
from meters.reports.model import Line, Report

TOP_TENANTS = 50
TOP_LINES = 100
TOP_TAGS = 100
TOP_APPORTIONED = 100
TOP_RESTATED = 40

_N = 1.0


def _rest(shown: int, total: int, what: str) -> str | None:
    if total <= shown:
        return None
    return (
        f"The {shown:,} largest of {total:,} {what} by emissions; every one is in the CSV and JSON exports."
    )


def _factor(line: Line) -> tuple[str, str]:
    factor = line.factor
    if factor is None:
        return "not in the catalogue", ""
    value = f"{fmt.number(factor.value)} {factor.unit}".strip()
    return value, f"{factor.source} ({fmt.text(factor.date)}, v {fmt.text(factor.version)})"


def model_figures(models: Sequence[Line]) -> Table:
    columns = (
        Column("Model", 2.2),
        Column("Provider", 1.1),
        Column("Data centre", 1.3),
        Column("Requests", 1.0, True),
        Column("Tokens in", 1.2, True),
        Column("Tokens out", 1.2, True),
        Column("gCO2e", 1.1, True),
        Column("min - max", 1.6, True),
        Column("Live estimate g", 1.2, True),
        Column("Energy Wh", 1.1, True),
        Column("Water mL", 1.1, True),
        Column("Spend", 1.2, True),
    )
    rows = tuple(
        (
            line.model,
            line.provider,
            fmt.text(line.datacentre, "unknown"),
            fmt.count(line.requests),
            fmt.count(line.tokens_in),
            fmt.count(line.tokens_out),
            fmt.number(line.gco2e),
            f"{fmt.number(line.gco2e_min)} - {fmt.number(line.gco2e_max)}",
            fmt.number(line.estimated_gco2e),
            fmt.number(line.energy_wh),
            fmt.number(line.water_ml),
            fmt.money(line.spend, line.currency),
        )
        for line in models
    )
    return Table(columns, rows, "Per model: figures (g CO2e; unknown energy or water is shown as unknown)")


def model_labels(models: Sequence[Line]) -> Table:
    columns = (
        Column("Model", 2.0),
        Column("Method", 1.4),
        Column("Boundary", 1.3),
        Column("Confidence", 1.1),
        Column("Basis", 1.0),
        Column("Factor", 1.8),
        Column("Factor source, date, version", 4.4),
        Column("Catalogue", 1.1),
    )
    rows = []
    for line in models:
        value, source = _factor(line)
        rows.append(
            (
                line.model,
                line.method,
                line.boundary,
                line.confidence,
                fmt.text(line.basis, "not stated"),
                value,
                source or line.source,
                fmt.text(line.catalogue_version),
            )
        )
    return Table(columns, tuple(rows), "Per model: method, boundary, confidence, basis and emission factor")


def breakdowns(report: Report) -> Table:
    rows = []
    for title, items in (
        ("Boundary", report.by_boundary),
        ("Method", report.by_method),
        ("Basis", report.by_basis),
    ):
        rows += [(title, item.key, fmt.number(item.gco2e), fmt.count(item.lines)) for item in items]
    columns = (
        Column("Per", 1.0),
        Column("Value", 2.0),
        Column("gCO2e", 1.2, True),
        Column("Model lines", 1.0, True),
    )
    return Table(
        columns, tuple(rows), "Totals per boundary, per method and per basis (each adds up to the total)"
    )


def tenants(report: Report) -> Table:
    grams: dict[str, list[float]] = {}
    for line in report.lines:
        entry = grams.setdefault(line.tenant or "", [0.0, 0.0, 0, 0])
        entry[0] += line.gco2e
        entry[1] += line.estimated_gco2e
        entry[2] += line.tokens_in + line.tokens_out
        entry[3] += line.requests
    top = heapq.nlargest(TOP_TENANTS, grams.items(), key=lambda item: (item[1][0], item[0]))
    rows = tuple(
        (tenant, fmt.count(int(e[3])), fmt.count(int(e[2])), fmt.number(e[0]), fmt.number(e[1]))
        for tenant, e in top
    )
    columns = (
        Column("Tenant", 2.5),
        Column("Requests", 1.0, True),
        Column("Tokens", 1.2, True),
        Column("gCO2e", 1.2, True),
        Column("Live estimate g", 1.2, True),
    )
    return Table(columns, rows, "Per tenant", _rest(len(rows), len(grams), "tenants"))


def tenant_lines(report: Report) -> Table:
    top = heapq.nlargest(TOP_LINES, report.lines, key=lambda line: line.gco2e)
    columns = (
        Column("Tenant", 1.6),
        Column("Model", 2.0),
        Column("Method", 1.5),
        Column("Boundary", 1.2),
        Column("Confidence", 1.1),
        Column("Tokens", 1.2, True),
        Column("gCO2e", 1.1, True),
        Column("min - max", 1.7, True),
    )
    rows = tuple(
        (
            line.tenant or "",
            line.model,
            line.method,
            line.boundary,
            line.confidence,
            fmt.count(line.tokens_in + line.tokens_out),
            fmt.number(line.gco2e),
            f"{fmt.number(line.gco2e_min)} - {fmt.number(line.gco2e_max)}",
        )
        for line in top
    )
    return Table(
        columns, rows, "Per tenant and model", _rest(len(rows), len(report.lines), "tenant x model lines")
    )


def tags(report: Report) -> Table:
    top = heapq.nlargest(TOP_TAGS, report.tags, key=lambda tag: tag.gco2e)
    columns = (
        Column("Tenant", 1.5),
        Column("Tag", 1.6),
        Column("Model", 2.0),
        Column("Requests", 1.0, True),
        Column("Tokens", 1.1, True),
        Column("Live estimate g", 1.2, True),
        Column("gCO2e", 1.1, True),
        Column("Figure", 2.0),
    )
    rows = tuple(
        (
            tag.tenant,
            tag.tag,
            tag.model,
            fmt.count(tag.requests),
            fmt.count(tag.tokens),
            fmt.number(tag.estimated_gco2e),
            fmt.number(tag.gco2e),
            ("estimate: audited " + ", ".join(tag.audited_months) + " apportioned by tokens")
            if tag.audited_months
            else "live estimate",
        )
        for tag in top
    )
    return Table(columns, rows, "Per tag (per build)", _rest(len(rows), len(report.tags), "tag lines"))


def reconciliation(report: Report) -> Table:
    organisation = report.scope.is_organisation
    columns = [
        Column("Month", 0.9),
        Column("Model", 2.0),
        Column("Live estimate g", 1.2, True),
        Column("Audited g", 1.2, True),
        Column("Gap g", 1.1, True),
        Column("Gap %", 0.9, True),
        Column("Ratio", 0.8, True),
        Column("Gateway tokens", 1.3, True),
        Column("Supplier tokens", 1.3, True),
    ]
    if organisation:
        columns.append(Column("Outside gateway g", 1.3, True))
    columns.append(Column("Import", 0.7))
    rows = []
    for line in report.reconciliation:
        row = [
            line.month,
            line.model,
            fmt.number(line.estimated_gco2e),
            fmt.number(line.audited_gco2e),
            fmt.number(line.gap_gco2e),
            fmt.percent(line.gap_pct),
            "n/a" if line.ratio is None else f"{line.ratio:.3f}",
            fmt.count(line.gateway_tokens),
            "not given" if line.supplier_tokens is None else fmt.count(line.supplier_tokens),
        ]
        if organisation:
            row.append(fmt.number(line.outside_gateway_gco2e))
        row.append(f"v{line.version}")
        rows.append(tuple(row))
    notes = sorted({f"{line.month} {line.model}: {line.note}" for line in report.reconciliation if line.note})
    caption = (
        "Reconciliation: live estimates against audited figures (gap = audited - estimate; % of the estimate)"
    )
    if not organisation:
        caption += "; audited = this tenant's share, tokens = this tenant's"
    return Table(tuple(columns), tuple(rows), caption, "; ".join(notes[:8]) or None)


def apportionment(report: Report) -> Table:
    top = heapq.nlargest(TOP_APPORTIONED, report.apportionment, key=lambda line: line.gco2e)
    columns = (
        Column("Tenant", 1.6),
        Column("Model", 2.0),
        Column("Audited months", 2.0),
        Column("Tokens", 1.2, True),
        Column("Live estimate g", 1.2, True),
        Column("Apportioned g", 1.2, True),
    )
    rows = tuple(
        (
            line.tenant,
            line.model,
            ", ".join(line.months),
            fmt.count(line.tokens),
            fmt.number(line.estimated_gco2e),
            fmt.number(line.gco2e),
        )
        for line in top
    )
    caption = "Apportionment of audited figures by token share (an estimate; parts sum to the audited total)"
    return Table(columns, rows, caption, _rest(len(rows), len(report.apportionment), "apportioned lines"))


def unattributed(report: Report) -> Table:
    columns = (
        Column("Month", 0.9),
        Column("SKU", 4.0),
        Column("Location", 1.0),
        Column("gCO2e", 1.1, True),
        Column("Water mL", 1.1, True),
    )
    rows = tuple(
        (u.month, u.sku, fmt.text(u.location), fmt.number(u.gco2e), fmt.number(u.water_ml))
        for u in report.unattributed
    )
    return Table(columns, rows, "Audited figures of SKUs that map to no configured model (unattributed)")


def esrs(report: Report) -> Table:
    columns = (
        Column("ESRS E1-6 item", 4.0),
        Column("Location-based tCO2e", 1.5, True),
        Column("Market-based tCO2e", 1.5, True),
        Column("Note", 3.5),
    )
    rows = tuple(
        (
            line.item,
            fmt.tonnes(line.location_based_tco2e, "n/a"),
            fmt.tonnes(line.market_based_tco2e, "not provided by the supplier"),
            line.note,
        )
        for line in report.esrs
    )
    return Table(columns, rows, "ESRS E1-6 mapping (gross emissions, tCO2e)")


def restatements(report: Report) -> tuple[Table, Table]:
    """Each re-import (month, before -> after) summed, then the largest individual changes."""
    grouped: dict[tuple[str, str, str], list[float]] = {}
    for r in report.restatements:
        entry = grouped.setdefault((r.month, r.previous, r.restated), [0, 0.0, 0.0])
        if r.previous_gco2e is not None or r.restated_gco2e is not None:
            entry[0] += 1
        entry[1] += r.previous_gco2e or 0.0
        entry[2] += r.restated_gco2e or 0.0
    summary = Table(
        (
            Column("Month", 0.9),
            Column("Previous import", 3.0),
            Column("Restated by", 3.0),
            Column("Figures changed", 1.0, True),
            Column("Changed figures before g", 1.3, True),
            Column("after g", 1.2, True),
        ),
        tuple(
            (month, before, after, fmt.count(int(e[0])), fmt.number(e[1]), fmt.number(e[2]))
            for (month, before, after), e in sorted(grouped.items())
        ),
        "Restated audited imports (the newest import of a month is in force; earlier ones are kept)",
    )
    changed = [r for r in report.restatements if r.previous_gco2e is not None or r.restated_gco2e is not None]
    top = heapq.nlargest(
        TOP_RESTATED, changed, key=lambda r: abs((r.restated_gco2e or 0.0) - (r.previous_gco2e or 0.0))
    )
    detail = Table(
        (
            Column("Month", 0.9),
            Column("Figure", 2.6),
            Column("Previous g", 1.2, True),
            Column("Restated g", 1.2, True),
            Column("Change g", 1.2, True),
        ),
        tuple(
            (
                r.month,
                r.subject,
                fmt.number(r.previous_gco2e, "absent"),
                fmt.number(r.restated_gco2e, "absent"),
                fmt.number((r.restated_gco2e or 0.0) - (r.previous_gco2e or 0.0)),
            )
            for r in top
        ),
        "Restated figures, largest changes first",
        _rest(len(top), len(changed), "restated figures"),
    )
    return summary, detail


def catalogue_uses(report: Report) -> Table:
    columns = (
        Column("Catalogue version", 1.5),
        Column("First date", 1.0),
        Column("Last date", 1.0),
        Column("Models", 0.8, True),
    )
    rows = tuple((c.version, c.first_date, c.last_date, fmt.count(c.models)) for c in report.catalogue_uses)
    return Table(columns, rows, "Catalogue versions the live figures were computed with")


def equivalents(report: Report) -> Table:
    columns = (Column("About", 1.2, True), Column("Of", 2.6), Column("Source", 4.6), Column("Read", 0.9))
    rows = tuple((fmt.number(e.value), e.label, e.source, e.date) for e in report.equivalents)
    return Table(
        columns, rows, f"The period's {fmt.number(report.totals.gco2e)} gCO2e, for context (not an offset)"
    )
