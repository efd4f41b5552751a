"""Counting a batch of finished requests in the embedded store: a handful of statements per batch.

Per batch, not per request: one DELETE for the plain reservations being settled, one INSERT for the
idempotency marks (returning the requests not counted before), one UPDATE per lease whose portions come
back, then the summed counter, usage and ledger rows (`PendingRows`). Statement overhead, not SQL work,
is what a per-request loop spends its time on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson

from meters.limits import default_scope_ids
from meters.store.aggregates import month_values
from meters.store.portions import Units, split_portion
from meters.store.records import (
    COUNTER_FIELDS,
    check_countable,
    counted_key,
    limit_spend,
    record_to_dict,
    tag_labels,
    usage_label,
)
from meters.store.sqlite.ceding import ceding
from meters.store.sqlite.rows import PendingRows
from meters.store.windows import Windows, windows_at
from meters.usage import UsageRecord

_TAKE_PORTION = (
    "UPDATE reservations SET tokens = tokens - ?, spend = spend - ?, gco2e = gco2e - ? WHERE id = ? "
    "RETURNING scopes, tokens = 0 AND spend = 0 AND gco2e = 0"
)
_CHUNK = 512  # bound on the `IN (...)` list, well under SQLite's variable limit (999 before 3.32)
_MARK_CHUNK = 256  # the idempotency marks' `VALUES` list: two variables a row
# `IN (...)` and `VALUES` lists come in power-of-two sizes (the rest padded with a repeated value, which IN ignores
# and an INSERT that skips conflicts skips): the sqlite3 module caches a prepared statement per SQL text and
# connection (128 of them), and a list of every length a batch happened to have left up to 128 programs of ~80 KB
# cached: ~8 MB of a gateway's memory.
_MARKS = {1 << n: ", ".join("?" * (1 << n)) for n in range(_CHUNK.bit_length())}
_PAIRS = {1 << n: ", ".join(["(?, ?)"] * (1 << n)) for n in range(_MARK_CHUNK.bit_length())}


class Prepared(NamedTuple):
    """What counting one record needs that the database does not decide: worked out before the transaction."""

    counters: dict[str, int]  # its `usage_counters` (from `check_countable`)
    windows: Windows
    ledger: str  # its ledger entry's JSON


def prepare(records: Iterable[UsageRecord]) -> list[Prepared]:
    """Each record checked (`check_countable`: one that cannot be counted raises, and the batch is not) and its
    `Prepared`, in order; before the write transaction, in one pass that hands the GIL to the event loop between
    records (`ceding`): the transaction then holds SQLite's lock for the statements and the sums only."""
    prepared: list[Prepared] = []
    for record in ceding(records):
        (counters,) = check_countable((record,))
        ledger = orjson.dumps(record_to_dict(record)).decode()
        prepared.append(Prepared(counters, windows_at(record.timestamp), ledger))
    return prepared


