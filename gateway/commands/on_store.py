"""What the store commands share: the config, the store it names (REDIS_URL or the state directory), exit codes."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import TypeVar

from gateway.config import ConfigError, GatewayConfig, default_config_path, load_config
from gateway.config.store import FAIL_CLOSED
from meters.store import Store, StoreUnavailable, open_store

EXIT_FAILED = 1
EXIT_INVALID = 2
T = TypeVar("T")


class CommandError(Exception):
    """What went wrong, for stderr; the exit code says which kind."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help="config file (default: $CARBON_GATEWAY_CONFIG or the packaged default)"
    )


def config_of(args: argparse.Namespace) -> GatewayConfig:
    return load_config(getattr(args, "config", None) or str(default_config_path()))


async def with_store(config: GatewayConfig, use: Callable[[Store], Awaitable[T]]) -> T:
    settings = config.store
    store = await open_store(
        settings.redis_url,
        state_dir=settings.state_dir,
        prefix=settings.prefix,
        on_failure=FAIL_CLOSED,  # say so when the store cannot be reached, never journal
        ledger_retention_days=settings.ledger_retention_days,
        monthly_retention_months=settings.monthly_retention_months,
    )
    try:
        return await use(store)
    finally:
        await store.close()


def run_command(
    name: str, action: Callable[[argparse.Namespace, GatewayConfig], Coroutine[object, object, int]]
) -> Callable[[argparse.Namespace], int]:
    """`action(args, config)` under asyncio; errors printed on stderr with a non-zero exit code."""

    def run(args: argparse.Namespace) -> int:
        try:
            return asyncio.run(action(args, config_of(args)))
        except ConfigError as exc:
            print(f"{name}: invalid config: {exc}", file=sys.stderr)
            return EXIT_INVALID
        except CommandError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return exc.code
        except StoreUnavailable as exc:
            print(f"{name}: the store is unreachable: {exc}", file=sys.stderr)
            return EXIT_FAILED

    return run
