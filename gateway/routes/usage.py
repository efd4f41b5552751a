"""GET /v1/carbon/usage?period=YYYY-MM[&format=json|csv]: the caller's own usage (a tenant key reads only its
tenant). Any other format is a 400 naming `format`, never a silent JSON answer."""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import bad_request
from gateway.routes.current import gateway_of
from gateway.tenancy import store_unavailable
from meters.periods import current_month
from meters.store import StoreUnavailable, UsageReports

USAGE_FORMATS = ("json", "csv")
CSV_COLUMNS = (
    "period",
    "tenant_id",
    "model",
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "gco2e",
    "gco2e_min",
    "gco2e_max",
    "energy_wh",
    "water_ml",
    "energy_known_requests",
    "water_known_requests",
    "spend",
    "currency",
)


async def usage_report(reports: UsageReports, tenant_id: str, period: str | None) -> dict[str, Any]:
    """The store's report for `period` (YYYY, YYYY-MM or YYYY-MM-DD; default this UTC month)."""
    try:
        return await reports.usage(tenant_id, period or current_month())
    except ValueError as exc:
        raise bad_request(str(exc), param="period", code="invalid_period") from None
    except StoreUnavailable:
        raise store_unavailable() from None


def usage_format(request: Request) -> str:
    fmt = request.query_params.get("format") or "json"
    if fmt not in USAGE_FORMATS:
        raise bad_request(
            f"format must be one of {', '.join(USAGE_FORMATS)}, got {fmt!r} (reports in pdf or html: "
            "GET /v1/carbon/report)",
            param="format",
            code="invalid_format",
        )
    return fmt


def usage_response(report: dict[str, Any], fmt: str) -> Response:
    if fmt == "json":
        return JSONResponse(report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for model, figures in report["by_model"].items():
        row = {"period": report["period"], "tenant_id": report["tenant_id"], "model": model, **figures}
        writer.writerow([row[column] for column in CSV_COLUMNS])
    name = f"carbon-usage-{report['period']}-{report['tenant_id']}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


async def own_usage(request: Request) -> Response:
    gw = gateway_of(request)
    principal = await gw.access.authenticate(request)
    fmt = usage_format(request)
    report = await usage_report(gw.store.reports, principal.tenant_id, request.query_params.get("period"))
    return usage_response(report, fmt)
