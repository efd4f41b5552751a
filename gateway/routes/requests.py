"""GET /v1/carbon/requests/{request_id}: one counted request's figure, with its labels and tokens.

The id is the gateway's `x-request-id` of that request (every response carries it). Who sees what: a tenant
key its tenant's requests; the master key, or anyone while the gateway is anonymous, that principal's own
(`master`, `anonymous`); the admin key (`GATEWAY_ADMIN_KEY`, `Authorization: Bearer`) any tenant's. Anything
else is a 404 in OpenAI's shape, the same as an unknown id (another tenant's ids are not disclosed).

Found for as long as the ledger keeps it: `store.ledger_retention_days` on the embedded store; on Redis the
idempotency window (7 days). A request is counted by the usage writer within its batch linger (50 ms) of its
end: a look-up that misses waits that long once and asks again, so a request that has just ended is found.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway import auth
from gateway.errors import GatewayError
from gateway.routes.current import gateway_of
from gateway.tenancy import ADMIN_KEY_ENV, store_unavailable
from gateway.writer import LINGER_S
from meters.store import StoreUnavailable, UsageReports

MAX_ID_CHARS = 256


async def _tenant_scope(request: Request) -> str | None:
    """The tenant whose requests the caller may read; None for the admin key (any tenant's)."""
    admin_key = os.environ.get(ADMIN_KEY_ENV) or None
    presented = auth.presented_key(request)
    if admin_key is not None and presented is not None and auth.same_secret(presented, admin_key):
        return None
    principal = await gateway_of(request).access.authenticate(request)
    return principal.tenant_id


async def _find(reports: UsageReports, request_id: str, tenant_id: str | None) -> dict[str, Any] | None:
    try:
        entry = await reports.request(request_id, tenant_id)
        if entry is None:  # maybe still in a usage writer's batch
            await asyncio.sleep(LINGER_S * 2)
            entry = await reports.request(request_id, tenant_id)
    except StoreUnavailable:
        raise store_unavailable() from None
    return entry


def request_view(entry: dict[str, Any]) -> dict[str, Any]:
    """The ledger entry as the API shows it: its figure as `usage.carbon` would carry it."""
    prompt, completion = entry.get("prompt_tokens") or 0, entry.get("completion_tokens") or 0
    carbon = {**entry.get("carbon", {}), "usage_source": entry.get("usage_source")}
    return {
        "object": "carbon.request",
        "request_id": entry.get("request_id"),
        "client_request_id": entry.get("client_request_id"),
        "tenant_id": entry.get("tenant_id"),
        "key_id": entry.get("key_id"),
        "timestamp": entry.get("timestamp"),
        "endpoint": entry.get("endpoint"),
        "model": entry.get("model"),
        "provider": entry.get("provider"),
        "upstream_model": entry.get("upstream_model"),
        "status": entry.get("status"),
        "stream": entry.get("stream"),
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
        "carbon": carbon,
        "spend": entry.get("spend"),
        "currency": entry.get("currency"),
        "tags": entry.get("tags") or {},
        "latency_s": entry.get("latency_s"),
    }


async def carbon_request(request: Request) -> Response:
    gw = gateway_of(request)
    tenant_id = await _tenant_scope(request)
    request_id: str = request.path_params["request_id"]
    entry = await _find(gw.store.reports, request_id, tenant_id) if len(request_id) <= MAX_ID_CHARS else None
    if entry is None:
        raise GatewayError(
            404,
            f"No counted request {request_id!r} for this key (ids are the gateway's x-request-id; kept as long"
            " as the ledger keeps them).",
            param="request_id",
            code="request_not_found",
        )
    return JSONResponse(request_view(entry))
