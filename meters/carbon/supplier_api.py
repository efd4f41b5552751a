"""Scaleway Product Catalog API JSON -> a supplier snapshot document (pure: no HTTP, no files).

`GET /product-catalog/v2alpha1/public-catalog/products` (no auth; scaleway-sdk-python
`product_catalog/v2alpha1/types.py`) answers `{products: [PublicCatalogProduct], total_count}`, paged with `page`
(from 1) and `page_size`. A Generative APIs product carries `product` (the model), `sku`, `locality.region`,
`unit_of_measure {unit, size}`, `environmental_impact_estimation {kg_co2_equivalent, m3_water_usage}` (per
`size` units) and `properties.generative_apis {consumption_mode, token_type, provider_name, ...}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from meters.carbon.labels import Basis, Boundary, WaterBoundary
from meters.carbon.supplier import per_token

CATALOG_PATH = "/product-catalog/v2alpha1/public-catalog/products"
PRODUCT_TYPE = "generative_apis"
# Scaleway docs, "Generative APIs" environmental footprint page (validated 2026-05-19) and "Environmental
# Footprint calculation breakdown" (validated 2025-03-17), read 2026-11-30.
SCALEWAY_METHOD = (
    "Scaleway: GPU node impact (amortised manufacturing + power x site PUE x location-based grid, plus network,"
    " storage and control-plane shares; ADEME PCR data centre & cloud) / benchmarked input or output tokens per"
    " second; water = energy x site WUE"
)


def page_count_done(fetched: int, page_size: int, total_count: object, last_page_len: int) -> bool:
    """True once every page is in: `total_count` reached, or a short (or empty) page."""
    if isinstance(total_count, int) and not isinstance(total_count, bool) and fetched >= total_count:
        return True
    return last_page_len < page_size


def products_from_pages(pages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The token-priced Generative APIs products of every page, as snapshot rows (sorted, stable)."""
    rows: list[dict[str, Any]] = []
    for page in pages:
        products = page.get("products")
        if not isinstance(products, list):
            raise ValueError("catalogue page has no 'products' list")
        rows.extend(row for row in map(product_row, products) if row is not None)
    return sorted(rows, key=lambda r: (r["model"], r["region"] or "", r["consumption_mode"], r["token_type"]))


def product_row(product: Any) -> dict[str, Any] | None:
    """One product as a snapshot row, or None when it is not a per-token Generative APIs product."""
    if not isinstance(product, Mapping):
        return None
    properties = product.get("properties")
    genai = properties.get("generative_apis") if isinstance(properties, Mapping) else None
    unit = product.get("unit_of_measure")
    model = product.get("product")
    if (
        not isinstance(genai, Mapping)
        or not isinstance(unit, Mapping)
        or not isinstance(model, str)
        or not model
    ):
        return None
    size = unit.get("size")
    if unit.get("unit") != "token" or isinstance(size, bool) or not isinstance(size, int) or size < 1:
        return None
    impact = product.get("environmental_impact_estimation")
    impact = impact if isinstance(impact, Mapping) else {}
    kg, m3 = _number(impact.get("kg_co2_equivalent")), _number(impact.get("m3_water_usage"))
    locality = product.get("locality")
    region = locality.get("region") if isinstance(locality, Mapping) else None
    return {
        "model": model,
        "region": region if isinstance(region, str) and region else None,
        "consumption_mode": str(genai.get("consumption_mode") or "unknown_consumption_mode"),
        "token_type": str(genai.get("token_type") or "unknown_token_type"),
        "sku": product.get("sku") if isinstance(product.get("sku"), str) else None,
        "unit_size": size,
        "kg_co2_equivalent": kg,
        "m3_water_usage": m3,
        "gco2e_per_token": per_token(kg, 1000.0, size),
        "water_ml_per_token": per_token(m3, 1e6, size),
    }


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return None
    return float(value)


def snapshot_document(
    products: list[dict[str, Any]], *, source: str, fetched: str, read: str, provenance: str
) -> dict[str, Any]:
    """The YAML-ready snapshot (the format meters/carbon/supplier.py loads)."""
    return {
        "supplier": "scaleway",
        "source": source,
        "fetched": fetched,
        "read": read,
        "provenance": provenance,
        "method": SCALEWAY_METHOD,
        "basis": Basis.LOCATION.value,
        "boundary": Boundary.LCA.value,
        "water_boundary": WaterBoundary.ONSITE.value,
        "products": products,
    }


def render_snapshot(document: dict[str, Any]) -> str:
    """The snapshot file's text: a header naming what wrote it, then the document as YAML."""
    header = (
        f"# {document['supplier'].capitalize()} Product Catalog snapshot: Generative APIs environmental impact estimations.\n"
        "# Format: meters/carbon/supplier.py. Per-token figures are derived from the published per-unit ones;\n"
        "# null = not published (0 or missing in the catalogue), never zero. Do not edit: pull a new snapshot.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
