"""The guard of a gateway that needs keys: who is calling, and may this request go ahead (on which model)."""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

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
PLAN_CACHE_MAX = 4096
PRINCIPAL_CACHE_MAX = 4096


class _Plan(NamedTuple):
    """Reserving for one principal's requests on one model."""

    principal: auth.Principal
    runtime: ModelRuntime
    spend_counted: bool  # its spend counts toward the tenant's spend limits (priced in their currency)
    scopes: list[Scope]  # one list for all its requests: a lease's `fit` compares them (identity first)
    ttl_s: float
    stream_ttl_s: float  # a stream is held longer
    gco2e_budget: float | None  # the tenant's gco2e_per_month, for the budget gauge

    def ttl(self, stream: bool) -> float:
        return self.stream_ttl_s if stream else self.ttl_s


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
        self._plans: dict[tuple[int, int], _Plan] = {}
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
        plan = self._plan(principal, asked)
        amounts = self._amounts(plan, admission, payload)
        ttl_s = plan.ttl(admission.stream)
        admission.limit_spend = plan.spend_counted  # the last reservation tried is the admitted one's
        # The common case without the store: a request a lease of this worker has room for.
        outcome = self._meter.reserve_now(
            principal.tenant_id, principal.key_id, asked.name, amounts, plan.scopes, ttl_s
        )
        if outcome is None:
            outcome = await self._reserve(plan, amounts, ttl_s, downgraded=False)
            if not outcome.ok:
                target = downgrade_target(outcome.blocked)
                lower = self._registry.get(target) if target else None
                if lower is not None and lower is not asked:
                    # A downgrade is tried only when the first reservation failed.
                    lower_plan = self._plan(principal, lower)
                    admission.limit_spend = lower_plan.spend_counted
                    outcome = await self._reserve(
                        lower_plan,
                        self._amounts(lower_plan, admission, payload),
                        lower_plan.ttl(admission.stream),
                        downgraded=True,
                    )
                    if outcome.ok:
                        admission.runtime = lower
                        admission.headers[h.DOWNGRADED_FROM] = asked.name
        headers = h.rate_headers(outcome.snapshot)
        if outcome.warnings:
            headers[h.LIMIT_WARNING] = h.warning_header(outcome.warnings)
        if outcome.degraded:
            headers[h.STORE_DEGRADED] = "limits not checked: the store is unreachable (fail_open)"
        self._observe(plan, outcome)
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

    async def _reserve(self, plan: _Plan, amounts: Amounts, ttl_s: float, *, downgraded: bool) -> ReserveOutcome:
        principal = plan.principal
        try:
            return await self._meter.reserve(
                principal.tenant_id,
                key_id=principal.key_id,
                model=plan.runtime.name,
                amounts=amounts,
                scopes=plan.scopes,
                ttl_s=ttl_s,
                downgraded=downgraded,
            )
        except StoreUnavailable:
            raise store_unavailable() from None

    def _amounts(self, plan: _Plan, admission: Admission, payload: dict[str, Any]) -> Amounts:
        """What to reserve for this request on the plan's model (its spend only where it counts)."""
        amounts = reservation_amounts(plan.runtime, admission.endpoint, payload, self._reserve_completion_tokens)
        if not plan.spend_counted and amounts.spend:
            return Amounts(amounts.tokens, 0.0, amounts.gco2e)
        return amounts

    def _plan(self, principal: auth.Principal, runtime: ModelRuntime) -> _Plan:
        """What reserving for this principal and model needs that is the same for each of its requests: worked out
        once per principal (the key cache hands out the same one until it refreshes the tenant or key record)."""
        cache_key = (id(principal), id(runtime))
        plan = self._plans.get(cache_key)
        if plan is not None and plan.principal is principal and plan.runtime is runtime:
            return plan
        tenant = principal.tenant
        assert tenant is not None
        counted = self._spend.counts(tenant, principal.key, runtime.name, runtime.currency)
        plan = _Plan(
            principal,
            runtime,
            counted,
            self._scopes(principal, runtime.name, counted),
            self._reservation_ttl(runtime, stream=False),
            self._reservation_ttl(runtime, stream=True),
            tenant.limits.get(LimitName.GCO2E_PER_MONTH),
        )
        if len(self._plans) >= PLAN_CACHE_MAX:
            self._plans.clear()
        self._plans[cache_key] = plan  # holding the principal and the runtime keeps their ids unique
        return plan

    def _scopes(self, principal: auth.Principal, model: str, spend_counted: bool) -> list[Scope]:
        """The tenant's scopes for this key and model. A request whose spend does not count (priced in another
        currency than the tenant's spend limits) is not checked against them."""
        tenant = principal.tenant
        assert tenant is not None
        scopes = tenant.scopes(principal.key, model)
        if not spend_counted:
            scopes = [Scope(scope.scope_id, _without_spend(scope.limits)) for scope in scopes]
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

    def _observe(self, plan: _Plan, outcome: ReserveOutcome) -> None:
        tenant_id = plan.principal.tenant_id
        if not outcome.ok:
            code = rejection(tenant_id, outcome.blocked, {}).code or "limit_exceeded"
            self._telemetry.rejected(tenant=tenant_id, reason=code)
        remaining = outcome.snapshot.gco2e_budget_remaining
        if plan.gco2e_budget is not None and remaining is not None:
            self._telemetry.budget(tenant=tenant_id, kind="gco2e", limit=plan.gco2e_budget, remaining=remaining)


def _without_spend(limits: Limits) -> Limits:
    spend = LimitName.SPEND_PER_MONTH
    return Limits(
        {name: value for name, value in limits.values.items() if name is not spend},
        {name: policy for name, policy in limits.policies.items() if name is not spend},
        limits.currency,
    )
