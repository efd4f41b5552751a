"""The carbon API inside the gateway: estimate without an LLM call, track usage made elsewhere,
and list every model's factors.

- `POST /v1/carbon/estimate` `{model, prompt_tokens, completion_tokens, latency_s?}`
- `POST /v1/carbon/track` `{model, prompt_tokens, completion_tokens, tenant_id?, tags?, timestamp?, request_id?}`:
  counted into the same store counters and ledger as proxied traffic, idempotent on `request_id`.
- `GET /v1/carbon/models`

Zones and PUE come from config only: a body naming anything else is refused, so no client can book
its usage on a greener grid than the one configured.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.auth import Principal
from gateway.body import read_json_object
from gateway.carbon_headers import CATALOGUE_VERSION, carbon_headers, carbon_payload, label_headers
from gateway.endpoints import Endpoint
from gateway.errors import GatewayError, bad_request
from gateway.gateway import Gateway
from gateway.registry import ModelRuntime
from gateway.request_ids import ids_of
from gateway.routes.current import gateway_of
from gateway.tenancy import store_unavailable
from meters.carbon import ModelFactors, validate_token_count
from meters.errors import FieldError
from meters.store import StoreUnavailable
from meters.tenants import validate_tenant_id
from meters.usage import USAGE_TRACKED, UsageRecord

ESTIMATE_FIELDS = frozenset({"model", "prompt_tokens", "completion_tokens", "latency_s"})
TRACK_FIELDS = frozenset(
    {"model", "prompt_tokens", "completion_tokens", "tenant_id", "tags", "timestamp", "request_id"}
)
MAX_LATENCY_S = 3600.0
MAX_FUTURE_S = 300.0  # clock skew we tolerate on a tracked timestamp
MAX_TAGS = 16
MAX_ID_LENGTH = 128


def _check_fields(payload: dict[str, Any], allowed: frozenset[str]) -> None:
    for key in payload:
        if key not in allowed:
            hint = (
                " Zones and PUE come from the gateway's config only."
                if key in {"zone", "datacentre", "pue", "region"}
                else ""
            )
            raise bad_request(f"Unknown parameter: '{key}'.{hint}", param=key, code="unknown_parameter")


def _tokens(payload: dict[str, Any]) -> tuple[int, int]:
    counts = []
    for name in ("prompt_tokens", "completion_tokens"):
        try:
            counts.append(validate_token_count(name, payload.get(name)))
        except ValueError as exc:
            raise bad_request(str(exc), param=name, code="invalid_token_count") from None
    return counts[0], counts[1]


def _model_name(payload: dict[str, Any]) -> str:
    model = payload.get("model")
    if not isinstance(model, str) or not model.strip() or len(model) > 256:
        raise bad_request("'model' must be a non-empty string.", param="model", code="invalid_type")
    return model


def _latency(payload: dict[str, Any]) -> float | None:
    value = payload.get("latency_s")
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= MAX_LATENCY_S
    ):
        raise bad_request(
            f"'latency_s' must be a number of seconds from 0 to {MAX_LATENCY_S:g}.",
            param="latency_s",
            code="invalid_type",
        )
    return float(value)


def _factors(gw: Gateway, model: str) -> tuple[ModelFactors, ModelRuntime | None]:
    """A configured model's own factors (its carbon block, zone, PUE), else the catalogue's."""
    runtime = gw.registry.get(model)
    if runtime is not None:
        return runtime.factors, runtime
    return gw.engine.factors_for(model), None


async def _json_body(request: Request, gw: Gateway) -> dict[str, Any]:
    return await read_json_object(request, gw.config.gateway.max_body_bytes, gw.config.gateway.body_timeout_s)


async def estimate(request: Request) -> Response:
    gw = gateway_of(request)
    await gw.access.authenticate(request)
    payload = await _json_body(request, gw)
    _check_fields(payload, ESTIMATE_FIELDS)
    model = _model_name(payload)
    prompt, completion = _tokens(payload)
    factors, runtime = _factors(gw, model)
    result = factors.estimate(prompt, completion, _latency(payload))
    body = {
        "object": "carbon.estimate",
        "model": model,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "carbon": carbon_payload(result, "client"),
    }
    labels = runtime.label_headers if runtime is not None else label_headers(factors)
    headers = carbon_headers(labels, result, "client")
    return JSONResponse(body, headers=headers)


def _timestamp(value: Any) -> float:
    if value is None:
        return time.time()
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise bad_request(
                "'timestamp' must be unix seconds or an ISO 8601 date-time.",
                param="timestamp",
                code="invalid_type",
            ) from None
        if parsed.tzinfo is None:
            raise bad_request(
                "'timestamp' must carry a time zone (e.g. 2026-11-22T10:00:00Z).",
                param="timestamp",
                code="invalid_type",
            )
        value = parsed.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise bad_request(
            "'timestamp' must be unix seconds or an ISO 8601 date-time.",
            param="timestamp",
            code="invalid_type",
        )
    if value > time.time() + MAX_FUTURE_S:
        raise bad_request("'timestamp' is in the future.", param="timestamp", code="invalid_timestamp")
    return float(value)


def _tags(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_TAGS:
        raise bad_request(
            f"'tags' must be an object of at most {MAX_TAGS} string values.",
            param="tags",
            code="invalid_type",
        )
    tags = {}
    for key, tag in value.items():
        if (
            not isinstance(tag, str | int | float)
            or isinstance(tag, bool)
            or len(key) > 64
            or len(str(tag)) > 64
        ):
            raise bad_request(
                "'tags' values must be strings of at most 64 characters.",
                param=f"tags.{key}",
                code="invalid_type",
            )
        tags[key] = str(tag)
    return tags


def _short_string(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise bad_request(
            f"'{key}' must be a non-empty string of at most {MAX_ID_LENGTH} characters.",
            param=key,
            code="invalid_type",
        )
    return value


async def _limit_spend(
    gw: Gateway, principal: Principal, tenant_id: str, runtime: ModelRuntime | None
) -> bool:
    """Whether tracked spend counts toward the tenant's spend limits (priced in their currency)."""
    if runtime is None or not runtime.priced or gw.access.anonymous:
        return True
    tenant = principal.tenant
    if tenant is None:
        try:
            tenant = await gw.store.directory.get_tenant(tenant_id)
        except StoreUnavailable:
            raise store_unavailable() from None
    if tenant is None:
        return True
    return gw.spend_currency.counts(tenant, principal.key, runtime.name, runtime.currency)


