"""Report benchmark: a yearly organisation report over 1,000 tenants x 50 models x 365 days of aggregates.

    PYTHONPATH=. python -m tests.bench.bench_reports [--tenants 1000] [--models 50] [--repeat 1] [--monthly-days]
    PYTHONPATH=. python -m tests.bench.bench_reports --from-store sqlite|redis   (see tests/bench/report_store.py)

The store hands a yearly report its monthly aggregates (tenants x models x 12 months = 600k usage rows) plus
the organisation's 365 daily totals for the by-day chart (see meters/reports/rows.py); 120k tag rows (5 builds
x 2 models per tenant) and 12 audited months for half the models (unmapped SKU included). Times building the
report from those rows and rendering each format; the target is <= 5 s (JSON, CSV) and <= 15 s (PDF) for
build + render. `--monthly-days` also times a monthly report built from day rows (tenants x models x 31 days).
Rows are generated before the clock starts.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Callable

from meters.reports import DailyRow, build_report
from meters.reports.model import Report
from meters.reports.render import render
from tests.support.report_rows import ENERGY, audited_import, counters, synthetic_usage, tag

YEAR = "2026"
MONTHS = tuple(f"{YEAR}-{m:02d}" for m in range(1, 13))


def _tags(tenants: int) -> list:
    rows = []
    for month in MONTHS:
        for t in range(tenants):
            for build in range(5):
                for m in (1, 2):
                    c = counters(200 + 10 * build, 80 + t % 17, 0.01 * (1 + build), requests=2)
                    rows.append(
                        tag(month, f"tenant-{t:04d}", f"build={build}", f"model-{m:02d}", c, label=ENERGY)
                    )
    return rows


def _imports(models: int, audited: int | None = None) -> list:
    """Every other model audited every month (or the first `audited` of those, then of the others: 50 audits
    all of them), restated once, plus an unmapped SKU; water as Scaleway gives it, for every figure."""
    result = []
    odd = list(range(1, models, 2))
    chosen = odd if audited is None else (odd + list(range(0, models, 2)))[:audited]
    for month in MONTHS:
        figures = [(f"model-{m:02d}", 0.5 + m / 10, None if m % 4 else 10**9, 0.001 * m) for m in chosen]
        figures.append((None, 0.02, None, 0.0001))
        result.append(audited_import(month, figures, version=1))
        restated = [(f, kg * 0.9, t, w) for f, kg, t, w in figures if f]
        result.append(audited_import(month, restated, version=2))
    return result


def _daily() -> list[DailyRow]:
    import datetime

    day = datetime.date(int(YEAR), 1, 1)
    rows = []
    while day.year == int(YEAR):
        rows.append(DailyRow(day.isoformat(), 1000.0 + (day.toordinal() % 9) * 50))
        day += datetime.timedelta(days=1)
    return rows


def _time(function: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Best (wall seconds, CPU seconds) of `repeat` runs: CPU time shows the cost on a busy machine."""
    best, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu, result


def _report_times(label: str, build: Callable[[], Report], repeat: int) -> None:
    built_s, built_cpu, report = _time(build, repeat)
    assert isinstance(report, Report)
    print(
        f"\n{label}: {len(report.lines):,} lines, {len(report.tags):,} tag lines, "
        f"{len(report.reconciliation):,} reconciliation lines; build {built_s:.2f} s (CPU {built_cpu:.2f} s)"
    )
    print(f"{'format':<6} {'render s':>9} {'build+render s':>15} {'(CPU s)':>8} {'size':>12}")
    for fmt in ("json", "csv", "html", "pdf"):
        seconds, cpu, data = _time(lambda fmt=fmt: render(report, fmt), repeat)
        assert isinstance(data, bytes)
        print(f"{fmt:<6} {seconds:>9.2f} {built_s + seconds:>15.2f} {built_cpu + cpu:>8.2f} {len(data):>12,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--monthly-days", action="store_true")
    parser.add_argument(
        "--audited-models",
        type=int,
        default=None,
        help="audit this many models (default: every other one, 25 of 50; then the others too)",
    )
    parser.add_argument(
        "--from-store",
        choices=("sqlite", "redis"),
        help="write the year into a store, time the report from it",
    )
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores)")
    start = time.perf_counter()
    usage = list(synthetic_usage(MONTHS, args.tenants, args.models))
    tags = _tags(args.tenants)
    imports, daily = _imports(args.models, args.audited_models), _daily()
    print(
        f"generated {len(usage):,} usage rows, {len(tags):,} tag rows in {time.perf_counter() - start:.1f} s"
    )
    render(build_report("2026-01", usage=[], catalogue_version="x", gateway_version="x"), "pdf")  # imports
    if args.from_store:
        from tests.bench.report_store import run_from_store

        data = [usage, tags, daily, imports]
        del usage, tags  # the store's reader, not this process's copy, holds the rows while timed
        run_from_store(
            args.from_store,
            YEAR,
            data,
            args.tenants,
            lambda label, build: _report_times(label, build, args.repeat),
        )
        return

    def yearly() -> Report:
        return build_report(
            YEAR,
            usage=usage,
            tags=tags,
            audited=imports,
            daily=daily,
            catalogue_version="2026-11-22",
            gateway_version="0.1.0",
        )

    _report_times(
        f"yearly organisation report, {args.tenants} tenants x {args.models} models", yearly, args.repeat
    )
    if args.monthly_days:
        del usage, tags
        days = list(synthetic_usage(["2026-10"], args.tenants, args.models, daily=True))
        month_imports = [i for i in imports if i.month == "2026-10"]

        def monthly() -> Report:
            return build_report(
                "2026-10",
                usage=days,
                audited=month_imports,
                catalogue_version="2026-11-22",
                gateway_version="0.1.0",
            )

        _report_times(f"monthly organisation report from {len(days):,} day rows", monthly, args.repeat)


if __name__ == "__main__":
    main()
