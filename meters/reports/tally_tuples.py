"""The report's pass over plain tuples (rows.py's StoreRows): audited model-months' rows, summed lines, tags.

The hot loop of a yearly organisation report from a store (25 of 50 models audited: ~300k audited monthly
rows, ~50k summed lines, 120k tag rows): no object per row, one cache look-up per (date, label, model) and
one dict look-up per line and per part. `tally_usage` and `tally_tags` (UsageRow/TagRow input) hand their
audited rows and tag rows to the same loops, so both inputs follow one copy of each rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from meters.reports.rows import AuditedTuple, CarbonLabel, LineTuple, PartTuple, StoreRows, TagTuple
from meters.reports.tally import AuditedLabelOf, LineKey, ModelMonth, TagTally, UsageTally


def tally_store_rows(rows: StoreRows, audited_label: AuditedLabelOf) -> UsageTally:
    """A StoreRows' audited rows and summed lines (its tags: `tally_tag_tuples`; its days: `rows.daily`)."""
    tally = UsageTally()
    labels = rows.labels.__getitem__
    if rows.audited_parts is None:
        tally_audited(tally, rows.audited, labels, rows.scale, audited_label)
    else:  # the audited months' tokens and live g apart from each line's sums over them
        tally_audited_parts(tally, rows.audited_parts, labels, rows.scale, audited_label)
        tally_audited_sums(tally, rows.audited, labels, rows.scale, audited_label)
    tally_lines(tally, rows.lines, labels, rows.scale)
    return tally


def tally_audited(
    tally: UsageTally,
    rows: Iterable[AuditedTuple],
    labels: Callable[[Any], CarbonLabel],
    scale: float,
    audited_label: AuditedLabelOf,
) -> None:
    """Rows of audited model-months, each one month of one line (once per tally): their parts, then their
    sums (each row its own month's sums)."""
    rows = rows if isinstance(rows, Sequence) else list(rows)
    tally_audited_parts(tally, rows, labels, scale, audited_label)  # a row begins as a PartTuple does
    tally_audited_sums(tally, rows, labels, scale, audited_label)


def tally_audited_parts(
    tally: UsageTally,
    rows: Iterable[PartTuple | AuditedTuple],
    labels: Callable[[Any], CarbonLabel],
    scale: float,
    audited_label: AuditedLabelOf,
) -> None:
    """What the apportionment needs of audited model-months (once per tally, before their sums): each row's
    tokens kept per line (under `audited_label(month, label)`) and per model-month with its live g; each
    line's audited months (MONTHS). Sums are added in row order. An audited line's FIRST/LAST are not kept
    (its months are in MONTHS, its rows' dates in `tally.audited_rows`)."""
    lines = tally.lines
    intern = tally.labels.id_of
    # (date, label key, model) -> (audited label id, model-month [tokens, live g, parts], parts, month)
    seen: dict[tuple[str, Any, str], tuple[int, list[Any], dict[LineKey, int], str]] = {}
    model_months: dict[ModelMonth, list[Any]] = {}
    for tenant, model, provider, currency, lkey, date, _, pt, ct, g, *_ in rows:
        found = seen.get((date, lkey, model))
        if found is None:
            month = date[:7]
            mm = model_months.get((month, model))
            if mm is None:
                mm = model_months[(month, model)] = [0, 0.0, {}]
            alid = intern(audited_label(month, labels(lkey)))
            found = seen[(date, lkey, model)] = (alid, mm, mm[2], month)
        alid, mm, share, month = found
        key = (tenant, model, provider, currency, alid)
        tokens = pt + ct
        mm[0] += tokens
        mm[1] += g / scale
        share[key] = share.get(key, 0) + tokens
        acc = lines.get(key)
        if acc is None:
            lines[key] = [0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0, 0.0, date, date, {month}, None]
        else:
            acc[13].add(month)
    for model_month, (count, grams, share) in model_months.items():
        tally.tokens[model_month] = count
        tally.live_audited[model_month] = grams
        tally.audited_parts[model_month] = share
    audited_rows = tally.audited_rows
    for (date, lkey, model), (alid, _mm, _share, month) in seen.items():
        row_key = (month, intern(labels(lkey)), model)
        dates = audited_rows.get(row_key)
        if dates is None:
            audited_rows[row_key] = [alid, date, date]
        else:
            dates[1], dates[2] = min(dates[1], date), max(dates[2], date)


