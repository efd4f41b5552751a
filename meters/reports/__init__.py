"""Sustainability reports: the store's aggregates for a period and scope -> one report, four formats."""

from meters.reports.build import build_report
from meters.reports.period import Period, ReportError, Scope, parse_period
from meters.reports.reconcile import Calibration, calibration_ratios
from meters.reports.rows import CarbonLabel, Counters, DailyRow, FactorFact, TagRow, UsageRow, factor_facts

__all__ = [
    "Calibration",
    "CarbonLabel",
    "Counters",
    "DailyRow",
    "FactorFact",
    "Period",
    "ReportError",
    "Scope",
    "TagRow",
    "UsageRow",
    "build_report",
    "calibration_ratios",
    "factor_facts",
    "parse_period",
]