async def track(request: Request) -> Response:
    gw = gateway_of(request)
    principal = await gw.access.authenticate(request)
    payload = await _json_body(request, gw)
    _check_fields(payload, TRACK_FIELDS)
    model = _model_name(payload)
    prompt, completion = _tokens(payload)
    tenant_id = _short_string(payload, "tenant_id")
    if tenant_id is not None:
        try:
            validate_tenant_id(tenant_id, "tenant_id")
        except FieldError as exc:
            raise bad_request(exc.reason, param="tenant_id", code="invalid_type") from None
    if principal.tenant is not None:
        # A tenant key books usage to its own tenant only.
        if tenant_id not in (None, principal.tenant_id):
            raise GatewayError(
                403,
                "A tenant key can only track usage for its own tenant.",
                param="tenant_id",
                code="forbidden_tenant",
            )
        tenant_id = principal.tenant_id
    tenant_id = tenant_id or principal.tenant_id
    # Without its own request_id, the usage is tracked under this call's x-request-id (GET /v1/carbon/requests/{id}).
    request_id = _short_string(payload, "request_id") or ids_of(request)[0]
    factors, runtime = _factors(gw, model)
    result = factors.estimate(prompt, completion, None)
    limit_spend = await _limit_spend(gw, principal, tenant_id, runtime)
    record = UsageRecord(
        request_id=request_id,
        timestamp=_timestamp(payload.get("timestamp")),
        tenant_id=tenant_id,
        model=model,
        provider=runtime.route.provider if runtime is not None else "external",
        upstream_model=runtime.route.upstream_model if runtime is not None else model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        estimate=result,
        usage_source=USAGE_TRACKED,
        key_id=principal.key_id,
        spend=runtime.spend(prompt, completion) if runtime is not None else 0.0,
        currency=runtime.currency if runtime is not None else "USD",
        limit_spend=limit_spend,
        tags=_tags(payload.get("tags")),
        endpoint=Endpoint.TRACK.value,
        datacentre=runtime.datacentre if runtime is not None else None,
    )
    try:
        recorded = await gw.store.meter.record(record)
    except StoreUnavailable:
        raise store_unavailable() from None
    if recorded:
        gw.telemetry.tracked(record)
    body = {
        "object": "carbon.track",
        "request_id": request_id,
        "tenant_id": tenant_id,
        "model": model,
        "recorded": recorded,
        "duplicate": not recorded,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "carbon": carbon_payload(result, USAGE_TRACKED),
    }
    labels = runtime.label_headers if runtime is not None else label_headers(factors)
    return JSONResponse(
        body, status_code=201 if recorded else 200, headers=carbon_headers(labels, result, USAGE_TRACKED)
    )


async def models(request: Request) -> Response:
    gw = gateway_of(request)
    await gw.access.authenticate(request)
    configured = []
    for name, runtime in gw.registry.models.items():
        described = runtime.factors.describe()
        configured.append(
            {
                "model": name,
                "provider": runtime.route.provider,
                "upstream_model": runtime.route.upstream_model,
                **{k: v for k, v in described.items() if k != "model"},
            }
        )
    body = {
        "object": "list",
        "catalogue_version": gw.engine.version,
        "data": configured,
        "catalogue": gw.engine.describe(),
    }
    return JSONResponse(body, headers={CATALOGUE_VERSION: gw.engine.version})
