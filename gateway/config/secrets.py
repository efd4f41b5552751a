"""`os.environ/VAR` values: the one place a config value is read from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

ENV_PREFIX = "os.environ/"


@dataclass(frozen=True, slots=True)
class Secret:
    """A resolved value and, when it came from `os.environ/VAR`, the VAR (for messages that name it)."""

    value: str | None
    var: str | None = None


def resolve_secret(raw: object, environ: Mapping[str, str] | None = None) -> Secret:
    """`os.environ/VAR` → the variable's value (None when unset or empty); a literal → itself."""
    if isinstance(raw, str) and raw.startswith(ENV_PREFIX):
        var = raw[len(ENV_PREFIX) :]
        env = os.environ if environ is None else environ
        return Secret(env.get(var) or None, var)
    return Secret(str(raw) if raw is not None else None)
