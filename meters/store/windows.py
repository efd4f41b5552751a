"""Counter windows (UTC) and the integer units counters are kept in."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from meters.limits import Window

# Money and grams are counted in integer nano-units so sums are exact (floats drift, and
# Redis HINCRBY / SQLite INTEGER are exact int64). 2**53 nano-units = 9e6 g or currency
# units, far above one tenant's month; Lua compares doubles, exact below that bound.
NANO = 1_000_000_000


def to_nano(value: float | None) -> int:
    return round((value or 0.0) * NANO)


def from_nano(value: int) -> float:
    return value / NANO


@dataclass(frozen=True, slots=True)
class Windows:
    """The windows a timestamp falls in: ids for counter keys and their end times."""

    minute: str
    day: str
    month: str
    minute_end: int
    day_end: int
    month_end: int

    def window_id(self, window: Window) -> str:
        return {Window.MINUTE: self.minute, Window.DAY: self.day, Window.MONTH: self.month}[window]

    def end(self, window: Window) -> int:
        return {Window.MINUTE: self.minute_end, Window.DAY: self.day_end, Window.MONTH: self.month_end}[
            window
        ]


def windows_at(ts: float) -> Windows:
    return _windows_of_minute(int(ts // 60))


@functools.lru_cache(maxsize=8)
def _windows_of_minute(epoch_minute: int) -> Windows:
    # Everything here depends only on the minute; caching saves ~25 us of strftime per call.
    moment = datetime.fromtimestamp(epoch_minute * 60, UTC)
    day_start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    next_month = (
        datetime(moment.year + 1, 1, 1, tzinfo=UTC)
        if moment.month == 12
        else datetime(moment.year, moment.month + 1, 1, tzinfo=UTC)
    )
    return Windows(
        minute=f"mi{epoch_minute}",
        day=moment.strftime("d%Y-%m-%d"),
        month=moment.strftime("mo%Y-%m"),
        minute_end=(epoch_minute + 1) * 60,
        day_end=int((day_start + timedelta(days=1)).timestamp()),
        month_end=int(next_month.timestamp()),
    )


@functools.lru_cache(maxsize=64)
def day_end_ts(day: str) -> int:
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    return int((start + timedelta(days=1)).timestamp())


def first_kept_month(now: float, months: int) -> str:
    """The oldest month ("YYYY-MM") a retention of `months` calendar months keeps at `now` (this month
    counts as one)."""
    moment = datetime.fromtimestamp(now, UTC)
    index = moment.year * 12 + moment.month - 1 - (months - 1)
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_end_ts(month: str) -> int:
    """Unix time of the end of a "YYYY-MM" month."""
    year, number = int(month[:4]), int(month[5:7])
    nxt = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return int(nxt.timestamp())


@functools.lru_cache(maxsize=64)
def month_expiry(month: str, months: int) -> int:
    """When a month's aggregates leave a retention of `months` calendar months: the end of the month
    `months - 1` after it."""
    index = int(month[:4]) * 12 + int(month[5:7]) - 1 + (months - 1)
    return month_end_ts(f"{index // 12:04d}-{index % 12 + 1:02d}")
