"""API key → (tenant, key) through the store, with a last-known copy for when the store is down.

Every lookup asks the store, so a revoked key stops working on the next request in every
worker (measured: the lookup costs one Redis round trip or one SQLite read, see the README).
Under `fail_open`, a key this worker has seen before, or a static key from the config, keeps
working while the store is unreachable; an unknown key then gets 503, not 401, because
nobody can tell whether it is valid.
"""

from __future__ import annotations

from collections import OrderedDict

from meters.store import Store, StoreUnavailable
from meters.tenants import ApiKey, Tenant, hash_key

Resolved = tuple[Tenant, ApiKey]
LAST_KNOWN_MAX = 10_000


class KeyResolver:
    def __init__(self, store: Store, static: dict[str, Resolved], *, fail_open: bool) -> None:
        self._store = store
        self._static = static  # key hash -> (tenant, key) from the config
        self._fail_open = fail_open
        self._last_known: OrderedDict[str, Resolved] = OrderedDict()

    async def resolve(self, plaintext: str) -> Resolved | None:
        key_hash = hash_key(plaintext)
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
            return None
        self._last_known[key_hash] = found
        self._last_known.move_to_end(key_hash)
        if len(self._last_known) > LAST_KNOWN_MAX:
            self._last_known.popitem(last=False)
        return found

    def forget(self, key_id: str) -> None:
        """Drop a revoked key from the last-known copy (other workers drop it on their next lookup)."""
        for key_hash, (_, key) in list(self._last_known.items()):
            if key.key_id == key_id:
                del self._last_known[key_hash]
        for key_hash, (_, key) in list(self._static.items()):
            if key.key_id == key_id:
                del self._static[key_hash]
