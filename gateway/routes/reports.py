"""Sustainability reports and audited months over HTTP.

    POST /admin/audited                       {"month", "source"?, "figures": [{"model" | "sku", "kg_co2e", ...}]}
    GET  /admin/audited?month=YYYY-MM         every import of that month (or of every month), newest first
    GET  /admin/reports?period=P[&tenant=ID]&format=json|csv|pdf|html   (admin key)
    GET  /v1/carbon/report?period=P&format=...                          (the caller's own tenant, never another's)

An unknown format or period is a 400 naming `format` or `period`; a bad import names its field (and line).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import reporting
from gateway.body import parse_json_object, read_body
from gateway.errors import GatewayError, bad_request
from gateway.gateway import Gateway
from gateway.routes.admin import admin_only
from gateway.routes.current import gateway_of
from gateway.tenancy import store_unavailable
from meters.audited import AuditedImportError, check_month, parse_admin
from meters.reports import ReportError
from meters.reports.render import CONTENT_TYPES, check_format, filename, render
from meters.store import StoreUnavailable, TenantDirectory

_PARAMS = {"period", "tenant", "format"}


def report_error(exc: ReportError) -> GatewayError:
    return bad_request(exc.reason, param=exc.param, code=f"invalid_{exc.param}")


def _query(request: Request, allowed: set[str]) -> dict[str, str]:
    for name in request.query_params:
        if name not in allowed:
            raise bad_request(f"Unknown query parameter {name!r} (expected {sorted(allowed)}).", param=name)
    return dict(request.query_params)


async def report_response(gw: Gateway, period: str | None, tenant: str | None, fmt: str | None) -> Response:
    """Build and render the report of `period` for `tenant` (None: the organisation)."""
    try:
        chosen = check_format(fmt or "json")
        if not period:
            raise ReportError("is required ('YYYY-MM' or 'YYYY')", "period")
        built = await reporting.report(gw.store, gw.config, gw.engine, period, tenant, gw.registry)
        data = await asyncio.to_thread(render, built, chosen)
    except ReportError as exc:
        raise report_error(exc) from None
    except StoreUnavailable:
        raise store_unavailable() from None
    disposition = "inline" if chosen in ("json", "html") else "attachment"
    return Response(
        data,
        media_type=CONTENT_TYPES[chosen],
        headers={"content-disposition": f'{disposition}; filename="{filename(built, chosen)}"'},
    )


async def admin_report(request: Request, gw: Gateway, store: TenantDirectory) -> Response:
    query = _query(request, _PARAMS)
    return await report_response(gw, query.get("period"), query.get("tenant") or None, query.get("format"))


async def own_report(request: Request) -> Response:
    gw = gateway_of(request)
    principal = await gw.access.authenticate(request)
    query = _query(request, {"period", "format"})
    return await report_response(gw, query.get("period"), principal.tenant_id, query.get("format"))


def _import_json(item: Any) -> bytes:
    return orjson.dumps(item)


async def add_audited(request: Request, gw: Gateway, store: TenantDirectory) -> Response:
    body = parse_json_object(await read_body(request, gw.config.gateway.max_body_bytes))
    try:
        parsed = parse_admin(body, reporting.sku_mapper(gw.config))
    except AuditedImportError as exc:
        raise bad_request(exc.reason, param=exc.param, code="invalid_audited_import") from None
    stored = await gw.store.audited.add(parsed)
    await reporting.calibrate(gw.store, gw.config, gw.engine, gw.registry)
    return Response(_import_json(stored), status_code=201, media_type="application/json")


async def list_audited(request: Request, gw: Gateway, store: TenantDirectory) -> Response:
    month = _query(request, {"month"}).get("month") or None
    if month is not None:
        try:
            check_month(month)
        except AuditedImportError as exc:
            raise bad_request(exc.reason, param="month", code="invalid_month") from None
    imports = await gw.store.audited.list(month)
    return Response(_import_json({"object": "list", "data": imports}), media_type="application/json")


def report_routes() -> list[Route]:
    return [
        Route("/admin/audited", admin_only(add_audited), methods=["POST"]),
        Route("/admin/audited", admin_only(list_audited), methods=["GET"]),
        Route("/admin/reports", admin_only(admin_report), methods=["GET"]),
        Route("/v1/carbon/report", own_report, methods=["GET"]),
    ]
