"""What a report's one pass over its input leaves: sums per line, per audited model-month, per tag.

Plain lists as accumulators (the hot loops in aggregate.py and tally_tuples.py write them by literal index),
labels interned to small ints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meters.reports.rows import CarbonLabel

# Accumulator slots of a line (the hot loops write them by literal index: keep in step).
REQ, PT, CT, G, GMIN, GMAX, EN, ENK, WA, WAK, SP, FIRST, LAST, MONTHS, WATER_BOUNDARY = range(15)

LineKey = tuple[str, str, str, str, int]
"""(tenant, model, provider, currency, label id): a line of the report (labels interned, see Labels)."""
ModelMonth = tuple[str, str]
"""(month, model)."""
TagKey = tuple[str, str, str]
"""(tenant, tag, model)."""

# (month, the row's label) -> the label of an audited model-month's share.
AuditedLabelOf = Callable[[str, CarbonLabel], CarbonLabel]


class Labels:
    """Labels interned to small ints: dict keys then hash in C, not through CarbonLabel.__hash__.

    Looked up by object identity first (a store that shares one CarbonLabel object between the rows of one
    label gets one C-level lookup per row), then by value; `labels[i]` is the label of id i. Objects whose
    id() is cached are kept alive, so a cached id() can never name another object.
    """

    IDENTITY_LIMIT = 4096

    def __init__(self) -> None:
        self.labels: list[CarbonLabel] = []
        self.by_identity: dict[int, int] = {}
        self._by_value: dict[CarbonLabel, int] = {}
        self._kept: list[CarbonLabel] = []

    def id_of(self, label: CarbonLabel) -> int:
        found = self.by_identity.get(id(label))
        if found is not None:
            return found
        found = self._by_value.get(label)
        if found is None:
            found = self._by_value[label] = len(self.labels)
            self.labels.append(label)
        if len(self._kept) < self.IDENTITY_LIMIT:  # past it, rows do not share label objects
            self.by_identity[id(label)] = found
            self._kept.append(label)
        return found


@dataclass
class UsageTally:
    lines: dict[LineKey, list[Any]] = field(default_factory=dict)
    """Accumulator per line (slots above); G is the live estimate. An audited line's MONTHS holds its
    audited months and WATER_BOUNDARY the live estimates' water boundary (its FIRST/LAST are not kept:
    its rows' dates are in audited_rows)."""
    audited_parts: dict[ModelMonth, dict[LineKey, int]] = field(default_factory=dict)
    """Tokens per line of each audited model-month (what the audited figure is apportioned over)."""
    live_audited: dict[ModelMonth, float] = field(default_factory=dict)
    """Live gCO2e of each audited model-month (the reconciliation's estimate)."""
    tokens: dict[ModelMonth, int] = field(default_factory=dict)
    """The scope's gateway tokens per audited model-month."""
    by_day: dict[str, float] = field(default_factory=dict)
    by_month: dict[str, float] = field(default_factory=dict)
    audited_rows: dict[tuple[str, int, str], list[Any]] = field(default_factory=dict)
    """(month, row label id, model) of audited rows -> [audited label id, first date, last date]."""
    labels: Labels = field(default_factory=Labels)


@dataclass
class TagTally:
    tags: dict[TagKey, list[float]] = field(default_factory=dict)
    """[requests, tokens, live g, live g of months not audited]."""
    parts: dict[tuple[str, str, str], dict[tuple[str, str], int]] = field(default_factory=dict)
    """(month, model, tag key "k") -> {(tenant, "k=v"): tokens} for audited model-months."""
    months: dict[TagKey, set[str]] = field(default_factory=dict)
