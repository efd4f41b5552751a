"""`python -m gateway.resolve CONFIG`: print the resolved routes as JSON (see gateway.providers)."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from gateway.config import ConfigError, load_config
from gateway.providers import ERROR_PREFIX, resolve_entry, routes_to_json


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m gateway.resolve CONFIG", file=sys.stderr)
        return 2
    try:
        config = load_config(argv[0])
        routes = {}
        for i, entry in enumerate(config.models):
            try:
                routes[entry.model_name] = resolve_entry(entry)
            except ValueError as exc:
                raise ConfigError(
                    config.path, f"model_list[{i}] ({entry.model_name}).litellm_params.model", str(exc)
                ) from None
    except ConfigError as exc:
        # One parseable line for gateway.providers.resolve_models: key and problem.
        print(f"{ERROR_PREFIX}{exc.key}\t{exc.reason}", file=sys.stderr)
        return 1
    sys.stdout.write(routes_to_json(routes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
