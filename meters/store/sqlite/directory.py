"""Tenants and API keys in the embedded store."""

from __future__ import annotations

import orjson

from meters.store.interfaces import TenantDirectory
from meters.store.sqlite.database import SqliteDatabase
from meters.tenants import ApiKey, Tenant, api_key_from_json, tenant_from_json


class SqliteDirectory(TenantDirectory):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def put_tenant(self, tenant: Tenant) -> None:
        def put() -> None:
            with self._db.write() as conn:
                conn.execute(
                    "INSERT INTO tenants (id, data) VALUES (?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET data = excluded.data",
                    (tenant.id, orjson.dumps(tenant.to_dict()).decode()),
                )

        await self._db.run(put)

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        row = await self._db.run(
            lambda: self._db.conn.execute("SELECT data FROM tenants WHERE id = ?", (tenant_id,)).fetchone()
        )
        return tenant_from_json(row[0]) if row else None

    async def list_tenants(self) -> list[Tenant]:
        rows = await self._db.run(
            lambda: self._db.conn.execute("SELECT data FROM tenants ORDER BY id").fetchall()
        )
        return [tenant_from_json(data) for (data,) in rows]

    async def put_key(self, key: ApiKey) -> None:
        def put() -> None:
            with self._db.write() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO api_keys (key_hash, key_id, tenant_id, data) VALUES (?, ?, ?, ?)",
                    (key.key_hash, key.key_id, key.tenant_id, orjson.dumps(key.to_dict()).decode()),
                )

        await self._db.run(put)

    async def list_keys(self, tenant_id: str) -> list[ApiKey]:
        rows = await self._db.run(
            lambda: self._db.conn.execute(
                "SELECT data FROM api_keys WHERE tenant_id = ? ORDER BY key_id", (tenant_id,)
            ).fetchall()
        )
        return [api_key_from_json(data) for (data,) in rows]

    async def revoke_key(self, key_id: str) -> bool:
        def revoke() -> bool:
            with self._db.write() as conn:
                return conn.execute("DELETE FROM api_keys WHERE key_id = ?", (key_id,)).rowcount > 0

        return await self._db.run(revoke)

    async def delete_tenant(self, tenant_id: str) -> list[str] | None:
        def delete() -> list[str] | None:
            with self._db.write() as conn:
                key_ids = [
                    key_id
                    for (key_id,) in conn.execute(
                        "SELECT key_id FROM api_keys WHERE tenant_id = ? ORDER BY key_id", (tenant_id,)
                    )
                ]
                conn.execute("DELETE FROM api_keys WHERE tenant_id = ?", (tenant_id,))
                if conn.execute("DELETE FROM tenants WHERE id = ?", (tenant_id,)).rowcount == 0:
                    return None
                return key_ids

        return await self._db.run(delete)

    async def resolve_key_hash(self, key_hash: str) -> tuple[Tenant, ApiKey] | None:
        row = await self._db.run_inline(
            lambda: self._db.conn.execute(
                "SELECT t.data, k.data FROM api_keys k JOIN tenants t ON t.id = k.tenant_id "
                "WHERE k.key_hash = ?",
                (key_hash,),
            ).fetchone()
        )
        if row is None:
            return None
        return tenant_from_json(row[0]), api_key_from_json(row[1])
