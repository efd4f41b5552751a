"""Sustainability reports and audited months, for the CLI and the routes: the config's SKU mapper, the
catalogue's factor facts, a report from the store, and `carbon.calibrate_from_audited`."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any

from gateway import __version__
from gateway.config import GatewayConfig
from gateway.registry import ModelRegistry
from meters.audited import SkuMapper
from meters.carbon import CarbonEngine, ModelFactors
from meters.carbon.calibrated import CalibratedFactors
from meters.carbon.errors import CatalogueError
from meters.reports import Calibration, calibration_ratios
from meters.reports.model import Report
from meters.reports.rows import FactorFact
from meters.store import Store
from meters.store.reporting import store_report

log = logging.getLogger("carbon_gateway")
_DATE = re.compile(r"\((\d{4}-\d{2}(?:-\d{2})?)[^)]*\)")
CALIBRATION_MONTHS = 13  # how far back a model's latest audited month is looked for


def sku_mapper(config: GatewayConfig) -> SkuMapper:
    """Model names, and their upstream ids (`scaleway/llama-3.1-8b-instruct` -> `llama-3.1-8b-instruct`),
    found in SKUs; the config's `carbon.audited_sku_patterns` first."""
    targets: dict[str, str] = {}
    for entry in config.models:
        targets.setdefault(entry.model.rsplit("/", 1)[-1], entry.model_name)
    for entry in config.models:
        targets[entry.model_name] = entry.model_name
    return SkuMapper(targets, config.carbon.audited_sku_patterns)


def factor_fact(described: Mapping[str, Any]) -> FactorFact:
    """One model's factor as `describe()` states it: value, unit, first source, its date, catalogue version."""
    factors = described.get("factors") or {}
    value: float | None = None
    unit = ""
    if isinstance(factors, Mapping):
        for key, name in (
            ("gco2e_per_1k_tokens", "gCO2e/1k tokens"),
            ("gco2e_per_output_token", "gCO2e/output token"),
            ("wh_per_output_token_gpu", "Wh/output token (GPU)"),
            ("gco2e_per_1k_output_tokens", "gCO2e/1k output tokens"),
        ):
            found = factors.get(key)
            if isinstance(found, int | float) and not isinstance(found, bool):
                value, unit = float(found), name
                break
    sources = described.get("sources") or [described.get("source") or ""]
    first = str(sources[0]) if sources else ""
    date = _DATE.search(first)
    return FactorFact(
        value, unit, first, date.group(1) if date else None, str(described.get("catalogue_version") or "")
    )


def model_factors(
    config: GatewayConfig, engine: CarbonEngine, registry: ModelRegistry | None
) -> dict[str, ModelFactors]:
    """Every configured model's factors: the running registry's, else resolved from the config."""
    result: dict[str, ModelFactors] = {}
    for entry in config.models:
        runtime = registry.get(entry.model_name) if registry is not None else None
        if runtime is not None:
            result[entry.model_name] = runtime.factors
            continue
        try:
            result[entry.model_name] = engine.factors_for(
                entry.model_name, upstream_model=entry.model.rsplit("/", 1)[-1], override=entry.carbon
            )
        except CatalogueError:
            continue
    return result


async def report(
    store: Store,
    config: GatewayConfig,
    engine: CarbonEngine,
    period: str,
    tenant: str | None = None,
    registry: ModelRegistry | None = None,
) -> Report:
    facts = {name: factor_fact(f.describe()) for name, f in model_factors(config, engine, registry).items()}
    return await store_report(
        store,
        period,
        tenant=tenant,
        factors=facts,
        catalogue_version=engine.version,
        gateway_version=__version__,
    )


async def calibrate(
    store: Store, config: GatewayConfig, engine: CarbonEngine, registry: ModelRegistry
) -> dict[str, str]:
    """With `carbon.calibrate_from_audited`, scale each audited model's factors by its latest ratio (newest
    audited month with a live estimate, looked for over the last 13 audited months). Returns model -> the
    calibrated source, for logs and tests. Run at start-up and after each import."""
    if not config.carbon.calibrate_from_audited:
        return {}
    months = sorted({item.month for item in await store.audited.list()}, reverse=True)[:CALIBRATION_MONTHS]
    ratios: dict[str, Calibration] = {}
    for month in months:
        monthly = await report(store, config, engine, month, registry=registry)
        for model, found in calibration_ratios(monthly.reconciliation).items():
            ratios.setdefault(model, found)
    applied: dict[str, str] = {}
    for name, runtime in registry.models.items():
        base = runtime.factors.base if isinstance(runtime.factors, CalibratedFactors) else runtime.factors
        calibration = ratios.get(name)
        if calibration is None:
            continue
        factors = CalibratedFactors(
            base,
            ratio=calibration.ratio,
            month=calibration.month,
            version=calibration.version,
            source=calibration.source,
        )
        runtime.set_factors(factors)
        applied[name] = factors.source
    return applied


def calibrate_soon(
    store: Store, config: GatewayConfig, engine: CarbonEngine, registry: ModelRegistry
) -> None:
    """Calibrate in the background (start-up), logging failures instead of failing the start."""

    async def run() -> None:
        try:
            applied = await calibrate(store, config, engine, registry)
            if applied:
                log.info("calibrated from audited months: %s", ", ".join(sorted(applied)))
        except Exception:
            log.exception("calibration from audited months failed; live estimates stay uncalibrated")

    if config.carbon.calibrate_from_audited:
        _tasks.add(task := asyncio.get_running_loop().create_task(run()))
        task.add_done_callback(_tasks.discard)


_tasks: set[asyncio.Task[None]] = set()
