"""Label-keyed monthly aggregates for sustainability reports: what each count step adds, and how the rows
read back become the reports' input (meters/reports/rows.py).

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from meters.reports.rows import CarbonLabel, Counters, DailyRow, TagRow, UsageRow
from meters.store.windows import NANO, to_nano
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
    e = record.estimate
    energy, water = e.energy_wh, e.water_ml
    return [
        1,
        int(record.prompt_tokens),
        int(record.completion_tokens),
        to_nano(e.gco2e),
        to_nano(e.gco2e_min),
        to_nano(e.gco2e_max),
        to_nano(energy),
        0 if energy is None else 1,
        to_nano(water),
        0 if water is None else 1,
        to_nano(record.spend),
    ]


def pack(values: Iterable[int]) -> str:
    return ",".join(str(v) for v in values)


def counters_of(v: list[int] | tuple[int, ...]) -> Counters:
    """MONTH_FIELDS values (nano-units) -> the reports' Counters (g, Wh, mL, money). Positional, in
    Counters' field order (requests, prompt and completion tokens, g, g min, g max, Wh, energy known, mL,
    water known, spend): keywords cost ~30% more per call, and a yearly report makes ~450k of these."""
    return Counters(
        int(v[0]),
        int(v[1]),
        int(v[2]),
        v[3] / NANO,
        v[4] / NANO,
        v[5] / NANO,
        v[6] / NANO,
        int(v[7]),
        v[8] / NANO,
        int(v[9]),
        v[10] / NANO,
    )


_ZERO = Counters(0, 0, 0, 0.0, 0.0, 0.0)


@dataclass
class ReportInput:
    """What the store hands `build_report` for one period and scope."""

    usage: list[UsageRow] = field(default_factory=list)
    tags: list[TagRow] = field(default_factory=list)
    daily: list[DailyRow] = field(default_factory=list)
    org_tokens: dict[ModelMonth, int] = field(default_factory=dict)


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


class MonthlyFolder:
    """Monthly usage rows -> report rows. Rows of an audited model-month stay monthly (the apportionment
    works per month); the other months of a line are summed into one row dated its first month, plus an
    empty row dated its last month (so the report still knows when the line was first and last used)."""

    def __init__(self, labels: LabelBook, audited: frozenset[ModelMonth]) -> None:
        self.labels = labels
        self.audited = audited
        self.rows: list[UsageRow] = []
        self._sums: dict[tuple[str, str, str, str, str], list[Any]] = {}
        self._audited_sums: dict[tuple[str, str, str, str, str], list[int]] = {}

    def add(
        self, tenant: str, month: str, model: str, provider: str, currency: str, lid: str, v: list[int]
    ) -> None:
        if (month, model) in self.audited:
            self.rows.append(
                UsageRow(month, tenant, model, provider, self.labels[lid], currency, counters_of(v))
            )
            key = (tenant, model, provider, currency, lid)
            sums = self._audited_sums.get(key)
            self._audited_sums[key] = list(v) if sums is None else list(map(operator.add, sums, v))
            return
        self.add_summed(tenant, model, provider, currency, lid, month, month, v)

    def add_summed(
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

    def result(self, year_totals: bool = False) -> list[UsageRow]:
        """The rows. `year_totals`: the summed lines were whole-year totals (`add_summed` of year rows), from
        which the audited months' rows added here are taken off (a line left with nothing is dropped)."""
        rows = self.rows
        for key, (first, last, v) in self._sums.items():
            tenant, model, provider, currency, lid = key
            if year_totals:
                audited = self._audited_sums.get(key)
                if audited is not None:
                    v = [total - part for total, part in zip(v, audited, strict=True)]
                    if not any(v):
                        continue
                    first, last = self._live_span(model, first, last)
            label = self.labels[lid]
            rows.append(UsageRow(first, tenant, model, provider, label, currency, counters_of(v)))
            if last != first:
                rows.append(UsageRow(last, tenant, model, provider, label, currency, _ZERO))
        self._sums = {}
        return rows

    def _live_span(self, model: str, first: str, last: str) -> tuple[str, str]:
        """A year line's rest (its months without an audited figure) dated in such months, the first and
        the last of them: dated in an audited month, the report would take it for that month's traffic."""
        live: list[str] = []
        year, month = int(first[:4]), int(first[5:7])
        while (each := f"{year:04d}-{month:02d}") <= last:
            if (each, model) not in self.audited:
                live.append(each)
            year, month = year + month // 12, month % 12 + 1
        return (live[0], live[-1]) if live else (first, last)
