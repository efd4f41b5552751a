"""The key lookup cache: trusted for its TTL, forgotten at once on revoke or new limits here."""

from __future__ import annotations

from pathlib import Path

from gateway.tenancy.keys import KeyResolver
from meters.store import open_store
from meters.tenants import Tenant


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_revocation_elsewhere_is_seen_after_the_ttl_and_here_at_once(tmp_path: Path) -> None:
    store = await open_store(None, state_dir=tmp_path)
    try:
        await store.directory.put_tenant(Tenant.from_config({"id": "acme", "limits": {"gco2e_per_month": 5}}, "t"))
        key, plaintext = await store.directory.issue_key("acme")
        clock = Clock()
        resolver = KeyResolver(store.directory, {}, fail_open=True, ttl_s=1.0, clock=clock)
        assert (await resolver.resolve(plaintext))[1].key_id == key.key_id
        await store.directory.revoke_key(key.key_id)  # as another worker or replica would
        clock.now += 0.5
        assert await resolver.resolve(plaintext) is not None  # still trusted within the TTL
        clock.now += 0.6
        assert await resolver.resolve(plaintext) is None  # asked again, refused

        key2, plaintext2 = await store.directory.issue_key("acme")
        assert await resolver.resolve(plaintext2) is not None
        await store.directory.revoke_key(key2.key_id)
        resolver.forget(key2.key_id)  # the worker that revoked forgets at once
        assert await resolver.resolve(plaintext2) is None
    finally:
        await store.close()


async def test_new_limits_apply_at_once_after_forget_tenant(tmp_path: Path) -> None:
    store = await open_store(None, state_dir=tmp_path)
    try:
        await store.directory.put_tenant(Tenant.from_config({"id": "acme", "limits": {"gco2e_per_month": 5}}, "t"))
        _, plaintext = await store.directory.issue_key("acme")
        resolver = KeyResolver(store.directory, {}, fail_open=True, ttl_s=60.0)
        await resolver.resolve(plaintext)
        await store.directory.put_tenant(Tenant.from_config({"id": "acme", "limits": {"gco2e_per_month": 9}}, "t"))
        resolver.forget_tenant("acme")
        tenant, _ = await resolver.resolve(plaintext)
        assert tenant.limits.get("gco2e_per_month") == 9
    finally:
        await store.close()


async def test_ttl_zero_asks_the_store_every_time(tmp_path: Path) -> None:
    store = await open_store(None, state_dir=tmp_path)
    try:
        await store.directory.put_tenant(Tenant.from_config({"id": "acme"}, "t"))
        key, plaintext = await store.directory.issue_key("acme")
        resolver = KeyResolver(store.directory, {}, fail_open=True, ttl_s=0)
        assert await resolver.resolve(plaintext) is not None
        await store.directory.revoke_key(key.key_id)
        assert await resolver.resolve(plaintext) is None
    finally:
        await store.close()
