"""`redis+cluster://` URLs and the key names that keep one tenant's keys in one hash slot."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from meters.store.redis.connection import cluster_nodes
from meters.store.redis.keys import (
    anchor,
    check_prefix,
    dir_key,
    new_reservation_id,
    reservation_tenant,
    tenant_key,
)


def test_cluster_url_nodes_and_credentials():
    assert cluster_nodes("redis+cluster://10.0.0.1:6379,10.0.0.2:6380") == (
        "redis://10.0.0.1:6379",
        [("10.0.0.1", 6379), ("10.0.0.2", 6380)],
    )
    assert cluster_nodes("rediss+cluster://u:p@a:1,b:2/0")[0] == "rediss://u:p@a:1"
    with pytest.raises(ValueError, match="database 0"):
        cluster_nodes("redis+cluster://a:1/3")
    with pytest.raises(ValueError, match="host:port"):
        cluster_nodes("redis+cluster://a:1,b")


def test_a_tenants_keys_share_one_slot_and_ids_name_their_tenant():
    prefix = "cg:"
    names = [
        anchor(prefix, "acme"),
        tenant_key(prefix, "w", "acme", "k:key1|2030-03"),
        tenant_key(prefix, "u", "acme", "|2030-03-15"),
        tenant_key(prefix, "l", "acme"),
        tenant_key(prefix, "r", "acme", new_reservation_id("acme")),
    ]
    assert len({key_slot(name.encode()) for name in names}) == 1
    assert key_slot(tenant_key(prefix, "l", "other").encode()) != key_slot(names[0].encode())
    assert key_slot(dir_key(prefix, "key:abc").encode()) == key_slot(dir_key(prefix, "tenant:acme").encode())
    assert reservation_tenant(new_reservation_id("acme.eu-1")) == "acme.eu-1"
    assert reservation_tenant("short") is None
    with pytest.raises(ValueError, match="braces"):
        check_prefix("cg:{x}:")
