"""SETTLE's arguments: one script call's requests as the JSON array of string arrays the script reads (the order is
documented at the top of settle_script.py).

Built on the event loop for every finished request, so the parts that do not change from one request to the next
are made once: a minute's window strings (per epoch minute), a (tenant, key, model)'s fallback scopes, the batch's
clock; each argument is a string from the start (no second pass converting ~45 values per request).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import orjson

from meters.limits import default_scope_ids
from meters.store.aggregates import label_fields, label_id, month_values, pack
from meters.store.records import COUNTER_FIELDS, limit_spend, tag_labels
from meters.store.retention import AGGREGATE_RETENTION_DAYS
from meters.store.windows import day_end_ts, month_expiry, windows_at
from meters.usage import UsageRecord

COUNTER_MARGIN_S = 120  # a limit window's counter outlives its window by this much
DEGRADED = "degraded-"  # a reservation id handed out while the store was down: nothing to take off


@functools.lru_cache(maxsize=16)
def _window_args(epoch_minute: int, monthly_retention: int) -> tuple[tuple[str, ...], tuple[str, str, str, str]]:
    """The window arguments of every request in that minute: (8-13, (17 day, 18 its expireat, 19 month, the monthly
    aggregates' expireat))."""
    windows = windows_at(epoch_minute * 60)
    day, month = windows.day[1:], windows.month[2:]
    return (
        windows.minute,
        str(windows.minute_end + COUNTER_MARGIN_S),
        windows.day,
        str(windows.day_end + COUNTER_MARGIN_S),
        windows.month,
        str(windows.month_end + COUNTER_MARGIN_S),
    ), (day, str(day_end_ts(day) + AGGREGATE_RETENTION_DAYS * 86400), month, str(month_expiry(month, monthly_retention)))


@functools.lru_cache(maxsize=1024)
def _fallback_scopes(tenant_id: str, key_id: str | None, model: str) -> str:
    return "\n".join(default_scope_ids(tenant_id, key_id, model))


def packed_settle(
    entries: Iterable[dict[str, Any]],
    records: Iterable[UsageRecord],
    counters: Iterable[dict[str, int]],
    *,
    prefix: str,
    idempotency_ttl_s: float,
    retention_s: float,
    monthly_retention: int,
    now: float,
) -> bytes:
    """One SETTLE call's ARGV[1]: each (journal entry, its record, the record's `usage_counters`) as the script's
    argument array, at `now`."""
    ttl = str(idempotency_ttl_s)
    min_id = f"{int((now - retention_s) * 1000)}-0"
    now_ms = str(int(now * 1000))
    batch: list[list[str]] = []
    for entry, record, amounts in zip(entries, records, counters, strict=True):
        reservation_id = entry.get("reservation_id") or ""
        degraded = reservation_id.startswith(DEGRADED)
        windows, (day, day_expiry, month, month_expiry_at) = _window_args(
            int(record.timestamp // 60), monthly_retention
        )
        tags = tag_labels(record)
        batch.append(
            [
                prefix,
                record.tenant_id,
                "" if degraded else reservation_id,
                record.request_id,
                ttl,
                "1" if reservation_id and not degraded else "0",
                _fallback_scopes(record.tenant_id, record.key_id, record.model),
                *windows,
                str(amounts["pt"] + amounts["ct"]),
                str(limit_spend(record, amounts)),
                str(amounts["g"]),
                day,
                day_expiry,
                month,
                record.model,
                orjson.dumps(entry["record"]).decode(),
                min_id,
                now_ms,
                str(len(tags)),
                *[str(amounts[field]) for field in COUNTER_FIELDS],
                *tags,
                month_expiry_at,
                record.provider,
                record.currency,
                label_id(label_fields(record)),
                pack(month_values(amounts)),
            ]
        )
    return orjson.dumps(batch)
