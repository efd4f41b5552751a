"""Audited imports from a CSV file, a JSON file or the admin API's JSON body, validated whole.

CSV: a header row naming some of `model, sku, kg_co2e, m3_water, tokens, prompt_tokens, completion_tokens`,
then one figure per row. JSON (file or admin body): `{"month", "source"?, "figures": [{...}]}`; a file may
also be a bare list of figures. Every error names the line (CSV) or the path (JSON) and the field.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

import orjson

from meters.audited.errors import AuditedImportError
from meters.audited.figures import ImportedFigure, ParsedImport
from meters.audited.skus import SkuMapper
from meters.audited.validate import FIGURE_FIELDS, Locate, check_month, check_source, figure_from_fields


def _no_duplicate_models(figures: Sequence[ImportedFigure], where: Sequence[tuple[str, int | None]]) -> None:
    """Two `model` rows for one model are a mistake (SKU rows of one model add up, see model_figures)."""
    seen: set[str] = set()
    for figure, (param, line) in zip(figures, where, strict=True):
        if figure.sku is None and figure.model is not None:
            if figure.model in seen:
                raise AuditedImportError(f"model {figure.model!r} appears twice", param=param, line=line)
            seen.add(figure.model)


def _column_at(line: int) -> Locate:
    def locate(field: str) -> tuple[str, int | None]:
        return field, line

    return locate


def _path_under(prefix: str) -> Locate:
    def locate(field: str) -> tuple[str, int | None]:
        return f"{prefix}.{field}", None

    return locate


def parse_csv(text: str, month: str, mapper: SkuMapper, source: str) -> ParsedImport:
    """Figures from CSV text (the header is line 1)."""
    month = check_month(month)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows = list(reader)
    if not rows:
        raise AuditedImportError("the file is empty", line=1)
    header = [name.strip() for name in rows[0]]
    for name in header:
        if name not in FIGURE_FIELDS:
            raise AuditedImportError(
                f"unknown column (expected some of {', '.join(FIGURE_FIELDS)})", param=name, line=1
            )
    figures: list[ImportedFigure] = []
    where: list[tuple[str, int | None]] = []
    for index, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise AuditedImportError(f"{len(row)} cells for {len(header)} columns", line=index)
        fields = dict(zip(header, row, strict=True))
        figures.append(figure_from_fields(fields, mapper, _column_at(index)))
        where.append(("model", index))
    if not figures:
        raise AuditedImportError("no figures after the header", line=2)
    _no_duplicate_models(figures, where)
    return ParsedImport(month, check_source(source), tuple(figures))


def _figures_from_json(items: object, mapper: SkuMapper, path: str) -> tuple[ImportedFigure, ...]:
    if not isinstance(items, list) or not items:
        raise AuditedImportError("must be a non-empty list of figures", param=path)
    figures: list[ImportedFigure] = []
    where: list[tuple[str, int | None]] = []
    for index, item in enumerate(items):
        prefix = f"{path}[{index}]"
        if not isinstance(item, Mapping):
            raise AuditedImportError("must be an object", param=prefix)
        figures.append(figure_from_fields(item, mapper, _path_under(prefix)))
        where.append((f"{prefix}.model", None))
    _no_duplicate_models(figures, where)
    return tuple(figures)


def parse_admin(payload: object, mapper: SkuMapper, default_source: str = "admin API import") -> ParsedImport:
    """The body of `POST /admin/audited`: `{"month", "source"?, "figures": [...]}`."""
    if not isinstance(payload, Mapping):
        raise AuditedImportError("the body must be a JSON object {month, source, figures}")
    unknown = sorted(set(payload) - {"month", "source", "figures"})
    if unknown:
        raise AuditedImportError("unknown field (expected month, source, figures)", param=unknown[0])
    if "month" not in payload:
        raise AuditedImportError("is required", param="month")
    month = check_month(payload["month"])
    source = check_source(payload.get("source", default_source))
    return ParsedImport(month, source, _figures_from_json(payload.get("figures"), mapper, "figures"))


def parse_json(
    data: bytes | str, month: str, mapper: SkuMapper, source: str | None, default_source: str
) -> ParsedImport:
    """A JSON file: the admin shape (its `month`, if any, must be `month`) or a bare list of figures.

    `source` (the CLI's --source) wins over the file's own `source`, which wins over `default_source`.
    """
    month = check_month(month)
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise AuditedImportError(f"not valid JSON: {error}") from None
    if isinstance(payload, list):
        label = check_source(source or default_source)
        return ParsedImport(month, label, _figures_from_json(payload, mapper, "figures"))
    if isinstance(payload, Mapping):
        if "month" in payload and payload["month"] != month:
            raise AuditedImportError(f"{payload['month']!r} differs from --month {month}", param="month")
        body = {**payload, "month": month, "source": source or payload.get("source", default_source)}
        return parse_admin(body, mapper)
    raise AuditedImportError("must be an object {month, source, figures} or a list of figures")


def parse_file(
    name: str, data: bytes, month: str, mapper: SkuMapper, source: str | None = None
) -> ParsedImport:
    """`carbon-gateway audited import FILE`: CSV or JSON by the file's suffix. Source defaults to the name."""
    default_source = f"file {name}"
    lowered = name.lower()
    if lowered.endswith(".csv"):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise AuditedImportError(f"not UTF-8 text: {error}") from None
        return parse_csv(text, month, mapper, source or default_source)
    if lowered.endswith(".json"):
        return parse_json(data, month, mapper, source, default_source)
    raise AuditedImportError(f"{name!r}: expected a .csv or .json file", param="FILE")
