"""A supplier's own per-token factors: Scaleway's Product Catalog snapshot, loaded and looked up.

A snapshot (config/carbon/<supplier>_products-YYYY-MM-DD.yaml) is what `carbon-gateway catalogue
pull-scaleway` writes (meters/carbon/supplier_api.py builds it from the API's JSON). Per product it keeps the
published figure per unit (`kg_co2_equivalent`, `m3_water_usage`, `unit_size`) where the source gave it, and the
per-token figures derived from it. A per-token figure of null means "not published": the API gave 0 or nothing,
which is never read as zero impact (meters/METHODOLOGY.md, "supplier").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meters.carbon.labels import Basis, Boundary, WaterBoundary
from meters.carbon.reader import Reader, load_yaml

INPUT_TOKEN = "input_token"
OUTPUT_TOKEN = "output_token"
PRODUCT_KEYS = frozenset(
    {
        "model",
        "region",
        "consumption_mode",
        "token_type",
        "sku",
        "unit_size",
        "kg_co2_equivalent",
        "m3_water_usage",
        "gco2e_per_token",
        "water_ml_per_token",
        "source",
    }
)
SNAPSHOT_KEYS = frozenset(
    {
        "supplier",
        "source",
        "fetched",
        "read",
        "provenance",
        "method",
        "basis",
        "boundary",
        "water_boundary",
        "products",
    }
)


@dataclass(frozen=True, slots=True)
class SupplierProduct:
    """One catalogue product: one model's factor for one token type, region and consumption mode."""

    model: str
    region: str | None
    consumption_mode: str
    token_type: str
    sku: str | None
    unit_size: int | None
    kg_co2_equivalent: float | None  # per `unit_size` tokens, as published (None: not recorded)
    m3_water_usage: float | None
    gco2e_per_token: float | None  # None: not published (0 or missing in the catalogue)
    water_ml_per_token: float | None
    source: str | None  # where this product's figures were read, when not the snapshot's own source


@dataclass(frozen=True, slots=True)
class SupplierSnapshot:
    supplier: str
    file: str
    source: str
    fetched: str  # when the supplier's API answered
    read: str  # when carbon-gateway recorded it
    provenance: str
    method: str
    basis: Basis
    boundary: Boundary
    water_boundary: WaterBoundary
    products: tuple[SupplierProduct, ...]

    def label(self) -> str:
        return f"{self.supplier.capitalize()} catalogue snapshot {self.file} (fetched {self.fetched}, read {self.read})"

    def lookup(self, names: tuple[str, ...], region: str, mode: str) -> SupplierFactor | None:
        """The input/output factor pair of the first of `names` the snapshot lists for `region` and `mode`."""
        for name in names:
            key = name.strip().lower()
            rows = {
                p.token_type: p
                for p in self.products
                if p.model.lower() == key and p.region == region and p.consumption_mode == mode
            }
            if rows:
                return SupplierFactor(
                    p_in=rows.get(INPUT_TOKEN), p_out=rows.get(OUTPUT_TOKEN), snapshot=self, model=name
                )
        return None


@dataclass(frozen=True, slots=True)
class SupplierFactor:
    """A model's published input and output token factors (either may be unpublished)."""

    p_in: SupplierProduct | None
    p_out: SupplierProduct | None
    snapshot: SupplierSnapshot
    model: str

    @property
    def published(self) -> bool:
        """Both token types carry a carbon figure: only then is the supplier method used."""
        return (
            self.p_in is not None
            and self.p_out is not None
            and self.p_in.gco2e_per_token is not None
            and self.p_out.gco2e_per_token is not None
        )

    def why_not(self) -> str:
        """Why the supplier method is skipped (only meaningful when not `published`)."""
        missing = [
            token_type
            for token_type, product in ((INPUT_TOKEN, self.p_in), (OUTPUT_TOKEN, self.p_out))
            if product is None or product.gco2e_per_token is None
        ]
        return (
            f"{self.snapshot.label()}: no published {' or '.join(missing)} factor for {self.model!r}"
            " (0 or missing in the catalogue means not published, not zero)"
        )


