"""Which audited import is in force for each month (the newest), and what each re-import restated."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from meters.audited.figures import AuditedImport, ImportedFigure, ModelFigure, model_figures, to_micrograms
from meters.reports.model import Restatement
from meters.reports.period import Period


@dataclass(frozen=True, slots=True)
class MonthInForce:
    month: str
    current: AuditedImport
    by_model: dict[str, ModelFigure]
    unattributed: tuple[ImportedFigure, ...]
    earlier: tuple[AuditedImport, ...]
    """Older imports of the month, newest first (restated, kept for the recalculation log)."""


def months_in_force(imports: Iterable[AuditedImport], period: Period) -> dict[str, MonthInForce]:
    """The newest import of each month of the period; imports of other months are ignored."""
    grouped: dict[str, list[AuditedImport]] = {}
    months = set(period.months)
    for item in imports:
        if item.month in months:
            grouped.setdefault(item.month, []).append(item)
    result: dict[str, MonthInForce] = {}
    for month, items in sorted(grouped.items()):
        ordered = sorted(items, key=lambda i: (i.version, i.imported_at), reverse=True)
        current = ordered[0]
        unattributed = tuple(figure for figure in current.figures if figure.model is None)
        result[month] = MonthInForce(
            month, current, model_figures(current.figures), unattributed, tuple(ordered[1:])
        )
    return result


def _describe(item: AuditedImport) -> str:
    return f"v{item.version}, {item.source}, imported {item.imported_at}"


def _grams_by_subject(item: AuditedImport) -> dict[str, int]:
    subjects = {model: figure.micrograms for model, figure in model_figures(item.figures).items()}
    for figure in item.figures:
        if figure.model is None:
            key = f"unattributed SKU {figure.sku}"
            subjects[key] = subjects.get(key, 0) + to_micrograms(figure.kg_co2e)
    return subjects


def restatements(months: Iterable[MonthInForce]) -> list[Restatement]:
    """Each re-import against the one before it: every figure that changed (or "no figure changed")."""
    entries: list[Restatement] = []
    for month in months:
        chain = [*reversed(month.earlier), month.current]  # oldest first
        for before, after in pairwise(chain):
            old, new = _grams_by_subject(before), _grams_by_subject(after)
            changed = [s for s in sorted(set(old) | set(new)) if old.get(s) != new.get(s)]
            for subject in changed:
                entries.append(
                    Restatement(
                        month.month,
                        subject,
                        None if subject not in old else old[subject] / 1e6,
                        None if subject not in new else new[subject] / 1e6,
                        _describe(before),
                        _describe(after),
                    )
                )
            if not changed:
                entries.append(
                    Restatement(
                        month.month, "no figure changed", None, None, _describe(before), _describe(after)
                    )
                )
    return entries
