"""How the Redis store encodes script arguments and decodes its daily usage hashes."""

from __future__ import annotations

from typing import Any

import orjson


def text(value: bytes | str) -> str:
    """A reply as text (the client returns bytes; redis-py types replies as bytes or str)."""
    return value.decode() if isinstance(value, bytes) else value


def usage_rows(days: list[str], hashes: list[dict[bytes, bytes]]) -> list[tuple[str, str, dict[str, int]]]:
    """(day, label, counters) rows from daily hashes whose fields are "<label>\\t<counter>"."""
    rows = []
    for day, fields in zip(days, hashes, strict=True):
        by_label: dict[str, dict[str, int]] = {}
        for name, value in fields.items():
            label, _, counter = name.decode().rpartition("\t")
            by_label.setdefault(label, {})[counter] = int(value)
        rows += [(day, label, counters) for label, counters in by_label.items()]
    return rows


def packed_args(args: list[Any]) -> list[bytes]:
    """RESERVE takes one JSON array of strings: redis-py encodes ~40 arguments in ~30 µs."""
    return [orjson.dumps([a.decode() if isinstance(a, bytes) else str(a) for a in args])]
