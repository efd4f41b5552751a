"""Tenants and API keys on Redis.

Keys under the store's prefix P, all in the hash slot {dir} (see keys.py): P{dir}tenant:<id> (JSON),
P{dir}tenants (set of ids), P{dir}key:<sha256> (JSON, the hot path), P{dir}keyid:<key_id> -> sha256,
P{dir}tkeys:<tenant> (set).
"""

from __future__ import annotations

from typing import Any

import orjson

from meters.store.interfaces import TenantDirectory
from meters.store.redis import scripts
from meters.store.redis.connection import RedisConnection
from meters.store.redis.encoding import text
from meters.store.redis.keys import DIR
from meters.tenants import ApiKey, Tenant, api_key_from_json, tenant_from_json

# The tenant, its key records and their indexes, in one atomic step; nil when there is no such tenant, else
# the revoked key ids. KEYS[1]: the tenant's record; ARGV: prefix (with {dir}), tenant id.
DELETE_TENANT = """
local p, t = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. 'tenant:' .. t) == 0 then return false end
local ids = {}
for _, h in ipairs(redis.call('SMEMBERS', p .. 'tkeys:' .. t)) do
  local raw = redis.call('GET', p .. 'key:' .. h)
  if raw then
    local id = cjson.decode(raw)['key_id']
    table.insert(ids, id)
    redis.call('DEL', p .. 'keyid:' .. id)
  end
  redis.call('DEL', p .. 'key:' .. h)
end
redis.call('DEL', p .. 'tenant:' .. t, p .. 'tkeys:' .. t)
redis.call('SREM', p .. 'tenants', t)
return ids
"""


class RedisDirectory(TenantDirectory):
    def __init__(self, conn: RedisConnection) -> None:
        self._conn = conn
        self._redis = conn.client
        self.prefix = conn.prefix + DIR  # every directory key is in the slot {dir}
        self._script_prefix = conn.prefix
        self._call = conn.call
        self._resolve = conn.client.register_script(scripts.RESOLVE_KEY)
        self._delete_tenant = conn.client.register_script(DELETE_TENANT)

    async def put_tenant(self, tenant: Tenant) -> None:
        async def put() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(f"{self.prefix}tenant:{tenant.id}", orjson.dumps(tenant.to_dict()))
                pipe.sadd(f"{self.prefix}tenants", tenant.id)
                await pipe.execute()

        await self._call(put)

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        raw = await self._call(lambda: self._redis.get(f"{self.prefix}tenant:{tenant_id}"))
        return tenant_from_json(raw) if raw else None

    async def list_tenants(self) -> list[Tenant]:
        async def read() -> list[Any]:
            ids = sorted(await self._redis.smembers(f"{self.prefix}tenants"))
            return await self._redis.mget([f"{self.prefix}tenant:{text(i)}" for i in ids]) if ids else []

        return [tenant_from_json(raw) for raw in await self._call(read) if raw]

    async def put_key(self, key: ApiKey) -> None:
        async def put() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(f"{self.prefix}key:{key.key_hash}", orjson.dumps(key.to_dict()))
                pipe.set(f"{self.prefix}keyid:{key.key_id}", key.key_hash)
                pipe.sadd(f"{self.prefix}tkeys:{key.tenant_id}", key.key_hash)
                await pipe.execute()

        await self._call(put)

    async def list_keys(self, tenant_id: str) -> list[ApiKey]:
        async def read() -> list[Any]:
            hashes = sorted(await self._redis.smembers(f"{self.prefix}tkeys:{tenant_id}"))
            return await self._redis.mget([f"{self.prefix}key:{text(h)}" for h in hashes]) if hashes else []

        keys = [api_key_from_json(raw) for raw in await self._call(read) if raw]
        return sorted(keys, key=lambda k: k.key_id)

    async def revoke_key(self, key_id: str) -> bool:
        async def revoke() -> bool:
            key_hash = await self._redis.get(f"{self.prefix}keyid:{key_id}")
            if key_hash is None:
                return False
            raw = await self._redis.get(f"{self.prefix}key:{text(key_hash)}")
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(f"{self.prefix}key:{text(key_hash)}", f"{self.prefix}keyid:{key_id}")
                if raw:
                    pipe.srem(f"{self.prefix}tkeys:{orjson.loads(raw)['tenant_id']}", key_hash)
                await pipe.execute()
            return True

        return await self._call(revoke)

    async def delete_tenant(self, tenant_id: str) -> list[str] | None:
        keys = [f"{self.prefix}tenant:{tenant_id}"]
        found = await self._call(lambda: self._delete_tenant(keys=keys, args=[self.prefix, tenant_id]))
        return None if found is None else sorted(text(key_id) for key_id in found)

    async def resolve_key_hash(self, key_hash: str) -> tuple[Tenant, ApiKey] | None:
        keys = [f"{self.prefix}key:{key_hash}"]
        found = await self._call(lambda: self._resolve(keys=keys, args=[self._script_prefix, key_hash]))
        if not found:
            return None
        return tenant_from_json(found[0]), api_key_from_json(found[1])
