"""Audited imports as the stores keep them: one JSON document per version of a month."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import orjson

from meters.audited.figures import AuditedImport, ImportedFigure, ParsedImport


def stamp(parsed: ParsedImport, version: int, now: float) -> AuditedImport:
    imported_at = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return AuditedImport(parsed.month, parsed.source, version, imported_at, parsed.figures, parsed.basis)


def encode(parsed: ParsedImport) -> str:
    """The import without its version and time (the store adds them when it stores it)."""
    return orjson.dumps(
        {
            "month": parsed.month,
            "source": parsed.source,
            "basis": parsed.basis,
            "figures": [asdict(figure) for figure in parsed.figures],
        }
    ).decode()


def decode(data: str | bytes, version: int, imported_at: str) -> AuditedImport:
    raw = orjson.loads(data)
    figures = tuple(ImportedFigure(**figure) for figure in raw["figures"])
    return AuditedImport(raw["month"], raw["source"], version, imported_at, figures, raw.get("basis"))


def newest_first(imports: list[AuditedImport]) -> list[AuditedImport]:
    return sorted(imports, key=lambda item: (item.month, item.version), reverse=True)
