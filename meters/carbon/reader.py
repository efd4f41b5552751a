"""Typed values out of parsed YAML, each error naming the file and key path (config-load time only)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from meters.carbon.errors import CatalogueError
from meters.carbon.labels import E, member
from meters.carbon.span import Span

# libyaml's safe loader when PyYAML was built with it: the catalogue then loads in ~80 ms instead of ~500 ms
# (same resolver, same result; measured on the shipped files).
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> dict[str, Any]:
    """A YAML file holding a mapping at the top level."""
    try:
        with path.open(encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=_SAFE_LOADER)
    except FileNotFoundError as exc:
        raise CatalogueError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogueError(f"{path}: must hold a mapping at the top level")
    return data


class Reader:
    """Reads typed values out of parsed YAML, naming the file and key path in every error."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, problem: str) -> CatalogueError:
        return CatalogueError(f"{self.where}: '{key}': {problem}")

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}")
        return value

    def known_keys(self, data: dict[str, Any], path: str, allowed: frozenset[str]) -> None:
        unknown = sorted(str(key) for key in set(data) - allowed)
        if unknown:
            raise self.fail(f"{path}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def text(self, data: dict[str, Any], key: str, path: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if value is None or isinstance(value, (dict, list, bool)):
            raise self.fail(f"{path}.{key}", "must be a non-empty string")
        text = str(value).strip()
        if not text:
            raise self.fail(f"{path}.{key}", "must be a non-empty string")
        return text

    def optional_text(self, data: dict[str, Any], key: str, path: str) -> str | None:
        return None if data.get(key) is None else self.text(data, key, path)

    def number(self, value: Any, key: str, *, positive: bool = True) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"must be a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number) or number < 0 or (positive and number == 0):
            raise self.fail(key, f"must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")
        return number

    def optional_number(self, value: Any, key: str, *, positive: bool = True) -> float | None:
        return None if value is None else self.number(value, key, positive=positive)

    def span(self, value: Any, key: str) -> Span:
        if isinstance(value, dict):
            unknown = set(value) - {"min", "max"}
            if unknown or "min" not in value or "max" not in value:
                raise self.fail(key, "a range must be {min: <number>, max: <number>}")
            low, high = self.number(value["min"], f"{key}.min"), self.number(value["max"], f"{key}.max")
            if low > high:
                raise self.fail(key, f"min {low} is greater than max {high}")
            return Span(low, high)
        number = self.number(value, key)
        return Span(number, number)

    def choice(self, value: Any, key: str, kind: type[E]) -> E:
        try:
            return member(kind, value)
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None
