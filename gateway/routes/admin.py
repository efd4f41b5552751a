"""The admin API (`Authorization: Bearer $GATEWAY_ADMIN_KEY`): tenants, their keys and usage.

Routes (a contract): POST/GET /admin/tenants, GET/PATCH/DELETE /admin/tenants/{id},
POST /admin/tenants/{id}/keys (the plaintext key is in that answer and nowhere else),
DELETE /admin/keys/{key_id}, GET /admin/tenants/{id}/usage?period=YYYY-MM.

PATCH is a JSON merge patch (RFC 7396) of the tenant: `limits`, its `on_exceed` and `models` are merged key by
key, a `null` removes what it names (a limit, a policy, a model's limits, the name). DELETE removes the tenant
and revokes its keys; its usage stays in the counters and the ledger, for reports.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway import auth
from gateway.body import parse_json_object, read_body
from gateway.errors import GatewayError, bad_request
from gateway.gateway import Gateway
from gateway.routes.current import gateway_of
from gateway.routes.usage import usage_report
from gateway.tenancy import ADMIN_KEY_ENV, store_unavailable
from meters.errors import FieldError
from meters.limits import Limits
from meters.store import StoreUnavailable, TenantDirectory
from meters.tenants import Tenant, check_limits_models, check_models

_TENANT_FIELDS = {"id", "name", "limits", "models"}
_PATCH_FIELDS = {"name", "limits", "models"}
_KEY_FIELDS = {"name", "limits"}

Handler = Callable[[Request, Gateway, TenantDirectory], Awaitable[Response]]


def admin_only(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Check the admin key, then run the handler; store outages become 503."""

    async def endpoint(request: Request) -> Response:
        admin_key = os.environ.get(ADMIN_KEY_ENV) or None
        if admin_key is None:
            raise GatewayError(
                403,
                f"The admin API is disabled: start the gateway with {ADMIN_KEY_ENV} set.",
                code="admin_disabled",
            )
        key = auth.presented_key(request)
        if key is None or not auth.same_secret(key, admin_key):
            raise auth.unauthorized("Invalid or missing admin key.")
        gw = gateway_of(request)
        try:
            return await handler(request, gw, gw.store.directory)
        except StoreUnavailable:
            raise store_unavailable() from None

    return endpoint


async def _body(
    request: Request, gw: Gateway, allowed: set[str], *, optional: bool = False
) -> dict[str, Any]:
    raw = await read_body(request, gw.config.gateway.max_body_bytes, gw.config.gateway.body_timeout_s)
    if optional and not raw.strip():
        return {}
    body = parse_json_object(raw)
    for field in body:
        if field not in allowed:
            raise bad_request(f"Unknown field {field!r} (expected one of {sorted(allowed)}).", param=field)
    return body


def _invalid(exc: FieldError) -> GatewayError:
    """`tenant.limits.gco2e_per_month: must be …` → 400 naming the param."""
    return bad_request(f"{exc.key}: {exc.reason}", param=exc.key)


def _checked_tenant(data: dict[str, Any], gw: Gateway) -> Tenant:
    try:
        tenant = Tenant.from_config(data, "tenant")
        check_models(tenant, gw.registry.models, "tenant")
    except FieldError as exc:
        raise _invalid(exc) from None
    return tenant


async def _tenant_view(store: TenantDirectory, tenant: Tenant) -> dict[str, Any]:
    return {**tenant.to_dict(), "keys": [key.public_dict() for key in await store.list_keys(tenant.id)]}


async def _existing(store: TenantDirectory, tenant_id: str) -> Tenant:
    tenant = await store.get_tenant(tenant_id)
    if tenant is None:
        raise GatewayError(404, f"No tenant {tenant_id!r}.", param="id", code="tenant_not_found")
    return tenant


async def create_tenant(request: Request, gw: Gateway, store: TenantDirectory) -> Response:
    body = await _body(request, gw, _TENANT_FIELDS)
    tenant = _checked_tenant({**body, "created_at": time.time()}, gw)
    if await store.get_tenant(tenant.id) is not None:
        raise GatewayError(
            409, f"Tenant {tenant.id!r} already exists; PATCH it instead.", param="id", code="tenant_exists"
        )
    await store.put_tenant(tenant)
    return JSONResponse(await _tenant_view(store, tenant), status_code=201)


