"""Which requests' spend counts toward a tenant's spend limits: those priced in the limits' currency.

A tenant's `spend_per_month` is in its `limits.currency`, else in the gateway's default: the one currency its
priced models share, or USD (LiteLLM's) when they share none. A request priced in another currency is still
metered (its spend kept under its own currency in usage and reports) but not counted toward, nor checked
against, that limit; the gateway says so in its log once per tenant and model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from meters.limits import LimitName
from meters.tenants import ApiKey, Tenant

log = logging.getLogger("carbon_gateway.tenancy")

DEFAULT_CURRENCY = "USD"  # LiteLLM's prices are in USD
_WARNED_MAX = 4096


def default_currency(priced: Iterable[str]) -> str:
    """The default currency of spend limits: the one currency the priced models share, else USD."""
    currencies = set(priced)
    return currencies.pop() if len(currencies) == 1 else DEFAULT_CURRENCY


def has_spend_limit(tenant: Tenant, key: ApiKey | None) -> bool:
    limits = [tenant.limits, *tenant.model_limits.values(), *([key.limits] if key is not None else [])]
    return any(limit.get(LimitName.SPEND_PER_MONTH) is not None for limit in limits)


class SpendCurrency:
    """Decides, per request, whether its spend counts toward its tenant's spend limits."""

    def __init__(self, default: str) -> None:
        self.default = default
        self._warned: set[tuple[str, str]] = set()

    def of(self, tenant: Tenant) -> str:
        return tenant.limits.spend_currency(self.default)

    def counts(self, tenant: Tenant, key: ApiKey | None, model: str, currency: str) -> bool:
        """Whether spend in `currency` (of `model`) counts toward `tenant`'s spend limits; warns once per
        tenant and model when it does not and the tenant has a spend limit."""
        limit_currency = tenant.limits.spend_currency(self.default)
        if currency == limit_currency:
            return True
        if (tenant.id, model) not in self._warned and has_spend_limit(tenant, key):
            if len(self._warned) >= _WARNED_MAX:
                self._warned.clear()
            self._warned.add((tenant.id, model))
            log.warning(
                "tenant %r: model %r is priced in %s, its spend limits are in %s%s: that model's spend is metered "
                "but not counted toward them (set limits.currency, or price the model in %s)",
                tenant.id,
                model,
                currency,
                limit_currency,
                "" if tenant.limits.currency else " (the gateway's default; the tenant sets no currency)",
                limit_currency,
            )
        return False
