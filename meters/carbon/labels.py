"""The closed vocabularies every carbon figure is labelled with (meters/METHODOLOGY.md, "Labels").

Each is a `StrEnum`: a member is a `str`, so it compares equal to its value, serialises as a plain JSON
string (json, orjson) and reads back from a stored plain string unchanged.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar


class Method(StrEnum):
    """How a figure was computed (the `method` label of an estimate)."""

    AUDITED = "audited"  # a supplier's audited month, apportioned per token
    SUPPLIER = "supplier"  # the supplier's own published per-token factor (Scaleway Product Catalog)
    COEFFICIENT = "coefficient"  # a literature g/1k-token coefficient (seed 002), measured or estimated
    ENERGY = "energy"  # bottom-up: parameters x energy model x PUE x grid, plus embodied share
    FALLBACK = "fallback"  # a labelled class default for a model nothing else covers
    CALIBRATED = "calibrated"  # another method's figure scaled by the latest audited/estimated ratio


class Rank(StrEnum):
    """The precedence tiers a configured model's factor is chosen from, first available wins.

    `measured` and `estimated` are both `Method.COEFFICIENT`, told apart by their confidence.
    """

    AUDITED = "audited"
    MEASURED = "measured"
    SUPPLIER = "supplier"
    ENERGY = "energy"
    ESTIMATED = "estimated"
    FALLBACK = "fallback"


class Confidence(StrEnum):
    MEASURED = "measured"  # a published or audited figure for that very model
    ESTIMATED = "estimated"  # modelled, class-based or allocated by the supplier from benchmarks


class Boundary(StrEnum):
    """What a carbon figure covers."""

    USAGE = "usage"  # electricity at the data centre (IT x PUE)
    USAGE_EMBODIED = "usage+embodied"  # plus the hardware's manufacturing share
    LCA = "lca"  # a life-cycle figure: also data-centre building, network, shared services
    UNSPECIFIED = "unspecified"  # the source does not say


class Basis(StrEnum):
    """GHG Protocol Scope 2 accounting basis of the electricity emission factor behind a figure."""

    LOCATION = "location"  # the grid's average intensity where the electricity is drawn
    MARKET = "market"  # contractual instruments (PPAs, certificates) counted
    UNSPECIFIED = "unspecified"  # the source does not say: report it apart from location-based totals


class WaterBoundary(StrEnum):
    """What a water figure covers; figures with different labels are never summed silently."""

    ONSITE = "onsite"  # the data centre's own consumption (WUE x IT energy)
    GRID = "grid"  # the water consumed generating the electricity only (site WUE not published)
    ONSITE_GRID = "onsite+grid"  # both of the above
    LCA = "lca"  # life-cycle water consumption (e.g. WCP of an LCA, incl. manufacturing)
    UNSPECIFIED = "unspecified"


E = TypeVar("E", bound=StrEnum)


def member(kind: type[E], value: object, allowed: tuple[E, ...] | None = None) -> E:
    """`value` as a member of `kind` (limited to `allowed`), else ValueError naming the allowed values."""
    members = allowed or tuple(kind)
    if not isinstance(value, str) or value not in members:
        raise ValueError(f"must be one of {', '.join(members)}, got {value!r}")
    return kind(value)
