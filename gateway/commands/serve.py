"""`carbon-gateway serve`: the gateway under uvicorn (one process, or several workers)."""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import tempfile
from pathlib import Path

from gateway.commands import connections, exposure
from gateway.config import CONFIG_ENV, ConfigError, default_config_path, load_config

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
EXIT_INVALID = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="run the gateway")
    parser.add_argument(
        "--config", help="config file (default: $CARBON_GATEWAY_CONFIG or the packaged default)"
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"bind address (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--allow-anonymous",
        action="store_true",
        help="serve without keys on an address beyond loopback (also CARBON_GATEWAY_ALLOW_ANONYMOUS=1 "
        "or gateway.allow_anonymous: true); without it such a gateway refuses to start",
    )
    parser.add_argument(
        "--header-timeout",
        type=_positive,
        default=connections.DEFAULT_HEADER_TIMEOUT_S,
        metavar="S",
        help="close a connection whose request headers are not in after S seconds, with a 408 "
        f"(default {connections.DEFAULT_HEADER_TIMEOUT_S:g}; the body's deadline is gateway.body_timeout_s)",
    )
    parser.add_argument(
        "--limit-concurrency",
        type=_count,
        default=connections.DEFAULT_LIMIT_CONCURRENCY,
        metavar="N",
        help="at most N open connections (and requests) per worker; beyond, 503 "
        f"(default {connections.DEFAULT_LIMIT_CONCURRENCY})",
    )
    parser.add_argument(
        "--timeout-keep-alive",
        type=int,
        default=5,
        metavar="S",
        help="close an idle kept-alive connection after S seconds (default 5)",
    )
    parser.set_defaults(run=serve)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway import shutdown
    from gateway.app import create_app
    from gateway.commands import lifecycle
    from gateway.gateway import RESOLVED_ROUTES_ENV
    from gateway.observability import loop_lag
    from gateway.providers import resolve_models, routes_to_json

    problem = lifecycle.port_problem(args.host, args.port)
    if problem is not None:
        print(f"carbon-gateway: {problem}", file=sys.stderr, flush=True)
        return shutdown.EXIT_UNAVAILABLE
    config_path = args.config or str(default_config_path())
    try:
        config = load_config(config_path)
        routes = resolve_models(config)
    except ConfigError as exc:
        print(f"invalid config: {exc}", file=sys.stderr)
        return EXIT_INVALID
    access = exposure.access_of(config)
    exposed = not exposure.is_loopback(args.host)
    if access != "keys" and exposed and not exposure.anonymous_allowed(args.allow_anonymous, config):
        print(f"carbon-gateway: {exposure.refusal(args.host, access)}", file=sys.stderr, flush=True)
        return EXIT_INVALID
    # Workers read the resolved routes instead of importing LiteLLM themselves.
    handle, resolved = tempfile.mkstemp(prefix="carbon-gateway-routes-", suffix=".json")
    with os.fdopen(handle, "w") as out:
        out.write(routes_to_json(routes))
    atexit.register(lambda: Path(resolved).unlink(missing_ok=True))
    os.environ[RESOLVED_ROUTES_ENV] = resolved
    os.environ[CONFIG_ENV] = str(Path(config_path).resolve())
    os.environ[connections.HEADER_TIMEOUT_ENV] = str(args.header_timeout)
    os.environ[connections.MAX_CONNECTIONS_ENV] = str(args.limit_concurrency)
    common = dict(
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        # The longest-step probe (a benchmark's, opt-in) can time only the standard library's loop's steps.
        loop="asyncio" if loop_lag.steps_enabled() else "uvloop",
        http=connections.GuardedHttpToolsProtocol,
        limit_concurrency=args.limit_concurrency,
        timeout_keep_alive=args.timeout_keep_alive,
        lifespan="on",
        timeout_graceful_shutdown=shutdown.GRACEFUL_SHUTDOWN_S,
        # The gateway uses no client address, so no X-Forwarded-* rewriting on every request;
        # `server` header off: one less header per response, and no version banner.
        proxy_headers=False,
        server_header=False,
    )
    print(
        f"carbon-gateway: serving {len(routes)} model(s) from {config_path} on http://{args.host}:{args.port}; "
        f"store: {exposure.describe_store(config)}; access: {_ACCESS[access]}",
        file=sys.stderr,
        flush=True,
    )
    if args.workers > 1:
        _prepare_metrics_dir(args.workers)
        uvicorn.run("gateway.app:app_from_env", factory=True, workers=args.workers, **common)
        return 0
    try:
        app = create_app(config, settle_heap=True)
    except ConfigError as exc:
        print(f"invalid config: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return lifecycle.run(uvicorn.Config(app, **common))


_ACCESS = {
    "keys": "keys required",
    "anonymous": "ANONYMOUS (no key configured: anyone who can reach it may call it)",
    "unknown": "anonymous unless the store holds tenants (it cannot be reached now)",
}


def _positive(text: str) -> float:
    value = float(text)
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be a number of seconds in (0, 3600], got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _prepare_metrics_dir(workers: int) -> None:
    from gateway.observability.multiprocess import prepare_multiprocess_dir

    path = prepare_multiprocess_dir(os.environ.get("PROMETHEUS_MULTIPROC_DIR"), workers)
    if path:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
