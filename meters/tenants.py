"""Tenants and their API keys. Keys are kept only as SHA-256 hex digests."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from meters.errors import FieldError
from meters.limits import LimitName, Limits, Scope, key_scope_id, model_scope_id, tenant_scope_id

KEY_PREFIX = "cg-"
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def new_key() -> str:
    """A fresh plaintext key, shown once to whoever asked for it."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def key_id_for(key_hash: str) -> str:
    """Short public id; derived from the hash so a static key keeps its id across restarts."""
    return "key_" + key_hash[:12]


def is_key_hash(value: str) -> bool:
    return bool(_HEX64.match(value))


def validate_tenant_id(tenant_id: Any, where: str) -> str:
    # Ids become parts of storage keys, so keep them to a safe alphabet.
    if not isinstance(tenant_id, str) or not _ID_PATTERN.match(tenant_id):
        raise FieldError(where, f"tenant id must match {_ID_PATTERN.pattern}, got {tenant_id!r}")
    return tenant_id


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    tenant_id: str
    key_hash: str
    limits: Limits = field(default_factory=Limits)
    created_at: float = 0.0
    name: str | None = None

    @classmethod
    def from_hash(
        cls, tenant_id: str, key_hash: str, *, limits: Limits | None = None, name: str | None = None
    ) -> ApiKey:
        return cls(key_id_for(key_hash), tenant_id, key_hash, limits or Limits(), time.time(), name)

    def to_dict(self) -> dict[str, Any]:
        """Storage shape. Contains the hash: never send it to clients (use `public_dict`)."""
        return {**self.public_dict(), "key_hash": self.key_hash}

    def public_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "tenant_id": self.tenant_id,
            "limits": self.limits.to_config(),
            "created_at": self.created_at,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApiKey:
        where = f"key {data.get('key_id')}"
        return cls(
            key_id=data["key_id"],
            tenant_id=data["tenant_id"],
            key_hash=data["key_hash"],
            limits=Limits.from_config(data.get("limits"), f"{where}.limits", currency=False),
            created_at=float(data.get("created_at") or 0.0),
            name=data.get("name"),
        )


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str | None = None
    limits: Limits = field(default_factory=Limits)
    model_limits: Mapping[str, Limits] = field(default_factory=dict)  # narrower limits per model
    created_at: float = 0.0

    def scopes(self, key: ApiKey | None, model: str) -> list[Scope]:
        """The scopes a request by `key` for `model` is checked and counted in."""
        scopes = [Scope(tenant_scope_id(self.id), self.limits)]
        if key is not None:
            scopes.append(Scope(key_scope_id(key.key_id), key.limits))
        scopes.append(Scope(model_scope_id(self.id, model), self.model_limits.get(model, Limits())))
        return scopes

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "limits": self.limits.to_config(),
            "models": {model: limits.to_config() for model, limits in self.model_limits.items()},
            "created_at": self.created_at,
        }

    @classmethod
    def from_config(cls, data: Mapping[str, Any], where: str) -> Tenant:
        """The admin/config shape: {"id", "name"?, "limits"?, "models"?: {model: limits}}.

        A static tenant's `keys:` list is not part of the Tenant (the gateway's config reads it).
        """
        if not isinstance(data, Mapping):
            raise FieldError(where, "tenant must be a mapping")
        tenant_id = validate_tenant_id(data.get("id"), f"{where}.id")
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise FieldError(f"{where}.name", "must be a string")
        models = data.get("models") or {}
        if not isinstance(models, Mapping):
            raise FieldError(f"{where}.models", "must be a mapping of model name to limits")
        return cls(
            id=tenant_id,
            name=name,
            limits=Limits.from_config(data.get("limits"), f"{where}.limits"),
            model_limits={
                str(model): Limits.from_config(raw, f"{where}.models.{model}", currency=False)
                for model, raw in models.items()
            },
            created_at=float(data["created_at"] if data.get("created_at") is not None else time.time()),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tenant:
        """The storage shape (`to_dict`)."""
        return cls.from_config(data, f"tenant {data.get('id')!r}")


# The hot path resolves the same few keys over and over: parse each stored JSON once.
# Keyed by the exact stored text, so an update (new text) is never served stale.
@functools.lru_cache(maxsize=4096)
def tenant_from_json(raw: bytes | str) -> Tenant:
    return Tenant.from_dict(orjson.loads(raw))


@functools.lru_cache(maxsize=4096)
def api_key_from_json(raw: bytes | str) -> ApiKey:
    return ApiKey.from_dict(orjson.loads(raw))


def check_limits_models(limits: Limits, served: Collection[str], where: str) -> None:
    """Every downgrade target of `limits` must be a model this gateway serves."""
    for name in LimitName:
        target = limits.policy(name).model
        if target is not None and target not in served:
            raise FieldError(
                f"{where}.on_exceed.{name.value}",
                f"downgrade model {target!r} is not a model this gateway serves",
            )


def check_models(tenant: Tenant, served: Collection[str], where: str) -> None:
    """A tenant may only narrow limits of, and downgrade to, models this gateway serves."""
    for model in tenant.model_limits:
        if model not in served:
            raise FieldError(f"{where}.models.{model}", "is not a model this gateway serves")
    check_limits_models(tenant.limits, served, f"{where}.limits")
    for model, narrowed in tenant.model_limits.items():
        check_limits_models(narrowed, served, f"{where}.models.{model}")
