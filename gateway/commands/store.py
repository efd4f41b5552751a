"""`carbon-gateway store migrate [--dry-run] [--config PATH]`: move a single Redis to the hash-tagged key layout.

Before this version the Redis store's keys had no hash tags (`cg:u:acme|2026-11-30`); now every key of a
tenant carries `{tenant}` (`cg:u:{acme}|2026-11-30`) so the store runs on Redis Cluster. Run this once, with
the gateways stopped, against the Redis the config names: tenants, keys, usage, the ledger and the limit
windows carry over (see meters/store/redis/migrate.py). Prints how many keys of each kind moved, as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from gateway.commands.on_store import EXIT_FAILED, EXIT_INVALID
from gateway.config import ConfigError, default_config_path, load_config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    store = sub.add_parser("store", help="maintenance of the Redis store")
    commands = store.add_subparsers(dest="store_command", required=True)
    migrate = commands.add_parser("migrate", help="move a single Redis's keys to the hash-tagged layout (once)")
    migrate.add_argument("--dry-run", action="store_true", help="count what would move, move nothing")
    migrate.add_argument("--config", help="config file (default: $CARBON_GATEWAY_CONFIG or the packaged default)")
    migrate.set_defaults(run=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    # Imported here: every command of the CLI is registered at start, `serve` with the embedded store included,
    # and redis-py is ~7 MB of a process's memory (measured in `serve`).
    import redis.asyncio as aioredis

    from meters.store.redis.connection import CLUSTER_SCHEMES
    from meters.store.redis.keys import check_prefix
    from meters.store.redis.migrate import migrate_layout

    try:
        settings = load_config(args.config or str(default_config_path())).store
        prefix = check_prefix(settings.prefix)
    except (ConfigError, ValueError) as exc:
        print(f"invalid config: {exc}", file=sys.stderr)
        return EXIT_INVALID
    url = settings.redis_url
    if not url:
        print("the store is the embedded SQLite store: nothing to migrate", file=sys.stderr)
        return 0
    if url.partition("://")[0] in CLUSTER_SCHEMES:
        print("a Redis Cluster never held the old layout: nothing to migrate", file=sys.stderr)
        return 0

    async def migrate() -> dict[str, int]:
        client = aioredis.from_url(url)
        try:
            return await migrate_layout(client, prefix, dry_run=args.dry_run)
        finally:
            await client.aclose()

    try:
        moved = asyncio.run(migrate())
    except (OSError, aioredis.ConnectionError) as exc:
        print(f"the store is unreachable: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps({"dry_run": args.dry_run, "moved": moved}, indent=1))
    return 0
