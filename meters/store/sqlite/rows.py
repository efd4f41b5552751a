"""Rows one metering transaction adds, summed per key before they reach SQLite.

A batch of usage records for the same tenant and model touches the same few counter rows:
summing them first turns hundreds of upserts into a handful (the usage writer's batches are
what make the embedded store cheap per request).
"""

from __future__ import annotations

from typing import Any

from meters.limits import Quantity
from meters.store.aggregates import label_fields, label_id, label_json
from meters.store.records import COUNTER_FIELDS, tag_labels
from meters.store.sqlite.reports_schema import (
    INSERT_LABEL,
    UPSERT_MONTH,
    UPSERT_TAG_MONTH,
    UPSERT_TENANT_DAY,
    UPSERT_YEAR,
)
from meters.store.windows import Windows
from meters.usage import UsageRecord

COUNTER_MARGIN_S = 120  # keep a limit counter this long after its window ends

COLUMNS = ", ".join(COUNTER_FIELDS)
_PLACEHOLDERS = ", ".join("?" for _ in COUNTER_FIELDS)
_ADD_COUNTERS = ", ".join(f"{f} = {f} + excluded.{f}" for f in COUNTER_FIELDS)
UPSERT_COUNTER = (
    "INSERT INTO counters (scope, window, quantity, value, expires_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (scope, window, quantity) DO UPDATE SET value = value + excluded.value"
)
_UPSERT_MODEL_DAY = (
    f"INSERT INTO usage_model_day (tenant_id, day, model, {COLUMNS}) VALUES (?, ?, ?, {_PLACEHOLDERS}) "
    f"ON CONFLICT (tenant_id, day, model) DO UPDATE SET {_ADD_COUNTERS}"
)
_UPSERT_TAG_DAY = (
    f"INSERT INTO usage_tag_day (tenant_id, day, tag, {COLUMNS}) VALUES (?, ?, ?, {_PLACEHOLDERS}) "
    f"ON CONFLICT (tenant_id, day, tag) DO UPDATE SET {_ADD_COUNTERS}"
)
# What live reservations hold per scope: added at reserve, taken off when a reservation goes.
HOLD = (
    "INSERT INTO held (scope, tokens, spend, gco2e) VALUES (?, ?, ?, ?) ON CONFLICT (scope) DO UPDATE SET "
    "tokens = tokens + excluded.tokens, spend = spend + excluded.spend, gco2e = gco2e + excluded.gco2e"
)
_UNHOLD = "UPDATE held SET tokens = tokens - ?, spend = spend - ?, gco2e = gco2e - ? WHERE scope = ?"
_INSERT_LEDGER = "INSERT INTO ledger (tenant_id, ts, request_id, data) VALUES (?, ?, ?, ?)"


