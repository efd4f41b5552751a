"""The guard of a gateway that needs keys: who is calling, and may this request go ahead (on which model)."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request

from gateway import auth
from gateway.admission import Admission
from gateway.errors import GatewayError
from gateway.observability.telemetry import Telemetry
from gateway.registry import ModelRegistry, ModelRuntime
from gateway.tenancy import headers as h
from gateway.tenancy.currency import SpendCurrency
from gateway.tenancy.keys import KeyResolver
from gateway.tenancy.policies import downgrade_target, rejection
from gateway.tenancy.sizing import reservation_amounts
from meters.limits import LimitName, Limits, Scope
from meters.store import Amounts, Meter, ReserveOutcome, StoreUnavailable
from meters.tenants import ApiKey, Tenant

log = logging.getLogger("carbon_gateway.tenancy")

STREAM_RESERVATION_S = 900.0  # a stream lasts up to gateway.stream_max_duration_s; expiry only guards crashes
RESERVATION_MARGIN_S = 60.0
SCOPE_CACHE_MAX = 4096
PRINCIPAL_CACHE_MAX = 4096


def store_unavailable() -> GatewayError:
    return GatewayError(
        503,
        "The usage store is unreachable and store.on_failure is fail_closed: the gateway "
        "cannot check limits, so it refuses requests until the store is back.",
        code="store_unavailable",
    )


class TenantGuard:
    anonymous = False

    def __init__(
        self,
        *,
        registry: ModelRegistry,
        meter: Meter,
        resolver: KeyResolver,
        telemetry: Telemetry,
        master_key: str | None,
        reserve_completion_tokens: int,
        spend_currency: SpendCurrency,
        stream_max_duration_s: float = STREAM_RESERVATION_S,
    ) -> None:
        self._registry = registry
        self._meter = meter
        self._resolver = resolver
        self._telemetry = telemetry
        self._master_key = master_key
        self._reserve_completion_tokens = reserve_completion_tokens
        self._spend = spend_currency
        self._stream_reservation_s = max(STREAM_RESERVATION_S, stream_max_duration_s + RESERVATION_MARGIN_S)
        self._scope_cache: dict[tuple[int, int, str, bool], tuple[Tenant, ApiKey | None, list[Scope]]] = {}
        # id of a resolved (tenant, key) pair -> (the pair, its Principal): the key cache hands out the same pair
        # until it refreshes it, so a Principal (a frozen dataclass, ~0.5 µs to build) is made once per pair.
        self._principals: dict[int, tuple[tuple[Tenant, ApiKey], auth.Principal]] = {}

    async def authenticate(self, request: Request) -> auth.Principal:
        key = auth.presented_key(request)
        if key is None:
            raise auth.unauthorized("Missing API key: send `Authorization: Bearer <key>`.")
        if self._master_key is not None and auth.same_secret(key, self._master_key):
            return auth.MASTER
        try:
            found = await self._resolver.resolve(key)
        except StoreUnavailable:
            raise store_unavailable() from None
        if found is None:
            raise auth.unauthorized()
        cached = self._principals.get(id(found))
        if cached is not None and cached[0] is found:
            return cached[1]
        tenant, api_key = found
        principal = auth.Principal(tenant.id, api_key.key_id, tenant=tenant, key=api_key)
        if len(self._principals) >= PRINCIPAL_CACHE_MAX:
            self._principals.clear()
        self._principals[id(found)] = (found, principal)  # holding the pair keeps its id unique
        return principal

    async def admit(self, admission: Admission, payload: dict[str, Any]) -> None:
        principal = admission.principal
        if principal.tenant is None:
            return  # the master key: unlimited, its usage still counted
        asked = admission.runtime
        outcome = await self._reserve(admission, asked, payload, downgraded=False)
        if not outcome.ok:
            target = downgrade_target(outcome.blocked)
            lower = self._registry.get(target) if target else None
            if lower is not None and lower is not asked:
                outcome = await self._reserve(admission, lower, payload, downgraded=True)
                if outcome.ok:
                    admission.runtime = lower
                    admission.headers[h.DOWNGRADED_FROM] = asked.name
        headers = h.rate_headers(outcome.snapshot)
        if outcome.warnings:
            headers[h.LIMIT_WARNING] = h.warning_header(outcome.warnings)
        if outcome.degraded:
            headers[h.STORE_DEGRADED] = "limits not checked: the store is unreachable (fail_open)"
        self._observe(principal, principal.tenant, outcome)
        if not outcome.ok:
            raise rejection(
                principal.tenant_id, outcome.blocked, headers, spend_currency=self._spend.of(principal.tenant)
            )
        admission.reservation = outcome.reservation
        admission.headers.update(headers)

    def revoked(self, key_id: str) -> None:
        self._resolver.forget(key_id)

    def changed(self, tenant_id: str) -> None:
        self._resolver.forget_tenant(tenant_id)

    async def _reserve(
        self, admission: Admission, runtime: ModelRuntime, payload: dict[str, Any], *, downgraded: bool
    ) -> ReserveOutcome:
        principal = admission.principal
        assert principal.tenant is not None
        amounts = reservation_amounts(runtime, admission.endpoint, payload, self._reserve_completion_tokens)
        counted = self._spend.counts(principal.tenant, principal.key, runtime.name, runtime.currency)
        if not counted and amounts.spend:
            amounts = Amounts(amounts.tokens, 0.0, amounts.gco2e)
        # The last reservation tried is the admitted one's (a downgrade is tried only when the first failed).
        admission.limit_spend = counted
        try:
            return await self._meter.reserve(
                principal.tenant_id,
                key_id=principal.key_id,
                model=runtime.name,
                amounts=amounts,
                scopes=self._scopes(principal, runtime.name, counted),
                ttl_s=self._reservation_ttl(runtime, admission.stream),
                downgraded=downgraded,
            )
        except StoreUnavailable:
            raise store_unavailable() from None

    def _scopes(self, principal: auth.Principal, model: str, spend_counted: bool) -> list[Scope]:
        """The tenant's scopes for this key and model, built once per tenant/key record (the key
        cache hands out the same records until it refreshes them). A request whose spend does not count
        (priced in another currency than the tenant's spend limits) is not checked against them."""
        tenant, key = principal.tenant, principal.key
        assert tenant is not None
        cache_key = (id(tenant), id(key), model, spend_counted)
        cached = self._scope_cache.get(cache_key)
        if cached is not None and cached[0] is tenant and cached[1] is key:
            return cached[2]
        scopes = tenant.scopes(key, model)
        if not spend_counted:
            scopes = [Scope(scope.scope_id, _without_spend(scope.limits)) for scope in scopes]
        if len(self._scope_cache) >= SCOPE_CACHE_MAX:
            self._scope_cache.clear()
        self._scope_cache[cache_key] = (tenant, key, scopes)  # holding them keeps their ids unique
        return scopes

    def _reservation_ttl(self, runtime: ModelRuntime, stream: bool) -> float:
        # Long enough for every attempt on the model and its fallbacks; expiry only frees what a
        # crashed worker held (a finished request settles or releases its reservation at once).
        entry = runtime.entry
        ttl = (
            entry.connect_timeout_s
            + entry.timeout_s * self._registry.attempts(runtime)
            + RESERVATION_MARGIN_S
        )
        return max(ttl, self._stream_reservation_s) if stream else ttl

    def _observe(self, principal: auth.Principal, tenant: Tenant, outcome: ReserveOutcome) -> None:
        if not outcome.ok:
            code = rejection(principal.tenant_id, outcome.blocked, {}).code or "limit_exceeded"
            self._telemetry.rejected(tenant=principal.tenant_id, reason=code)
        budget = tenant.limits.get(LimitName.GCO2E_PER_MONTH)
        remaining = outcome.snapshot.gco2e_budget_remaining
        if budget is not None and remaining is not None:
            self._telemetry.budget(
                tenant=principal.tenant_id, kind="gco2e", limit=budget, remaining=remaining
            )


def _without_spend(limits: Limits) -> Limits:
    spend = LimitName.SPEND_PER_MONTH
    return Limits(
        {name: value for name, value in limits.values.items() if name is not spend},
        {name: policy for name, policy in limits.policies.items() if name is not spend},
        limits.currency,
    )
