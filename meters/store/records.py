"""Usage records as ledger entries and counter increments, and the usage report shape."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from meters.carbon.estimate import Estimate
from meters.store.windows import from_nano, to_nano
from meters.usage import UsageRecord

# Counter fields kept per tenant x model x day and per tenant x tag x day. Grams, Wh, mL
# and money are integer nano-units (see windows.NANO); gco2e_min/max are sums of the
# per-request bounds; `enk`/`wak` count the requests whose energy/water was known (unknown
# stays unknown, never 0), like aggregates.MONTH_FIELDS. New fields go at the end: the Redis
# SETTLE script reads them by position (scripts.py).
COUNTER_FIELDS = ("req", "pt", "ct", "g", "gmin", "gmax", "en", "wa", "sp", "enk", "wak")
_NANO_FIELDS = {"g", "gmin", "gmax", "en", "wa", "sp"}


# A single record's counter may not exceed this (2^56: 72 tonnes of CO2e in nano-grams, 7 * 10^16 tokens), which
# leaves every 64-bit counter room for 128 such records: beyond it a record is nonsense, refused before any write.
MAX_RECORD_COUNTER = 2**56


class UncountableRecord(ValueError):
    """A usage record whose numbers no counter can hold (negative, not finite, or absurdly large)."""


def check_countable(records: Iterable[UsageRecord]) -> list[dict[str, int]]:
    """Raise UncountableRecord before a batch touches the store: a Redis script that failed half-way would
    leave half a record counted, and one SQLite overflow rolls back the whole batch. The records'
    `usage_counters`, in order, for a caller that counts them next."""
    checked: list[dict[str, int]] = []
    for record in records:
        try:
            counters = usage_counters(record)
        except (ValueError, OverflowError, TypeError) as exc:
            raise UncountableRecord(f"record {record.request_id}: {exc}") from None
        for field, value in counters.items():
            if not 0 <= value <= MAX_RECORD_COUNTER:
                raise UncountableRecord(f"record {record.request_id}: {field}={value} is out of range")
        checked.append(counters)
    return checked


def counted_key(tenant_id: str, request_id: str) -> str:
    """What a request is counted once under: its request id within its tenant (another tenant's request
    of the same id is another request)."""
    return f"{tenant_id}|{request_id}"


def limit_spend(record: UsageRecord, counters: Mapping[str, int]) -> int:
    """The spend (nano units) a record adds to its scopes' spend-limit windows: none when it is priced in
    another currency than its tenant's spend limits (`UsageRecord.limit_spend`)."""
    return counters["sp"] if record.limit_spend else 0


def usage_counters(record: UsageRecord) -> dict[str, int]:
    estimate = record.estimate
    energy, water = estimate.energy_wh, estimate.water_ml
    return {
        "req": 1,
        "pt": int(record.prompt_tokens),
        "ct": int(record.completion_tokens),
        "g": to_nano(estimate.gco2e),
        "gmin": to_nano(estimate.gco2e_min),
        "gmax": to_nano(estimate.gco2e_max),
        "en": to_nano(energy),
        "wa": to_nano(water),
        "sp": to_nano(record.spend),
        "enk": 0 if energy is None else 1,
        "wak": 0 if water is None else 1,
    }


def tag_labels(record: UsageRecord) -> list[str]:
    tags = record.tags
    return [f"{key}={value}" for key, value in sorted(tags.items())] if tags else []


def record_to_dict(record: UsageRecord) -> dict[str, Any]:
    """The ledger entry: every field of the record, the estimate as its `usage.carbon` dict."""
    return {
        "request_id": record.request_id,
        "client_request_id": record.client_request_id,
        "timestamp": record.timestamp,
        "tenant_id": record.tenant_id,
        "key_id": record.key_id,
        "model": record.model,
        "provider": record.provider,
        "upstream_model": record.upstream_model,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "usage_source": record.usage_source,
        "spend": record.spend,
        "currency": record.currency,
        "tags": dict(record.tags),
        "status": record.status,
        "stream": record.stream,
        "latency_s": record.latency_s,
        "ttft_s": record.ttft_s,
        "overhead_s": record.overhead_s,
        "endpoint": record.endpoint,
        "datacentre": record.datacentre,
        "carbon": record.estimate.as_dict(),
        **({} if record.limit_spend else {"limit_spend": False}),  # kept only when it is the exception
    }


def record_from_dict(data: Mapping[str, Any]) -> UsageRecord:
    fields = {key: value for key, value in data.items() if key != "carbon"}
    return UsageRecord(**fields, estimate=Estimate(**data["carbon"]))


