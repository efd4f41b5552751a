"""Scaleway Environmental Footprint API answers -> audited figures (pure: the HTTP client is in gateway/).

`GET /environmental-footprint/v1alpha1/data/query` answers `{start_date, end_date, total_impact, projects:
[{project_id, total_project_impact, regions: [{region, total_region_impact, zones: [{zone, total_zone_impact,
skus: [SKU]}], skus: [SKU]}]}]}`, `SKU = {sku, service_category, product_category, total_sku_impact}`, every
impact `{kg_co2_equivalent, m3_water_usage}`. SKUs are read at zone AND region level (regional products have
region-level SKUs only). Scaleway's method is location-based (ADEME PCR for data centres and cloud).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from meters.audited.errors import AuditedImportError
from meters.audited.figures import ImportedFigure, ParsedImport
from meters.audited.skus import SkuMapper
from meters.audited.validate import check_month, figure_from_fields

SCALEWAY_BASIS = "location"


def _items(parent: Mapping[str, object], key: str, path: str) -> list[Mapping[str, object]]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise AuditedImportError("must be a list of objects", param=f"{path}.{key}" if path else key)
    return value


def _sku_figure(
    sku: Mapping[str, object], path: str, mapper: SkuMapper, location: str | None, project_id: str | None
) -> ImportedFigure:
    name = sku.get("sku")
    if not isinstance(name, str) or not name:
        raise AuditedImportError("must be a non-empty string", param=f"{path}.sku")
    impact = sku.get("total_sku_impact")
    if not isinstance(impact, Mapping):
        raise AuditedImportError("is required (an impact object)", param=f"{path}.total_sku_impact")
    names = {"kg_co2e": "kg_co2_equivalent", "m3_water": "m3_water_usage", "sku": "sku"}
    fields = {
        "sku": name,
        "kg_co2e": impact.get("kg_co2_equivalent"),
        "m3_water": impact.get("m3_water_usage"),
    }

    def locate(field: str) -> tuple[str, int | None]:
        if field == "sku":
            return f"{path}.sku", None
        return f"{path}.total_sku_impact.{names.get(field, field)}", None

    figure = figure_from_fields(fields, mapper, locate)
    return dataclasses.replace(figure, location=location, project_id=project_id)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def figures_from_footprint(response: object, mapper: SkuMapper) -> tuple[ImportedFigure, ...]:
    """Every SKU of every project, region and zone, mapped to a model (or unattributed)."""
    if not isinstance(response, Mapping):
        raise AuditedImportError("the footprint answer must be a JSON object")
    figures: list[ImportedFigure] = []
    for p, project in enumerate(_items(response, "projects", "")):
        project_path = f"projects[{p}]"
        project_id = _text(project.get("project_id"))
        for r, region in enumerate(_items(project, "regions", project_path)):
            region_path = f"{project_path}.regions[{r}]"
            region_name = _text(region.get("region"))
            for s, sku in enumerate(_items(region, "skus", region_path)):
                figures.append(_sku_figure(sku, f"{region_path}.skus[{s}]", mapper, region_name, project_id))
            for z, zone in enumerate(_items(region, "zones", region_path)):
                zone_path = f"{region_path}.zones[{z}]"
                zone_name = _text(zone.get("zone")) or region_name
                for s, sku in enumerate(_items(zone, "skus", zone_path)):
                    figures.append(_sku_figure(sku, f"{zone_path}.skus[{s}]", mapper, zone_name, project_id))
    return tuple(figures)


def footprint_import(response: object, month: str, mapper: SkuMapper, source: str) -> ParsedImport:
    """A month's `data/query` answer as an import (location-based, as Scaleway's method is)."""
    month = check_month(month)
    if isinstance(response, Mapping):
        start = response.get("start_date")
        if isinstance(start, str) and not start.startswith(month):
            raise AuditedImportError(f"answer starts {start}, not in {month}", param="start_date")
    figures = figures_from_footprint(response, mapper)
    if not figures:
        raise AuditedImportError(f"no Generative APIs SKUs in the answer for {month}", param="projects")
    return ParsedImport(month, source, figures, basis=SCALEWAY_BASIS)


@dataclass(frozen=True, slots=True)
class ReportAvailability:
    months: tuple[str, ...]
    """"YYYY-MM" of each monthly summary report Scaleway has."""
    years: tuple[str, ...]


def availability_from_response(response: object) -> ReportAvailability:
    """`GET /reports/availability` -> months and years (dates like 2025-05-01T00:00:00Z)."""
    if not isinstance(response, Mapping):
        raise AuditedImportError("the availability answer must be a JSON object")

    def dates(key: str, length: int) -> tuple[str, ...]:
        values = response.get(key) or []
        if not isinstance(values, list) or not all(isinstance(v, str) and len(v) >= length for v in values):
            raise AuditedImportError("must be a list of ISO 8601 dates", param=key)
        return tuple(sorted({value[:length] for value in values}))

    return ReportAvailability(dates("month_summary_reports", 7), dates("yearly_summary_reports", 4))


@dataclass(frozen=True, slots=True)
class DownloadedReport:
    name: str
    content_type: str
    content: bytes


def report_from_download(response: object) -> DownloadedReport:
    """`POST /reports/download` -> `{name, content_type, content}` with `content` base64 (a PDF)."""
    if not isinstance(response, Mapping):
        raise AuditedImportError("the download answer must be a JSON object")
    name, content_type, content = (response.get(k) for k in ("name", "content_type", "content"))
    if not isinstance(content, str) or not content:
        raise AuditedImportError("must be a non-empty base64 string", param="content")
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise AuditedImportError("is not valid base64", param="content") from None
    content_type = content_type if isinstance(content_type, str) else "application/pdf"
    if content_type == "application/pdf" and not data.startswith(b"%PDF"):
        raise AuditedImportError("does not decode to a PDF", param="content")
    return DownloadedReport(
        name if isinstance(name, str) and name else "scaleway-report.pdf", content_type, data
    )
