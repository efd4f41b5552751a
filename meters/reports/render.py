"""render(report, fmt) -> bytes, for the CLI and the routes; an unknown format is a ReportError (400)."""

from __future__ import annotations

import re
from collections.abc import Callable

from meters.reports.model import Report
from meters.reports.period import ReportError

FORMATS = ("json", "csv", "html", "pdf")
CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}


def check_format(fmt: object) -> str:
    if fmt not in FORMATS:
        raise ReportError(f"must be one of {', '.join(FORMATS)}, got {fmt!r}", "format")
    return str(fmt)


def _renderer(fmt: str) -> Callable[[Report], bytes]:
    # Imported on use: the PDF library loads only when a PDF is asked for.
    if fmt == "json":
        from meters.reports.render_data import render_json

        return render_json
    if fmt == "csv":
        from meters.reports.render_data import render_csv

        return render_csv
    if fmt == "html":
        from meters.reports.render_html import render_html

        return render_html
    from meters.reports.render_pdf import render_pdf

    return render_pdf


def render(report: Report, fmt: str) -> bytes:
    return _renderer(check_format(fmt))(report)


def filename(report: Report, fmt: str) -> str:
    tenant = report.scope.tenant_id
    scope = "organisation" if tenant is None else "tenant-" + re.sub(r"[^A-Za-z0-9._-]", "_", tenant)
    return f"carbon-report-{report.period.text}-{scope}.{check_format(fmt)}"
