"""Key names of the Redis store: every key of one tenant shares the hash tag {tenant}, global keys their own.

A tenant's keys are `P <kind>:{<tenant>}<rest>` (scripts.py lists them): each atomic script touches one
hash slot, so the store runs on Redis Cluster as on a single Redis. Global keys: the tenant directory
`P{dir}...` (tenants, key hashes, key ids, a tenant's key hashes: one slot, so deleting a tenant stays
one script), `P{ltenants}` (tenants with a ledger), the label registry and the audited imports; they are
never written inside a tenant's script.
"""

from __future__ import annotations

import uuid

DIR = "{dir}"
LTENANTS = "{ltenants}"
_ID_HEX = 32  # a reservation id is uuid4().hex followed by its tenant id


def check_prefix(prefix: str) -> str:
    """The prefix comes before every hash tag: a brace in it would become the tag of every key."""
    if "{" in prefix or "}" in prefix:
        raise ValueError(f"store.prefix must not contain braces (Redis hash tags), got {prefix!r}")
    return prefix


def tenant_key(prefix: str, kind: str, tenant_id: str, rest: str = "") -> str:
    return f"{prefix}{kind}:{{{tenant_id}}}{rest}"


def anchor(prefix: str, tenant_id: str) -> str:
    """The key every script of this tenant declares as KEYS[1] (so a cluster client routes it)."""
    return tenant_key(prefix, "rz", tenant_id)


def dir_key(prefix: str, rest: str) -> str:
    return f"{prefix}{DIR}{rest}"


def ltenants_key(prefix: str) -> str:
    """The set of tenants with a ledger (and report aggregates): what cross-tenant reads go through."""
    return f"{prefix}{LTENANTS}"


def labels_key(prefix: str) -> str:
    """The label registry: label id -> the label's JSON (reports' aggregates name labels by id)."""
    return f"{prefix}labels:{{labels}}"


def audited_key(prefix: str, month: str) -> str:
    """A month's audited imports: field "versions" and one field per version."""
    return f"{prefix}aud:{{audited}}|{month}"


def audited_months_key(prefix: str) -> str:
    """The months with an audited import (same slot as the imports: ADD_AUDITED writes both)."""
    return f"{prefix}audm:{{audited}}"


def new_reservation_id(tenant_id: str) -> str:
    return uuid.uuid4().hex + tenant_id


def reservation_tenant(reservation_id: str) -> str | None:
    """The tenant of a reservation or lease id (None: not one of ours)."""
    tenant = reservation_id[_ID_HEX:]
    return tenant or None
