"""Tenants, keys, limits and budgets at the HTTP edge, on top of `meters.store`.

`build_access` decides at start whether the gateway needs keys at all; the access it returns
authenticates every /v1 request and reserves before forwarding.
"""

from gateway.tenancy.access import Access, OpenAccess
from gateway.tenancy.build import ADMIN_KEY_ENV, build_access
from gateway.tenancy.guard import TenantGuard, store_unavailable

__all__ = ["ADMIN_KEY_ENV", "Access", "OpenAccess", "TenantGuard", "build_access", "store_unavailable"]
