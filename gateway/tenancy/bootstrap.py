"""Static tenants from the config, written into the store at start.

Every worker of every replica runs this; it is idempotent (same ids, same key ids, derived from
the key hashes). The config is the source of truth for static tenants: a restart overwrites an
admin PATCH of one, and revokes a static key that was removed from the config.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from meters.store import Store
from meters.tenants import ApiKey, Tenant, key_hash_from_config

log = logging.getLogger("carbon_gateway.tenancy")

STATIC_KEY_NAME = "config"  # marks keys that come from the config file


def static_tenants(raw_tenants: list[dict[str, Any]]) -> dict[str, tuple[Tenant, ApiKey]]:
    """key hash -> (tenant, key) for every static key (settings.py validated the shape)."""
    resolved: dict[str, tuple[Tenant, ApiKey]] = {}
    for i, item in enumerate(raw_tenants):
        tenant = Tenant.from_config(item, f"tenants[{i}]")
        for j, value in enumerate(item.get("keys") or []):
            key_hash = key_hash_from_config(value, f"tenants[{i}].keys[{j}]")
            resolved[key_hash] = (tenant, ApiKey.from_hash(tenant.id, key_hash, name=STATIC_KEY_NAME))
    return resolved


async def load_static_tenants(store: Store, raw_tenants: list[dict[str, Any]]) -> None:
    tenants = {i: Tenant.from_config(item, f"tenants[{i}]") for i, item in enumerate(raw_tenants)}
    for tenant in tenants.values():
        existing = await store.get_tenant(tenant.id)
        if existing is not None:
            tenant = replace(tenant, created_at=existing.created_at)  # keep the first start's date
        await store.put_tenant(tenant)
    configured = static_tenants(raw_tenants)
    for _, key in configured.values():
        await store.put_key(key)
    # A static key removed from the config must stop working, whichever tenant it belonged to.
    for tenant in await store.list_tenants():
        for key in await store.list_keys(tenant.id):
            if key.name == STATIC_KEY_NAME and key.key_hash not in configured:
                await store.revoke_key(key.key_id)
                log.info(
                    "revoked static key %s of tenant %s (no longer in the config)", key.key_id, tenant.id
                )