class PendingRows:
    def __init__(self) -> None:
        self._counters: dict[tuple[str, str, str], list[int]] = {}  # key -> [value, expires_at]
        # Per-key value rows, summed column-wise when written (`_summed`): appending is all a record costs.
        self._model_day: dict[tuple[str, str, str], list[list[int]]] = {}
        self._tag_day: dict[tuple[str, str, str], list[list[int]]] = {}
        self._ledger: list[tuple[str, float, str, str]] = []
        self._unhold: dict[str, list[int]] = {}  # scope -> [tokens, spend, gco2e] to free
        # (scopes "\n"-joined, windows) -> [requests, tokens, spend, gco2e]: a batch's requests share a
        # few scope sets and one or two minutes, so limit counters are summed first and expanded once.
        self._scoped: dict[tuple[str, Windows], list[int]] = {}
        # Report aggregates (reports_schema.py): monthly per label, per tag, the tenant's day totals.
        self._labels: dict[str, str] = {}
        self._month: dict[tuple[str, ...], list[list[int]]] = {}
        self._tag_month: dict[tuple[str, ...], list[list[int]]] = {}
        self._tenant_day: dict[tuple[str, str], int] = {}

    def report(self, record: UsageRecord, windows: Windows, values: list[int]) -> None:
        """The record's label-keyed monthly aggregates and its tenant's day total (`values`: its
        `month_counters`)."""
        fields = label_fields(record)
        lid = label_id(fields)
        if lid not in self._labels:
            self._labels[lid] = label_json(fields)
        month, day = windows.month[2:], windows.day[1:]
        tenant, model = record.tenant_id, record.model
        key = (tenant, month, model, record.provider, record.currency, lid)
        _append(self._month, key, values)  # its year's row is summed from the month rows (write_reports)
        for tag in tag_labels(record):
            _append(self._tag_month, (tenant, month, tag, model, lid), values)
        day_key = (tenant, day)
        self._tenant_day[day_key] = self._tenant_day.get(day_key, 0) + values[3]

    def write_reports(self, conn: Any) -> None:
        month_rows = {key: _summed(rows) for key, rows in self._month.items()}
        years: dict[tuple[str, ...], list[Any]] = {}  # (tenant, year, model, provider, currency, label)
        for (tenant, month, *rest), values in month_rows.items():
            key = (tenant, month[:4], *rest)
            year = years.get(key)
            if year is None:
                years[key] = [month, month, *values]
            else:
                year[0], year[1] = min(year[0], month), max(year[1], month)
                for i, value in enumerate(values, 2):
                    year[i] += value
        conn.executemany(INSERT_LABEL, list(self._labels.items()))
        conn.executemany(UPSERT_MONTH, [(*key, *values) for key, values in month_rows.items()])
        conn.executemany(UPSERT_YEAR, [(*key, *values) for key, values in years.items()])
        conn.executemany(UPSERT_TAG_MONTH, [(*key, *_summed(rows)) for key, rows in self._tag_month.items()])
        conn.executemany(UPSERT_TENANT_DAY, [(*key, g) for key, g in self._tenant_day.items()])

    def unhold(self, dropped: list[tuple[str, int, int, int]]) -> None:
        """Free what dropped reservations (scopes, tokens, spend, gco2e) held."""
        _sum_held(dropped, self._unhold)

    def scoped(
        self, scopes: str, windows: Windows, requests: int, tokens: int, spend: int, gco2e: int
    ) -> None:
        """Usage for the limit counters of every scope in `scopes` ("\n"-joined), in `windows`."""
        sums = self._scoped.get((scopes, windows))
        if sums is None:
            self._scoped[(scopes, windows)] = [requests, tokens, spend, gco2e]
        else:
            sums[0] += requests
            sums[1] += tokens
            sums[2] += spend
            sums[3] += gco2e

    def _expand_scoped(self) -> None:
        for (scopes, windows), (requests, tokens, spend, gco2e) in self._scoped.items():
            for scope in scopes.split("\n"):
                self.counter(scope, windows.minute, Quantity.REQUESTS, requests, windows.minute_end)
                self.counter(
                    scope, windows.minute, Quantity.TOKENS, tokens, windows.minute_end + COUNTER_MARGIN_S
                )
                self.counter(scope, windows.day, Quantity.TOKENS, tokens, windows.day_end + COUNTER_MARGIN_S)
                self.counter(
                    scope, windows.month, Quantity.TOKENS, tokens, windows.month_end + COUNTER_MARGIN_S
                )
                self.counter(scope, windows.month, Quantity.SPEND, spend, windows.month_end)
                self.counter(scope, windows.month, Quantity.GCO2E, gco2e, windows.month_end)
        self._scoped.clear()

    def counter(self, scope: str, window: str, quantity: str, value: int, expires_at: int) -> None:
        if not value:
            return
        row = self._counters.get((scope, window, quantity))
        if row is None:
            self._counters[(scope, window, quantity)] = [value, expires_at]
        else:
            row[0] += value
            row[1] = max(row[1], expires_at)

    def usage(self, table_key: tuple[str, str, str], values: list[int], *, tag: bool = False) -> None:
        _append(self._tag_day if tag else self._model_day, table_key, values)

    def ledger(self, tenant_id: str, ts: float, request_id: str, data: str) -> None:
        self._ledger.append((tenant_id, ts, request_id, data))

    def write(self, conn: Any) -> None:
        self._expand_scoped()
        conn.executemany(UPSERT_COUNTER, [(*key, value, end) for key, (value, end) in self._counters.items()])
        conn.executemany(_UPSERT_MODEL_DAY, [(*key, *_summed(rows)) for key, rows in self._model_day.items()])
        conn.executemany(_UPSERT_TAG_DAY, [(*key, *_summed(rows)) for key, rows in self._tag_day.items()])
        conn.executemany(_INSERT_LEDGER, self._ledger)
        if self._unhold:
            conn.executemany(_UNHOLD, [(*values, scope) for scope, values in self._unhold.items()])
        self.write_reports(conn)


def _append(into: dict[Any, list[list[int]]], key: Any, values: list[int]) -> None:
    rows = into.get(key)
    if rows is None:
        into[key] = [values]
    else:
        rows.append(values)


def _summed(rows: list[list[int]]) -> list[int]:
    """Column sums of value rows (Python ints: exact however large)."""
    return rows[0] if len(rows) == 1 else [sum(column) for column in zip(*rows, strict=True)]


def unhold(conn: Any, dropped: list[tuple[str, int, int, int]]) -> None:
    """Free now what dropped reservations (scopes, tokens, spend, gco2e) held."""
    held = _sum_held(dropped, {})
    conn.executemany(_UNHOLD, [(*values, scope) for scope, values in held.items()])


def _sum_held(dropped: list[tuple[str, int, int, int]], into: dict[str, list[int]]) -> dict[str, list[int]]:
    for scopes, tokens, spend, gco2e in dropped:
        for scope in scopes.split("\n"):
            row = into.setdefault(scope, [0, 0, 0])
            row[0] += tokens
            row[1] += spend
            row[2] += gco2e
    return into
