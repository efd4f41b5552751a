"""Label-keyed monthly aggregates for sustainability reports: what each count step adds, and how the rows
read back become the reports' input (meters/reports/rows.py: StoreRows, plain tuples).

Kept per tenant x month: usage per (model, provider, currency, label id), usage per (tag, model, label id)
and the tenant's gCO2e per day (the by-day chart). A label id names one carbon label (method, boundary,
confidence, basis, source, catalogue version, water boundary, data centre): a short digest of those fields,
the same in every worker and replica, so a registry (label id -> fields) can be written idempotently
outside the count step. Amounts are integer nano-units (grams, Wh, mL, money), exact as the counters are;
`enk`/`wak` count the requests whose energy/water was known (unknown stays unknown, never 0).
"""

from __future__ import annotations

import hashlib
import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from meters.reports.rows import AuditedTuple, CarbonLabel, LineTuple
from meters.store.records import usage_counters
from meters.usage import UsageRecord

MONTH_FIELDS = ("req", "pt", "ct", "g", "gmin", "gmax", "en", "enk", "wa", "wak", "sp")
LABEL_FIELDS = (
    "method",
    "boundary",
    "confidence",
    "basis",
    "source",
    "catalogue_version",
    "water_boundary",
    "datacentre",
)
DEFAULT_MONTHLY_RETENTION_MONTHS = 25
MIN_MONTHLY_RETENTION_MONTHS = 13  # a yearly report and the same months of the year before

LabelFields = tuple[str | None, ...]
ModelMonth = tuple[str, str]  # (month, model)
_label_ids: dict[LabelFields, str] = {}


def check_retention(months: int) -> int:
    if isinstance(months, bool) or not isinstance(months, int) or months < MIN_MONTHLY_RETENTION_MONTHS:
        raise ValueError(
            f"monthly_retention_months must be an integer >= {MIN_MONTHLY_RETENTION_MONTHS}, got {months!r}"
        )
    return months


def label_fields(record: UsageRecord) -> LabelFields:
    e = record.estimate
    return (
        str(e.method),
        str(e.boundary),
        str(e.confidence),
        None if e.basis is None else str(e.basis),
        e.source,
        e.catalogue_version,
        None if e.water_boundary is None else str(e.water_boundary),
        record.datacentre,
    )


def label_id(fields: LabelFields) -> str:
    """A 16-hex digest of the label's fields (cached: a worker sees a handful of labels)."""
    found = _label_ids.get(fields)
    if found is None:
        digest = hashlib.blake2b(orjson.dumps(list(fields)), digest_size=8).hexdigest()
        if len(_label_ids) > 10_000:
            _label_ids.clear()
        found = _label_ids[fields] = digest
    return found


def label_json(fields: LabelFields) -> str:
    return orjson.dumps(dict(zip(LABEL_FIELDS, fields, strict=True))).decode()


def label_from_json(data: str | bytes) -> CarbonLabel:
    raw = orjson.loads(data)
    basis, water, centre = raw.get("basis"), raw.get("water_boundary"), raw.get("datacentre")
    return CarbonLabel(
        method=str(raw["method"]),
        boundary=str(raw["boundary"]),
        confidence=str(raw["confidence"]),
        basis=None if basis in (None, "unspecified") else str(basis),
        source=str(raw["source"]),
        catalogue_version=str(raw["catalogue_version"]),
        water_boundary=None if water is None else str(water),
        datacentre=None if centre is None else str(centre),
    )


def month_counters(record: UsageRecord) -> list[int]:
    """The record's amounts in MONTH_FIELDS order."""
    return month_values(usage_counters(record))


def month_values(counters: Mapping[str, int]) -> list[int]:
    """A record's usage counters (`records.usage_counters`) in MONTH_FIELDS order."""
    return [counters[field] for field in MONTH_FIELDS]


def pack(values: Iterable[int]) -> str:
    return ",".join(map(str, values))


