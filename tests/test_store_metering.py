"""Reserve / settle / release / record on both backends: limits, policies, windows, idempotency."""

from __future__ import annotations

import pytest

from gateway.tenancy.headers import duration, rate_headers
from gateway.tenancy.policies import downgrade_target, rejection
from meters.limits import LimitName, Limits, Policy, Scope
from meters.store import Amounts
from tests.support import stores as helpers
from tests.support.stores import T0, make_record

# Fixtures shared by the store suites (both backends).
factory, store, clock = helpers.factory, helpers.store, helpers.clock


def scopes(tenant_id: str = "acme", model: str = "small", **limits) -> list[Scope]:
    return [
        Scope(f"t:{tenant_id}", Limits.from_config(limits, "test")),
        Scope(f"m:{tenant_id}:{model}", Limits()),
    ]


async def reserve(store, tenant_id="acme", *, gco2e=0.0, tokens=0, spend=0.0, scope_list=None, **kwargs):
    return await store.meter.reserve(
        tenant_id,
        key_id=None,
        model="small",
        amounts=Amounts(tokens=tokens, spend=spend, gco2e=gco2e),
        scopes=scope_list if scope_list is not None else scopes(tenant_id),
        **kwargs,
    )


async def test_reserve_settle_counts_and_snapshot(store, clock):
    limit = scopes(gco2e_per_month=10, requests_per_minute=5, tokens_per_minute=1000)
    outcome = await reserve(store, gco2e=2.0, tokens=300, scope_list=limit)
    assert outcome.ok and outcome.reservation_id and not outcome.blocked and not outcome.degraded
    snap = outcome.snapshot
    assert (snap.requests_limit, snap.requests_remaining, snap.requests_reset_s) == (5, 4, 30.0)
    assert (snap.tokens_limit, snap.tokens_remaining) == (1000, 700)
    assert snap.gco2e_budget_remaining == pytest.approx(8.0)
    assert await store.meter.outstanding_reservations("acme") == 1
    assert await store.meter.settle(outcome.reservation, make_record("acme", gco2e=1.25, completion_tokens=90))
    assert await store.meter.outstanding_reservations("acme") == 0
    after = await reserve(store, gco2e=0.5, tokens=10, scope_list=limit)
    # One request counted, 100 tokens used, 1.25 g used (+ 0.5 held by this reservation).
    assert after.snapshot.requests_remaining == 3
    assert after.snapshot.tokens_remaining == 1000 - 100 - 10
    assert after.snapshot.gco2e_budget_remaining == pytest.approx(10 - 1.25 - 0.5)
    assert after.snapshot.tenant_month_gco2e == pytest.approx(1.25)


async def test_reject_blocks_without_reserving(store, clock):
    limit = scopes(gco2e_per_month=1.0)
    first = await reserve(store, gco2e=0.6, scope_list=limit)
    assert first.ok
    second = await reserve(store, gco2e=0.6, scope_list=limit)  # 0.6 held + 0.6 > 1.0
    assert not second.ok and second.reservation is None
    [exceeded] = second.blocked
    assert exceeded.limit == LimitName.GCO2E_PER_MONTH and exceeded.scope == "t:acme"
    assert exceeded.policy == Policy("reject") and exceeded.current == pytest.approx(0.6)
    assert exceeded.retry_after_s == 1_901_232_000 - int(T0)  # to 2030-04-01T00:00Z
    assert await store.meter.outstanding_reservations("acme") == 1
    await store.meter.release(first.reservation)
    assert await store.meter.outstanding_reservations("acme") == 0
    assert (await reserve(store, gco2e=0.6, scope_list=limit)).ok  # released budget is usable again


async def test_warn_reserves_and_reports(store):
    limit = scopes(tokens_per_day=100, on_exceed={"tokens_per_day": "warn"})
    outcome = await reserve(store, tokens=150, scope_list=limit)
    assert outcome.ok and not outcome.blocked
    assert [w.limit for w in outcome.warnings] == [LimitName.TOKENS_PER_DAY]
    assert outcome.snapshot.tokens_limit is None  # per-day limits are not the per-minute header
    assert await store.meter.outstanding_reservations("acme") == 1


