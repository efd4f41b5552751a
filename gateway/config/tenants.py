"""Static tenants (`tenants:`): the admin API's shape plus `keys`, given as hashes or `os.environ/VAR`."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from gateway.config.errors import ConfigError
from gateway.config.reader import Block
from gateway.config.secrets import ENV_PREFIX, resolve_secret
from meters.errors import FieldError
from meters.tenants import Tenant, check_models, hash_key, is_key_hash

KNOWN = frozenset({"id", "name", "limits", "models", "keys"})
HASH_PREFIX = "sha256:"


@dataclass(frozen=True)
class StaticTenant:
    tenant: Tenant
    key_hashes: tuple[str, ...]  # SHA-256 hex digests; the plaintext is never kept


def parse_tenants(top: Block, model_names: Collection[str]) -> tuple[StaticTenant, ...]:
    raw = top.get("tenants") or []
    if not isinstance(raw, list):
        raise top.fail("tenants", "must be a list")
    tenants: list[StaticTenant] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        block = Block(top.file, f"tenants[{i}]", item, KNOWN)
        try:
            tenant = Tenant.from_config(item, block.where)
            check_models(tenant, model_names, block.where)
        except FieldError as exc:
            raise ConfigError(top.file, exc.key, exc.reason) from None
        if tenant.id in seen:
            raise block.fail("id", f"tenant {tenant.id!r} is configured twice")
        seen.add(tenant.id)
        keys = block.get("keys") or []
        if not isinstance(keys, list):
            raise block.fail("keys", "must be a list")
        hashes = tuple(_key_hash(block, f"keys[{j}]", value) for j, value in enumerate(keys))
        tenants.append(StaticTenant(tenant, hashes))
    return tuple(tenants)


def _key_hash(block: Block, key: str, value: object) -> str:
    """`sha256:<hex>` or `os.environ/VAR` (whose value is the plaintext key) → the hash."""
    if isinstance(value, str) and value.startswith(HASH_PREFIX):
        digest = value.removeprefix(HASH_PREFIX).lower()
        if is_key_hash(digest):
            return digest
        raise block.fail(key, "sha256: must be followed by 64 hex digits")
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        secret = resolve_secret(value)
        if secret.value is None:
            raise block.fail(key, f"environment variable {secret.var} is not set")
        return hash_key(secret.value)
    raise block.fail(key, "keys must be 'sha256:<hex>' or 'os.environ/VAR' (never plaintext)")
