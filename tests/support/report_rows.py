"""Synthetic store rows for report tests and the report benchmark (the input contract of meters.reports)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from meters.audited import AuditedImport, ImportedFigure
from meters.reports.rows import CarbonLabel, Counters, TagRow, UsageRow

ENERGY = CarbonLabel(
    method="energy",
    boundary="usage+embodied",
    confidence="estimated",
    basis="location",
    source="energy model (EcoLogits 0.11.3 method + prefill), grid FRA 41.44 g/kWh",
    catalogue_version="2026-11-22",
    water_boundary="on-site+grid",
    datacentre="scw-fr-par-2",
)
MEASURED = CarbonLabel(
    method="measured",
    boundary="lca",
    confidence="measured",
    basis=None,
    source="Mistral LCA 2025 (Carbone 4 / ADEME): 1.14 g per 400-token response",
    catalogue_version="2026-11-22",
    water_boundary="lca",
    datacentre=None,
)
MARKET = CarbonLabel(
    method="measured",
    boundary="usage",
    confidence="measured",
    basis="market",
    source="Google Gemini Apps median text prompt (Aug 2025), market-based",
    catalogue_version="2026-11-22",
    water_boundary=None,
    datacentre=None,
)


def counters(
    tokens_in: int,
    tokens_out: int,
    gco2e: float,
    requests: int = 1,
    energy_wh: float | None = None,
    water_ml: float | None = None,
    spend: float = 0.0,
) -> Counters:
    """A row's counters; energy/water None: unknown for all its requests."""
    return Counters(
        requests=requests,
        prompt_tokens=tokens_in,
        completion_tokens=tokens_out,
        gco2e=gco2e,
        gco2e_min=gco2e / 2,
        gco2e_max=gco2e * 2,
        energy_wh=energy_wh or 0.0,
        energy_known=requests if energy_wh is not None else 0,
        water_ml=water_ml or 0.0,
        water_known=requests if water_ml is not None else 0,
        spend=spend,
    )


def usage(
    date: str,
    tenant: str,
    model: str,
    c: Counters,
    label: CarbonLabel = ENERGY,
    provider: str = "scaleway",
    currency: str = "EUR",
) -> UsageRow:
    return UsageRow(date, tenant, model, provider, label, currency, c)


def tag(
    date: str, tenant: str, tag_text: str, model: str, c: Counters, label: CarbonLabel = ENERGY
) -> TagRow:
    return TagRow(date, tenant, tag_text, model, label, c)


def audited_import(
    month: str,
    figures: Sequence[tuple[Any, ...]],
    version: int = 1,
    source: str = "Scaleway Environmental Footprint API, organization org-1",
    basis: str | None = "location",
) -> AuditedImport:
    """figures: (model or None for an unattributed SKU, kg[, supplier tokens[, m3 water]])."""
    items = []
    for entry in figures:
        model, kg = entry[0], entry[1]
        tokens = entry[2] if len(entry) > 2 else None
        water = entry[3] if len(entry) > 3 else None
        sku = (
            None
            if model is not None
            else f"/ai/generative_apis/consumption/mystery-{len(items)}_output_tokens/fr-par"
        )
        items.append(ImportedFigure(kg_co2e=kg, model=model, sku=sku, tokens=tokens, m3_water=water))
    return AuditedImport(month, source, version, f"2026-11-0{version}T10:00:00Z", tuple(items), basis)


def synthetic_usage(
    period_months: Sequence[str], tenants: int, models: int, *, daily: bool = False
) -> Iterator[UsageRow]:
    """tenants x models x (months, or days of each month): deterministic, varied figures."""
    labels = [ENERGY, MEASURED]
    for month in period_months:
        dates = [f"{month}-{d:02d}" for d in range(1, 29)] if daily else [month]
        for t in range(tenants):
            tenant = f"tenant-{t:04d}"
            for m in range(models):
                label = labels[m % 2]
                for date in dates:
                    tokens_in = 1000 + 37 * ((t * 31 + m * 17) % 101)
                    tokens_out = 400 + 11 * ((t * 7 + m * 5) % 89)
                    grams = (tokens_in + 3 * tokens_out) * 1e-4 * (1 + m % 7)
                    yield UsageRow(
                        date,
                        tenant,
                        f"model-{m:02d}",
                        "scaleway" if m % 3 else "openai",
                        label,
                        "EUR" if m % 3 else "USD",
                        Counters(
                            requests=3,
                            prompt_tokens=tokens_in,
                            completion_tokens=tokens_out,
                            gco2e=grams,
                            gco2e_min=grams * 0.5,
                            gco2e_max=grams * 2,
                            energy_wh=grams * 10 if m % 5 else 0.0,
                            energy_known=3 if m % 5 else 0,
                            water_ml=grams * 2,
                            water_known=3,
                            spend=0.001 * tokens_out,
                        ),
                    )