async def test_downgrade_blocks_then_allows_the_downgraded_request(store):
    limit = scopes(spend_per_month=0.01, on_exceed={"spend_per_month": {"downgrade": "tiny"}})
    blocked = await reserve(store, spend=0.02, scope_list=limit)
    assert not blocked.ok and blocked.blocked[0].policy == Policy("downgrade", "tiny")
    downgraded = await reserve(store, spend=0.02, scope_list=limit, downgraded=True)
    assert downgraded.ok and downgraded.warnings[0].limit == LimitName.SPEND_PER_MONTH
    # A reject limit still blocks a downgraded request.
    both = scopes(
        spend_per_month=0.01, gco2e_per_month=0.1, on_exceed={"spend_per_month": {"downgrade": "tiny"}}
    )
    outcome = await reserve(store, spend=0.02, gco2e=1.0, scope_list=both, downgraded=True)
    assert not outcome.ok and [e.limit for e in outcome.blocked] == [LimitName.GCO2E_PER_MONTH]


async def test_every_scope_is_checked(store):
    key_scope = Scope("k:key_1", Limits.from_config({"requests_per_minute": 1}, "key"))
    limit = [*scopes(requests_per_minute=100), key_scope]
    assert (await reserve(store, scope_list=limit)).ok
    outcome = await reserve(store, scope_list=limit)
    assert not outcome.ok and outcome.blocked[0].scope == "k:key_1"
    assert outcome.snapshot.requests_remaining == 0
    other_key = [*scopes(requests_per_minute=100), Scope("k:key_2", key_scope.limits)]
    assert (await reserve(store, scope_list=other_key)).ok


async def test_minute_window_resets(store, clock):
    limit = scopes(requests_per_minute=2)
    for _ in range(2):
        outcome = await reserve(store, scope_list=limit)
        await store.meter.release(outcome.reservation)  # a failed request still used the rate
    blocked = await reserve(store, scope_list=limit)
    assert not blocked.ok and blocked.blocked[0].retry_after_s == 30
    clock.advance(30)  # the next UTC minute
    assert (await reserve(store, scope_list=limit)).ok


async def test_month_window_resets_but_day_and_month_counts_persist_within(store, clock):
    limit = scopes(tokens_per_day=100, tokens_per_month=150)
    assert await store.meter.record(make_record("acme", prompt_tokens=40, completion_tokens=40))
    assert not (await reserve(store, tokens=30, scope_list=limit)).ok  # 80 + 30 > 100 today
    clock.advance(86400)
    assert (await reserve(store, tokens=30, scope_list=limit, ttl_s=1)).ok  # new day, same month
    later = make_record("acme", timestamp=clock.now, prompt_tokens=30, completion_tokens=0)
    assert await store.meter.record(later)
    outcome = await reserve(store, tokens=30, scope_list=limit)
    assert [e.limit for e in outcome.blocked] == [
        LimitName.TOKENS_PER_MONTH
    ]  # month: 110 (+30 held) + 30 > 150; day: 30 + 30 + 30 <= 100
    clock.now = 1_901_232_000 + 5  # 2030-04-01
    assert (await reserve(store, tokens=30, scope_list=limit)).ok


async def test_reservations_expire(store, clock):
    limit = scopes(gco2e_per_month=1.0)
    assert (await reserve(store, gco2e=1.0, scope_list=limit, ttl_s=10)).ok
    assert not (await reserve(store, gco2e=0.1, scope_list=limit)).ok
    clock.advance(11)  # the worker that held it "crashed": its hold must not leak
    assert await store.meter.outstanding_reservations("acme") == 0
    assert (await reserve(store, gco2e=1.0, scope_list=limit)).ok


