"""Per-tenant limits and what to do when one is exceeded.

The limit names and the `on_exceed` shape are a public contract (config files, the admin
API and 429 error codes rely on them):

    {"requests_per_minute": 60, "gco2e_per_month": 500, "spend_per_month": 20, "currency": "EUR",
     "on_exceed": {"gco2e_per_month": "warn", "spend_per_month": {"downgrade": "small-model"}}}

`currency` (ISO 4217) is what `spend_per_month` is in. It is set once per tenant, in the tenant's own
limits, and holds for the narrower limits of its keys and models too: a request priced in another currency
is not counted toward, nor checked against, the tenant's spend limits (never a sum across currencies).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from meters.errors import FieldError, unknown_key_reason


class LimitName(StrEnum):
    REQUESTS_PER_MINUTE = "requests_per_minute"
    TOKENS_PER_MINUTE = "tokens_per_minute"
    TOKENS_PER_DAY = "tokens_per_day"
    TOKENS_PER_MONTH = "tokens_per_month"
    SPEND_PER_MONTH = "spend_per_month"
    GCO2E_PER_MONTH = "gco2e_per_month"


class Window(StrEnum):
    MINUTE = "minute"  # fixed window on the UTC epoch minute
    DAY = "day"  # UTC calendar day
    MONTH = "month"  # UTC calendar month


class PolicyAction(StrEnum):
    REJECT = "reject"  # 429
    WARN = "warn"  # serve, with a warning header
    DOWNGRADE = "downgrade"  # serve on the policy's lower-carbon model


class Quantity(StrEnum):
    REQUESTS = "requests"
    TOKENS = "tokens"
    SPEND = "spend"
    GCO2E = "gco2e"


WINDOW_OF: Mapping[LimitName, Window] = {
    LimitName.REQUESTS_PER_MINUTE: Window.MINUTE,
    LimitName.TOKENS_PER_MINUTE: Window.MINUTE,
    LimitName.TOKENS_PER_DAY: Window.DAY,
    LimitName.TOKENS_PER_MONTH: Window.MONTH,
    LimitName.SPEND_PER_MONTH: Window.MONTH,
    LimitName.GCO2E_PER_MONTH: Window.MONTH,
}

QUANTITY_OF: Mapping[LimitName, Quantity] = {
    LimitName.REQUESTS_PER_MINUTE: Quantity.REQUESTS,
    LimitName.TOKENS_PER_MINUTE: Quantity.TOKENS,
    LimitName.TOKENS_PER_DAY: Quantity.TOKENS,
    LimitName.TOKENS_PER_MONTH: Quantity.TOKENS,
    LimitName.SPEND_PER_MONTH: Quantity.SPEND,
    LimitName.GCO2E_PER_MONTH: Quantity.GCO2E,
}

# Counts of requests and tokens must be whole; money and grams may be fractional.
_INTEGRAL = {Quantity.REQUESTS, Quantity.TOKENS}

ON_EXCEED = "on_exceed"
CURRENCY = "currency"
_ISO_4217 = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class Policy:
    """`reject` (429), `warn` (serve with a warning header) or `downgrade` to `model`."""

    action: PolicyAction
    model: str | None = None

    @property
    def blocks(self) -> bool:
        """Whether an exceeded limit with this policy stops the request as asked."""
        return self.action is not PolicyAction.WARN

    @classmethod
    def parse(cls, value: Any, where: str) -> Policy:
        if value in ("reject", "warn"):
            return cls(PolicyAction(value))
        if isinstance(value, Mapping) and set(value) == {"downgrade"}:
            model = value["downgrade"]
            if isinstance(model, str) and model.strip():
                return cls(PolicyAction.DOWNGRADE, model.strip())
            raise FieldError(where, f"downgrade needs a model name, got {model!r}")
        raise FieldError(where, f"policy must be 'reject', 'warn' or {{downgrade: <model>}}, got {value!r}")

    def to_config(self) -> str | dict[str, str]:
        if self.action is PolicyAction.DOWNGRADE:
            return {"downgrade": self.model or ""}
        return self.action.value


REJECT = Policy(PolicyAction.REJECT)
WARN = Policy(PolicyAction.WARN)


@dataclass(frozen=True, slots=True)
class Limits:
    """Limit values (in natural units: requests, tokens, currency, grams) and their policies."""

    values: Mapping[LimitName, float] = field(default_factory=dict)
    policies: Mapping[LimitName, Policy] = field(default_factory=dict)
    currency: str | None = None  # of `spend_per_month` (ISO 4217); None: the gateway's default

    def get(self, name: LimitName) -> float | None:
        return self.values.get(name)

    def policy(self, name: LimitName) -> Policy:
        return self.policies.get(name, REJECT)

    def __bool__(self) -> bool:
        return bool(self.values)

    def spend_currency(self, default: str) -> str:
        """The currency of this (a tenant's) `spend_per_month`: its own `currency`, else `default`."""
        return self.currency or default

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None, where: str, *, currency: bool = True) -> Limits:
        """Parse the config/admin shape; raise FieldError naming `where`, the key and the problem.
        `currency=False`: a key's or a model's limits, which take the tenant's currency."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise FieldError(where, f"limits must be a mapping, got {type(data).__name__}")
        known = {name.value for name in LimitName}
        values: dict[LimitName, float] = {}
        for key, raw in data.items():
            if key in (ON_EXCEED, CURRENCY):
                continue
            if key not in known:
                raise FieldError(f"{where}.{key}", unknown_key_reason(str(key), known, "limit"))
            values[LimitName(key)] = _parse_value(LimitName(key), raw, f"{where}.{key}")
        policies: dict[LimitName, Policy] = {}
        raw_policies = data.get(ON_EXCEED) or {}
        if not isinstance(raw_policies, Mapping):
            raise FieldError(f"{where}.{ON_EXCEED}", "must be a mapping of limit name to policy")
        for key, raw in raw_policies.items():
            if key not in known:
                raise FieldError(f"{where}.{ON_EXCEED}.{key}", unknown_key_reason(str(key), known, "limit"))
            policies[LimitName(key)] = Policy.parse(raw, f"{where}.{ON_EXCEED}.{key}")
        return cls(
            values, policies, _parse_currency(data.get(CURRENCY), f"{where}.{CURRENCY}", allowed=currency)
        )

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {name.value: value for name, value in self.values.items()}
        if self.currency is not None:
            out[CURRENCY] = self.currency
        if self.policies:
            out[ON_EXCEED] = {name.value: policy.to_config() for name, policy in self.policies.items()}
        return out


def _parse_currency(raw: Any, where: str, *, allowed: bool) -> str | None:
    if raw is None:
        return None
    if not allowed:
        raise FieldError(
            where, "spend limits take the tenant's currency: set it once, in the tenant's limits"
        )
    code = raw.strip().upper() if isinstance(raw, str) else None
    if code is None or not _ISO_4217.match(code):
        raise FieldError(where, f"must be an ISO 4217 currency code such as EUR or USD, got {raw!r}")
    return code


def _parse_value(name: LimitName, raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise FieldError(where, f"must be a number, got {raw!r}")
    if not math.isfinite(raw) or raw < 0:
        raise FieldError(where, f"must be a finite number >= 0, got {raw!r}")
    if QUANTITY_OF[name] in _INTEGRAL:
        if raw != int(raw):
            raise FieldError(where, f"must be a whole number, got {raw!r}")
        return int(raw)
    return float(raw)


class Scope(NamedTuple):
    """A set of counters limits apply to: a tenant, one of its keys, or a tenant's model."""

    scope_id: str
    limits: Limits


def tenant_scope_id(tenant_id: str) -> str:
    return f"t:{tenant_id}"


def key_scope_id(key_id: str) -> str:
    return f"k:{key_id}"


def model_scope_id(tenant_id: str, model: str) -> str:
    return f"m:{tenant_id}:{model}"


def default_scope_ids(tenant_id: str, key_id: str | None, model: str) -> list[str]:
    """The scopes a request's usage is counted in when no reservation says otherwise."""
    ids = [tenant_scope_id(tenant_id)]
    if key_id:
        ids.append(key_scope_id(key_id))
    ids.append(model_scope_id(tenant_id, model))
    return ids
