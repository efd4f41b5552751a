"""A value that may be known only as a range (e.g. undisclosed parameter counts, a PUE range)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    min: float
    max: float

    @property
    def central(self) -> float:
        return (self.min + self.max) / 2

    def pick(self, end: str) -> float:
        """'central', 'min' or 'max'."""
        return self.central if end == "central" else self.min if end == "min" else self.max

    def label(self) -> float | dict[str, float]:
        return self.min if self.min == self.max else {"min": self.min, "max": self.max}