async def test_settle_is_idempotent_and_after_expiry_still_counts(store, clock):
    limit = scopes(gco2e_per_month=10)
    outcome = await reserve(store, gco2e=1.0, scope_list=limit, ttl_s=5)
    record = make_record("acme", gco2e=2.0)
    clock.advance(6)  # expired before the (slow) request finished
    assert await store.meter.settle(outcome.reservation, record) is True
    assert await store.meter.settle(outcome.reservation, record) is False
    assert await store.meter.record(record) is False
    usage = await store.reports.usage("acme", "2030-03")
    assert usage["totals"]["requests"] == 1 and usage["totals"]["gco2e"] == pytest.approx(2.0)
    assert (await reserve(store, gco2e=0, scope_list=limit)).snapshot.gco2e_budget_remaining == pytest.approx(
        8
    )


async def test_settle_by_reservation_id_string(store):
    outcome = await reserve(store, gco2e=1.0)
    assert await store.meter.settle(outcome.reservation_id, make_record("acme"))
    assert await store.meter.outstanding_reservations("acme") == 0


async def test_usage_report_by_model_day_tag_and_isolation(store):
    await store.meter.record(make_record("acme", model="small", gco2e=0.5, spend=0.25, tags={"build": "42"}))
    await store.meter.record(
        make_record("acme", model="big", gco2e=1.5, spend=0.5, tags={"build": "42", "team": "ml"})
    )
    await store.meter.record(make_record("acme", model="big", timestamp=T0 + 86400, gco2e=1.0, spend=0.25))
    await store.meter.record(make_record("globex", gco2e=100.0))
    report = await store.reports.usage("acme", "2030-03")
    totals = report["totals"]
    assert totals["requests"] == 3 and totals["total_tokens"] == 90
    assert totals["gco2e"] == pytest.approx(3.0) and totals["spend"] == pytest.approx(1.0)
    assert totals["gco2e_min"] == pytest.approx(1.5) and totals["gco2e_max"] == pytest.approx(6.0)
    assert totals["energy_wh"] == pytest.approx(30.0) and totals["water_ml"] == pytest.approx(9.0)
    assert report["by_model"]["big"]["requests"] == 2
    assert set(report["by_day"]) == {"2030-03-15", "2030-03-16"}
    assert report["by_tag"]["build=42"]["gco2e"] == pytest.approx(2.0)
    assert report["by_tag"]["team=ml"]["requests"] == 1
    day = await store.reports.usage("acme", "2030-03-16")
    assert day["totals"]["gco2e"] == pytest.approx(1.0)
    assert (await store.reports.usage("acme", "2030"))["totals"]["requests"] == 3
    assert (await store.reports.usage("acme", "2030-02"))["totals"]["requests"] == 0
    with pytest.raises(ValueError, match="period"):
        await store.reports.usage("acme", "March")


async def test_spend_and_gco2e_sums_are_exact(store):
    for _ in range(1000):
        await store.meter.record(make_record("acme", gco2e=0.1, spend=0.0001))
    totals = (await store.reports.usage("acme", "2030-03"))["totals"]
    # Floats would drift (sum of 1000 x 0.1 != 100.0); integer nano-units do not.
    assert totals["gco2e"] == 100.0 and totals["spend"] == 0.1


async def test_a_request_id_counts_once_per_tenant_and_is_found_again(store):
    """Idempotency is per tenant: another tenant's request of the same id is another request."""
    assert await store.meter.record(make_record("acme", request_id="build-1", gco2e=1.0))
    assert not await store.meter.record(make_record("acme", request_id="build-1", gco2e=1.0))
    assert await store.meter.record(make_record("globex", request_id="build-1", gco2e=2.0))
    assert (await store.reports.usage("acme", "2030-03"))["totals"]["requests"] == 1
    assert (await store.reports.usage("globex", "2030-03"))["totals"]["requests"] == 1
    mine = await store.reports.request("build-1", "acme")
    assert mine is not None and mine["tenant_id"] == "acme" and mine["carbon"]["gco2e"] == 1.0
    assert (await store.reports.request("build-1", "globex"))["carbon"]["gco2e"] == 2.0
    assert await store.reports.request("build-1", "initech") is None
    assert await store.reports.request("never-counted", "acme") is None
    anyone = await store.reports.request("build-1", None)  # an admin's look-up: some tenant's
    assert anyone is not None and anyone["tenant_id"] in {"acme", "globex"}


