"""A report's period (a month or a year) and scope (the organisation or one tenant)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

_PERIOD = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2]))?$")


class ReportError(ValueError):
    """A report request that cannot be served (bad period, format, scope): a 400 naming `param`."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(f"{param}: {message}")
        self.reason = message
        self.param = param


@dataclass(frozen=True, slots=True)
class Period:
    text: str
    """"YYYY-MM" or "YYYY"."""

    @property
    def is_year(self) -> bool:
        return len(self.text) == 4

    @property
    def months(self) -> tuple[str, ...]:
        if self.is_year:
            return tuple(f"{self.text}-{m:02d}" for m in range(1, 13))
        return (self.text,)

    @property
    def days(self) -> tuple[str, ...]:
        result: list[str] = []
        for month in self.months:
            year, number = int(month[:4]), int(month[5:7])
            result += [f"{month}-{d:02d}" for d in range(1, calendar.monthrange(year, number)[1] + 1)]
        return tuple(result)

    def covers(self, date: str) -> bool:
        """True for a "YYYY-MM-DD" or "YYYY-MM" date inside the period."""
        return len(date) in (7, 10) and date.startswith(self.text)


def parse_period(text: object) -> Period:
    if not isinstance(text, str) or not _PERIOD.match(text):
        raise ReportError(f"must be 'YYYY-MM' or 'YYYY', got {text!r}", "period")
    return Period(text)


@dataclass(frozen=True, slots=True)
class Scope:
    tenant_id: str | None = None
    """None: the whole organisation."""

    @property
    def is_organisation(self) -> bool:
        return self.tenant_id is None

    @property
    def title(self) -> str:
        return "whole organisation" if self.tenant_id is None else f"tenant {self.tenant_id}"

    def as_dict(self) -> dict[str, str | None]:
        return {"type": "organisation" if self.tenant_id is None else "tenant", "tenant": self.tenant_id}
