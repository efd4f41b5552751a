"""Who may call a gateway about to start: a gateway listening beyond loopback with no key configured refuses to
start anonymous unless told to (`--allow-anonymous`, `CARBON_GATEWAY_ALLOW_ANONYMOUS=1` or
`gateway.allow_anonymous: true`); the start-up line says which store is in use and whether access is anonymous."""

from __future__ import annotations

import asyncio
import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

from gateway.config import GatewayConfig
from gateway.config.store import FAIL_CLOSED
from gateway.tenancy.build import ADMIN_KEY_ENV, MASTER_KEY_ENV
from meters.store import SQLITE_FILENAME, StoreUnavailable, default_state_dir, open_store

ALLOW_ANONYMOUS_ENV = "CARBON_GATEWAY_ALLOW_ANONYMOUS"
_TRUE = frozenset({"1", "true", "yes", "on"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def anonymous_allowed(flag: bool, config: GatewayConfig) -> bool:
    return flag or config.gateway.allow_anonymous or os.environ.get(ALLOW_ANONYMOUS_ENV, "").lower() in _TRUE


def describe_store(config: GatewayConfig) -> str:
    settings = config.store
    if settings.redis_url:
        url = urlsplit(settings.redis_url)
        nodes = url.netloc.rpartition("@")[2]  # never the password; a cluster URL names several host:port
        kind = "Redis Cluster" if url.scheme.endswith("+cluster") else "redis"
        return f"{kind} at {url.scheme}://{nodes}{url.path} (on failure: {settings.on_failure})"
    directory = Path(settings.state_dir) if settings.state_dir else default_state_dir()
    return f"embedded SQLite at {directory / SQLITE_FILENAME}"


def access_of(config: GatewayConfig) -> str:
    """`keys`, `anonymous`, or `unknown` (no key configured and the store, which may hold tenants, unreachable)."""
    if os.environ.get(MASTER_KEY_ENV) or os.environ.get(ADMIN_KEY_ENV) or config.tenants:
        return "keys"
    try:
        return "keys" if asyncio.run(_store_has_tenants(config)) else "anonymous"
    except (StoreUnavailable, OSError):
        return "unknown"


async def _store_has_tenants(config: GatewayConfig) -> bool:
    settings = config.store
    store = await open_store(
        settings.redis_url, state_dir=settings.state_dir, prefix=settings.prefix, on_failure=FAIL_CLOSED
    )
    try:
        return bool(await store.directory.list_tenants())
    finally:
        await store.close()


def refusal(host: str, access: str) -> str:
    why = "no key is configured" if access == "anonymous" else "the store cannot say whether tenants exist"
    return (
        f"refusing to serve anonymous access on {host}, beyond loopback: {why}. Set GATEWAY_MASTER_KEY (or "
        f"GATEWAY_ADMIN_KEY, or tenants), listen on 127.0.0.1, or pass --allow-anonymous "
        f"({ALLOW_ANONYMOUS_ENV}=1, gateway.allow_anonymous: true) to serve anyone who can reach it."
    )
