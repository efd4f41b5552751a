"""The one error an audited import raises: what is wrong, on which line and in which field."""

from __future__ import annotations


class AuditedImportError(ValueError):
    """Bad audited input, refused whole.

    `line` is the 1-based line of a CSV file (the header is line 1), or None for JSON; `param` names the
    field, as a path for JSON (`figures[2].kg_co2e`) or a column for CSV (`kg_co2e`). The admin API turns it
    into a 400 with `param`; the CLI prints `str(error)`, which already says both.
    """

    def __init__(self, message: str, *, param: str | None = None, line: int | None = None) -> None:
        where = []
        if line is not None:
            where.append(f"line {line}")
        if param is not None:
            where.append(f"field {param!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.reason = message
        self.param = param
        self.line = line
