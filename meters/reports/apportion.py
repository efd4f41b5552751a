"""Apportionment of an audited figure by plain token share, in integer micrograms, summing exactly.

Each part (tenant, key, tag) of model X in month M gets `audited x (its tokens of X) / (tokens of X)`. When
the supplier counted more tokens than the gateway saw, the denominator is the supplier's count and the
difference is *outside the gateway*. Integer micrograms with the largest-remainder rule make the parts add
up to the audited total exactly (12.5 kg over 600k/300k/100k tokens: 7,500 / 3,750 / 1,250 g).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)


def largest_remainder(
    total: int, weights: Sequence[int], tie_key: Callable[[int], Any] | None = None
) -> list[int]:
    """Integer parts proportional to `weights`, summing to `total` exactly (Hamilton's method).

    Each part is floor(total x w / sum(w)); the units left go to the largest remainders. Equal remainders
    across the cut go by `tie_key(index)` (default: the earlier index), so that a caller passing a key of
    its parts gets a result that does not depend on the order its rows came in.
    """
    denominator = sum(weights)
    if denominator <= 0 or min(weights) < 0:
        raise ValueError("weights must be >= 0 with a positive sum")
    scaled = list(map(operator.mul, repeat(total), weights))  # integers throughout (map: loops in C)
    parts = list(map(operator.floordiv, scaled, repeat(denominator)))
    left = total - sum(parts)
    if not left:
        return parts
    remainders = list(map(operator.mod, scaled, repeat(denominator)))
    order = sorted(range(len(parts)), key=remainders.__getitem__, reverse=True)  # stable: earlier first
    cut = remainders[order[left - 1]]
    if tie_key is not None and left < len(order) and remainders[order[left]] == cut:
        chosen = [i for i in order if remainders[i] > cut]
        chosen += sorted((i for i in order if remainders[i] == cut), key=tie_key)[: left - len(chosen)]
    else:
        chosen = order[:left]
    for index in chosen:
        parts[index] += 1
    return parts


@dataclass(frozen=True, slots=True)
class Split(Generic[K]):
    """An audited figure in micrograms: per listed part (in the order given), the rest, the outside."""

    keys: list[K]
    parts: list[int]
    rest: int
    """The gateway's traffic not listed (other tenants in a tenant report, untagged requests)."""
    outside: int
    """Supplier tokens beyond the gateway's: traffic the gateway never saw."""


def token_shares(
    audited_ug: int,
    parts: Mapping[K, int],
    gateway_tokens: int,
    supplier_tokens: int | None,
    tie_key: Callable[[K], Any] | None = None,
) -> Split[K]:
    """Micrograms per part by token share; `parts` holds tokens, a subset of the gateway's
    `gateway_tokens` of that model-month. With no tokens anywhere the whole figure is outside.
    parts + rest + outside == audited_ug, always.
    """
    keys = list(parts)
    weights = list(parts.values())
    listed = sum(weights)
    if listed > gateway_tokens:
        raise ValueError(f"parts hold {listed} tokens, more than the gateway's {gateway_tokens}")
    rest = gateway_tokens - listed
    outside = max(0, (supplier_tokens or 0) - gateway_tokens)
    if listed + rest + outside == 0:
        return Split(keys, [0] * len(keys), 0, audited_ug)
    count = len(keys)

    def order(index: int) -> Any:  # listed parts by their key, then the rest, then the outside
        return (0, tie_key(keys[index]) if tie_key else index) if index < count else (1, index)

    split = largest_remainder(audited_ug, [*weights, rest, outside], order)
    return Split(keys, split[:count], split[count], split[count + 1])
