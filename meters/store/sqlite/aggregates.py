"""The embedded store's report aggregates read back, and its audited imports.

A yearly organisation report sums the months of each line that no audited figure covers in SQL (one
GROUP BY), and reads only the audited model-months month by month: the reports get ~50k summed lines plus
the audited months' rows instead of every monthly row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from meters.audited.figures import AuditedImport, ParsedImport
from meters.reports.rows import DailyRow, StoreRows
from meters.store.aggregates import (
    LabelBook,
    ModelMonth,
    less_audited,
    summed_form,
    sums_pay,
    whole_year,
)
from meters.store.audited_codec import decode, encode, newest_first, stamp
from meters.store.interfaces import AuditedStore, ReportAggregates
from meters.store.sqlite.database import SqliteDatabase
from meters.store.sqlite.reports_schema import MONTH_COLUMNS
from meters.store.windows import NANO

_U_COLUMNS = ", ".join(f"u.{c}" for c in MONTH_COLUMNS.split(", "))
_SUMS = ", ".join(f"SUM({c})" for c in MONTH_COLUMNS.split(", "))
# An audited (month, model) pair (NOT EXISTS: SQLite's row-value NOT IN was 15x slower here).
_AUDITED = "EXISTS (SELECT 1 FROM temp.report_pairs p WHERE p.month = u.month AND p.model = u.model)"


_SCAN_SHARE = 4  # scan the table when the audited pairs are at least 1/4 of the period's (month, model) pairs


_ROW = "u.tenant_id, u.model, u.provider, u.currency, u.label_id, u.month"
_FULL = f"{_ROW}, {_U_COLUMNS}"  # AuditedTuples
_PART = f"{_ROW}, u.req, u.pt, u.ct, u.g"  # PartTuples


def _audited_rows(
    columns: str, tenant_id: str | None, audited: int, pairs: int
) -> tuple[str, tuple[str, ...]]:
    """The query (and its parameters) of the audited model-months' monthly rows. One tenant's, or a few
    pairs of the organisation's: CROSS JOIN keeps the pairs the outer loop (each pair an index search, then
    a row look-up per row; SQLite's own plan scanned the whole index instead, 6x slower). Many pairs of the
    organisation's (25 of 50 models audited: 300k of 600k rows): one pass over the table in key order, 2x
    faster than 300k look-ups (each line's months still come in month order, so every sum is the same)."""
    if tenant_id:
        return (
            f"SELECT {columns} FROM temp.report_pairs p CROSS JOIN usage_month u "
            "ON u.month = p.month AND u.model = p.model WHERE u.tenant_id = ?",
            (tenant_id,),
        )
    if audited * _SCAN_SHARE >= pairs:
        return f"SELECT {columns} FROM usage_month u NOT INDEXED WHERE {_AUDITED}", ()
    return (
        f"SELECT {columns} FROM temp.report_pairs p CROSS JOIN usage_month u "
        "ON u.month = p.month AND u.model = p.model",
        (),
    )


class SqliteAggregates(ReportAggregates):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def report_input(
        self,
        months: tuple[str, ...],
        tenant_id: str | None,
        audited: frozenset[ModelMonth],
        *,
        sums: bool = False,
    ) -> StoreRows:
        return await self._db.run(self._read, months, tenant_id, audited, sums)

    def _read(
        self, months: tuple[str, ...], tenant_id: str | None, audited: frozenset[ModelMonth], sums: bool
    ) -> StoreRows:
        conn = self._db.conn
        conn.execute("BEGIN")  # one snapshot for every query of the report
        try:
            return self._read_in(conn, months, tenant_id, audited, sums)
        finally:
            conn.execute("COMMIT")

    def _read_in(
        self,
        conn: Any,
        months: tuple[str, ...],
        tenant_id: str | None,
        audited: frozenset[ModelMonth],
        sums: bool,
    ) -> StoreRows:
        labels = LabelBook(dict(conn.execute("SELECT id, data FROM report_labels").fetchall()))
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS report_pairs "
            "(month TEXT NOT NULL, model TEXT NOT NULL, PRIMARY KEY (month, model))"
        )
        conn.execute("DELETE FROM temp.report_pairs")
        conn.executemany("INSERT INTO temp.report_pairs VALUES (?, ?)", sorted(audited))
        where = "month BETWEEN ? AND ?" + (" AND tenant_id = ?" if tenant_id else "")
        span: tuple[str, ...] = (months[0], months[-1]) + ((tenant_id,) if tenant_id else ())
        year = whole_year(months)
        if year is not None:  # the year's lines, less the audited months read below
            summed = conn.execute(
                f"SELECT tenant_id, model, provider, currency, label_id, first_month, last_month, {MONTH_COLUMNS} "
                "FROM usage_year WHERE year = ?" + (" AND tenant_id = ?" if tenant_id else ""),
                (year, tenant_id) if tenant_id else (year,),
            ).fetchall()
        else:
            summed = conn.execute(
                f"SELECT tenant_id, model, provider, currency, label_id, MIN(month), MAX(month), {_SUMS} "
                f"FROM usage_month u WHERE {where} AND NOT {_AUDITED} "
                "GROUP BY tenant_id, model, provider, currency, label_id",
                span,
            ).fetchall()
        result = StoreRows(labels, NANO, summed)
        models = {row[1] for row in summed}
        if sums and year is not None and sums_pay(audited, len(months), models):
            # Each line's audited months summed (the year's line less its other months, read monthly), and
            # only tokens and live g of each audited month.
            # `+month`: a scan (by tenant), not the month index, whose look-up per row cost 2.5 s for 600k.
            if audited.issuperset((month, model) for month in months for model in models):
                live = []  # every month of every model audited: no row to pick
                query = f"SELECT {_PART} FROM usage_month u WHERE +{where}", span
            else:
                live = conn.execute(
                    f"SELECT {_FULL} FROM usage_month u WHERE +{where} AND NOT {_AUDITED}", span
                ).fetchall()
                query = _audited_rows(_PART, tenant_id, len(audited), len(months) * len(models))
            result.lines, result.audited = summed_form(summed, live, audited)
            result.audited_parts = conn.execute(*query).fetchall()
        elif audited:  # StoreRows' AuditedTuples, one per line and month
            query = _audited_rows(_FULL, tenant_id, len(audited), len(months) * len(models))
            rows = conn.execute(*query).fetchall()
            result.audited = rows
            if year is not None:
                result.lines = less_audited(summed, rows)
        if audited and tenant_id:
            result.org_tokens = {
                (month, model): int(tokens)
                for month, model, tokens in conn.execute(
                    "SELECT p.month, p.model, SUM(u.pt + u.ct) FROM temp.report_pairs p "
                    "CROSS JOIN usage_month u ON u.month = p.month AND u.model = p.model GROUP BY p.month, p.model"
                )
            }
        result.tags = conn.execute(
            f"SELECT tenant_id, month, tag, model, req, pt + ct, g FROM usage_tag_month WHERE {where}", span
        ).fetchall()
        day_where = "day BETWEEN ? AND ?" + (" AND tenant_id = ?" if tenant_id else "")
        days = (months[0] + "-01", months[-1] + "-31") + ((tenant_id,) if tenant_id else ())
        result.daily = [
            DailyRow(day, grams / NANO)
            for day, grams in conn.execute(
                f"SELECT day, SUM(g) FROM usage_tenant_day WHERE {day_where} GROUP BY day ORDER BY day", days
            )
        ]
        return result


class SqliteAudited(AuditedStore):
    def __init__(self, db: SqliteDatabase, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def add(self, parsed: ParsedImport) -> AuditedImport:
        def add() -> AuditedImport:
            with self._db.write() as conn:
                (latest,) = conn.execute(
                    "SELECT COALESCE(MAX(version), 0) FROM audited_imports WHERE month = ?", (parsed.month,)
                ).fetchone()
                stored = stamp(parsed, int(latest) + 1, self._clock())
                conn.execute(
                    "INSERT INTO audited_imports (month, version, imported_at, data) VALUES (?, ?, ?, ?)",
                    (stored.month, stored.version, stored.imported_at, encode(parsed)),
                )
            return stored

        return await self._db.run(add)

    async def list(self, month: str | None = None) -> list[AuditedImport]:
        def read() -> list[tuple[Any, ...]]:
            where, params = ("WHERE month = ?", (month,)) if month else ("", ())
            return self._db.conn.execute(
                f"SELECT version, imported_at, data FROM audited_imports {where}", params
            ).fetchall()

        return newest_first(
            [decode(data, int(version), at) for version, at, data in await self._db.run(read)]
        )