def less_audited(lines: Iterable[LineTuple], audited: Iterable[AuditedTuple]) -> list[LineTuple]:
    """Whole-period lines (a year's, with first and last month) less the rows of their audited model-months,
    which the report reads monthly: integers, exact; a line left with nothing is dropped."""
    taken: defaultdict[tuple[Any, ...], list[AuditedTuple]] = defaultdict(list)
    for row in audited:  # an AuditedTuple's first five are its line's key
        taken[row[:5]].append(row)
    result: list[LineTuple] = []
    for line in lines:
        rows = taken.get(line[:5])
        if rows is None:
            result.append(line)
            continue
        columns = list(zip(*rows, strict=True))[6:]  # each amount over the line's audited months
        rest = [total - sum(column) for total, column in zip(line[7:], columns, strict=True)]
        if any(rest):
            result.append((*line[:7], *rest))
    return result


def sums_pay(audited: frozenset[ModelMonth], months: int, models: Iterable[str]) -> bool:
    """Whether a store should hand each line's audited months summed (StoreRows.audited_parts): when at least
    4/5 of the period's (month, model) pairs are audited. With fewer, reading the live months whole costs more
    than summing saves (SQLite, 25 of 50 models audited: 1.87 s of look-ups against 0.9 s)."""
    return bool(audited) and len(audited) * 5 >= months * len(set(models)) * 4


def summed_form(
    year_lines: Iterable[LineTuple], live: Iterable[AuditedTuple], audited: frozenset[ModelMonth]
) -> tuple[list[LineTuple], list[AuditedTuple]]:
    """(lines, audited sums) of StoreRows' summed form: the live months' rows summed per line, and each year
    line less those rows, as an AuditedTuple dated one audited month (the audited months share one import
    source and basis, so any of them labels the sums alike)."""
    live = list(live)
    sums = LineSums()
    for row in live:
        sums.add(row[0], row[1], row[2], row[3], row[4], row[5], row[5], row[6:])
    month = min(audited)[0]
    return sums.lines(), [(*line[:5], month, *line[7:]) for line in less_audited(year_lines, live)]


def whole_year(months: tuple[str, ...]) -> str | None:
    """ "YYYY" when `months` are the twelve months of one year (a yearly report reads the year aggregates)."""
    year = months[0][:4] if months else ""
    return year if months == tuple(f"{year}-{m:02d}" for m in range(1, 13)) else None


class LabelBook:
    """Label ids -> one shared CarbonLabel object each (the reports hash labels by identity first)."""

    def __init__(self, raw: Mapping[str, str | bytes]) -> None:
        self._labels = {str(k): label_from_json(v) for k, v in raw.items()}
        self._unknown: dict[str, CarbonLabel] = {}

    def __getitem__(self, lid: str) -> CarbonLabel:
        found = self._labels.get(lid)
        if found is None:  # a label counted before its registry entry landed: said so, never dropped
            found = self._unknown.get(lid)
            if found is None:
                found = self._unknown[lid] = CarbonLabel(
                    "unknown", "unspecified", "estimated", None, f"label {lid} not registered", ""
                )
        return found


class LineSums:
    """Monthly rows of one line (tenant, model, provider, currency, label id) summed, with the line's first
    and last month: the LineTuples of StoreRows."""

    def __init__(self) -> None:
        self._sums: dict[tuple[str, str, str, str, str], list[Any]] = {}

    def add(
        self,
        tenant: str,
        model: str,
        provider: str,
        currency: str,
        lid: str,
        first: str,
        last: str,
        v: list[int] | tuple[int, ...],
    ) -> None:
        key = (tenant, model, provider, currency, lid)
        acc = self._sums.get(key)
        if acc is None:
            self._sums[key] = [first, last, list(v)]
            return
        acc[0] = min(acc[0], first)
        acc[1] = max(acc[1], last)
        acc[2] = list(map(operator.add, acc[2], v))

    def lines(self) -> list[LineTuple]:
        return [(*key, first, last, *v) for key, (first, last, v) in self._sums.items()]
