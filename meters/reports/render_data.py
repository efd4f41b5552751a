"""JSON and CSV renderings: every line, raw numbers, unknown as null / an empty cell."""

from __future__ import annotations

import csv
import io

import orjson

from meters.reports.model import Report

CSV_COLUMNS = (
    "period",
    "tenant",
    "model",
    "provider",
    "datacentre",
    "tokens_in",
    "tokens_out",
    "requests",
    "gco2e",
    "gco2e_min",
    "gco2e_max",
    "estimated_gco2e",
    "energy_wh",
    "energy_known_requests",
    "water_ml",
    "water_known_requests",
    "water_boundary",
    "spend",
    "currency",
    "method",
    "boundary",
    "confidence",
    "basis",
    "source",
    "catalogue_version",
    "factor_value",
    "factor_unit",
    "factor_source",
    "factor_date",
    "factor_version",
    "audited_months",
)


def render_json(report: Report) -> bytes:
    """Indented for people when small; compact past 2,000 lines (a yearly organisation report)."""
    option = orjson.OPT_INDENT_2 if len(report.lines) <= 2000 else 0
    return orjson.dumps(report.as_dict(), option=option)


def render_csv(report: Report) -> bytes:
    """One row per line (tenant x model in the organisation report), with a header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    period = report.period.text
    scope_tenant = report.scope.tenant_id or ""

    def cell(value: object) -> object:
        return "" if value is None else value

    rows = []
    for line in report.lines:
        factor = line.factor
        rows.append(
            (
                period,
                line.tenant or scope_tenant,
                line.model,
                line.provider,
                cell(line.datacentre),
                line.tokens_in,
                line.tokens_out,
                line.requests,
                line.gco2e,
                line.gco2e_min,
                line.gco2e_max,
                line.estimated_gco2e,
                cell(line.energy_wh),
                line.energy_known_requests,
                cell(line.water_ml),
                line.water_known_requests,
                cell(line.water_boundary),
                line.spend,
                line.currency,
                line.method,
                line.boundary,
                line.confidence,
                cell(line.basis),
                line.source,
                line.catalogue_version,
                "" if factor is None else cell(factor.value),
                "" if factor is None else factor.unit,
                "" if factor is None else factor.source,
                "" if factor is None else cell(factor.date),
                "" if factor is None else factor.version,
                " ".join(line.audited_months),
            )
        )
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
