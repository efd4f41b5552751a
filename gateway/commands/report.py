"""`carbon-gateway report --period P [--tenant ID] [--format json|csv|pdf|html] [--out PATH]`.

A sustainability report generated from the store's aggregates (REDIS_URL or the state directory, as the config
says), with no server running. Without --out it goes to stdout; --out DIR (an existing directory, or any path
ending in /) writes the report under its own name.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gateway import reporting
from gateway.commands.on_store import EXIT_INVALID, CommandError, add_config_flag, run_command, with_store
from gateway.config import GatewayConfig
from gateway.gateway import load_engine
from meters.reports import ReportError
from meters.reports.render import FORMATS, check_format, filename, render


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser("report", help="a sustainability report (JSON, CSV, PDF or HTML) from the store")
    add_config_flag(report)
    report.add_argument("--period", required=True, help="YYYY-MM or YYYY")
    report.add_argument("--tenant", help="one tenant's report (default: the whole organisation)")
    report.add_argument("--format", default="json", help=f"one of {', '.join(FORMATS)} (default json)")
    report.add_argument("--out", help="file to write, or a directory (default: stdout)")
    report.set_defaults(run=run_command("report", make_report))


async def make_report(args: argparse.Namespace, config: GatewayConfig) -> int:
    engine = load_engine(config)
    try:
        fmt = check_format(args.format)
        built = await with_store(
            config, lambda store: reporting.report(store, config, engine, args.period, args.tenant)
        )
        data = render(built, fmt)
    except ReportError as exc:
        raise CommandError(f"--{exc.param}: {exc.reason}", EXIT_INVALID) from None
    if not args.out:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    target = Path(args.out)
    if target.is_dir() or args.out.endswith(("/", os.sep)):  # a directory: the report's own file name
        target.mkdir(parents=True, exist_ok=True)
        target = target / filename(built, fmt)
    target.write_bytes(data)
    print(f"wrote {target} ({len(data):,} bytes, {len(built.lines):,} lines)", file=sys.stderr)
    return 0
