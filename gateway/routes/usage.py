"""GET /v1/carbon/usage?period=YYYY-MM: the caller's own usage (a tenant key reads only its tenant)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import bad_request
from gateway.routes.current import gateway_of
from gateway.tenancy import store_unavailable
from meters.periods import current_month
from meters.store import StoreUnavailable, UsageReports


async def usage_report(reports: UsageReports, tenant_id: str, period: str | None) -> dict[str, Any]:
    """The store's report for `period` (YYYY, YYYY-MM or YYYY-MM-DD; default this UTC month)."""
    try:
        return await reports.usage(tenant_id, period or current_month())
    except ValueError as exc:
        raise bad_request(str(exc), param="period", code="invalid_period") from None
    except StoreUnavailable:
        raise store_unavailable() from None


async def own_usage(request: Request) -> Response:
    gw = gateway_of(request)
    principal = await gw.access.authenticate(request)
    return JSONResponse(await usage_report(gw.store.reports, principal.tenant_id, request.query_params.get("period")))
