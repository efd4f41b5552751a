"""API key → (tenant, key) through the store, with a last-known copy for when the store is down.

A lookup is trusted for `gateway.key_cache_ttl_s` (default 1 s): a store call per request
costs more than the reservation it guards (one Redis round trip, ~100-200 µs of client CPU),
so a revoked key stops working at once in the worker that revoked it and within that TTL in
every other worker and replica. With a TTL of 0 every request asks the store.
Under `fail_open`, a key this worker has seen before, or a static key from the config, keeps
working while the store is unreachable; an unknown key then gets 503, not 401, because
nobody can tell whether it is valid.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from meters.store import StoreUnavailable, TenantDirectory
from meters.tenants import ApiKey, Tenant, hash_key

Resolved = tuple[Tenant, ApiKey]
LAST_KNOWN_MAX = 10_000


class KeyResolver:
    def __init__(
        self,
        store: TenantDirectory,
        static: dict[str, Resolved],
        *,
        fail_open: bool,
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._clock = clock
        self._fresh: dict[str, tuple[float, Resolved]] = {}  # key hash -> (trusted until, found)
        self._static = static  # key hash -> (tenant, key) from the config
        self._fail_open = fail_open
        self._last_known: OrderedDict[str, Resolved] = OrderedDict()

    async def resolve(self, plaintext: str) -> Resolved | None:
        key_hash = hash_key(plaintext)
        fresh = self._fresh.get(key_hash)
        now = self._clock()
        if fresh is not None and fresh[0] > now:
            return fresh[1]
        try:
            found = await self._store.resolve_key(plaintext)
        except StoreUnavailable:
            if not self._fail_open:
                raise
            known = self._last_known.get(key_hash) or self._static.get(key_hash)
            if known is None:
                raise
            return known
        if found is None:
            self._last_known.pop(key_hash, None)
            self._fresh.pop(key_hash, None)
            return None
        if self._ttl_s > 0:
            if len(self._fresh) >= LAST_KNOWN_MAX:
                self._fresh.clear()
            self._fresh[key_hash] = (now + self._ttl_s, found)
        self._last_known[key_hash] = found
        self._last_known.move_to_end(key_hash)
        if len(self._last_known) > LAST_KNOWN_MAX:
            self._last_known.popitem(last=False)
        return found

    def forget(self, key_id: str) -> None:
        """Drop a revoked key from the caches (other workers drop it within the cache TTL)."""
        for key_hash, (_, (_, key)) in list(self._fresh.items()):
            if key.key_id == key_id:
                del self._fresh[key_hash]
        for key_hash, (_, key) in list(self._last_known.items()):
            if key.key_id == key_id:
                del self._last_known[key_hash]
        for key_hash, (_, key) in list(self._static.items()):
            if key.key_id == key_id:
                del self._static[key_hash]

    def forget_tenant(self, tenant_id: str) -> None:
        """Drop cached lookups of a tenant whose limits changed."""
        for key_hash, (_, (tenant, _)) in list(self._fresh.items()):
            if tenant.id == tenant_id:
                del self._fresh[key_hash]
