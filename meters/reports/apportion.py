"""Apportionment of an audited figure by plain token share, in integer micrograms, summing exactly.

Each part (tenant, key, tag) of model X in month M gets `audited x (its tokens of X) / (tokens of X)`. When
the supplier counted more tokens than the gateway saw, the denominator is the supplier's count and the
difference is *outside the gateway*. Integer micrograms with the largest-remainder rule make the parts add
up to the audited total exactly (12.5 kg over 600k/300k/100k tokens: 7,500 / 3,750 / 1,250 g).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

K = TypeVar("K", bound=Hashable)


class Remainder(enum.Enum):
    """The parts that are not listed: the gateway's other traffic, and traffic the gateway never saw."""

    REST = "rest of the gateway's traffic"
    OUTSIDE = "outside the gateway"


def largest_remainder(
    total: int, weights: Mapping[K, int], tie_key: Callable[[K], Any] | None = None
) -> dict[K, int]:
    """Integer parts proportional to `weights`, summing to `total` exactly (Hamilton's method).

    Each part is floor(total x w / sum(w)); the units left go to the largest remainders. Equal remainders
    across the cut are ordered by `tie_key` (default: the order of `weights`), so that the result does not
    depend on the order rows came in when a tie key is given.
    """
    denominator = sum(weights.values())
    if denominator <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError("weights must be >= 0 with a positive sum")
    parts: dict[K, int] = {}
    remainders: list[tuple[int, int]] = []
    keys = list(weights)
    for index, key in enumerate(keys):
        quotient, remainder = divmod(total * weights[key], denominator)
        parts[key] = quotient
        remainders.append((-remainder, index))
    left = total - sum(parts.values())
    if not left:
        return parts
    remainders.sort()
    cut = remainders[left - 1][0]
    if tie_key is None or left == len(remainders) or remainders[left][0] != cut:
        chosen = [index for _, index in remainders[:left]]
    else:  # equal remainders straddle the cut: order them by the tie key
        chosen = [index for value, index in remainders if value < cut]
        tied = sorted((index for value, index in remainders if value == cut), key=lambda i: tie_key(keys[i]))
        chosen += tied[: left - len(chosen)]
    for index in chosen:
        parts[keys[index]] += 1
    return parts


def token_shares(
    audited_ug: int,
    parts: Mapping[K, int],
    gateway_tokens: int,
    supplier_tokens: int | None,
    tie_key: Callable[[K], Any] | None = None,
) -> dict[K | Remainder, int]:
    """Micrograms per part, plus REST (gateway tokens not in `parts`) and OUTSIDE (supplier beyond gateway).

    `parts`: tokens of the listed parts, a subset of the gateway's `gateway_tokens` of that model-month.
    With no tokens anywhere the whole figure is OUTSIDE. The result always sums to `audited_ug`.
    """
    listed = sum(parts.values())
    if listed > gateway_tokens:
        raise ValueError(f"parts hold {listed} tokens, more than the gateway's {gateway_tokens}")
    weights: dict[K | Remainder, int] = {key: tokens for key, tokens in parts.items()}
    weights[Remainder.REST] = gateway_tokens - listed
    weights[Remainder.OUTSIDE] = max(0, (supplier_tokens or 0) - gateway_tokens)
    if sum(weights.values()) == 0:
        return {**{key: 0 for key in parts}, Remainder.REST: 0, Remainder.OUTSIDE: audited_ug}

    def order(key: K | Remainder) -> Any:
        return (1, key.value) if isinstance(key, Remainder) else (0, tie_key(key) if tie_key else 0)

    return largest_remainder(audited_ug, weights, order)
