"""Apportionment: exact parts by token share, the supplier's extra tokens outside the gateway."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from meters.audited import to_micrograms
from meters.reports.apportion import largest_remainder, token_shares


def test_seed_example_is_exact() -> None:
    split = token_shares(to_micrograms(12.5), {"a": 600_000, "b": 300_000, "c": 100_000}, 1_000_000, None)
    assert dict(zip(split.keys, split.parts, strict=True)) == {
        "a": 7_500_000_000,
        "b": 3_750_000_000,
        "c": 1_250_000_000,
    }
    assert split.rest == 0 and split.outside == 0


def test_supplier_counted_more_tokens() -> None:
    # The supplier saw 1.25M tokens, the gateway 1M: the gateway gets 12.5 kg x 1M / 1.25M = 10 kg.
    split = token_shares(to_micrograms(12.5), {"a": 600_000, "b": 400_000}, 1_000_000, 1_250_000)
    assert split.parts == [6_000_000_000, 4_000_000_000] and split.outside == 2_500_000_000


def test_supplier_counted_fewer_tokens_is_plain_share() -> None:
    split = token_shares(3_000, {"a": 2, "b": 1}, 3, 2)
    assert (split.parts, split.outside) == ([2_000, 1_000], 0)


def test_listed_parts_and_rest() -> None:
    # A tenant's report: its 250 of the organisation's 1,000 tokens.
    split = token_shares(1_000_001, {"t1": 250}, 1_000, None)
    assert split.parts[0] + split.rest == 1_000_001
    assert split.parts == [250_000]


def test_no_tokens_anywhere_is_all_outside() -> None:
    split = token_shares(5, {"a": 0}, 0, None)
    assert (split.parts, split.rest, split.outside) == ([0], 0, 5)


def test_more_listed_than_gateway_is_refused() -> None:
    with pytest.raises(ValueError, match="more than the gateway"):
        token_shares(5, {"a": 10}, 5, None)


def test_parts_always_sum_exactly() -> None:
    generator = random.Random(11)
    for _ in range(300):
        total = generator.randrange(0, 10**13)
        weights = [generator.randrange(0, 10**7) for _ in range(generator.randrange(1, 40))]
        weights[0] += 1
        parts = largest_remainder(total, weights)
        assert sum(parts) == total
        denominator = sum(weights)
        for part, weight in zip(parts, weights, strict=True):
            assert abs(part - Fraction(total * weight, denominator)) < 1


def test_ties_go_to_the_earlier_index_or_the_tie_key() -> None:
    assert largest_remainder(2, [1, 1, 1]) == [1, 1, 0]
    assert largest_remainder(2, [1, 1, 1], tie_key=lambda i: -i) == [0, 1, 1]


def test_result_does_not_depend_on_row_order() -> None:
    parts = {f"t{i}": 7 for i in range(9)}
    forward = token_shares(10, parts, 63, None, tie_key=lambda key: key)
    backward = token_shares(10, dict(reversed(parts.items())), 63, None, tie_key=lambda key: key)
    assert dict(zip(forward.keys, forward.parts, strict=True)) == dict(
        zip(backward.keys, backward.parts, strict=True)
    )
