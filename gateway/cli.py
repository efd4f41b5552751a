"""`carbon-gateway serve` and `carbon-gateway check-config`."""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import tempfile
from pathlib import Path

from gateway.settings import ConfigError, default_config_path, load_config

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carbon-gateway", description="OpenAI-compatible LLM gateway with carbon metering"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument(
        "--config", help="config file (default: $CARBON_GATEWAY_CONFIG or the packaged default)"
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"bind address (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    check = sub.add_parser("check-config", help="validate a config and print what it resolves to")
    check.add_argument("path", help="config file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(args.path)
    return serve(args)


def _load(path: str | None):  # type: ignore[no-untyped-def]
    from gateway.providers import resolve_models

    config = load_config(path)
    return config, resolve_models(config)


def check_config(path: str) -> int:
    from gateway.registry import build_registry
    from meters.carbon import CarbonEngine, CatalogueError

    try:
        config, routes = _load(path)
        engine = CarbonEngine.load(settings=config.carbon)
        models = build_registry(config, routes, engine)
    except (ConfigError, CatalogueError) as exc:
        print(f"invalid config: {exc}", file=sys.stderr)
        return 1
    print(f"config: {config.path} (valid)")
    print(f"carbon catalogue: {engine.version}; carbon in body: {config.carbon_body}")
    store = config.store
    print(
        f"store: {'redis ' + _redact(store.redis_url) if store.redis_url else 'embedded'} (on_failure={store.on_failure})"
    )
    print(f"models ({len(models)}):")
    for name, runtime in models.items():
        route = runtime.route
        reason = runtime.unavailable_reason
        price = (
            "unpriced"
            if not runtime.priced
            else (
                f"${(route.input_cost_per_token or 0) * 1e6:g}/M in, ${(route.output_cost_per_token or 0) * 1e6:g}/M out"
            )
        )
        print(
            f"  - {name}: {route.kind} {route.provider}/{route.upstream_model}"
            + (f" at {route.api_base}" if route.api_base else "")
        )
        print(f"      key: {'ok' if reason is None else reason}; price: {price}")
        factors = runtime.factors
        print(
            f"      carbon: method={factors.method} boundary={factors.boundary} confidence={factors.confidence}"
        )
        print(f"      source: {factors.source}")
    for source, targets in config.fallbacks.items():
        print(f"fallbacks: {source} -> {', '.join(targets)}")
    return 0


def _redact(url: str) -> str:
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import RESOLVED_ROUTES_ENV, create_app
    from gateway.providers import routes_to_json
    from meters.carbon import CatalogueError

    config_path = args.config or str(default_config_path())
    try:
        config, routes = _load(config_path)
    except ConfigError as exc:
        print(f"invalid config: {exc}", file=sys.stderr)
        return 2
    # Workers read the resolved routes instead of importing LiteLLM themselves.
    handle, resolved = tempfile.mkstemp(prefix="carbon-gateway-routes-", suffix=".json")
    with os.fdopen(handle, "w") as out:
        out.write(routes_to_json(routes))
    atexit.register(lambda: Path(resolved).unlink(missing_ok=True))
    os.environ[RESOLVED_ROUTES_ENV] = resolved
    os.environ["CARBON_GATEWAY_CONFIG"] = str(Path(config_path).resolve())
    common = dict(
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        timeout_graceful_shutdown=10,
        # The gateway uses no client address, so no X-Forwarded-* rewriting on every request;
        # `server` header off: one less header per response, and no version banner.
        proxy_headers=False,
        server_header=False,
    )
    print(
        f"carbon-gateway: serving {len(routes)} model(s) from {config_path} on http://{args.host}:{args.port}",
        file=sys.stderr,
        flush=True,
    )
    if args.workers > 1:
        _prepare_metrics_dir(args.workers)
        uvicorn.run("gateway.app:app_from_env", factory=True, workers=args.workers, **common)
        return 0
    try:
        app = create_app(config)
    except (ConfigError, CatalogueError) as exc:
        print(f"invalid config: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, **common)
    return 0


def _prepare_metrics_dir(workers: int) -> None:
    try:
        from gateway.observability.metrics import prepare_multiprocess_dir
    except ImportError:
        return
    path = prepare_multiprocess_dir(os.environ.get("PROMETHEUS_MULTIPROC_DIR"), workers)
    if path:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


if __name__ == "__main__":
    raise SystemExit(main())
