"""Static tenants from the config, written into the store at start.

Every worker of every replica runs this; it is idempotent (same ids, same key ids, derived from
the key hashes). The config is the source of truth for static tenants: a restart overwrites an
admin PATCH of one, and revokes a static key that was removed from the config.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from gateway.config import StaticTenant
from meters.store import TenantDirectory
from meters.tenants import ApiKey, Tenant

log = logging.getLogger("carbon_gateway.tenancy")

STATIC_KEY_NAME = "config"  # marks keys that come from the config file


def static_keys(tenants: Iterable[StaticTenant]) -> dict[str, tuple[Tenant, ApiKey]]:
    """key hash -> (tenant, key) for every static key."""
    return {
        key_hash: (static.tenant, ApiKey.from_hash(static.tenant.id, key_hash, name=STATIC_KEY_NAME))
        for static in tenants
        for key_hash in static.key_hashes
    }


async def load_static_tenants(directory: TenantDirectory, tenants: tuple[StaticTenant, ...]) -> None:
    for static in tenants:
        tenant = static.tenant
        existing = await directory.get_tenant(tenant.id)
        if existing is not None:
            tenant = replace(tenant, created_at=existing.created_at)  # keep the first start's date
        await directory.put_tenant(tenant)
    configured = static_keys(tenants)
    for _, key in configured.values():
        await directory.put_key(key)
    # A static key removed from the config must stop working, whichever tenant it belonged to.
    for tenant in await directory.list_tenants():
        for key in await directory.list_keys(tenant.id):
            if key.name == STATIC_KEY_NAME and key.key_hash not in configured:
                await directory.revoke_key(key.key_id)
                log.info("revoked static key %s of tenant %s (no longer in the config)", key.key_id, tenant.id)
