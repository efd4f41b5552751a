"""`carbon-gateway tenants list|create|keys|delete`: the tenant directory, on the store itself.

No running server and no admin key: whoever can open the store (the SQLite file in the state directory, or the
Redis the config names) manages it, as the machine that owns the store does. The store is the one the config
says (`--config`, `CARBON_GATEWAY_CONFIG` or the packaged default; `REDIS_URL` and `CARBON_GATEWAY_STATE_DIR`
apply as for `serve`). Answers are JSON on stdout, in the admin API's shapes; a plaintext key is printed once,
by `keys TENANT --issue`, and never again.

A running gateway sees a new tenant, key or revocation at its next key look-up (`gateway.key_cache_ttl_s`, 1 s by
default). One that started anonymous (no key, no tenant anywhere) stays anonymous until it restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.commands.on_store import EXIT_FAILED, EXIT_INVALID
from gateway.config import ConfigError, GatewayConfig, default_config_path, load_config
from gateway.config.store import FAIL_CLOSED
from meters.errors import FieldError
from meters.limits import Limits
from meters.store import Store, StoreUnavailable, TenantDirectory, open_store
from meters.tenants import Tenant, check_limits_models, check_models


class CommandError(Exception):
    """What went wrong, for stderr; the exit code says which kind."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tenants = sub.add_parser(
        "tenants", help="manage tenants and their keys on the store directly (no server)"
    )
    tenants.add_argument(
        "--config", help="config file (default: $CARBON_GATEWAY_CONFIG or the packaged default)"
    )
    commands = tenants.add_subparsers(dest="tenants_command", required=True)
    commands.add_parser("list", help="every tenant, with its keys (ids only)").set_defaults(
        run=_run(list_tenants)
    )
    create = commands.add_parser("create", help="create a tenant")
    create.add_argument("tenant_id")
    create.add_argument("--name")
    create.add_argument("--limits", type=_json_object, help="JSON, e.g. '{\"gco2e_per_month\": 500}'")
    create.add_argument("--models", type=_json_object, help="JSON: narrower limits per model")
    create.set_defaults(run=_run(create_tenant))
    keys = commands.add_parser("keys", help="a tenant's keys; --issue a new one (shown once), --revoke one")
    keys.add_argument("tenant_id")
    action = keys.add_mutually_exclusive_group()
    action.add_argument("--issue", action="store_true", help="issue a new key and print it (once)")
    action.add_argument("--revoke", metavar="KEY_ID", help="revoke this key of the tenant")
    keys.add_argument("--name", help="with --issue: the key's name")
    keys.add_argument(
        "--limits", type=_json_object, help="with --issue: the key's own (narrower) limits, JSON"
    )
    keys.set_defaults(run=_run(tenant_keys))
    delete = commands.add_parser("delete", help="delete a tenant and revoke its keys (its usage stays)")
    delete.add_argument("tenant_id")
    delete.set_defaults(run=_run(delete_tenant))


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


Action = Callable[[argparse.Namespace, GatewayConfig, TenantDirectory], Awaitable[Any]]


def _run(action: Action) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            config = load_config(args.config or str(default_config_path()))
            result = asyncio.run(_with_store(config, lambda directory: action(args, config, directory)))
        except ConfigError as exc:
            print(f"invalid config: {exc}", file=sys.stderr)
            return EXIT_INVALID
        except CommandError as exc:
            print(str(exc), file=sys.stderr)
            return exc.code
        except StoreUnavailable as exc:
            print(f"the store is unreachable: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(json.dumps(result, indent=1))
        return 0

    return run


async def _with_store(config: GatewayConfig, use: Callable[[TenantDirectory], Awaitable[Any]]) -> Any:
    settings = config.store
    store: Store = await open_store(
        settings.redis_url,
        state_dir=settings.state_dir,
        prefix=settings.prefix,
        on_failure=FAIL_CLOSED,  # say so when the store cannot be reached, never journal
        ledger_retention_days=settings.ledger_retention_days,
    )
    try:
        return await use(store.directory)
    finally:
        await store.close()


def _served(config: GatewayConfig) -> list[str]:
    return [entry.model_name for entry in config.models]


def _static(config: GatewayConfig, tenant_id: str) -> bool:
    return any(static.tenant.id == tenant_id for static in config.tenants)


async def _view(directory: TenantDirectory, tenant: Tenant) -> dict[str, Any]:
    return {**tenant.to_dict(), "keys": [key.public_dict() for key in await directory.list_keys(tenant.id)]}


async def _existing(directory: TenantDirectory, tenant_id: str) -> Tenant:
    tenant = await directory.get_tenant(tenant_id)
    if tenant is None:
        raise CommandError(f"no tenant {tenant_id!r}")
    return tenant


async def list_tenants(args: argparse.Namespace, config: GatewayConfig, directory: TenantDirectory) -> Any:
    return {"object": "list", "data": [await _view(directory, t) for t in await directory.list_tenants()]}


async def create_tenant(args: argparse.Namespace, config: GatewayConfig, directory: TenantDirectory) -> Any:
    data = {"id": args.tenant_id, "name": args.name, "limits": args.limits, "models": args.models or {}}
    try:
        tenant = Tenant.from_config({**data, "created_at": time.time()}, "tenant")
        check_models(tenant, _served(config), "tenant")
    except FieldError as exc:
        raise CommandError(f"{exc.key}: {exc.reason}", EXIT_INVALID) from None
    if await directory.get_tenant(tenant.id) is not None:
        raise CommandError(f"tenant {tenant.id!r} already exists")
    await directory.put_tenant(tenant)
    return await _view(directory, tenant)


async def tenant_keys(args: argparse.Namespace, config: GatewayConfig, directory: TenantDirectory) -> Any:
    tenant = await _existing(directory, args.tenant_id)
    if args.issue:
        try:
            limits = Limits.from_config(args.limits, "limits", currency=False)
            check_limits_models(limits, _served(config), "limits")
        except FieldError as exc:
            raise CommandError(f"{exc.key}: {exc.reason}", EXIT_INVALID) from None
        key, plaintext = await directory.issue_key(tenant.id, limits, name=args.name)
        return {**key.public_dict(), "key": plaintext}
    if args.name is not None or args.limits is not None:
        raise CommandError("--name and --limits go with --issue", EXIT_INVALID)
    keys = await directory.list_keys(tenant.id)
    if args.revoke:
        if args.revoke not in {key.key_id for key in keys}:
            raise CommandError(f"tenant {tenant.id!r} has no key {args.revoke!r}")
        await directory.revoke_key(args.revoke)
        return {"key_id": args.revoke, "revoked": True}
    return {"object": "list", "data": [key.public_dict() for key in keys]}


async def delete_tenant(args: argparse.Namespace, config: GatewayConfig, directory: TenantDirectory) -> Any:
    if _static(config, args.tenant_id):
        raise CommandError(
            f"tenant {args.tenant_id!r} is configured in {config.path} (tenants:): remove it there",
            EXIT_INVALID,
        )
    revoked = await directory.delete_tenant(args.tenant_id)
    if revoked is None:
        raise CommandError(f"no tenant {args.tenant_id!r}")
    return {"id": args.tenant_id, "deleted": True, "revoked_keys": revoked, "usage_kept": True}
