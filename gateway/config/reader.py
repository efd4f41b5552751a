"""Reading one block of the config: known keys only (with a "did you mean"), typed values, errors that
name the file and the dotted key."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from gateway.config.errors import ConfigError
from gateway.config.secrets import Secret, resolve_secret
from meters.errors import unknown_key_reason

_MISSING: Any = object()


class Block:
    """A mapping at `where` in `file`; `known=None` accepts any key (the caller checks them)."""

    def __init__(self, file: str | Path, where: str, raw: object, known: Collection[str] | None) -> None:
        self.file = str(file)
        self.where = where
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError(self.file, where or "(top level)", "must be a mapping")
        self.raw: Mapping[str, Any] = raw
        if known is not None:
            for key in raw:
                if key not in known:
                    raise self.fail(str(key), unknown_key_reason(str(key), known))

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, name: str, reason: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), reason)

    def has(self, name: str) -> bool:
        return name in self.raw

    def get(self, name: str, default: Any = None) -> Any:
        return self.raw.get(name, default)

    def block(self, name: str, known: Collection[str] | None) -> Block:
        return Block(self.file, self.key(name), self.raw.get(name), known)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, f"must be true or false, got {value!r}")
        return value

    def integer(self, name: str, default: int, *, low: int | None = None, high: int | None = None) -> int:
        value = self.raw.get(name, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise self.fail(name, f"must be an integer{_range(low, high)}, got {value!r}")
        return value

    def number(
        self, name: str, default: float, *, low: float, high: float, low_open: bool = False, unit: str = ""
    ) -> float:
        value = self.raw.get(name, default)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if ok and (value < low or value > high or (low_open and value == low)):
            ok = False
        if not ok:
            bounds = f"in ({low:g}, {high:g}]" if low_open else f"from {low:g} to {high:g}"
            raise self.fail(name, f"must be a number{' of ' + unit if unit else ''} {bounds}, got {value!r}")
        return float(value)

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.raw.get(name, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.fail(name, f"must be a non-empty string, got {value!r}")
        return value

    def choice(self, name: str, default: str, allowed: Collection[str]) -> str:
        value = self.raw.get(name, default)
        if value not in allowed:
            raise self.fail(name, f"must be one of {', '.join(sorted(allowed))}, got {value!r}")
        return str(value)

    def secret(self, name: str) -> Secret:
        value = self.raw.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise self.fail(name, "must be a non-empty string or os.environ/VAR")
        return resolve_secret(value)

    def url(self, name: str, *, credentials: str | None = None) -> str | None:
        """An http(s) URL; with `credentials` (where they belong instead), one carrying user:password@ is refused."""
        value = resolve_secret(self.raw.get(name)).value
        if value is None and name not in self.raw:
            return None
        if not value or not value.startswith(("http://", "https://")) or not _url_text(value):
            raise self.fail(name, f"must be an http(s) URL, got {self.raw.get(name)!r}")
        if credentials is not None and "@" in _authority(value):
            # Not echoed: the value holds a secret.
            raise self.fail(name, f"must not carry credentials (user:password@host): put them in {credentials}")
        return value.rstrip("/")


def _authority(url: str) -> str:
    """The [user:password@]host[:port] part of a URL that has a scheme."""
    return url.split("://", 1)[1].split("/", 1)[0]


def _url_text(value: str) -> bool:
    """Printable ASCII without spaces, with a host after the scheme."""
    host = _authority(value).rpartition("@")[2]
    return value.isascii() and value.isprintable() and " " not in value and bool(host) and not host.startswith(":")


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" >= {low}"
    return f" <= {high}" if high is not None else ""