def load_snapshot(path: Path, supplier: str) -> SupplierSnapshot:
    """Read and validate one snapshot file; `supplier` must match the file's own `supplier`."""
    data = load_yaml(path)
    reader = Reader(str(path))
    reader.known_keys(data, "snapshot", SNAPSHOT_KEYS)
    named = reader.text(data, "supplier", "snapshot")
    if named != supplier:
        raise reader.fail("supplier", f"this snapshot is {named!r}'s, configured for {supplier!r}")
    products = data.get("products")
    if not isinstance(products, list):
        raise reader.fail("products", "must be a list")
    parsed = tuple(
        _product(reader.mapping(p, f"products[{i}]"), reader, f"products[{i}]")
        for i, p in enumerate(products)
    )
    seen: set[tuple[str, str | None, str, str]] = set()
    for i, product in enumerate(parsed):
        key = (product.model.lower(), product.region, product.consumption_mode, product.token_type)
        if key in seen:
            raise reader.fail(f"products[{i}]", f"duplicate product {key}")
        seen.add(key)
    return SupplierSnapshot(
        supplier=named,
        file=path.name,
        source=reader.text(data, "source", "snapshot"),
        fetched=reader.text(data, "fetched", "snapshot"),
        read=reader.text(data, "read", "snapshot"),
        provenance=reader.text(data, "provenance", "snapshot"),
        method=reader.text(data, "method", "snapshot"),
        basis=reader.choice(data.get("basis"), "basis", Basis),
        boundary=reader.choice(data.get("boundary"), "boundary", Boundary),
        water_boundary=reader.choice(data.get("water_boundary"), "water_boundary", WaterBoundary),
        products=parsed,
    )


def _product(data: dict[str, Any], reader: Reader, path: str) -> SupplierProduct:
    reader.known_keys(data, path, PRODUCT_KEYS)
    size = data.get("unit_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise reader.fail(f"{path}.unit_size", f"must be an integer >= 1, got {size!r}")
    kg = reader.optional_number(data.get("kg_co2_equivalent"), f"{path}.kg_co2_equivalent", positive=False)
    m3 = reader.optional_number(data.get("m3_water_usage"), f"{path}.m3_water_usage", positive=False)
    grams = reader.optional_number(data.get("gco2e_per_token"), f"{path}.gco2e_per_token")
    water = reader.optional_number(data.get("water_ml_per_token"), f"{path}.water_ml_per_token")
    if size is not None:  # the per-token figures must be the published ones, converted
        _check_derived(reader, f"{path}.gco2e_per_token", grams, per_token(kg, 1000.0, size))
        _check_derived(reader, f"{path}.water_ml_per_token", water, per_token(m3, 1e6, size))
    return SupplierProduct(
        model=reader.text(data, "model", path),
        region=reader.optional_text(data, "region", path),
        consumption_mode=reader.text(data, "consumption_mode", path),
        token_type=reader.text(data, "token_type", path),
        sku=reader.optional_text(data, "sku", path),
        unit_size=size,
        kg_co2_equivalent=kg,
        m3_water_usage=m3,
        gco2e_per_token=grams,
        water_ml_per_token=water,
        source=reader.optional_text(data, "source", path),
    )


def per_token(published: float | None, scale: float, unit_size: int) -> float | None:
    """A per-unit published figure (kg or m3 per `unit_size` tokens) as g or mL per token; 0/None -> None.

    gco2e_per_token = kg_co2_equivalent x 1000 / unit_size; water_ml_per_token = m3_water_usage x 1e6 / unit_size.
    """
    if published is None or published <= 0:
        return None
    return published * scale / unit_size


def _check_derived(reader: Reader, key: str, derived: float | None, expected: float | None) -> None:
    if derived is None and expected is None:
        return
    if derived is None or expected is None or not math.isclose(derived, expected, rel_tol=1e-9):
        raise reader.fail(key, f"is {derived!r} but the published per-unit figure gives {expected!r}")
