"""`carbon-gateway audited import|pull-scaleway|list`: audited supplier months, into the store itself.

    carbon-gateway audited import FILE --month YYYY-MM [--source TEXT]      (CSV or JSON: model or sku, kg_co2e, ...)
    carbon-gateway audited pull-scaleway --organization-id ID --month YYYY-MM [--save-pdf DIR]
    carbon-gateway audited list [--month YYYY-MM]

Every import is kept: a re-import of a month is its next version (a restatement), shown in the reports'
recalculation log. Bad input is refused whole, naming the line and field. `pull-scaleway` reads Scaleway's
Environmental Footprint API (key in SCW_SECRET_KEY, base URL SCW_API_URL) and, with --save-pdf, saves Scaleway's
own monthly PDF beside ours. A running gateway with `carbon.calibrate_from_audited` recalibrates at its next
start (or at once for an import through POST /admin/audited).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from gateway.commands.on_store import EXIT_INVALID, CommandError, add_config_flag, run_command, with_store
from gateway.config import GatewayConfig
from gateway.reporting import sku_mapper
from gateway.scaleway.footprint import FootprintClient, FootprintError
from meters.audited import AuditedImport, AuditedImportError, ParsedImport, check_month, parse_file


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audited = sub.add_parser("audited", help="audited supplier months (import, pull from Scaleway, list)")
    add_config_flag(audited)
    commands = audited.add_subparsers(dest="audited_command", required=True)
    imp = commands.add_parser("import", help="import a month from a CSV or JSON file")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--month", required=True, help="YYYY-MM")
    imp.add_argument("--source", help="what the figures are (default: the file's name)")
    imp.set_defaults(run=run_command("audited import", import_file))
    pull = commands.add_parser(
        "pull-scaleway", help="import a month from Scaleway's Environmental Footprint API"
    )
    pull.add_argument("--organization-id", required=True)
    pull.add_argument("--month", required=True, help="YYYY-MM")
    pull.add_argument("--save-pdf", metavar="DIR", help="also save Scaleway's own monthly PDF report in DIR")
    pull.set_defaults(run=run_command("audited pull-scaleway", pull_scaleway))
    listing = commands.add_parser("list", help="every import (of a month), newest first")
    listing.add_argument("--month", help="YYYY-MM")
    listing.set_defaults(run=run_command("audited list", list_imports))


def _month(text: str) -> str:
    try:
        return check_month(text)
    except AuditedImportError as exc:
        raise CommandError(f"--month: {exc.reason}", EXIT_INVALID) from None


async def _store(config: GatewayConfig, parsed: ParsedImport) -> AuditedImport:
    stored = await with_store(config, lambda store: store.audited.add(parsed))
    _print_stored(stored)
    return stored


def _print_stored(stored: AuditedImport) -> None:
    unattributed = sum(1 for figure in stored.figures if figure.model is None)
    kg = sum(figure.kg_co2e for figure in stored.figures)
    restated = " (a restatement of the earlier versions)" if stored.version > 1 else ""
    print(
        f"imported {stored.month} version {stored.version}{restated}: {len(stored.figures)} figures, "
        f"{kg:g} kgCO2e, {unattributed} unattributed; source: {stored.source}"
    )


async def import_file(args: argparse.Namespace, config: GatewayConfig) -> int:
    month = _month(args.month)
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}", EXIT_INVALID) from None
    try:
        parsed = parse_file(path.name, data, month, sku_mapper(config), args.source)
    except AuditedImportError as exc:
        raise CommandError(f"{path}: {exc}", EXIT_INVALID) from None
    await _store(config, parsed)
    return 0


async def pull_scaleway(args: argparse.Namespace, config: GatewayConfig) -> int:
    month = _month(args.month)
    try:
        client = FootprintClient.from_env()
        parsed = client.pull_month(args.organization_id, month, sku_mapper(config))
        pdf = client.download_report(args.organization_id, month) if args.save_pdf else None
    except FootprintError as exc:
        raise CommandError(f"Scaleway Environmental Footprint API: {exc}") from None
    except AuditedImportError as exc:
        raise CommandError(f"Scaleway's answer: {exc}") from None
    await _store(config, parsed)
    if pdf is not None:
        folder = Path(args.save_pdf)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / (
            pdf.name if pdf.name.lower().endswith(".pdf") else f"scaleway-footprint-{month}.pdf"
        )
        target = folder / Path(target.name).name  # never outside DIR
        target.write_bytes(pdf.content)
        print(f"saved Scaleway's report: {target}")
    return 0


async def list_imports(args: argparse.Namespace, config: GatewayConfig) -> int:
    month = _month(args.month) if args.month else None
    imports = await with_store(config, lambda store: store.audited.list(month))
    sys.stdout.write(
        orjson.dumps({"object": "list", "data": imports}, option=orjson.OPT_INDENT_2).decode() + "\n"
    )
    return 0
