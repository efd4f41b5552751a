"""One-off: move a single Redis from the key layout before hash tags (`P u:acme|day`) to today's
(`P u:{acme}|day`, see keys.py), so tenants, keys, usage, the ledger and this month's limit counters carry over.

Run with the gateways stopped (reservations and leases, `r:`/`rz:`/`o:`, are not moved: they would expire
within minutes anyway). RENAME keeps each key's TTL; a key already in the new layout is never touched,
so running it twice is harmless. A single Redis only: a cluster never held the old layout.
"""

from __future__ import annotations

from typing import Any

import orjson

from meters.store.redis.keys import dir_key, ltenants_key, tenant_key

_DIRECTORY = ("tenant:", "key:", "keyid:", "tkeys:")
_PER_TENANT = ("u:", "ut:", "um:", "done:")  # "<kind><tenant>|<rest>"


async def migrate_layout(client: Any, prefix: str, *, dry_run: bool = False) -> dict[str, int]:
    """Rename every old-layout key under `prefix`; returns how many of each kind (would be) moved."""
    moved: dict[str, int] = {}
    renames: list[tuple[str, str]] = []

    async def scan(pattern: str) -> list[str]:
        return [k.decode() async for k in client.scan_iter(match=prefix + pattern, count=1000)]

    for kind in _DIRECTORY:
        for key in await scan(kind + "*"):
            renames.append((key, dir_key(prefix, key[len(prefix) :])))
    for name, new in (("tenants", dir_key(prefix, "tenants")), ("ltenants", ltenants_key(prefix))):
        if await client.exists(prefix + name):
            renames.append((prefix + name, new))
    for kind in _PER_TENANT:
        for key in await scan(kind + "*"):
            rest = key[len(prefix) + len(kind) :]
            tenant, bar, tail = rest.partition("|")
            if bar and not tenant.startswith("{"):
                renames.append((key, tenant_key(prefix, kind[:-1], tenant, "|" + tail)))
    for key in await scan("l:*"):
        tenant = key[len(prefix) + 2 :]
        if not tenant.startswith("{"):
            renames.append((key, tenant_key(prefix, "l", tenant)))
    # Limit windows: the tenant comes from the scope (t:<tenant>, m:<tenant>:<model>) or the key's record.
    key_tenants: dict[str, str] = {}
    for key in await scan("w:*"):
        scope, bar, window = key[len(prefix) + 2 :].rpartition("|")
        if not bar or scope.startswith("{"):
            continue
        owner = await _scope_tenant(client, prefix, scope, key_tenants)
        if owner is not None:
            renames.append((key, tenant_key(prefix, "w", owner, f"{scope}|{window}")))
    for old, new in renames:
        kind = old[len(prefix) :].split(":", 1)[0]
        moved[kind] = moved.get(kind, 0) + 1
        if not dry_run:
            await client.rename(old, new)
    return moved


async def _scope_tenant(client: Any, prefix: str, scope: str, cache: dict[str, str]) -> str | None:
    kind, _, rest = scope.partition(":")
    if kind == "t":
        return rest
    if kind == "m":
        return rest.partition(":")[0]
    if kind != "k":
        return None
    if rest not in cache:
        key_hash = await client.get(prefix + "keyid:" + rest) or await client.get(
            dir_key(prefix, "keyid:" + rest)
        )
        raw = key_hash and (
            await client.get(prefix + "key:" + key_hash.decode())
            or await client.get(dir_key(prefix, "key:" + key_hash.decode()))
        )
        if not raw:
            return None  # a revoked key's counters: nothing checks them any more
        cache[rest] = orjson.loads(raw)["tenant_id"]
    return cache[rest]
