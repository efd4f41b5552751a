"""Who is calling: a key from `Authorization: Bearer …` or `api-key`, checked in constant time."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.requests import Request

from gateway.errors import GatewayError
from meters.tenants import ApiKey, Tenant

ANONYMOUS_TENANT = "anonymous"
MASTER_TENANT = "master"


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    key_id: str | None = None
    tenant: Tenant | None = None  # set for a tenant key: its limits apply
    key: ApiKey | None = None


ANONYMOUS = Principal(ANONYMOUS_TENANT)
MASTER = Principal(MASTER_TENANT)


def presented_key(request: Request) -> str | None:
    """The key of `Authorization: Bearer <key>`, else of `api-key` (each header's first occurrence). Read from the
    raw ASGI headers (names lower-case bytes), as Starlette's `Headers.get` would, without building the mapping."""
    raw = request.scope["headers"]
    header = _first(raw, b"authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = _first(raw, b"api-key")
    return api_key.strip() if api_key else None


def _first(raw: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for header, value in raw:
        if header == name:
            return value.decode("latin-1")
    return None


def unauthorized(message: str = "Invalid or missing API key.") -> GatewayError:
    return GatewayError(401, message, code="invalid_api_key", headers={"www-authenticate": "Bearer"})


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
