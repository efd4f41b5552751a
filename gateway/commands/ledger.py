"""`carbon-gateway ledger export --period P [--tenant ID] --format jsonl|csv [--out PATH]`: archive a period.

Reads the store the config names (as `tenants` does, no server needed) and writes the per-request ledger
entries of the period, one at a time as the store's `ledger()` iterator yields them (pages of 500 on
Redis, a cursor on SQLite): memory stays constant whatever the period's size. JSONL writes each entry as
the ledger holds it; CSV flattens `carbon.*` into `carbon_*` columns and writes `tags` as JSON. On a
terminal, stderr shows a progress line (entries written, the day reached, a bar through the period);
elsewhere nothing. The ledger keeps `store.ledger_retention_days` (default 35): export before that.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from gateway.commands.on_store import EXIT_FAILED, EXIT_INVALID
from gateway.config import ConfigError, default_config_path, load_config
from gateway.config.store import FAIL_CLOSED
from meters.periods import period_days
from meters.store import StoreUnavailable, open_store

_BAR = 30
_REDRAW_S = 0.2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ledger = sub.add_parser("ledger", help="the per-request ledger, read from the store directly (no server)")
    commands = ledger.add_subparsers(dest="ledger_command", required=True)
    export = commands.add_parser("export", help="write a period's ledger entries, streaming (for archiving)")
    export.add_argument("--period", required=True, help="YYYY-MM-DD, YYYY-MM or YYYY (UTC)")
    export.add_argument("--tenant", help="one tenant's entries (default: every tenant's)")
    export.add_argument("--format", required=True, choices=("jsonl", "csv"))
    export.add_argument("--out", help="file to write (default: stdout)")
    export.add_argument("--config", help="config file (default: $CARBON_GATEWAY_CONFIG or the packaged default)")
    export.set_defaults(run=run_export)


def period_bounds(period: str) -> tuple[float, float]:
    """[start, end) of a period in epoch seconds (UTC)."""
    days = period_days(period)
    first = date.fromisoformat(days[0])
    last = date.fromisoformat(days[-1]) + timedelta(days=1)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
    return start, datetime(last.year, last.month, last.day, tzinfo=UTC).timestamp()


def run_export(args: argparse.Namespace) -> int:
    try:
        start, end = period_bounds(args.period)
    except ValueError as exc:
        print(f"--period: {exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        config = load_config(args.config or str(default_config_path()))
    except ConfigError as exc:
        print(f"invalid config: {exc}", file=sys.stderr)
        return EXIT_INVALID
    progress = Progress(start, end) if sys.stderr.isatty() else None
    try:
        out: IO[str] = open(args.out, "w", newline="") if args.out else sys.stdout  # noqa: SIM115
    except OSError as exc:
        print(f"--out: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        written = asyncio.run(_export(config.store, args.tenant, start, end, args.format, out, progress))
    except StoreUnavailable as exc:
        print(f"the store is unreachable: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if out is not sys.stdout:
            out.close()
    if progress is not None:
        progress.done(written)
    if args.out:
        print(f"{written} ledger entries written to {Path(args.out)}", file=sys.stderr)
    return 0


async def _export(
    settings: Any, tenant: str | None, start: float, end: float, fmt: str, out: IO[str], progress: Progress | None
) -> int:
    store = await open_store(
        settings.redis_url,
        state_dir=settings.state_dir,
        prefix=settings.prefix,
        on_failure=FAIL_CLOSED,
        ledger_retention_days=settings.ledger_retention_days,
    )
    try:
        write = write_csv if fmt == "csv" else write_jsonl
        return await write(store.reports.ledger(tenant, start, end), out, progress)
    finally:
        await store.close()


async def write_jsonl(entries: AsyncIterator[dict[str, Any]], out: IO[str], progress: Progress | None) -> int:
    written = 0
    async for entry in entries:
        out.write(json.dumps(entry, separators=(",", ":")) + "\n")
        written += 1
        if progress is not None:
            progress.show(written, entry)
    return written


def flatten(entry: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, value in entry.items():
        if name == "carbon" and isinstance(value, dict):
            for field, amount in value.items():
                row[f"carbon_{field}"] = json.dumps(amount) if isinstance(amount, dict | list) else amount
        elif isinstance(value, dict | list):
            row[name] = json.dumps(value, separators=(",", ":"))
        else:
            row[name] = value
    return row


async def write_csv(entries: AsyncIterator[dict[str, Any]], out: IO[str], progress: Progress | None) -> int:
    """Columns are the first entry's; a field a later entry adds goes, as JSON, into the last column `extra`."""
    writer: csv.DictWriter[str] | None = None
    columns: list[str] = []
    written = 0
    async for entry in entries:
        row = flatten(entry)
        if writer is None:
            columns = list(row)
            writer = csv.DictWriter(out, [*columns, "extra"], restval="")
            writer.writeheader()
        extra = {name: row.pop(name) for name in list(row) if name not in columns}
        if extra:
            row["extra"] = json.dumps(extra, separators=(",", ":"))
        writer.writerow(row)
        written += 1
        if progress is not None:
            progress.show(written, entry)
    return written


class Progress:
    """One `\\r`-redrawn line on stderr: entries written, the tenant and day reached, a bar through the period."""

    def __init__(self, start: float, end: float, stream: IO[str] | None = None) -> None:
        self.start, self.end = start, end
        self.stream = stream or sys.stderr
        self._next = 0.0

    def show(self, written: int, entry: dict[str, Any]) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + _REDRAW_S
        ts = float(entry.get("timestamp") or self.start)
        share = min(1.0, max(0.0, (ts - self.start) / (self.end - self.start)))
        bar = "#" * round(share * _BAR)
        day = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")
        self.stream.write(f"\r[{bar:<{_BAR}}] {written:>10,} entries  {entry.get('tenant_id')} {day}")
        self.stream.flush()

    def done(self, written: int) -> None:
        self.stream.write(f"\r[{'#' * _BAR}] {written:>10,} entries  done{' ' * 20}\n")
        self.stream.flush()
