"""A realistic small month for the render tests and for looking at the output: ``python -m tests.support.report_samples DIR``.

Three tenants on five models (Scaleway, Mistral, OpenAI, Google), one audited Scaleway month restated once,
an unmapped SKU, builds as tags, energy unknown on some rows.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from meters.reports import CarbonLabel, build_report
from meters.reports.model import Report
from meters.reports.render import FORMATS, filename, render
from tests.support.report_rows import ENERGY, MARKET, MEASURED, audited_import, counters, tag, usage

MONTH = "2026-10"
FACTORS = {
    "gpt-oss-120b": {
        "value": 0.0021,
        "unit": "Wh/output token (GPU)",
        "source": "EcoLogits 0.11.3 models.json",
        "date": "2026-11-22",
        "version": "2026-11-22",
    },
    "llama-3.3-70b-instruct": {
        "value": 0.0034,
        "unit": "Wh/output token (GPU)",
        "source": "EcoLogits 0.11.3 models.json",
        "date": "2026-11-22",
        "version": "2026-11-22",
    },
    "mistral-large-2": {
        "value": 2.85,
        "unit": "gCO2e/1k tokens",
        "source": "Mistral LCA 2025 (seed 002)",
        "date": "2025-07",
        "version": "2026-11-22",
    },
    "gemini-1-5-flash": {
        "value": 0.075,
        "unit": "gCO2e/1k tokens",
        "source": "Google Cloud, Aug 2025 (seed 002)",
        "date": "2025-08",
        "version": "2026-11-22",
    },
}
OPENAI = CarbonLabel(
    "energy",
    "usage+embodied",
    "estimated",
    "location",
    "energy model (EcoLogits 0.11.3 method + prefill), openai-us PUE 1.2, grid USA 384.4 g/kWh",
    "2026-11-22",
    "on-site+grid",
    "openai-us",
)


def sample_rows(tenant: str | None = None) -> tuple[list, list]:
    rows, tags = [], []
    plan = [("univ-lyon", 1.0), ("makemode", 0.55), ("atelier-7", 0.2)]
    # model, provider, currency, label, tokens in/out, g, requests, Wh (None: unknown), mL, spend per unit of scale
    models = [
        ("gpt-oss-120b", "scaleway", "EUR", ENERGY, 20_000, 6_000, 0.9, 40, 3.1, 1.2, 0.011),
        ("llama-3.3-70b-instruct", "scaleway", "EUR", ENERGY, 9_000, 3_000, 0.6, 15, 2.2, 0.8, 0.008),
        ("mistral-large-2", "mistral", "EUR", MEASURED, 2_000, 800, 7.98, 5, None, None, 0.02),
        ("gpt-4o", "openai", "USD", OPENAI, 3_000, 900, 1.4, 6, 4.0, 1.5, 0.03),
        ("gemini-1-5-flash", "google", "USD", MARKET, 500, 200, 0.05, 2, None, None, 0.001),
    ]
    for day in range(1, 32):
        date = f"{MONTH}-{day:02d}"
        wave = 1 + (day % 7) / 10
        for name, weight in plan:
            k = weight * wave
            for model, provider, currency, label, t_in, t_out, grams, requests, wh, ml, spend in models:
                if name == "atelier-7" and provider != "scaleway":
                    continue
                if model == "gemini-1-5-flash" and name != "makemode":
                    continue
                energy = None if wh is None or (model == "gpt-4o" and day % 2 == 0) else wh * k
                c = counters(
                    int(t_in * k),
                    int(t_out * k),
                    grams * k,
                    requests=int(requests * k) + 1,
                    energy_wh=energy,
                    water_ml=None if ml is None else ml * k,
                    spend=spend * k,
                )
                rows.append(usage(date, name, model, c, label=label, provider=provider, currency=currency))
            if name == "makemode":
                for build in (day % 3, 3 + day % 2):
                    c = counters(int(4_000 * k), int(1_200 * k), 0.18 * k, requests=3)
                    tags.append(tag(date, name, f"build={1400 + build}", "gpt-oss-120b", c))
    if tenant is not None:
        rows = [row for row in rows if row.tenant_id == tenant]
        tags = [row for row in tags if row.tenant_id == tenant]
    return rows, tags


def sample_imports() -> list:
    figures = [("gpt-oss-120b", 0.05, None), ("llama-3.3-70b-instruct", 0.0214, 1_000_000), (None, 0.0031)]
    first = [("gpt-oss-120b", 0.046, None), ("llama-3.3-70b-instruct", 0.0214, 1_000_000)]
    return [audited_import(MONTH, figures, version=2), audited_import(MONTH, first, version=1)]


def sample_report(tenant: str | None = None) -> Report:
    rows, tags = sample_rows(tenant)
    org_rows, _ = sample_rows()
    org_tokens: dict[tuple[str, str], int] = {}
    for row in org_rows:
        key = (row.date[:7], row.model)
        org_tokens[key] = org_tokens.get(key, 0) + row.counters.tokens
    return build_report(
        MONTH,
        tenant=tenant,
        usage=rows,
        tags=tags,
        audited=sample_imports(),
        factors=FACTORS,
        org_tokens=org_tokens if tenant else None,
        catalogue_version="2026-11-22",
        gateway_version="0.1.0",
        generated_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
    )


def main(directory: str) -> None:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for report in (sample_report(), sample_report("makemode")):
        for fmt in FORMATS:
            (out / filename(report, fmt)).write_bytes(render(report, fmt))
    print(f"wrote {len(FORMATS) * 2} files to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
