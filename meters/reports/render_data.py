"""JSON and CSV renderings: every line, raw numbers, unknown as null / an empty cell."""

from __future__ import annotations

import csv
import io
from operator import attrgetter

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


_LINE_FIELDS = attrgetter(
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
)
_NO_FACTOR = (None, None, None, None, None)


def render_csv(report: Report) -> bytes:
    """One row per line (tenant x model in the organisation report), with a header row. Unknown (None) is
    an empty cell, never 0."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    period = report.period.text
    scope_tenant = report.scope.tenant_id or ""
    rows = []
    for line in report.lines:
        factor = line.factor
        rows.append(
            (period, line.tenant or scope_tenant)
            + _LINE_FIELDS(line)
            + (
                _NO_FACTOR
                if factor is None
                else (factor.value, factor.unit, factor.source, factor.date, factor.version)
            )
            + (" ".join(line.audited_months),)
        )
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
