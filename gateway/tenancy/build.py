"""At start: does this gateway need keys, and if so, the guard with its static tenants loaded."""

from __future__ import annotations

import logging
import os

from gateway.config import GatewayConfig
from gateway.config.store import FAIL_OPEN
from gateway.observability.telemetry import Telemetry
from gateway.registry import ModelRegistry
from gateway.tenancy.access import Access, OpenAccess
from gateway.tenancy.bootstrap import load_static_tenants, static_keys
from gateway.tenancy.currency import SpendCurrency
from gateway.tenancy.guard import TenantGuard
from gateway.tenancy.keys import KeyResolver
from meters.store import Store, StoreUnavailable

log = logging.getLogger("carbon_gateway.tenancy")

ADMIN_KEY_ENV = "GATEWAY_ADMIN_KEY"
MASTER_KEY_ENV = "GATEWAY_MASTER_KEY"


async def build_access(
    config: GatewayConfig, store: Store, registry: ModelRegistry, telemetry: Telemetry, spend: SpendCurrency
) -> Access:
    """A `TenantGuard`, or `OpenAccess` while the gateway may stay anonymous (no master key, no admin
    key, no tenant in the config or in the store)."""
    master_key = os.environ.get(MASTER_KEY_ENV) or None
    admin_key = os.environ.get(ADMIN_KEY_ENV) or None
    if config.tenants:
        try:
            await load_static_tenants(store.directory, config.tenants)
        except StoreUnavailable:
            log.warning("the store is unreachable: static tenants load on the next start")
    needs_keys = bool(master_key or admin_key or config.tenants)
    if not needs_keys:
        try:
            needs_keys = bool(await store.directory.list_tenants())  # tenants an admin created earlier
        except StoreUnavailable:
            log.warning("the store is unreachable: cannot tell whether tenants exist, staying anonymous")
    if not needs_keys:
        return OpenAccess()
    resolver = KeyResolver(
        store.directory,
        static_keys(config.tenants),
        fail_open=config.store.on_failure == FAIL_OPEN,
        ttl_s=config.gateway.key_cache_ttl_s,
    )
    return TenantGuard(
        registry=registry,
        meter=store.meter,
        resolver=resolver,
        telemetry=telemetry,
        master_key=master_key,
        reserve_completion_tokens=config.gateway.reserve_completion_tokens,
        spend_currency=spend,
        stream_max_duration_s=config.gateway.stream_max_duration_s,
    )
