"""Apportionment: exact parts by token share, the supplier's extra tokens outside the gateway."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from meters.audited import to_micrograms
from meters.reports.apportion import Remainder, largest_remainder, token_shares


def test_seed_example_is_exact() -> None:
    shares = token_shares(to_micrograms(12.5), {"a": 600_000, "b": 300_000, "c": 100_000}, 1_000_000, None)
    assert (shares["a"], shares["b"], shares["c"]) == (7_500_000_000, 3_750_000_000, 1_250_000_000)
    assert shares[Remainder.REST] == 0 and shares[Remainder.OUTSIDE] == 0


def test_supplier_counted_more_tokens() -> None:
    # The supplier saw 1.25M tokens, the gateway 1M: the gateway gets 12.5 kg x 1M / 1.25M = 10 kg.
    shares = token_shares(to_micrograms(12.5), {"a": 600_000, "b": 400_000}, 1_000_000, 1_250_000)
    assert shares["a"] == 6_000_000_000 and shares["b"] == 4_000_000_000
    assert shares[Remainder.OUTSIDE] == 2_500_000_000


def test_supplier_counted_fewer_tokens_is_plain_share() -> None:
    shares = token_shares(3_000, {"a": 2, "b": 1}, 3, 2)
    assert (shares["a"], shares["b"], shares[Remainder.OUTSIDE]) == (2_000, 1_000, 0)


def test_listed_parts_and_rest() -> None:
    # A tenant's report: its 250 of the organisation's 1,000 tokens.
    shares = token_shares(1_000_001, {"t1": 250}, 1_000, None)
    assert shares["t1"] + shares[Remainder.REST] == 1_000_001
    assert shares["t1"] == 250_000


def test_no_tokens_anywhere_is_all_outside() -> None:
    assert token_shares(5, {"a": 0}, 0, None) == {"a": 0, Remainder.REST: 0, Remainder.OUTSIDE: 5}


def test_more_listed_than_gateway_is_refused() -> None:
    with pytest.raises(ValueError, match="more than the gateway"):
        token_shares(5, {"a": 10}, 5, None)


def test_parts_always_sum_exactly() -> None:
    generator = random.Random(11)
    for _ in range(300):
        total = generator.randrange(0, 10**13)
        weights = {i: generator.randrange(0, 10**7) for i in range(generator.randrange(1, 40))}
        weights[0] += 1
        parts = largest_remainder(total, weights)
        assert sum(parts.values()) == total
        denominator = sum(weights.values())
        for key, weight in weights.items():
            assert abs(parts[key] - Fraction(total * weight, denominator)) < 1


def test_ties_go_to_the_earlier_key() -> None:
    assert largest_remainder(2, {"x": 1, "y": 1, "z": 1}) == {"x": 1, "y": 1, "z": 0}