async def test_ledger_keeps_one_record_per_request(store):
    first = make_record("acme", request_id="req-1", tags={"build": "7"})
    await store.meter.record(first)
    await store.meter.record(first)  # duplicate: not in the ledger twice
    await store.meter.record(make_record("acme", request_id="req-2", timestamp=T0 + 3600))
    await store.meter.record(make_record("globex", request_id="req-3"))
    entries = [e async for e in store.reports.ledger("acme", T0 - 1, T0 + 7200)]
    assert [e["request_id"] for e in entries] == ["req-1", "req-2"]
    assert entries[0]["carbon"]["gco2e"] == 0.5 and entries[0]["tags"] == {"build": "7"}
    assert [e["request_id"] async for e in store.reports.ledger("acme", T0 + 1, T0 + 7200)] == ["req-2"]
    everyone = sorted([e["request_id"] async for e in store.reports.ledger(None, T0 - 1, T0 + 7200)])
    assert everyone == ["req-1", "req-2", "req-3"]


async def test_reservation_carries_what_it_was_for(store):
    outcome = await store.meter.reserve(
        "acme", key_id="key_abc", model="small", amounts=Amounts(tokens=5, gco2e=0.1), scopes=scopes()
    )
    reservation = outcome.reservation
    assert (reservation.tenant_id, reservation.model, reservation.key_id) == ("acme", "small", "key_abc")
    assert reservation.scope_ids == ("t:acme", "m:acme:small")
    assert reservation.amounts == Amounts(tokens=5, gco2e=0.1)
    assert reservation.expires_at == T0 + 120.0


async def test_outcome_tells_the_gateway_what_to_answer(store):
    """What clients see comes from the live edge: gateway.tenancy.headers and gateway.tenancy.policies."""
    limit = scopes(
        requests_per_minute=1,
        gco2e_per_month=1.0,
        spend_per_month=1.0,
        on_exceed={"spend_per_month": {"downgrade": "tiny"}},
    )
    first = await reserve(store, gco2e=0.5, scope_list=limit)
    assert first.ok and not first.blocked
    headers = rate_headers(first.snapshot)
    assert headers["x-ratelimit-limit-requests"] == "1" and headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "30s"
    assert headers["x-carbon-budget-remaining-gco2e"] == "0.5"
    assert "x-ratelimit-limit-tokens" not in headers
    both = await reserve(store, gco2e=0.6, scope_list=limit)  # requests and carbon both exceeded
    refused = rejection("acme", both.blocked, {})
    assert refused.code == "carbon_budget_exceeded"  # the month outlasts the minute
    assert int(refused.headers["retry-after"]) > 86400 and downgrade_target(both.blocked) is None
    spend_only = scopes("other", spend_per_month=1.0, on_exceed={"spend_per_month": {"downgrade": "tiny"}})
    downgrade_only = await reserve(store, "other", spend=2.0, scope_list=spend_only)
    assert downgrade_target(downgrade_only.blocked) == "tiny"
    # A reject limit and a downgrade limit blocking together: no downgrade, the reject limit's 429.
    mixed = scopes("mixed", tokens_per_minute=1, spend_per_month=1.0, on_exceed={"spend_per_month": {"downgrade": "tiny"}})
    together = await reserve(store, "mixed", tokens=5, spend=2.0, scope_list=mixed)
    assert downgrade_target(together.blocked) is None
    assert rejection("mixed", together.blocked, {}).code == "token_quota_exceeded"


def test_durations_follow_openai_format():
    assert [duration(s) for s in (0.02, 1, 59.6, 360)] == ["1s", "1s", "1m0s", "6m0s"]