def count_batch(
    conn: Any,
    items: list[tuple[str | None, UsageRecord]],
    prepared: list[Prepared],
    now: float,
    idempotency_ttl_s: float,
) -> tuple[list[bool], PendingRows]:
    """Settle/record `items` inside the caller's write transaction: (counted flags, rows to write). `prepared`:
    each item's `Prepared` (from `prepare`)."""
    rows = PendingRows()
    scopes_of: dict[str, str] = {}  # reservation or lease id -> its scopes ("\n"-joined)
    split = [split_portion(rid) if rid else (None, None) for rid, _ in items]
    plain = [rid for (rid, _), (_, portion) in zip(items, split, strict=True) if rid and portion is None]
    for chunk in _chunks(plain):
        size, ids = _padded(chunk)
        for rid, scopes, tokens, spend, gco2e in conn.execute(
            f"DELETE FROM reservations WHERE id IN ({_MARKS[size]}) RETURNING id, scopes, tokens, spend, gco2e",
            ids,
        ):
            scopes_of[rid] = scopes
            rows.unhold([(scopes, tokens, spend, gco2e)])
    keys = [counted_key(record.tenant_id, record.request_id) for _, record in items]
    marked = _mark_counted(conn, keys, now + idempotency_ttl_s)
    counted: list[bool] = []
    fresh: list[tuple[str | None, str | None, Units | None, UsageRecord, Prepared]] = []
    for (rid, record), (row_id, portion), key, ready in zip(items, split, keys, prepared, strict=True):
        new = key in marked
        counted.append(new)
        if new:
            marked.discard(key)  # the same request twice in a batch: counted once, the first time
            fresh.append((rid, row_id, portion, record, ready))
    # A portion is taken off its lease only by the settle that counts it: fresh ones only.
    taken: dict[str, list[int]] = {}
    for _, row_id, portion, _, _ in fresh:
        if portion is not None and row_id is not None:
            total = taken.setdefault(row_id, [0, 0, 0])
            total[0] += portion.tokens
            total[1] += portion.spend
            total[2] += portion.gco2e
    for row_id, (tokens, spend, gco2e) in taken.items():
        scopes = take_portion(conn, row_id, Units(tokens, spend, gco2e))
        if scopes:
            scopes_of[row_id] = scopes
            rows.unhold([(scopes, tokens, spend, gco2e)])
    for rid, row_id, _, record, ready in fresh:
        scopes = scopes_of.get(row_id) if row_id else None
        # A reserved request was counted in its minute already; scopes from the reservation,
        # or (no reservation, or one purged long ago) the request's own tenant/key/model.
        if not scopes:
            scopes = "\n".join(default_scope_ids(record.tenant_id, record.key_id, record.model))
        count_record(rows, record, ready, scopes, request_counted=bool(rid))
    return counted, rows


def take_portion(conn: Any, row_id: str, units: Units) -> str | None:
    """Take `units` off a lease row; its scopes ("\n"-joined), or None if it is gone. The caller frees
    the scopes' holds. A lease left holding nothing has handed out everything and every request
    came back: it is dropped."""
    taken = conn.execute(_TAKE_PORTION, (*units, row_id)).fetchall()
    if not taken:
        return None
    scopes, empty = taken[0]
    if empty:
        conn.execute("DELETE FROM reservations WHERE id = ?", (row_id,))
    return str(scopes)


def _mark_counted(conn: Any, keys: list[str], expires_at: float) -> set[str]:
    """Mark `keys` counted (until `expires_at`): the ones that were not marked yet, in one statement per chunk
    (an INSERT that skips the marked and returns the rest, where a SELECT and then an INSERT took two)."""
    marked: set[str] = set()
    for chunk in _chunks(list(dict.fromkeys(keys)), _MARK_CHUNK):
        size, padded = _padded(chunk)  # a repeat conflicts with the first: skipped
        values: list[object] = []
        for key in padded:
            values += (key, expires_at)
        marked.update(
            row[0]
            for row in conn.execute(
                f"INSERT INTO settled (request_id, expires_at) VALUES {_PAIRS[size]} "
                "ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
                values,
            )
        )
    return marked


def _chunks(values: list[str], size: int = _CHUNK) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def _padded(chunk: list[str]) -> tuple[int, list[str]]:
    """`chunk` padded to the next power of two with its first value repeated, and that size."""
    size = 1 << (len(chunk) - 1).bit_length()
    return size, chunk + [chunk[0]] * (size - len(chunk))


def count_record(
    rows: PendingRows, record: UsageRecord, prepared: Prepared, scopes: str, request_counted: bool
) -> None:
    """One request's usage (`prepared`: from `prepare`): limit counters of its scopes ("\n"-joined), daily
    usage, ledger."""
    counters, windows = prepared.counters, prepared.windows
    requests = 0 if request_counted else 1
    rows.scoped(
        scopes,
        windows,
        requests,
        counters["pt"] + counters["ct"],
        limit_spend(record, counters),
        counters["g"],
    )
    day = windows.day[1:]
    values = [counters[f] for f in COUNTER_FIELDS]
    rows.usage((record.tenant_id, day, usage_label(record.model, record.currency)), values)
    for tag in tag_labels(record):
        rows.usage((record.tenant_id, day, usage_label(tag, record.currency)), values, tag=True)
    rows.report(record, windows, month_values(counters))
    rows.ledger(record.tenant_id, record.timestamp, record.request_id, prepared.ledger)
