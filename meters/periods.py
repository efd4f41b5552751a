"""Reporting periods (UTC): a day `YYYY-MM-DD`, a month `YYYY-MM` or a year `YYYY`."""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, date, datetime, timedelta


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def month_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")


_PERIOD = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


def period_days(period: str) -> list[str]:
    """Every UTC day of a period "YYYY", "YYYY-MM" or "YYYY-MM-DD", as "YYYY-MM-DD"."""
    match = _PERIOD.match(period or "")
    if not match:
        raise ValueError(f"period must be YYYY, YYYY-MM or YYYY-MM-DD, got {period!r}")
    year, month, day = match.groups()
    try:
        if day:
            return [date(int(year), int(month), int(day)).isoformat()]
        if month:
            last = calendar.monthrange(int(year), int(month))[1]
            return [date(int(year), int(month), d).isoformat() for d in range(1, last + 1)]
        first, days = date(int(year), 1, 1), 366 if calendar.isleap(int(year)) else 365
        return [(first + timedelta(days=i)).isoformat() for i in range(days)]
    except ValueError as exc:
        raise ValueError(f"period {period!r}: {exc}") from None


def current_month(now: float | None = None) -> str:
    """This UTC month as `YYYY-MM` (the default period of usage reports)."""
    return month_of(time.time() if now is None else now)
