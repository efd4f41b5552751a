"""Tenants and keys on both backends: issue, resolve, list, revoke, isolation."""

from __future__ import annotations

import pytest

from meters.limits import LimitName, Limits
from meters.tenants import ApiKey, Tenant, hash_key
from tests.support import stores as helpers

# Fixtures shared by the store suites (both backends).
factory, store, clock = helpers.factory, helpers.store, helpers.clock


def _tenant(tenant_id: str, **limits) -> Tenant:
    return Tenant(id=tenant_id, name=tenant_id.title(), limits=Limits.from_config(limits, tenant_id))


async def test_tenants_put_get_list_update(store):
    await store.directory.put_tenant(_tenant("acme", gco2e_per_month=100))
    await store.directory.put_tenant(_tenant("globex"))
    assert (await store.directory.get_tenant("acme")).limits.get(LimitName.GCO2E_PER_MONTH) == 100
    assert await store.directory.get_tenant("nobody") is None
    assert [t.id for t in await store.directory.list_tenants()] == ["acme", "globex"]
    await store.directory.put_tenant(_tenant("acme", gco2e_per_month=50))  # update in place
    assert (await store.directory.get_tenant("acme")).limits.get(LimitName.GCO2E_PER_MONTH) == 50
    assert len(await store.directory.list_tenants()) == 2


async def test_issue_resolve_revoke(store):
    await store.directory.put_tenant(_tenant("acme"))
    key_limits = Limits.from_config({"requests_per_minute": 3}, "key")
    key, plaintext = await store.directory.issue_key("acme", key_limits, name="ci")
    assert plaintext.startswith("cg-") and key.key_hash == hash_key(plaintext)
    assert plaintext not in repr(key)
    tenant, resolved = await store.directory.resolve_key(plaintext)
    assert tenant.id == "acme" and resolved == key
    assert resolved.limits.get(LimitName.REQUESTS_PER_MINUTE) == 3
    # The stored hash is not a credential: presenting it as a key must fail.
    assert await store.directory.resolve_key(key.key_hash) is None
    assert await store.directory.resolve_key("cg-wrong") is None
    assert [k.key_id for k in await store.directory.list_keys("acme")] == [key.key_id]
    assert await store.directory.revoke_key(key.key_id) is True
    assert await store.directory.resolve_key(plaintext) is None
    assert await store.directory.revoke_key(key.key_id) is False
    assert await store.directory.list_keys("acme") == []


async def test_issue_key_for_unknown_tenant_fails(store):
    with pytest.raises(KeyError):
        await store.directory.issue_key("ghost")


async def test_static_key_from_hash_and_isolation(store):
    await store.directory.put_tenant(_tenant("acme"))
    await store.directory.put_tenant(_tenant("globex"))
    static = ApiKey.from_hash("acme", hash_key("cg-static-from-config"))
    await store.directory.put_key(static)
    _, globex_plain = await store.directory.issue_key("globex")
    tenant, key = await store.directory.resolve_key("cg-static-from-config")
    assert (tenant.id, key.key_id) == ("acme", static.key_id)
    tenant, _ = await store.directory.resolve_key(globex_plain)
    assert tenant.id == "globex"
    assert [k.key_id for k in await store.directory.list_keys("acme")] == [static.key_id]


async def test_keys_are_shared_between_store_instances(factory, clock):
    first = await factory.open(clock=clock)
    second = await factory.open(clock=clock)
    await first.directory.put_tenant(_tenant("acme"))
    key, plaintext = await first.directory.issue_key("acme")
    assert (await second.directory.resolve_key(plaintext))[1].key_id == key.key_id
    await second.directory.revoke_key(key.key_id)
    assert await first.directory.resolve_key(plaintext) is None
