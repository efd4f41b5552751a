"""Tenants, keys, limits and budgets at the HTTP edge, on top of `meters.store`.

`build_guard` decides at start whether the gateway needs keys at all; the guard it returns
authenticates every /v1 request, reserves before forwarding and releases on failure.
"""

from gateway.tenancy.guard import TenantGuard, build_guard

__all__ = ["TenantGuard", "build_guard"]
