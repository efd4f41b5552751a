"""Audited supplier figures in: CSV, JSON, the admin API's body and Scaleway's footprint answers (pure)."""

from meters.audited.errors import AuditedImportError
from meters.audited.figures import (
    AuditedImport,
    ImportedFigure,
    ModelFigure,
    ParsedImport,
    engine_figures,
    model_figures,
    to_micrograms,
)
from meters.audited.parse import parse_admin, parse_csv, parse_file, parse_json
from meters.audited.scaleway import (
    DownloadedReport,
    ReportAvailability,
    availability_from_response,
    figures_from_footprint,
    footprint_import,
    report_from_download,
)
from meters.audited.skus import SkuMapper, SkuPattern, parse_sku_patterns
from meters.audited.validate import check_month

__all__ = [
    "AuditedImport",
    "AuditedImportError",
    "DownloadedReport",
    "ImportedFigure",
    "ModelFigure",
    "ParsedImport",
    "ReportAvailability",
    "SkuMapper",
    "SkuPattern",
    "availability_from_response",
    "check_month",
    "engine_figures",
    "figures_from_footprint",
    "footprint_import",
    "model_figures",
    "parse_admin",
    "parse_csv",
    "parse_file",
    "parse_json",
    "parse_sku_patterns",
    "report_from_download",
    "to_micrograms",
]
