"""The running gateway: its collaborators, built complete at start-up, each owning one step of a request.

    request → routes/proxy.py → access (tenancy/: who, may it go ahead) → router (routing.py: which model,
    fallbacks, upstream/) → unary.py or streaming.py (the response, its carbon figure) → accounting.py
    (usage record, telemetry, writer.py → the store's meter)

`prepare` does everything that can fail on a bad config, synchronously, before the server listens
(`check-config` runs exactly this); `Gateway.open` adds what needs the event loop: the store, the
access mode it implies, the HTTP client and the background tasks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.accounting import Accounting
from gateway.config import ConfigError, GatewayConfig
from gateway.dead_letters import DeadLetters
from gateway.observability.telemetry import Telemetry
from gateway.providers import Route, RouteKind, resolve_models, routes_from_json
from gateway.registry import ModelRegistry
from gateway.reporting import calibrate_soon
from gateway.routing import Router
from gateway.tenancy import Access, build_access
from gateway.tenancy.currency import SpendCurrency, default_currency
from gateway.upstream import litellm
from gateway.upstream.passthrough import PassthroughClient
from meters.carbon import CarbonEngine, CatalogueError
from meters.store import Store, default_state_dir, open_store

RESOLVED_ROUTES_ENV = "CARBON_GATEWAY_RESOLVED"  # set by `carbon-gateway serve` for its workers


@dataclass(frozen=True, eq=False)
class Prepared:
    """What a config resolves to, before anything runs."""

    config: GatewayConfig
    engine: CarbonEngine
    registry: ModelRegistry
    telemetry: Telemetry
    client: PassthroughClient


def load_engine(config: GatewayConfig) -> CarbonEngine:
    try:
        return CarbonEngine.load(settings=config.carbon.engine)
    except CatalogueError as exc:
        raise ConfigError(config.path, "carbon", str(exc)) from None


def prepare(config: GatewayConfig, routes: Mapping[str, Route] | None = None) -> Prepared:
    """Resolve the models (LiteLLM in a child process, or the routes a `serve` parent resolved), the
    carbon engine and telemetry. Raises ConfigError naming file, key and reason."""
    if routes is None:
        resolved = os.environ.get(RESOLVED_ROUTES_ENV)
        routes = (
            routes_from_json(Path(resolved).read_text())
            if resolved and Path(resolved).is_file()
            else resolve_models(config)
        )
    engine = load_engine(config)
    client = PassthroughClient()
    registry = ModelRegistry.build(config, routes, engine, client)
    try:
        telemetry = Telemetry.build(config.observability, config.path, known_models=list(registry.models))
    except ValueError as exc:
        raise ConfigError(config.path, "observability", str(exc)) from None
    return Prepared(config, engine, registry, telemetry, client)


@dataclass(frozen=True, eq=False)
class Gateway:
    config: GatewayConfig
    engine: CarbonEngine
    registry: ModelRegistry
    telemetry: Telemetry
    store: Store
    access: Access
    router: Router
    accounting: Accounting
    client: PassthroughClient
    spend_currency: SpendCurrency  # whose requests' spend counts toward a tenant's spend limits

    @classmethod
    async def open(cls, prepared: Prepared) -> Gateway:
        config = prepared.config
        settings = config.store
        store = await open_store(
            settings.redis_url,
            state_dir=settings.state_dir,
            prefix=settings.prefix,
            on_failure=settings.on_failure,
            ledger_retention_days=settings.ledger_retention_days,
            lease_requests=settings.lease_requests,
            lease_s=settings.lease_s,
            monthly_retention_months=settings.monthly_retention_months,
        )
        telemetry = prepared.telemetry
        priced = (m.currency for m in prepared.registry.models.values() if m.priced)
        spend = SpendCurrency(default_currency(priced))
        access = await build_access(config, store, prepared.registry, telemetry, spend)
        gateway = cls(
            config=config,
            engine=prepared.engine,
            registry=prepared.registry,
            telemetry=telemetry,
            store=store,
            access=access,
            router=Router(
                prepared.registry,
                telemetry,
                stream_max_duration_s=prepared.config.gateway.stream_max_duration_s,
            ),
            accounting=Accounting(
                store.meter,
                telemetry,
                DeadLetters(Path(settings.state_dir or default_state_dir())),
                max_backlog=prepared.config.gateway.max_usage_backlog,
            ),
            client=prepared.client,
            spend_currency=spend,
        )
        await gateway._start()
        calibrate_soon(store, config, prepared.engine, prepared.registry)
        return gateway

    async def _start(self) -> None:
        self.accounting.start()
        self.telemetry.start()
        if any(m.route.kind is RouteKind.LITELLM for m in self.registry.models.values()):
            await litellm.warm_up()

    async def close(self) -> None:
        await self.accounting.close()
        self.telemetry.close()
        await self.client.close()
        await self.store.close()