def known_counts(counters: Mapping[str, int]) -> dict[str, int]:
    """`enk`/`wak` of one stored (day, label) row. Where a row has none (Redis leaves a 0 count out; a row
    written before the counts existed), its energy (water) counts as known for all of the row's requests
    when its sum is above 0, else as unknown for all of them (before, an unknown figure was stored as 0)."""
    requests = int(counters.get("req", 0))
    return {
        known: int(counters[known])
        if known in counters
        else (requests if int(counters.get(total, 0)) > 0 else 0)
        for known, total in (("enk", "en"), ("wak", "wa"))
    }


def usage_label(label: str, currency: str) -> str:
    """What a daily usage row is kept under: its model (or "k=v" tag) and the currency of its spend, so that
    spend is never summed across currencies."""
    return f"{label}\t{currency}"


def split_usage_label(stored: str) -> tuple[str, str]:
    """(model or tag, currency) of a stored row label; a row written before the currency was kept has none:
    its spend is in currency `UNKNOWN_CURRENCY`."""
    label, tab, currency = stored.rpartition("\t")
    if tab and len(currency) == 3 and currency.isascii() and currency.isalpha() and currency.isupper():
        return label, currency
    return stored, UNKNOWN_CURRENCY


UNKNOWN_CURRENCY = "unknown"
_SPEND = "sp:"  # accumulator keys "sp:<currency>": a row's spend per currency


def _readable(counters: Mapping[str, int]) -> dict[str, Any]:
    def value(field: str) -> float | int:
        raw = int(counters.get(field, 0))
        return from_nano(raw) if field in _NANO_FIELDS else raw

    energy_known, water_known = int(counters.get("enk", 0)), int(counters.get("wak", 0))
    by_currency = {
        key[len(_SPEND) :]: from_nano(amount)
        for key, amount in sorted(counters.items())
        if key.startswith(_SPEND) and amount
    }
    return {
        "requests": value("req"),
        "prompt_tokens": value("pt"),
        "completion_tokens": value("ct"),
        "total_tokens": value("pt") + value("ct"),
        "gco2e": value("g"),
        "gco2e_min": value("gmin"),
        "gco2e_max": value("gmax"),
        # Null where no request of the row had a known figure: unknown is never 0.
        "energy_wh": value("en") if energy_known else None,
        "water_ml": value("wa") if water_known else None,
        "energy_known_requests": energy_known,
        "water_known_requests": water_known,
        # One currency (or none): its amount; several: null, never their sum (see spend_by_currency).
        "spend": None if len(by_currency) > 1 else next(iter(by_currency.values()), 0.0),
        "spend_by_currency": by_currency,
    }


def _row(counters: Mapping[str, int], currency: str) -> dict[str, int]:
    """A stored row's counters, its known counts filled in, its spend also under its currency (once per row)."""
    row = {field: int(counters.get(field, 0)) for field in COUNTER_FIELDS}
    row.update(known_counts(counters))
    row[_SPEND + currency] = row["sp"]
    return row


def _add(into: dict[str, int], row: dict[str, int]) -> None:
    for field, value in row.items():
        into[field] = into.get(field, 0) + value


def build_usage_report(
    tenant_id: str,
    period: str,
    model_rows: Iterable[tuple[str, str, Mapping[str, int]]],
    tag_rows: Iterable[tuple[str, str, Mapping[str, int]]],
) -> dict[str, Any]:
    """JSON-ready report from (day, usage_label(model, currency), counters) and (day, usage_label("k=v", currency),
    counters) rows."""
    totals: dict[str, int] = {}
    by_model: dict[str, dict[str, int]] = {}
    currencies: dict[str, set[str]] = {}
    by_day: dict[str, dict[str, int]] = {}
    by_tag: dict[str, dict[str, int]] = {}
    for day, stored, counters in model_rows:
        model, currency = split_usage_label(stored)
        row = _row(counters, currency)
        _add(totals, row)
        _add(by_model.setdefault(model, {}), row)
        currencies.setdefault(model, set()).add(currency)
        _add(by_day.setdefault(day, {}), row)
    for _day, stored, counters in tag_rows:
        tag, currency = split_usage_label(stored)
        _add(by_tag.setdefault(tag, {}), _row(counters, currency))

    def model_row(model: str, counters: dict[str, int]) -> dict[str, Any]:
        # A model is priced in one currency; one that changed currency within the period says null.
        seen = currencies[model]
        return {**_readable(counters), "currency": next(iter(seen)) if len(seen) == 1 else None}

    return {
        "tenant_id": tenant_id,
        "period": period,
        "totals": _readable(totals),
        "by_model": {model: model_row(model, c) for model, c in sorted(by_model.items())},
        "by_day": {day: _readable(c) for day, c in sorted(by_day.items())},
        "by_tag": {tag: _readable(c) for tag, c in sorted(by_tag.items())},
        "units": {
            "gco2e": "g",
            "energy_wh": "Wh",
            "water_ml": "mL",
            "spend": "ISO 4217: spend_by_currency's keys",
        },
    }
