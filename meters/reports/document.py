"""A format-neutral document: what the HTML and PDF renderers lay out, so both carry the same content."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str
    kind: str = "body"
    """body | note | bullet"""


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    weight: float = 1.0
    """Relative width."""
    numeric: bool = False
    """Right-aligned."""


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str | None = None
    note: str | None = None
    """Printed under the table, e.g. how many lines were left to the CSV."""


@dataclass(frozen=True, slots=True)
class BarChart:
    title: str
    unit: str
    bars: tuple[tuple[str, float], ...]
    horizontal: bool = True
    """Horizontal: one labelled bar per item (by model); vertical: a time series (by day)."""


@dataclass(frozen=True, slots=True)
class Figures:
    """Key figures in boxes: (label, value, detail)."""

    items: tuple[tuple[str, str, str], ...]


Block = Paragraph | Table | BarChart | Figures


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True, slots=True)
class Document:
    title: str
    meta: tuple[tuple[str, str], ...]
    """(label, value) shown under the title: period, scope, generated, versions."""
    sections: tuple[Section, ...]
