"""The guard the proxy calls: who is calling, and may this request go ahead (and on which model)."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from gateway import auth
from gateway.errors import GatewayError
from gateway.tenancy import headers as h
from gateway.tenancy.bootstrap import load_static_tenants, static_tenants
from gateway.tenancy.keys import KeyResolver
from gateway.tenancy.policies import downgrade_target, rejection
from gateway.tenancy.sizing import reservation_amounts
from meters.limits import LimitName, Scope
from meters.store import ReserveOutcome, Store, StoreUnavailable

if TYPE_CHECKING:
    from gateway.registry import ModelRuntime
    from gateway.state import Admission, GatewayState

log = logging.getLogger("carbon_gateway.tenancy")

ADMIN_KEY_ENV = "GATEWAY_ADMIN_KEY"
MASTER_TENANT = "master"
STREAM_RESERVATION_S = 900.0  # a stream may last long after its read timeouts; expiry only guards crashes
RESERVATION_MARGIN_S = 60.0
SCOPE_CACHE_MAX = 4096


def store_unavailable() -> GatewayError:
    return GatewayError(
        503,
        "The usage store (Redis) is unreachable and store.on_failure is fail_closed: the gateway "
        "cannot check limits, so it refuses requests until the store is back.",
        code="store_unavailable",
    )


class TenantGuard:
    def __init__(
        self, state: GatewayState, store: Store, resolver: KeyResolver, *, master_key: str | None
    ) -> None:
        self._state = state
        self._store = store
        self.resolver = resolver
        self._master_key = master_key
        self._scope_cache: dict[tuple[int, int, str], tuple[Any, Any, list[Scope]]] = {}

    async def authenticate(self, request: Request) -> auth.Principal:
        key = auth.presented_key(request)
        if key is None:
            raise auth.unauthorized("Missing API key: send `Authorization: Bearer <key>`.")
        if self._master_key is not None and auth.same_secret(key, self._master_key):
            return auth.Principal(MASTER_TENANT)
        try:
            found = await self.resolver.resolve(key)
        except StoreUnavailable:
            raise store_unavailable() from None
        if found is None:
            raise auth.unauthorized()
        tenant, api_key = found
        return auth.Principal(tenant.id, api_key.key_id, tenant=tenant, key=api_key)

    async def admit(self, admission: Admission, payload: dict[str, Any]) -> None:
        principal = admission.principal
        if principal.tenant is None:
            return  # the master key: unlimited, its usage still counted
        asked = admission.runtime
        outcome = await self._reserve(admission, asked, payload, downgraded=False)
        if not outcome.ok:
            target = downgrade_target(outcome.blocked)
            lower = self._state.models.get(target) if target else None
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
        self._observe(principal, outcome)
        if not outcome.ok:
            raise rejection(principal.tenant_id, outcome.blocked, headers)
        admission.reservation_id = outcome.reservation_id
        admission.headers.update(headers)

    async def release(self, reservation_id: str) -> None:
        try:
            await self._store.release(reservation_id)
        except StoreUnavailable:
            log.warning("could not release reservation %s: it expires on its own", reservation_id)

    async def _reserve(
        self, admission: Admission, runtime: ModelRuntime, payload: dict[str, Any], *, downgraded: bool
    ) -> ReserveOutcome:
        principal = admission.principal
        amounts = reservation_amounts(runtime, payload, self._state.config.reserve_completion_tokens)
        try:
            return await self._store.reserve(
                principal.tenant_id,
                key_id=principal.key_id,
                model=runtime.name,
                amounts=amounts,
                scopes=self._scopes(principal, runtime.name),
                ttl_s=self._reservation_ttl(runtime, admission.stream),
                downgraded=downgraded,
            )
        except StoreUnavailable:
            raise store_unavailable() from None

    def _scopes(self, principal: auth.Principal, model: str) -> list[Scope]:
        """The tenant's scopes for this key and model, built once per tenant/key record (the key
        cache hands out the same records until it refreshes them)."""
        tenant, key = principal.tenant, principal.key
        assert tenant is not None
        cache_key = (id(tenant), id(key), model)
        cached = self._scope_cache.get(cache_key)
        if cached is not None and cached[0] is tenant and cached[1] is key:
            return cached[2]
        scopes = tenant.scopes(key, model)
        if len(self._scope_cache) >= SCOPE_CACHE_MAX:
            self._scope_cache.clear()
        self._scope_cache[cache_key] = (tenant, key, scopes)  # holding them keeps their ids unique
        return scopes

    def _reservation_ttl(self, runtime: ModelRuntime, stream: bool) -> float:
        # Long enough for every attempt on the model and its fallbacks; expiry only frees what a
        # crashed worker held (a finished request settles or releases its reservation at once).
        entry = runtime.entry
        attempts = (entry.max_retries + 1) * (1 + len(self._state.config.fallbacks.get(runtime.name, ())))
        ttl = entry.connect_timeout_s + entry.timeout_s * attempts + RESERVATION_MARGIN_S
        return max(ttl, STREAM_RESERVATION_S) if stream else ttl

    def _observe(self, principal: auth.Principal, outcome: ReserveOutcome) -> None:
        metrics = self._state.metrics
        if metrics is None:
            return
        if not outcome.ok:
            code = rejection(principal.tenant_id, outcome.blocked, {}).code or "limit_exceeded"
            metrics.observe_rejection(tenant=principal.tenant_id, reason=code)
        budget = principal.tenant.limits.get(LimitName.GCO2E_PER_MONTH)
        if budget is not None and outcome.snapshot.gco2e_budget_remaining is not None:
            metrics.set_budget_limit(tenant=principal.tenant_id, kind="gco2e", value=budget)
            metrics.set_budget_remaining(
                tenant=principal.tenant_id, kind="gco2e", value=outcome.snapshot.gco2e_budget_remaining
            )


async def build_guard(state: GatewayState, store: Store) -> TenantGuard | None:
    """The guard, or None while the gateway may stay anonymous (no master key, no admin key, no tenant)."""
    config = state.config
    static = static_tenants(config.tenants)
    admin_key = os.environ.get(ADMIN_KEY_ENV) or None
    if config.tenants:
        try:
            await load_static_tenants(store, config.tenants)
        except StoreUnavailable:
            log.warning("the store is unreachable: static tenants load on the next start")
    needs_keys = bool(state.master_key or admin_key or config.tenants)
    if not needs_keys:
        try:
            needs_keys = bool(await store.list_tenants())  # tenants an admin created earlier
        except StoreUnavailable:
            log.warning("the store is unreachable: cannot tell whether tenants exist, staying anonymous")
    if not needs_keys:
        return None
    fail_open = config.store.on_failure == "fail_open"
    resolver = KeyResolver(store, static, fail_open=fail_open, ttl_s=config.key_cache_ttl_s)
    return TenantGuard(state, store, resolver, master_key=state.master_key)
