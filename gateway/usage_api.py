"""GET /v1/carbon/usage?period=YYYY-MM: the caller's own usage (a tenant key reads only its tenant)."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import GatewayError, bad_request
from gateway.state import GatewayState
from gateway.tenancy.guard import store_unavailable
from meters.store import Store, StoreUnavailable
from meters.store.windows import month_of


async def usage_report(store: Store, tenant_id: str, period: str | None) -> dict[str, Any]:
    """The store's report for `period` (YYYY, YYYY-MM or YYYY-MM-DD; default this UTC month)."""
    try:
        return await store.usage(tenant_id, period or month_of(time.time()))
    except ValueError as exc:
        raise bad_request(str(exc), param="period", code="invalid_period") from None


async def own_usage(request: Request) -> Response:
    state: GatewayState = request.app.state.gateway
    principal = await state.authenticate(request)
    if state.store is None:
        raise GatewayError(503, "The usage store is not open yet.", code="store_unavailable")
    try:
        report = await usage_report(state.store, principal.tenant_id, request.query_params.get("period"))
    except StoreUnavailable:
        raise store_unavailable() from None
    return JSONResponse(report)