def tally_audited_sums(
    tally: UsageTally,
    rows: Iterable[AuditedTuple],
    labels: Callable[[Any], CarbonLabel],
    scale: float,
    audited_label: AuditedLabelOf,
) -> None:
    """Each line's amounts over audited months (after `tally_audited_parts`, which made the lines): a row
    sums months whose audited label is that of its own date's month (one month; or several months of one
    import source and basis)."""
    lines = tally.lines
    intern = tally.labels.id_of
    ids: dict[tuple[str, Any], tuple[int, str | None]] = {}  # (month, label key) -> (audited label id, water)
    for tenant, model, provider, currency, lkey, date, *amounts in rows:
        found = ids.get((date, lkey))
        if found is None:
            label = labels(lkey)
            found = ids[(date, lkey)] = (intern(audited_label(date[:7], label)), label.water_boundary)
        acc = lines[(tenant, model, provider, currency, found[0])]
        _add(acc, amounts, scale)
        if amounts[9]:  # water known: the live estimates' water boundary
            acc[14] = found[1]


def tally_lines(
    tally: UsageTally, lines: Iterable[LineTuple], labels: Callable[[Any], CarbonLabel], scale: float
) -> None:
    """Summed lines (months no audited figure covers): the same sums as a row of the line's first date with
    them plus an empty row of its last date."""
    accs = tally.lines
    intern = tally.labels.id_of
    ids: dict[Any, int] = {}
    for tenant, model, provider, currency, lkey, first, last, *amounts in lines:
        lid = ids.get(lkey)
        if lid is None:
            lid = ids[lkey] = intern(labels(lkey))
        key = (tenant, model, provider, currency, lid)
        acc = accs.get(key)
        if acc is None:
            acc = accs[key] = [0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0, 0.0, first, last, None, None]
        else:
            acc[11], acc[12] = min(acc[11], first), max(acc[12], last)
        _add(acc, amounts, scale)


def _add(acc: list[Any], amounts: list[Any], scale: float) -> None:
    """A row's amounts (rows.AMOUNTS, in its order) into a line's accumulator: counts as they are; g, Wh, mL
    and spend divided by `scale`."""
    req, pt, ct, g, gmin, gmax, en, enk, wa, wak, sp = amounts
    acc[0] += req
    acc[1] += pt
    acc[2] += ct
    acc[3] += g / scale
    acc[4] += gmin / scale
    acc[5] += gmax / scale
    acc[6] += en / scale
    acc[7] += enk
    acc[8] += wa / scale
    acc[9] += wak
    acc[10] += sp / scale


def tally_tag_tuples(
    rows: Iterable[TagTuple], scale: float, audited_pairs: frozenset[ModelMonth]
) -> TagTally:
    """Per (tenant, tag, model): requests, tokens, live g, live g of the months not audited; and per audited
    model-month and tag key the tokens of each (tenant, tag) for the apportionment."""
    tally = TagTally()
    tags, parts, months = tally.tags, tally.parts, tally.months
    # (month, model, tag) -> (its tag key's parts of an audited model-month, or None,)
    shares: dict[tuple[str, str, str], tuple[dict[tuple[str, str], int] | None]] = {}
    for tenant, month, tag, model, req, tokens, g in rows:
        g = g / scale
        key = (tenant, tag, model)
        acc = tags.get(key)
        if acc is None:
            acc = tags[key] = [0, 0, 0.0, 0.0]
        acc[0] += req
        acc[1] += tokens
        acc[2] += g
        found = shares.get((month, model, tag))
        if found is None:
            audited = (month, model) in audited_pairs
            found = shares[(month, model, tag)] = (
                parts.setdefault((month, model, tag.split("=", 1)[0]), {}) if audited else None,
            )
        share = found[0]
        if share is None:
            acc[3] += g
            continue
        part = (tenant, tag)
        share[part] = share.get(part, 0) + tokens
        seen = months.get(key)
        if seen is None:
            months[key] = {month}
        else:
            seen.add(month)
    return tally
