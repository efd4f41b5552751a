"""Limits, policies, tenants and key helpers: parsing and validation."""

from __future__ import annotations

import pytest

from meters.limits import REJECT, WARN, LimitName, Limits, Policy
from meters.tenants import (
    ApiKey,
    Tenant,
    hash_key,
    key_id_for,
    new_key,
)


def test_limits_parse_values_and_policies():
    limits = Limits.from_config(
        {
            "requests_per_minute": 60,
            "tokens_per_day": 100_000,
            "spend_per_month": 12.5,
            "gco2e_per_month": 500,
            "on_exceed": {"gco2e_per_month": "warn", "spend_per_month": {"downgrade": "small"}},
        },
        "tenants[0].limits",
    )
    assert limits.get(LimitName.REQUESTS_PER_MINUTE) == 60
    assert limits.get(LimitName.SPEND_PER_MONTH) == 12.5
    assert limits.get(LimitName.TOKENS_PER_MONTH) is None
    assert limits.policy(LimitName.GCO2E_PER_MONTH) == WARN
    assert limits.policy(LimitName.SPEND_PER_MONTH) == Policy("downgrade", "small")
    assert limits.policy(LimitName.REQUESTS_PER_MINUTE) == REJECT  # the default
    assert Limits.from_config(limits.to_config(), "again") == limits


def test_limit_names_are_the_public_contract():
    assert [name.value for name in LimitName] == [
        "requests_per_minute",
        "tokens_per_minute",
        "tokens_per_day",
        "tokens_per_month",
        "spend_per_month",
        "gco2e_per_month",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"gco2e_per_year": 1}, "cfg.gco2e_per_year: unknown limit"),
        ({"requests_per_minute": 1.5}, "cfg.requests_per_minute: must be a whole number"),
        ({"tokens_per_day": -1}, "cfg.tokens_per_day: must be a finite number >= 0"),
        ({"spend_per_month": "10"}, "cfg.spend_per_month: must be a number"),
        ({"spend_per_month": True}, "cfg.spend_per_month: must be a number"),
        ({"on_exceed": {"gco2e_per_month": "shout"}}, "cfg.on_exceed.gco2e_per_month: policy must be"),
        ({"on_exceed": {"gco2e_per_month": {"downgrade": ""}}}, "downgrade needs a model name"),
        ({"on_exceed": {"nope": "warn"}}, "cfg.on_exceed.nope: unknown limit"),
        ({"on_exceed": ["warn"]}, "cfg.on_exceed: must be a mapping"),
        (["requests_per_minute"], "cfg: limits must be a mapping"),
    ],
)
def test_limits_errors_name_where_key_and_problem(data, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(".", r"\.")):
        Limits.from_config(data, "cfg")


def test_keys_are_random_hashed_and_have_stable_short_ids():
    first, second = new_key(), new_key()
    assert first.startswith("cg-") and len(first) > 40 and first != second
    digest = hash_key(first)
    assert len(digest) == 64 and digest != hash_key(second)
    assert key_id_for(digest) == key_id_for(digest) == "key_" + digest[:12]


def test_tenant_from_config_and_scopes():
    tenant = Tenant.from_config(
        {
            "id": "acme",
            "name": "Acme",
            "limits": {"gco2e_per_month": 100},
            "models": {"big": {"tokens_per_day": 1000}},
        },
        "tenants[0]",
    )
    key = ApiKey.from_hash(
        "acme", hash_key("cg-x"), limits=Limits.from_config({"requests_per_minute": 5}, "k")
    )
    scopes = tenant.scopes(key, "big")
    assert [s.scope_id for s in scopes] == ["t:acme", f"k:{key.key_id}", "m:acme:big"]
    assert scopes[2].limits.get(LimitName.TOKENS_PER_DAY) == 1000
    assert not tenant.scopes(None, "other")[1].limits
    assert Tenant.from_dict(tenant.to_dict()) == tenant
    assert "key_hash" not in key.public_dict() and ApiKey.from_dict(key.to_dict()) == key


@pytest.mark.parametrize("bad", [None, "", "a b", "x" * 65, "a:b", "-lead"])
def test_tenant_ids_are_restricted(bad):
    with pytest.raises(ValueError, match=r"tenants\[1\]\.id: tenant id must match"):
        Tenant.from_config({"id": bad}, "tenants[1]")
