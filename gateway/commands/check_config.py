"""`carbon-gateway check-config PATH`: validate a config exactly as `serve` does, and print what it resolves to."""

from __future__ import annotations

import argparse
import sys

from gateway.config import ConfigError, load_config
from gateway.gateway import Prepared, prepare
from gateway.registry import ModelRuntime

EXIT_INVALID = 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("check-config", help="validate a config and print what it resolves to")
    parser.add_argument("path", help="config file")
    parser.set_defaults(run=lambda args: check_config(args.path))


def check_config(path: str) -> int:
    try:
        prepared = prepare(load_config(path))
    except ConfigError as exc:
        print(f"invalid config: {exc}", file=sys.stderr)
        return EXIT_INVALID
    _print(prepared)
    return 0


def _print(prepared: Prepared) -> None:
    config = prepared.config
    print(f"config: {config.path} (valid)")
    print(f"carbon catalogue: {prepared.engine.version}; carbon in body: {config.carbon.body}")
    store = config.store
    where = "redis " + redact_url(store.redis_url) if store.redis_url else "embedded"
    print(f"store: {where} (on_failure={store.on_failure})")
    print(f"models ({len(prepared.registry.models)}):")
    for name, runtime in prepared.registry.models.items():
        route = runtime.route
        reason = runtime.unavailable_reason
        print(
            f"  - {name}: {route.kind} {route.provider}/{route.upstream_model}"
            + (f" at {route.api_base}" if route.api_base else "")
        )
        print(f"      key: {'ok' if reason is None else reason}; price: {_price(runtime)}")
        factors = runtime.factors
        print(f"      carbon: method={factors.method} boundary={factors.boundary} confidence={factors.confidence}")
        print(f"      source: {factors.source}")
    for source, targets in config.fallbacks.items():
        print(f"fallbacks: {source} -> {', '.join(targets)}")


def _price(runtime: ModelRuntime) -> str:
    if not runtime.priced:
        return "unpriced"
    route = runtime.route
    per_m = (route.input_cost_per_token or 0) * 1e6, (route.output_cost_per_token or 0) * 1e6
    return f"{per_m[0]:g} {route.currency}/M in, {per_m[1]:g} {route.currency}/M out"


def redact_url(url: str) -> str:
    """A URL with its credentials hidden (`redis://***@host:6379`)."""
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
