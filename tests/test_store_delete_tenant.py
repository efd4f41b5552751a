"""TenantDirectory.delete_tenant on both backends: the tenant and its keys go, its usage stays (issue 13, item 5)."""

from __future__ import annotations

from meters.limits import Limits
from meters.tenants import Tenant
from tests.support import stores as helpers

factory, store, clock = helpers.factory, helpers.store, helpers.clock


async def test_delete_revokes_every_key_and_keeps_the_usage(store) -> None:
    directory = store.directory
    await directory.put_tenant(Tenant("acme", limits=Limits.from_config({"requests_per_minute": 5}, "t")))
    await directory.put_tenant(Tenant("globex"))
    first, first_plain = await directory.issue_key("acme")
    second, second_plain = await directory.issue_key("acme", name="ci")
    other, other_plain = await directory.issue_key("globex")
    assert await store.meter.record(helpers.make_record("acme", key_id=first.key_id, request_id="r-1"))

    revoked = await directory.delete_tenant("acme")

    assert revoked == sorted([first.key_id, second.key_id])
    assert await directory.get_tenant("acme") is None
    assert [t.id for t in await directory.list_tenants()] == ["globex"]
    assert await directory.list_keys("acme") == []
    assert await directory.resolve_key(first_plain) is None
    assert await directory.resolve_key(second_plain) is None
    assert await directory.revoke_key(first.key_id) is False  # gone with its tenant
    assert (await directory.resolve_key(other_plain))[1] == other  # another tenant's keys untouched
    usage = await store.reports.usage("acme", "2030-03")
    assert usage["totals"]["requests"] == 1  # kept for reports
    assert (await store.reports.request("r-1", "acme"))["key_id"] == first.key_id


async def test_deleting_an_unknown_tenant_says_so(store) -> None:
    assert await store.directory.delete_tenant("nobody") is None


async def test_a_deleted_tenant_can_be_created_again_without_its_old_keys(store) -> None:
    directory = store.directory
    await directory.put_tenant(Tenant("acme"))
    old, old_plain = await directory.issue_key("acme")
    assert await directory.delete_tenant("acme") == [old.key_id]
    await directory.put_tenant(Tenant("acme"))
    assert await directory.list_keys("acme") == []
    assert await directory.resolve_key(old_plain) is None
