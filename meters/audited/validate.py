"""Field rules shared by every way in (CSV, JSON file, admin JSON, Scaleway footprint): one copy each."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from meters.audited.errors import AuditedImportError
from meters.audited.figures import ImportedFigure
from meters.audited.skus import SkuMapper
from meters.carbon.audited import check_month as _check_month
from meters.carbon.errors import CatalogueError

FIGURE_FIELDS = ("model", "sku", "kg_co2e", "m3_water", "tokens", "prompt_tokens", "completion_tokens")

# Where a field sits: (param, line) for an error.
Locate = Callable[[str], tuple[str, int | None]]


def check_month(value: object, param: str = "month", line: int | None = None) -> str:
    try:
        return _check_month(value)
    except CatalogueError:
        raise AuditedImportError(f"month must be 'YYYY-MM', got {value!r}", param=param, line=line) from None


def _fail(locate: Locate, field: str, message: str) -> AuditedImportError:
    param, line = locate(field)
    return AuditedImportError(message, param=param, line=line)


def _number(value: object, field: str, locate: Locate) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _fail(locate, field, f"must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(locate, field, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise _fail(locate, field, f"must be finite, got {value!r}")
    if value < 0:
        raise _fail(locate, field, f"must be >= 0, got {value!r}")
    return float(value)


def _count(value: object, field: str, locate: Locate) -> int:
    if isinstance(value, str):
        text = value.strip()
        if not text.isdigit():
            raise _fail(locate, field, f"must be an integer >= 0, got {value!r}")
        return int(text)
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(locate, field, f"must be an integer >= 0, got {value!r}")
    return value


def _present(fields: Mapping[str, object], name: str) -> bool:
    value = fields.get(name)
    return value is not None and not (isinstance(value, str) and value.strip() == "")


def figure_from_fields(fields: Mapping[str, object], mapper: SkuMapper, locate: Locate) -> ImportedFigure:
    """One figure from its fields (typed JSON values or CSV strings; empty means absent)."""
    unknown = sorted(set(fields) - set(FIGURE_FIELDS))
    if unknown:
        raise _fail(locate, unknown[0], f"unknown field (expected some of {', '.join(FIGURE_FIELDS)})")
    has_model, has_sku = _present(fields, "model"), _present(fields, "sku")
    if has_model == has_sku:
        raise _fail(locate, "model", "give exactly one of 'model' or 'sku'")
    if not _present(fields, "kg_co2e"):
        raise _fail(locate, "kg_co2e", "is required")
    kg = _number(fields["kg_co2e"], "kg_co2e", locate)
    water = _number(fields["m3_water"], "m3_water", locate) if _present(fields, "m3_water") else None
    tokens = _count(fields["tokens"], "tokens", locate) if _present(fields, "tokens") else None
    split = [_present(fields, "prompt_tokens"), _present(fields, "completion_tokens")]
    prompt = completion = None
    if any(split):
        if not all(split):
            missing = "completion_tokens" if split[0] else "prompt_tokens"
            raise _fail(locate, missing, "prompt_tokens and completion_tokens go together")
        prompt = _count(fields["prompt_tokens"], "prompt_tokens", locate)
        completion = _count(fields["completion_tokens"], "completion_tokens", locate)
        if tokens is not None and tokens != prompt + completion:
            raise _fail(locate, "tokens", f"{tokens} is not prompt_tokens + completion_tokens")
        tokens = prompt + completion
    sku: str | None = None
    if has_sku:
        sku = str(fields["sku"]).strip()
        model = mapper.model_of(sku)
    else:
        name = str(fields["model"]).strip()
        model = mapper.canonical(name)
        if model is None:
            raise _fail(locate, "model", f"{name!r} is not a configured model")
    return ImportedFigure(
        kg_co2e=kg,
        model=model,
        sku=sku,
        m3_water=water,
        tokens=tokens,
        prompt_tokens=prompt,
        completion_tokens=completion,
    )


def check_source(value: object, param: str = "source") -> str:
    if not isinstance(value, str) or not value.strip():
        raise AuditedImportError("must be a non-empty string", param=param)
    return value.strip()
