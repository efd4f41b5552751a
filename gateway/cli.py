"""`carbon-gateway`: the command line. Each command lives in `gateway/commands/`."""

from __future__ import annotations

import argparse

from gateway import __version__
from gateway.commands import audited, catalogue, check_config, ledger, report, serve, store, tenants

COMMANDS = (serve, check_config, catalogue, tenants, audited, report, ledger, store)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="carbon-gateway", description="OpenAI-compatible LLM gateway with carbon metering"
    )
    top.add_argument("--version", action="version", version=f"carbon-gateway {__version__}")
    sub = top.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