async def list_tenants(request: Request, gw: Gateway, store: TenantDirectory) -> Response:
    data = [await _tenant_view(store, tenant) for tenant in await store.list_tenants()]
    return JSONResponse({"object": "list", "data": data})


async def get_tenant(request: Request, gw: Gateway, store: TenantDirectory) -> Response:
    tenant = await _existing(store, request.path_params["tenant_id"])
    return JSONResponse(await _tenant_view(store, tenant))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge key by key, `null` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


async def update_tenant(request: Request, gw: Gateway, store: TenantDirectory) -> Response:
    """A merge patch of the tenant: one limit changes, the others stay (see the module's docstring)."""
    tenant = await _existing(store, request.path_params["tenant_id"])
    body = await _body(request, gw, _PATCH_FIELDS)
    merged = merge_patch(tenant.to_dict(), body)
    models = merged.get("models") or {}
    if not isinstance(models, dict):
        raise bad_request("tenant.models: must be an object of model name to limits.", param="tenant.models")
    merged["models"] = {model: limits for model, limits in models.items() if limits}
    updated = _checked_tenant(merged, gw)
    await store.put_tenant(updated)
    gw.access.changed(updated.id)  # new limits apply at once here
    return JSONResponse(await _tenant_view(store, updated))


async def delete_tenant(request: Request, gw: Gateway, store: TenantDirectory) -> Response:
    tenant_id = request.path_params["tenant_id"]
    if any(static.tenant.id == tenant_id for static in gw.config.tenants):
        raise GatewayError(
            409,
            f"Tenant {tenant_id!r} is configured in {gw.config.path} (tenants:): remove it there, or it comes"
            " back at the next start.",
            param="id",
            code="tenant_static",
        )
    revoked = await store.delete_tenant(tenant_id)
    if revoked is None:
        raise GatewayError(404, f"No tenant {tenant_id!r}.", param="id", code="tenant_not_found")
    for key_id in revoked:
        gw.access.revoked(key_id)
    gw.access.changed(tenant_id)
    return JSONResponse({"id": tenant_id, "deleted": True, "revoked_keys": revoked, "usage_kept": True})


async def issue_key(request: Request, gw: Gateway, store: TenantDirectory) -> Response:
    tenant = await _existing(store, request.path_params["tenant_id"])
    body = await _body(request, gw, _KEY_FIELDS, optional=True)
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise bad_request("name: must be a string.", param="name")
    try:
        limits = Limits.from_config(body.get("limits"), "limits", currency=False)
        check_limits_models(limits, gw.registry.models, "limits")
    except FieldError as exc:
        raise _invalid(exc) from None
    key, plaintext = await store.issue_key(tenant.id, limits, name=name)
    return JSONResponse({**key.public_dict(), "key": plaintext}, status_code=201)


async def revoke_key(request: Request, gw: Gateway, store: TenantDirectory) -> Response:
    key_id = request.path_params["key_id"]
    if not await store.revoke_key(key_id):
        raise GatewayError(404, f"No key {key_id!r}.", param="key_id", code="key_not_found")
    gw.access.revoked(key_id)
    return JSONResponse({"key_id": key_id, "revoked": True})


async def tenant_usage(request: Request, gw: Gateway, store: TenantDirectory) -> Response:
    tenant = await _existing(store, request.path_params["tenant_id"])
    return JSONResponse(await usage_report(gw.store.reports, tenant.id, request.query_params.get("period")))


def admin_routes() -> list[Route]:
    return [
        Route("/admin/tenants", admin_only(create_tenant), methods=["POST"]),
        Route("/admin/tenants", admin_only(list_tenants), methods=["GET"]),
        Route("/admin/tenants/{tenant_id}", admin_only(get_tenant), methods=["GET"]),
        Route("/admin/tenants/{tenant_id}", admin_only(update_tenant), methods=["PATCH"]),
        Route("/admin/tenants/{tenant_id}", admin_only(delete_tenant), methods=["DELETE"]),
        Route("/admin/tenants/{tenant_id}/keys", admin_only(issue_key), methods=["POST"]),
        Route("/admin/keys/{key_id}", admin_only(revoke_key), methods=["DELETE"]),
        Route("/admin/tenants/{tenant_id}/usage", admin_only(tenant_usage), methods=["GET"]),
    ]
